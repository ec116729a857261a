"""Daily rollups: the SQL that computes them from raw events (job and today's tail) and the SQL that reads them.

A rollup row is (site, local day, dim, value) with an HLL visitors state (uniqCombined64) and additive numbers
(sql/clickhouse/0002_rollups.sql). Visit numbers come from the builder's own per-visit definitions
(trail.stats.sql_metrics.SESSION_COLUMNS, trail.stats.sql_dimensions.visit_aggregate/visit_expression), computed
over the day's events plus BEFORE/AFTER around it, so a visit is whole and belongs to the local day it starts on.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Sequence

from trail.stats import sql_metrics as M
from trail.stats.dates import local_midnight, zone
from trail.stats.query import VISIT_DIMENSIONS
from trail.stats.sql_dimensions import visit_aggregate, visit_expression
from trail.stats.sql_filters import Params

NONE = ""  # the whole site: top stats and time series
EVENT_DIMS = ("event:page", "event:name")
VISIT_DIMS = tuple(d for d in VISIT_DIMENSIONS if d not in ("visit:browser_version", "visit:os_version"))
DIMENSIONS = (NONE, *EVENT_DIMS, *VISIT_DIMS)
COLUMNS = ("visitors", "pageviews", "events", "visits", "bounces", "bounce_visits", "duration", "visit_pageviews")
# A visit's events read around its day: BEFORE only has to exceed the 30-minute session timeout (a visit with events
# before the day has one within the timeout before midnight, so its start is seen and it is left out); AFTER makes
# visits that run past midnight whole (longer ones are cut there).
BEFORE = timedelta(hours=1)
AFTER = timedelta(hours=12)
TS_TYPE = "DateTime64(3, 'UTC')"

# Metric -> aggregate over rollup rows (all of them answer over any set of days and values).
METRIC_SQL = {
    "visitors": "uniqCombined64Merge(visitors)",
    "visits": "sum(visits)",
    "pageviews": "sum(pageviews)",
    "events": "sum(events)",
    "views_per_visit": "sum(visit_pageviews) / sum(visits)",
    "bounce_rate": "sum(bounces) / sum(bounce_visits) * 100",
    "visit_duration": "sum(duration) / sum(visits)",
}


def day_bounds(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """UTC [start, end) of local days first..last."""
    z = zone(tz)
    return local_midnight(first, z), local_midnight(last + timedelta(days=1), z)


def _visit_part(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                until: datetime | None, since: datetime | None) -> str:
    start, end = day_bounds(first, last, tz)
    end = end + AFTER if until is None else min(end + AFTER, until)
    if since is not None:
        start = max(start, since)
    where = f"site_id = {site} AND ts >= {params.add(start - BEFORE, TS_TYPE)} AND ts < {params.add(end, TS_TYPE)}"
    visit_dims = [d for d in dims if d.startswith("visit:")]
    needed = list(dict.fromkeys(visit_dims + (["visit:entry_page"] if "event:page" in dims else [])))
    columns = list(M.SESSION_COLUMNS) + [visit_aggregate(d) for d in needed]
    pairs = [f"('{d}', {visit_expression(d)})" for d in visit_dims]
    if NONE in dims:
        pairs.insert(0, "('', '')")
    arrays = [f"[{', '.join(pairs)}]"] if pairs else []
    if "event:page" in dims:
        columns.append("groupUniqArrayIf(pathname, name != 'engagement') AS v_pages")
        arrays.append("arrayMap(p -> ('event:page', p), v_pages)")
    if "event:name" in dims:
        columns.append("groupUniqArrayIf(toString(name), name != 'engagement') AS v_names")
        arrays.append("arrayMap(n -> ('event:name', n), v_names)")
    sessions = f"SELECT {', '.join(columns)} FROM events WHERE {where} GROUP BY session_id HAVING v_ev > 0"
    tzp = params.add(tz)
    is_visit = "NOT startsWith(kv.1, 'event:')"
    scope = "(kv.1 != 'event:page' OR kv.2 = v_entry_page)" if "event:page" in dims else "1"
    started = "" if since is None else f"AND v_start >= {params.add(since, TS_TYPE)} "
    return (f"SELECT toDate(v_start, {tzp}) AS day, kv.1 AS dim, kv.2 AS value, "
            f"uniqCombined64StateIf(v_visitor, {is_visit}) AS visitors, "
            f"toUInt64(sumIf(v_pv, {is_visit})) AS pageviews, toUInt64(sumIf(v_ev, {is_visit})) AS events, "
            f"toUInt64(count()) AS visits, toUInt64(sumIf(v_is_bounce, {scope})) AS bounces, "
            f"toUInt64(countIf({scope})) AS bounce_visits, toUInt64(sum(v_duration)) AS duration, "
            f"toUInt64(sum(v_pv)) AS visit_pageviews "
            f"FROM ({sessions}) ARRAY JOIN arrayConcat({', '.join(arrays)}) AS kv "
            f"WHERE day >= {params.add(first, 'Date')} AND day <= {params.add(last, 'Date')} {started}"
            f"GROUP BY day, dim, value")


def _event_part(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                until: datetime | None, since: datetime | None) -> str:
    start, end = day_bounds(first, last, tz)
    start = start if since is None else max(start, since)
    end = end if until is None else min(end, until)
    pairs = [f"('{d}', {'pathname' if d == 'event:page' else 'toString(name)'})" for d in dims if d in EVENT_DIMS]
    zero = "toUInt64(0)"
    return (f"SELECT toDate(ts, {params.add(tz)}) AS day, kv.1 AS dim, kv.2 AS value, "
            f"uniqCombined64StateIf(visitor_id, 1) AS visitors, toUInt64(countIf(name = 'pageview')) AS pageviews, "
            f"toUInt64(count()) AS events, {zero} AS visits, {zero} AS bounces, {zero} AS bounce_visits, "
            f"{zero} AS duration, {zero} AS visit_pageviews "
            f"FROM events ARRAY JOIN [{', '.join(pairs)}] AS kv "
            f"WHERE site_id = {site} AND ts >= {params.add(start, TS_TYPE)} AND ts < {params.add(end, TS_TYPE)} "
            f"AND name != 'engagement' GROUP BY day, dim, value")


def compute_sql(params: Params, site_id: int, tz: str, first: date, last: date,
                dims: Sequence[str] = DIMENSIONS, until: datetime | None = None,
                since: datetime | None = None) -> str:
    """SELECT day, dim, value, <COLUMNS> of local days first..last from raw events.

    `until`: only events before it (the job's watermark for today's provisional rows, a query's range end).
    `since`: only events from it on and visits starting from it on (a query's raw part after the job's watermark;
    events after it of visits that started before it are left out: docs/ARCHITECTURE.md, "Stats storage")."""
    site = params.add(int(site_id), "UInt32")
    parts = [_visit_part(params, site, tz, first, last, dims, until, since)]
    if any(d in EVENT_DIMS for d in dims):
        parts.append(_event_part(params, site, tz, first, last, dims, until, since))
    return " UNION ALL ".join(parts)


def stored_sql(params: Params, site_id: int, dim: str, days: Sequence[date], gens: Sequence[int],
               values: Sequence[str] = ()) -> str:
    """The current generation's rows of `dim` for `days` (rollup_days says which generation is current)."""
    where = (f"site_id = {params.add(int(site_id), 'UInt32')} AND dim = {params.add(dim)} "
             f"AND day >= {params.add(min(days), 'Date')} AND day <= {params.add(max(days), 'Date')} "
             f"AND gen = transform(day, {params.add(list(days), 'Array(Date)')}, "
             f"{params.add(list(gens), 'Array(UInt64)')}, toUInt64(0))")
    if values:
        where += f" AND value IN {params.add(list(values), 'Array(String)')}"
    return f"SELECT day, value, {', '.join(COLUMNS)} FROM rollup_daily WHERE {where}"

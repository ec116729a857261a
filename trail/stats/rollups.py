"""Daily rollups: the SQL that computes them from raw events (job and today's tail) and the SQL that reads them.

A rollup row is (site, local day, dim, value) with additive numbers only (sql/clickhouse/0002_rollups.sql,
0004_exact_visitors.sql), so any set of days and values is a plain sum. Visit numbers come from the builder's own
per-visit definitions (trail.stats.sql_metrics.SESSION_COLUMNS, trail.stats.sql_dimensions.visit_aggregate /
visit_expression), computed over the day's events plus BEFORE/AFTER around it, so a visit is whole and belongs to
the local day it starts on.

Unique visitors are exact and additive because a visitor id lives at most one UTC day (+ the 30 minutes a visit
may run past UTC midnight): it is a keyed hash under the salt of the event's UTC day (trail.ingest.visitor). So an
id is a member of a (dim, value) on at most two consecutive local days, and over a run of days a..b
    visitors = sum(visitors_day) - sum(visitors_prev of the days after a)
where `visitors_day` counts the distinct ids of the day (exact) and `visitors_prev` those of them that were also
members on the day before (inclusion-exclusion; no id is in three days). Membership is the same predicate as the
raw builder's: an event of the value on that local day (event dimensions), a visit with the value starting on
that local day (visit dimensions and the whole site). docs/ARCHITECTURE.md, "Stats storage".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Sequence

from trail.ingest.visitor import SESSION_TIMEOUT_MS
from trail.stats import sql_metrics as M
from trail.stats.dates import local_midnight, zone
from trail.stats.query import VISIT_DIMENSIONS
from trail.stats.sql_dimensions import visit_aggregate, visit_expression
from trail.stats.sql_filters import Params

NONE = ""  # the whole site: top stats and time series
EVENT_DIMS = ("event:page", "event:name")
VISIT_DIMS = tuple(d for d in VISIT_DIMENSIONS if d not in ("visit:browser_version", "visit:os_version"))
DIMENSIONS = (NONE, *EVENT_DIMS, *VISIT_DIMS)
COLUMNS = ("visitors_day", "visitors_prev", "pageviews", "events", "visits", "bounces", "bounce_visits", "duration",
           "visit_pageviews")
# A visit's events read around its day: BEFORE only has to exceed the 30-minute session timeout (a visit with events
# before the day has one within the timeout before midnight, so its start is seen and it is left out); AFTER makes
# visits that run past midnight whole (longer ones are cut there).
BEFORE = timedelta(hours=1)
AFTER = timedelta(hours=12)
TS_TYPE = "DateTime64(3, 'UTC')"
# How long after its UTC day a visitor id can still be seen: a visit under way at UTC midnight keeps its id for
# events up to the session timeout after it (trail.ingest.pipeline, put_session).
ID_OVERRUN = timedelta(milliseconds=SESSION_TIMEOUT_MS)
ZERO = "toUInt64(0)"

# Metric -> aggregate over rollup rows of one bucket; {start}: the bucket's first day (module docstring).
METRIC_SQL = {
    "visitors": "toUInt64(greatest(toInt64(sum(visitors_day)) - toInt64(sumIf(visitors_prev, day > {start})), 0))",
    "visits": "sum(visits)",
    "pageviews": "sum(pageviews)",
    "events": "sum(events)",
    "views_per_visit": "sum(visit_pageviews) / sum(visits)",
    "bounce_rate": "sum(bounces) / sum(bounce_visits) * 100",
    "visit_duration": "sum(duration) / sum(visits)",
}


def metric_sql(metric: str, start: str) -> str:
    """The aggregate of `metric` over the rows of a bucket whose first day is the SQL expression `start`."""
    return METRIC_SQL[metric].replace("{start}", start)


def day_bounds(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """UTC [start, end) of local days first..last."""
    z = zone(tz)
    return local_midnight(first, z), local_midnight(last + timedelta(days=1), z)


def _ts_range(params: Params, start: datetime, end: datetime) -> str:
    return f"ts >= {params.add(start, TS_TYPE)} AND ts < {params.add(end, TS_TYPE)}"


def _sessions(params: Params, site: str, start: datetime, end: datetime, columns: Sequence[str],
              restrict: str = "") -> str:
    """One row per visit with events in [start, end) (visits with only engagement events left out)."""
    return (f"SELECT {', '.join(list(M.SESSION_COLUMNS) + list(columns))} FROM events "
            f"WHERE site_id = {site} AND {_ts_range(params, start, end)}{restrict} GROUP BY session_id HAVING v_ev > 0")


def _visit_pairs(dims: Sequence[str]) -> list[str]:
    """(dim, value) tuples of the visit dimensions (and the whole site) over a sessions row."""
    pairs = [f"('{d}', {visit_expression(d)})" for d in dims if d.startswith("visit:")]
    if NONE in dims:
        pairs.insert(0, "('', '')")
    return pairs


def _event_pairs(dims: Sequence[str]) -> list[str]:
    return [f"('{d}', {'pathname' if d == 'event:page' else 'toString(name)'})" for d in dims if d in EVENT_DIMS]


def _visit_sums(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                until: datetime | None, since: datetime | None) -> str:
    start, end = day_bounds(first, last, tz)
    end = end + AFTER if until is None else min(end + AFTER, until)
    if since is not None:
        start = max(start, since)
    visit_dims = [d for d in dims if d.startswith("visit:")]
    needed = list(dict.fromkeys(visit_dims + (["visit:entry_page"] if "event:page" in dims else [])))
    columns = [visit_aggregate(d) for d in needed]
    pairs = _visit_pairs(dims)
    arrays = [f"[{', '.join(pairs)}]"] if pairs else []
    if "event:page" in dims:
        columns.append("groupUniqArrayIf(pathname, name != 'engagement') AS v_pages")
        arrays.append("arrayMap(p -> ('event:page', p), v_pages)")
    if "event:name" in dims:
        columns.append("groupUniqArrayIf(toString(name), name != 'engagement') AS v_names")
        arrays.append("arrayMap(n -> ('event:name', n), v_names)")
    sessions = _sessions(params, site, start - BEFORE, end, columns)
    is_visit = "NOT startsWith(kv.1, 'event:')"
    scope = "(kv.1 != 'event:page' OR kv.2 = v_entry_page)" if "event:page" in dims else "1"
    started = "" if since is None else f"AND v_start >= {params.add(since, TS_TYPE)} "
    return (f"SELECT toDate(v_start, {params.add(tz)}) AS day, kv.1 AS dim, kv.2 AS value, {ZERO} AS visitors_day, "
            f"{ZERO} AS visitors_prev, toUInt64(sumIf(v_pv, {is_visit})) AS pageviews, "
            f"toUInt64(sumIf(v_ev, {is_visit})) AS events, toUInt64(count()) AS visits, "
            f"toUInt64(sumIf(v_is_bounce, {scope})) AS bounces, toUInt64(countIf({scope})) AS bounce_visits, "
            f"toUInt64(sum(v_duration)) AS duration, toUInt64(sum(v_pv)) AS visit_pageviews "
            f"FROM ({sessions}) ARRAY JOIN arrayConcat({', '.join(arrays)}) AS kv "
            f"WHERE day >= {params.add(first, 'Date')} AND day <= {params.add(last, 'Date')} {started}"
            f"GROUP BY day, dim, value")


def _event_sums(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                until: datetime | None, since: datetime | None) -> str:
    start, end = day_bounds(first, last, tz)
    start = start if since is None else max(start, since)
    end = end if until is None else min(end, until)
    return (f"SELECT toDate(ts, {params.add(tz)}) AS day, kv.1 AS dim, kv.2 AS value, {ZERO} AS visitors_day, "
            f"{ZERO} AS visitors_prev, toUInt64(countIf(name = 'pageview')) AS pageviews, "
            f"toUInt64(count()) AS events, {ZERO} AS visits, {ZERO} AS bounces, {ZERO} AS bounce_visits, "
            f"{ZERO} AS duration, {ZERO} AS visit_pageviews "
            f"FROM events ARRAY JOIN [{', '.join(_event_pairs(dims))}] AS kv "
            f"WHERE site_id = {site} AND {_ts_range(params, start, end)} AND name != 'engagement' "
            f"GROUP BY day, dim, value")


def id_lifetime_start(since: datetime) -> datetime:
    """The earliest event time of any visitor id seen from `since` on: the start of its UTC day."""
    moment = (since - ID_OVERRUN).astimezone(timezone.utc)
    return datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)


def _memberships(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                 until: datetime | None, since: datetime | None) -> str:
    """(day, dim, value, visitor, t) rows of local days first-1..last: an event of the value (event dimensions)
    or a visit with the value starting (visit dimensions, whole site) at `t`. After a watermark (`since`) only the
    ids seen from it on matter: the rows are restricted to them, and to their lifetime (whole visits included, as
    a visit keeps its id), so a tail reads hours of events, not two days."""
    start, end = day_bounds(first - timedelta(days=1), last, tz)
    tzp = params.add(tz)
    cap = end if until is None else min(end, until)
    restrict = ""
    before = BEFORE
    if since is not None:
        restrict = (f" AND visitor_id IN (SELECT visitor_id FROM events WHERE site_id = {site} AND "
                    f"{_ts_range(params, since, cap)})")
        start, before = max(start, id_lifetime_start(since)), timedelta(0)
    parts = []
    pairs = _visit_pairs(dims)
    if pairs:
        visit_end = end + AFTER if until is None else min(end + AFTER, until)
        columns = [visit_aggregate(d) for d in dims if d.startswith("visit:")]
        sessions = _sessions(params, site, start - before, visit_end, columns, restrict)
        parts.append(f"SELECT toDate(v_start, {tzp}) AS day, kv.1 AS dim, kv.2 AS value, v_visitor AS visitor, "
                     f"v_start AS t FROM ({sessions}) ARRAY JOIN [{', '.join(pairs)}] AS kv")
    events = _event_pairs(dims)
    if events:
        parts.append(f"SELECT toDate(ts, {tzp}) AS day, kv.1 AS dim, kv.2 AS value, visitor_id AS visitor, ts AS t "
                     f"FROM events ARRAY JOIN [{', '.join(events)}] AS kv WHERE site_id = {site} AND "
                     f"{_ts_range(params, start, cap)} AND name != 'engagement'{restrict}")
    return " UNION ALL ".join(parts)


def _visitors(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
              until: datetime | None, since: datetime | None) -> str:
    """visitors_day / visitors_prev rows of days first..last (with `since`: only the ids first seen on a day
    from `since` on, i.e. what the rows before the watermark do not count yet)."""
    members = _memberships(params, site, tz, first, last, dims, until, since)
    pre = "" if since is None else f", groupUniqArrayIf(day, t < {params.add(since, TS_TYPE)}) AS pre"
    new = "" if since is None else " AND NOT has(pre, x)"
    per_id = (f"SELECT dim, value, visitor, groupUniqArray(day) AS days{pre} FROM ({members}) "
              f"GROUP BY dim, value, visitor")
    keep = f"x >= {params.add(first, 'Date')} AND x <= {params.add(last, 'Date')}{new}"
    return (f"SELECT d AS day, dim, value, toUInt64(count()) AS visitors_day, "
            f"toUInt64(countIf(has(days, subtractDays(d, 1)))) AS visitors_prev, {ZERO} AS pageviews, "
            f"{ZERO} AS events, {ZERO} AS visits, {ZERO} AS bounces, {ZERO} AS bounce_visits, {ZERO} AS duration, "
            f"{ZERO} AS visit_pageviews FROM ({per_id}) ARRAY JOIN arrayFilter(x -> {keep}, days) AS d "
            f"GROUP BY d, dim, value")


def compute_sql(params: Params, site_id: int, tz: str, first: date, last: date,
                dims: Sequence[str] = DIMENSIONS, until: datetime | None = None,
                since: datetime | None = None) -> str:
    """SELECT day, dim, value, <COLUMNS> of local days first..last from raw events.

    `until`: only events before it (the job's watermark for today's provisional rows, a query's range end).
    `since`: only what the rows computed up to `since` lack: events from it on, visits starting from it on (events
    after it of visits that started before it are left out: docs/ARCHITECTURE.md, "Stats storage") and visitors
    first seen on their day from it on."""
    site = params.add(int(site_id), "UInt32")
    parts = [_visit_sums(params, site, tz, first, last, dims, until, since)]
    if any(d in EVENT_DIMS for d in dims):
        parts.append(_event_sums(params, site, tz, first, last, dims, until, since))
    parts.append(_visitors(params, site, tz, first, last, dims, until, since))
    sums = ", ".join(f"sum({c}) AS {c}" for c in COLUMNS)
    return f"SELECT day, dim, value, {sums} FROM ({' UNION ALL '.join(parts)}) GROUP BY day, dim, value"


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

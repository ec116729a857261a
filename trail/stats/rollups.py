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
from trail.stats.rollup_dims import (
    JOB_DIMENSIONS,
    event_tuple,
    has_event_side,
    page_rows,
    sides,
    visit_columns,
    visit_tuples,
)
from trail.stats.sql_dimensions import visit_aggregate
from trail.stats.sql_filters import Params

COLUMNS = ("visitors_day", "visitors_prev", "pageviews", "events", "visits", "bounces", "bounce_visits", "duration",
           "visit_pageviews", "revenue", "revenue_n", "eng_visits", "eng_scroll", "eng_ms")
# A visit's events read around its day: BEFORE only has to exceed the 30-minute session timeout (a visit with events
# before the day has one within the timeout before midnight, so its start is seen and it is left out); AFTER makes
# visits that run past midnight whole (longer ones are cut there).
BEFORE = timedelta(hours=1)
AFTER = timedelta(hours=12)
TS_TYPE = "DateTime64(3, 'UTC')"
# How long after its UTC day a visitor id can still be seen: a visit under way at UTC midnight keeps its id for
# events up to the session timeout after it (trail.ingest.pipeline, put_session).
ID_OVERRUN = timedelta(milliseconds=SESSION_TIMEOUT_MS)
# A tail's visits start from its watermark on: a visit under way at the watermark has an event less than the session
# timeout before it, which is all a tail has to see to leave that visit out.
TAIL_BEFORE = ID_OVERRUN + timedelta(minutes=1)
ZERO = "toUInt64(0)"


def _columns(**exprs: str) -> str:
    """`<expr> AS <column>` for every rollup column in order: the given ones, zero for the others."""
    return ", ".join(f"{exprs.get(c, 'toDecimal128(0, 3)' if c == 'revenue' else ZERO)} AS {c}" for c in COLUMNS)

# Metric -> aggregate over rollup rows of one bucket; {start}: the bucket's first day (module docstring).
METRIC_SQL = {
    "visitors": "toUInt64(greatest(toInt64(sum(visitors_day)) - toInt64(sumIf(visitors_prev, day > {start})), 0))",
    "visits": "sum(visits)",
    "pageviews": "sum(pageviews)",
    "events": "sum(events)",
    "views_per_visit": "sum(visit_pageviews) / sum(visits)",
    "bounce_rate": "sum(bounces) / sum(bounce_visits) * 100",
    "visit_duration": "sum(duration) / sum(visits)",
    # page rows only (the planner sends other dimensions to raw events)
    "scroll_depth": "if(sum(eng_visits) = 0, NULL, sum(eng_scroll) / sum(eng_visits))",
    "time_on_page": "if(sum(eng_visits) = 0, NULL, sum(eng_ms) / 1000 / sum(eng_visits))",
    # revenue goals only ({revenue}: the row is a revenue goal's event name), as the raw engine
    "total_revenue": "if(sumIf(revenue_n, {revenue}) = 0, NULL, sumIf(revenue, {revenue}))",  # raw: NULL if none
    "average_revenue": ("if(sumIf(revenue_n, {revenue}) = 0, NULL, "
                        "sumIf(revenue, {revenue}) / sumIf(revenue_n, {revenue}))"),
}


def metric_sql(metric: str, start: str, revenue: str = "0") -> str:
    """The aggregate of `metric` over the rows of a bucket whose first day is the SQL expression `start`
    (`revenue`: whether a row counts for the revenue metrics)."""
    return METRIC_SQL[metric].replace("{start}", start).replace("{revenue}", revenue)


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


def _event_rows(params: Params, site: str, start: datetime, end: datetime, dims: Sequence[str],
                restrict: str = "", engagement: bool = False) -> str:
    """FROM/WHERE of the events in [start, end) with an event side in `dims` (no engagement events, or only
    them), joined to their visit's attributes when a dimension has a visit side."""
    visit_sides = [s for dim in dims for s in sides(dim) if s is not None and s.startswith("visit:")]
    where = f"site_id = {site} AND {_ts_range(params, start, end)}{restrict}"
    source = "events"
    if visit_sides:
        columns = [visit_aggregate(v) for v in dict.fromkeys(visit_sides)]
        visits = (f"SELECT session_id, {', '.join(columns)} FROM events WHERE site_id = {site} AND "
                  f"{_ts_range(params, start - BEFORE, end + AFTER)}{restrict} GROUP BY session_id")
        source = f"events INNER JOIN ({visits}) AS s USING session_id"
    return (f"FROM {source} ARRAY JOIN [{', '.join(event_tuple(d) for d in dims)}] AS kv "
            f"WHERE {where} AND name {'=' if engagement else '!='} 'engagement'")


def _visit_sums(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                until: datetime | None, since: datetime | None) -> str:
    start, end = day_bounds(first, last, tz)
    end = end + AFTER if until is None else min(end + AFTER, until)
    margin = BEFORE
    if since is not None:
        start = max(start, since)
        margin = TAIL_BEFORE
    sessions = _sessions(params, site, start - margin, end, visit_columns(dims))
    tuples = ", ".join(visit_tuples(d) for d in dims)
    is_visit = "NOT like(kv.1, '%event:%')"  # visit numbers only: an event side's come from its events
    started = "" if since is None else f"AND v_start >= {params.add(since, TS_TYPE)} "
    # distinct ids of the day (a tail's come from _visitors: only the ids new on their day count there)
    visitors = ZERO if since is not None else f"toUInt64(uniqExactIf(v_visitor, {is_visit}))"
    numbers = _columns(visitors_day=visitors, pageviews=f"toUInt64(sumIf(v_pv, {is_visit}))",
                       events=f"toUInt64(sumIf(v_ev, {is_visit}))", visits="toUInt64(count())",
                       bounces="toUInt64(sumIf(v_is_bounce, kv.3))", bounce_visits="toUInt64(countIf(kv.3))",
                       duration="toUInt64(sum(v_duration))", visit_pageviews="toUInt64(sum(v_pv))")
    return (f"SELECT toDate(v_start, {params.add(tz)}) AS day, kv.1 AS dim, kv.2 AS value, {numbers} "
            f"FROM ({sessions}) ARRAY JOIN arrayConcat({tuples}) AS kv "
            f"WHERE day >= {params.add(first, 'Date')} AND day <= {params.add(last, 'Date')} {started}"
            f"GROUP BY day, dim, value")


def _event_sums(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                until: datetime | None, since: datetime | None) -> str:
    start, end = day_bounds(first, last, tz)
    start = start if since is None else max(start, since)
    end = end if until is None else min(end, until)
    visitors = ZERO if since is not None else "toUInt64(uniqExact(visitor_id))"
    numbers = _columns(visitors_day=visitors, pageviews="toUInt64(countIf(name = 'pageview'))",
                       events="toUInt64(count())",
                       revenue="toDecimal128(sumIf(revenue_amount, revenue_amount IS NOT NULL), 3)",
                       revenue_n="toUInt64(countIf(revenue_amount IS NOT NULL))")
    return (f"SELECT toDate(ts, {params.add(tz)}) AS day, kv.1 AS dim, kv.2 AS value, {numbers} "
            f"{_event_rows(params, site, start, end, [d for d in dims if has_event_side(d)])} "
            f"GROUP BY day, dim, value")


def _engaged(dims: Sequence[str]) -> list[str]:
    return [d for d in dims if page_rows(d)]


def _engagement_sums(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                     until: datetime | None, since: datetime | None) -> str:
    """Per page row: (page, visit) groups with engagement events, their deepest scroll and engaged time, on the day
    of the group's first engagement event (the raw engine's per-(page, visit) aggregates)."""
    start, end = day_bounds(first, last, tz)
    start = start if since is None else max(start, since)
    end = end if until is None else min(end, until)
    groups = (f"SELECT toDate(min(ts), {params.add(tz)}) AS day, kv.1 AS dim, kv.2 AS value, "
              f"max(scroll_depth) AS sd, sum(engagement_ms) AS ms "
              f"{_event_rows(params, site, start, end, _engaged(dims), engagement=True)} "
              f"GROUP BY dim, value, session_id")
    numbers = _columns(eng_visits="toUInt64(count())", eng_scroll="toUInt64(sum(sd))", eng_ms="toUInt64(sum(ms))")
    return f"SELECT day, dim, value, {numbers} FROM ({groups}) GROUP BY day, dim, value"


def id_lifetime_start(since: datetime) -> datetime:
    """The earliest event time of any visitor id seen from `since` on: the start of its UTC day."""
    moment = (since - ID_OVERRUN).astimezone(timezone.utc)
    return datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)


def _memberships(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
                 until: datetime | None, start: datetime | None, restrict: str) -> str:
    """(day, dim, value, visitor, t) rows of local days first..last: an event of the value (a dimension with an
    event side) or a visit with the value starting (visit dimensions, whole site) at `t`. `start`: read events from
    there (a tail: its ids' lifetime) instead of the visits' usual margin; `restrict`: more WHERE on events."""
    lo, end = day_bounds(first, last, tz)
    tzp = params.add(tz)
    cap = end if until is None else min(end, until)
    before = BEFORE if start is None else timedelta(0)
    lo = lo if start is None else max(lo, start)
    parts = []
    visit_dims = [d for d in dims if not has_event_side(d)]
    if visit_dims:
        visit_end = end + AFTER if until is None else min(end + AFTER, until)
        sessions = _sessions(params, site, lo - before, visit_end, visit_columns(visit_dims), restrict)
        tuples = ", ".join(visit_tuples(d) for d in visit_dims)
        parts.append(f"SELECT toDate(v_start, {tzp}) AS day, kv.1 AS dim, kv.2 AS value, v_visitor AS visitor, "
                     f"v_start AS t FROM ({sessions}) ARRAY JOIN arrayConcat({tuples}) AS kv")
    event_dims = [d for d in dims if has_event_side(d)]
    if event_dims:
        parts.append(f"SELECT toDate(ts, {tzp}) AS day, kv.1 AS dim, kv.2 AS value, visitor_id AS visitor, ts AS t "
                     f"{_event_rows(params, site, lo, cap, event_dims, restrict)}")
    return " UNION ALL ".join(parts)


def _visitors(params: Params, site: str, tz: str, first: date, last: date, dims: Sequence[str],
              until: datetime | None, since: datetime | None) -> str:
    """visitors_day / visitors_prev rows of days first..last. Without `since`: the previous-day overlap, from the
    ids whose events span a local midnight (no other id can be a member on two days; the distinct ids of a day
    come with the sums). With `since` (a tail after a watermark): only the ids first seen on a day from `since`
    on, i.e. what the rows before the watermark do not count yet, and how many of them were members the day
    before."""
    first_p, last_p = params.add(first, "Date"), params.add(last, "Date")
    span = f"x >= {first_p} AND x <= {last_p}"
    if since is None:  # visitors_day comes with the sums (_visit_sums, _event_sums)
        lo, end = day_bounds(first - timedelta(days=1), last, tz)
        tzp = params.add(tz)
        spanning = (f" AND visitor_id IN (SELECT visitor_id FROM events WHERE site_id = {site} AND "
                    f"{_ts_range(params, lo - BEFORE, end + AFTER)} GROUP BY visitor_id "
                    f"HAVING toDate(min(ts), {tzp}) != toDate(max(ts), {tzp}))")
        members = _memberships(params, site, tz, first - timedelta(days=1), last, dims, until, None, spanning)
        per_id = (f"SELECT dim, value, visitor, groupUniqArray(day) AS days FROM ({members}) "
                  f"GROUP BY dim, value, visitor")
        prev = (f"SELECT d AS day, dim, value, "
                f"{_columns(visitors_prev='toUInt64(countIf(has(days, subtractDays(d, 1))))')} "
                f"FROM ({per_id}) ARRAY JOIN arrayFilter(x -> {span}, days) AS d GROUP BY d, dim, value")
        return prev
    _, end = day_bounds(first, last, tz)
    cap = end if until is None else min(end, until)
    tail_ids = (f" AND visitor_id IN (SELECT visitor_id FROM events WHERE site_id = {site} AND "
                f"{_ts_range(params, since, cap)})")
    members = _memberships(params, site, tz, first - timedelta(days=1), last, dims, until,
                           id_lifetime_start(since), tail_ids)
    per_id = (f"SELECT dim, value, visitor, groupUniqArray(day) AS days, "
              f"groupUniqArrayIf(day, t < {params.add(since, TS_TYPE)}) AS pre FROM ({members}) "
              f"GROUP BY dim, value, visitor")
    numbers = _columns(visitors_day="toUInt64(count())",
                       visitors_prev="toUInt64(countIf(has(days, subtractDays(d, 1))))")
    return (f"SELECT d AS day, dim, value, {numbers} "
            f"FROM ({per_id}) ARRAY JOIN arrayFilter(x -> {span} AND NOT has(pre, x), days) AS d "
            f"GROUP BY d, dim, value")


ALL_PARTS = frozenset({"visit", "event", "engagement", "visitors"})
_VISIT_NUMBERS = frozenset({"visits", "bounce_rate", "visit_duration", "views_per_visit"})
_EVENT_NUMBERS = frozenset({"pageviews", "events", "total_revenue", "average_revenue"})


def needed_parts(dim: str, metrics: Sequence[str]) -> frozenset[str]:
    """The parts of compute_sql that a reader of `metrics` over `dim` needs: the others only fill columns it does
    not read. A row of the reader exists by its events or, when the parts counting them are left out, its visitors
    (build_rollup's HAVING), so one of the two is always there."""
    wanted = set(metrics)
    out = {"visitors"} if "visitors" in wanted else set()
    if has_event_side(dim):
        if wanted & _VISIT_NUMBERS:
            out.add("visit")
        if wanted & _EVENT_NUMBERS or "visitors" not in wanted:
            out.add("event")
    elif wanted & (_VISIT_NUMBERS | _EVENT_NUMBERS) or "visitors" not in wanted:
        out.add("visit")
    if wanted & {"scroll_depth", "time_on_page"}:
        out.add("engagement")
    return frozenset(out)


def compute_sql(params: Params, site_id: int, tz: str, first: date, last: date,
                dims: Sequence[str] = JOB_DIMENSIONS, until: datetime | None = None,
                since: datetime | None = None, grouped: bool = True, parts: frozenset[str] = ALL_PARTS) -> str:
    """SELECT day, dim, value, <COLUMNS> of local days first..last from raw events.

    `until`: only events before it (the job's watermark for today's provisional rows, a query's range end).
    `since`: only what the rows computed up to `since` lack: events from it on, visits starting from it on (events
    after it of visits that started before it are left out: docs/ARCHITECTURE.md, "Stats storage") and visitors
    first seen on their day from it on.
    `grouped=False`: the parts' rows as they come, several per (day, dim, value) (a reader that sums anyway).
    `parts`: only these (`needed_parts`; the job computes all)."""
    site = params.add(int(site_id), "UInt32")
    selects = []
    if "visit" in parts:
        selects.append(_visit_sums(params, site, tz, first, last, dims, until, since))
    if "event" in parts and any(has_event_side(d) for d in dims):
        selects.append(_event_sums(params, site, tz, first, last, dims, until, since))
    if "engagement" in parts and _engaged(dims):
        selects.append(_engagement_sums(params, site, tz, first, last, dims, until, since))
    if "visitors" in parts:
        selects.append(_visitors(params, site, tz, first, last, dims, until, since))
    if not selects:
        return f"SELECT day, dim, value, {', '.join(COLUMNS)} FROM rollup_daily WHERE 0"
    if not grouped:
        return " UNION ALL ".join(selects)
    sums = ", ".join(f"sum({c}) AS {c}" for c in COLUMNS)
    return f"SELECT day, dim, value, {sums} FROM ({' UNION ALL '.join(selects)}) GROUP BY day, dim, value"


def stored_sql(params: Params, site_id: int, dim: str, days: Sequence[date], gens: Sequence[int],
               values: Sequence[str] = (), prefix: str = "") -> str:
    """The current generation's rows of `dim` for `days` (rollup_days says which generation is current); with a
    `prefix` (a pair's filter value and SEP), only its rows."""
    where = (f"site_id = {params.add(int(site_id), 'UInt32')} AND dim = {params.add(dim)} "
             f"AND day >= {params.add(min(days), 'Date')} AND day <= {params.add(max(days), 'Date')} "
             f"AND gen = transform(day, {params.add(list(days), 'Array(Date)')}, "
             f"{params.add(list(gens), 'Array(UInt64)')}, toUInt64(0))")
    if values:
        where += f" AND value IN {params.add(list(values), 'Array(String)')}"
    where += prefix_sql(params, prefix)
    return f"SELECT day, value, {', '.join(COLUMNS)} FROM rollup_daily WHERE {where}"


def value_sql(params: Params, prefix: str) -> str:
    """A row's shown value: `value`, or a pair's breakdown value (after the filter's `prefix`)."""
    if not prefix:
        return "value"
    return f"substring(value, {params.add(len(prefix.encode()) + 1, 'UInt64')})"


def prefix_sql(params: Params, prefix: str) -> str:
    """` AND` the rows of a pair's filter value (nothing without a prefix)."""
    return f" AND startsWith(value, {params.add(prefix)})" if prefix else ""

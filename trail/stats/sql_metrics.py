"""Metrics as ClickHouse aggregates, for the two query shapes the builder emits (per visit, per dimension x visit).

Definitions (as Plausible's):
- visitors: exact unique visitor ids (uniqExact: results must be exact and testable; uniq is ~1% off);
- visits: visits (session_id, assigned at ingestion after 30 min of inactivity) with a pageview or custom event;
- pageviews: `pageview` events; events: pageviews + custom events (never `engagement` events);
- bounce_rate: % of visits with at most one interactive event (a pageview, or a custom event sent with
  interactive=1); engagement events and interactive=0 events never un-bounce a visit. With an event:page dimension
  (or a top-level event:page filter) only visits that entered on that page count, as in Plausible;
- visit_duration: mean of (last activity - first activity) of the visit, engagement events included, in whole
  seconds (floor of the millisecond difference); a lone pageview without engagement lasts 0 s;
- views_per_visit: mean pageviews of the visit (all of its pageviews);
- scroll_depth: mean over visits of the visit's deepest scroll (engagement events on the page);
- time_on_page: engaged time (engagement events) on the page, summed, divided by the visits that engaged there;
- total_revenue / average_revenue: revenue of the events completing revenue goals (goals with a currency).
"""

from __future__ import annotations

# What the runner derives from `visitors` and a second (totals) query.
DERIVED = frozenset({"percentage", "conversion_rate"})
ENGAGEMENT_METRICS = frozenset({"scroll_depth", "time_on_page"})
REVENUE_METRICS = frozenset({"total_revenue", "average_revenue"})
VISIT_LEVEL = frozenset({"bounce_rate", "visit_duration", "views_per_visit"})

# Sessions subquery: one row per visit, over all its events in the date range.
SESSION_COLUMNS = (
    "session_id",
    "any(visitor_id) AS v_visitor",
    "min(ts) AS v_start",
    "countIf(name = 'pageview') AS v_pv",
    "countIf(name != 'engagement') AS v_ev",
    "toUInt8(countIf(name != 'engagement' AND (name = 'pageview' OR interactive = 1)) <= 1) AS v_is_bounce",
    "intDiv(toUnixTimestamp64Milli(max(ts)) - toUnixTimestamp64Milli(min(ts)), 1000) AS v_duration",
)

# Outer aggregates over the sessions subquery (the per-visit shape).
SESSION_SHAPE = {
    "visitors": "uniqExact(v_visitor)",
    "visits": "count()",
    "pageviews": "sum(v_pv)",
    "events": "sum(v_ev)",
    "bounce_rate": "sum(v_is_bounce) / count() * 100",
    "visit_duration": "avg(v_duration)",
    "views_per_visit": "avg(v_pv)",
}

# Outer aggregates over visits selected by their events (no event dimension, event filters): f_pv / f_ev count the
# visit's events that pass the event filters; `{bscope}` is the bounce scope (visits entering on a filtered page).
VISITS_BY_EVENTS_SHAPE = {
    "visitors": "uniqExact(v_visitor)",
    "visits": "count()",
    "pageviews": "sum(f_pv)",
    "events": "sum(f_ev)",
    "bounce_rate": "sumIf(v_is_bounce, {bscope}) / countIf({bscope}) * 100",
    "visit_duration": "avg(v_duration)",
    "views_per_visit": "avg(v_pv)",
}

# Inner aggregates per (dimensions, session_id) over events rows, by need.
INNER_BASE = (
    "any(visitor_id) AS vid",
    "countIf(name = 'pageview') AS pv",
    "countIf(name != 'engagement') AS ev",
)
INNER_VISIT = ("any(v_is_bounce) AS is_bounce", "any(v_duration) AS duration", "any(v_pv) AS spv")
INNER_ENGAGEMENT = (
    "countIf(name = 'engagement') AS eng_n",
    "maxIf(scroll_depth, name = 'engagement') AS sd",
    "sumIf(engagement_ms, name = 'engagement') AS eng_ms",
)

# Outer aggregates over the (dimensions, session_id) rows (the per-event shape).
EVENT_SHAPE = {
    "visitors": "uniqExactIf(vid, ev > 0)",
    "visits": "countIf(ev > 0)",
    "pageviews": "sum(pv)",
    "events": "sum(ev)",
    "bounce_rate": "sumIf(is_bounce, ev > 0 AND bscope) / countIf(ev > 0 AND bscope) * 100",
    "visit_duration": "avgIf(duration, ev > 0)",
    "views_per_visit": "avgIf(spv, ev > 0)",
    "scroll_depth": "if(countIf(eng_n > 0) = 0, NULL, avgIf(sd, eng_n > 0))",
    "time_on_page": "if(countIf(eng_n > 0) = 0, NULL, sumIf(eng_ms, eng_n > 0) / 1000 / countIf(eng_n > 0))",
    "total_revenue": "sum(rev)",
    "average_revenue": "if(sum(rev_n) = 0, NULL, toFloat64(sum(rev)) / sum(rev_n))",
}

# One-level aggregates over events rows, when no metric needs per-visit values (cheaper: no inner grouping).
FLAT_SHAPE = {
    "visitors": "uniqExactIf(visitor_id, name != 'engagement')",
    "visits": "uniqExactIf(session_id, name != 'engagement')",
    "pageviews": "countIf(name = 'pageview')",
    "events": "countIf(name != 'engagement')",
}


def sql_metrics(metrics: tuple[str, ...]) -> tuple[str, ...]:
    """The metrics SQL computes for a query: its own, with `visitors` standing in for the derived ones."""
    out = [m for m in metrics if m not in DERIVED]
    if DERIVED & set(metrics) and "visitors" not in out:
        out.append("visitors")
    return tuple(out)


def order_column(name: str) -> str:
    """The SQL result column to sort by for a metric (derived metrics sort as their visitors do)."""
    return "m_visitors" if name in DERIVED else f"m_{name}"

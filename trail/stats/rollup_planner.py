"""Whether a query is answered from daily rollups (pure: no database; the runner passes the site's coverage).

Rules (every one unit-tested in tests/stats/test_rollup_planner.py):
- metrics are all rollup metrics (visitors, visits, pageviews, events, views_per_visit, bounce_rate,
  visit_duration, percentage);
- the range is whole local days (not realtime, not an unresolved "all");
- the shape: no dimension, one time:day/week/month dimension, or one rolled-up dimension; filters: none, or one
  case-sensitive `is` filter on a rolled-up dimension F with no dimension, a time dimension, or F itself
  (event dimensions without F grouped: one value only, since a visit can hold several pages);
- size: the site's rolled-up events reach `min_events` (small sites and the oracle stay exact; a big site's
  short ranges and comparison periods read rollups too, so one answer never mixes the two engines);
- coverage: every day of the range is rolled up in the query's timezone, is before the site's first day (empty)
  or after today (future, empty), except a suffix of at most MAX_TAIL_DAYS days (a day the job has not reached
  yet) that is computed from raw events at query time, the same way the job computes it;
- scroll_depth / time_on_page only over page rows (event:page, or a pair broken down by page; not per event
  name), which carry the per-(page, visit) engagement sums;
- provisional days (today, and yesterday until it closes: rolled up by the job from the events before its
  watermark `until`) are read from rollups, and only the events from the watermark on come from raw events
  (`since`: minutes of events, not days). When provisional days disagree on their watermark or are followed by a
  closed day, they are computed from raw events whole, as missing days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping, Sequence

from trail.stats.dates import zone
from trail.stats.query import Filter, Query
from trail.stats.rollup_dims import DIMENSIONS, NONE, PAIRS, SEP, page_rows
from trail.stats.rollups import METRIC_SQL
from trail.stats.sql_metrics import ENGAGEMENT_METRICS as ENGAGEMENT

MIN_EVENTS = 1_000_000  # TRAIL_ROLLUP_MIN_EVENTS: set by trail.app.start_services
MAX_TAIL_DAYS = 2
TIME_DIMS = ("time:day", "time:week", "time:month")
METRICS = frozenset(METRIC_SQL) | {"percentage", "conversion_rate"}
GOAL_METRICS = frozenset({"visitors", "events", "conversion_rate", "total_revenue", "average_revenue"})


@dataclass(frozen=True)
class DayInfo:
    """One rolled-up local day (a rollup_days row)."""

    tz: str
    gen: int
    events: int
    until: datetime | None = None  # provisional day: rolled up from the events before this watermark


@dataclass(frozen=True)
class Coverage:
    """What the rollup job has computed for a site."""

    days: Mapping[date, DayInfo]
    first_day: date | None = None  # the site's first local day with events (days before it are empty)


@dataclass(frozen=True)
class RollupPlan:
    """Read `dim` rows (optionally only `values`) of `days` at `gens`; compute `tail` days from raw events
    (from `since` on when set: the watermark of the provisional days among `days`, else the whole days)."""

    dim: str
    values: tuple[str, ...]
    time_dim: str | None
    days: tuple[date, ...]
    gens: tuple[int, ...]
    tail: tuple[date, ...]
    events: int
    since: datetime | None = None
    prefix: str = ""  # a pair dimension ("F>D"): the filter's value + SEP; rows without it are left out


@dataclass(frozen=True)
class Decision:
    plan: RollupPlan | None
    reason: str


def _raw(reason: str) -> Decision:
    return Decision(None, reason)


def shape(query: Query) -> tuple[str, tuple[str, ...], str | None, str] | None:
    """(rollup dim to read, values to keep, time dimension, pair prefix) when the dimensions and filters fit, else
    None. Several values of one filter are a union, which sums cannot give, unless grouped by that dimension."""
    dims = query.dimensions
    time_dim = dims[0] if len(dims) == 1 and dims[0] in TIME_DIMS else None
    grouped = dims[0] if len(dims) == 1 and dims[0] in DIMENSIONS and dims[0] != NONE else None
    if len(dims) > 1 or (dims and time_dim is None and grouped is None):
        return None
    if not query.filters:
        return (grouped or NONE, (), time_dim, "")
    if len(query.filters) != 1 or not isinstance(query.filters[0], Filter):
        return None
    f = query.filters[0]
    if f.op != "is" or not f.case_sensitive or f.dimension not in DIMENSIONS:
        return None
    if grouped is not None and grouped != f.dimension:
        pair = f"{f.dimension}>{grouped}"
        if pair not in PAIRS or len(f.values) != 1:
            return None
        return (pair, (), None, f.values[0] + SEP)
    if grouped is None and len(f.values) != 1:
        return None
    return (f.dimension, tuple(f.values), time_dim, "")


def precheck(query: Query) -> str | None:
    """Why `query` can never come from rollups (metrics, range, shape), or None (then coverage decides)."""
    if not set(query.metrics) <= METRICS:
        return "metric"
    rng = query.date_range
    if rng.realtime or rng.unresolved_all:
        return "range"
    tz = zone(rng.timezone)
    if rng.start.astimezone(tz).time() != time.min or rng.end.astimezone(tz).time() != time.min:
        return "partial days"
    found = shape(query)
    if found is None:
        return "shape"
    if set(query.metrics) & ENGAGEMENT and not page_rows(found[0]):
        return "metric"
    return None


def decide(query: Query, coverage: Coverage, min_events: int | None = None) -> Decision:
    """Serve `query` from rollups, or say why not."""
    min_events = MIN_EVENTS if min_events is None else min_events
    reason = precheck(query)
    if reason is not None:
        return _raw(reason)
    found = shape(query)
    assert found is not None
    dim, values, time_dim, prefix = found
    rng = query.date_range
    tz = zone(rng.timezone)
    today = query.now.astimezone(tz).date()
    days, gens, missing = [], [], []
    events = 0
    day = rng.first_day
    while day <= rng.last_day:
        info = coverage.days.get(day)
        if info is not None and info.tz == rng.timezone:
            if missing:
                return _raw("coverage")  # a rolled-up day after one that is not
            days.append(day)
            gens.append(info.gen)
            events += info.events
        elif day > today or (coverage.first_day is not None and day < coverage.first_day and not missing):
            pass  # future, or before the site's first event: nothing to read
        else:
            missing.append(day)
        day += timedelta(days=1)
    since, tail = _watermark(coverage, days, missing, today, tz)
    if since is None and tail != missing:  # inconsistent provisional days: computed whole from raw events
        keep = len(days) - (len(tail) - len(missing))
        days, gens = days[:keep], gens[:keep]
        events = sum(coverage.days[d].events for d in days)
    if len(missing if since is not None else tail) > MAX_TAIL_DAYS:
        return _raw("coverage")
    if sum(i.events for i in coverage.days.values() if i.tz == rng.timezone) < min_events:
        return _raw("small")  # a small site stays on raw events, whatever the range (comparisons follow along)
    return Decision(RollupPlan(dim, values, time_dim, tuple(days), tuple(gens), tuple(tail), events, since, prefix),
                    "rollups")


def _watermark(coverage: Coverage, days: list[date], missing: list[date], today: date,
               tz: Any) -> tuple[datetime | None, list[date]]:
    """(since, tail days): the provisional days' common watermark and the days from its local day to the last
    missing one; (None, missing) without provisional days; (None, provisional + missing) when they are
    inconsistent (different watermarks, or a closed day after a provisional one)."""
    marks = [(d, coverage.days[d].until) for d in days]
    first = next((i for i, (_, u) in enumerate(marks) if u is not None), None)
    if first is None:
        return None, missing
    provisional = marks[first:]
    whole = [d for d, _ in provisional] + missing
    watermarks = {u for _, u in provisional}
    if None in watermarks or len(watermarks) != 1:
        return None, whole
    since = watermarks.pop()
    assert since is not None
    start = max(since.astimezone(tz).date(), provisional[0][0])
    last = missing[-1] if missing else min(provisional[-1][0], today)
    tail = []
    day = start
    while day <= last:
        tail.append(day)
        day += timedelta(days=1)
    return since, tail


@dataclass(frozen=True)
class GoalNames:
    """A query on custom-event goals as the same query on their event names."""

    query: Query
    names: tuple[str, ...] = ()  # a goal breakdown: the goals' event names, in the site's goal order ...
    labels: tuple[str, ...] = ()  # ... and their display names (the rows' dimension values)
    revenue: tuple[str, ...] = ()  # a goal breakdown: the event names of revenue goals (their rows have revenue)
    all_revenue: bool = False  # a revenue goal's filter: every row's revenue counts


def goals_as_names(query: Query, goals: Sequence[Any]) -> GoalNames | None:
    """Custom-event goals are their event names (the raw engine's goal condition is `name = <event>`):
    - an unfiltered event:goal breakdown whose goals are all custom-event goals (distinct names) is the event:name
      breakdown of those names: a goal's uniques and total are its event's visitors and events, its revenue that
      of its events with an amount (revenue goals only);
    - one `is` filter on one custom-event goal is an `is` filter on its event name (same events selected).
    Page-path goals (pageviews only, wildcards) stay raw. None when neither applies."""
    if not goals:
        return None
    by_name = {g.display_name: g for g in goals}
    if query.dimensions == ("event:goal",) and not query.filters:
        if any(not g.event_name for g in goals) or not set(query.metrics) <= GOAL_METRICS:
            return None
        names = tuple(str(g.event_name) for g in goals)
        if len(set(names)) != len(names):
            return None
        order = tuple(("event:name" if n == "event:goal" else n, d) for n, d in query.order_by)
        mapped = replace(query, dimensions=("event:name",), filters=(Filter("is", "event:name", names),),
                         order_by=order)
        return GoalNames(mapped, names, tuple(g.display_name for g in goals),
                         tuple(str(g.event_name) for g in goals if g.currency))
    if "event:goal" in query.dimensions or len(query.filters) != 1 or not isinstance(query.filters[0], Filter):
        return None
    f = query.filters[0]
    goal = by_name.get(f.values[0]) if f.dimension == "event:goal" and f.op == "is" and len(f.values) == 1 \
        else None
    if goal is None or not goal.event_name or not f.case_sensitive:
        return None
    mapped = replace(query, filters=(Filter("is", "event:name", (str(goal.event_name),)),))
    return GoalNames(mapped, all_revenue=bool(goal.currency))

"""Run a Query against the event store and shape the Stats API v2 response (results, meta, query, comparisons)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Sequence

from trail.stats import dates, rollup_coverage, rollup_planner, sampling, visit_batch, visit_sets
from trail.stats.builder import BuiltQuery, SiteLike, plan, role_queries, time_only
from trail.stats.query import Filter, Query
from trail.stats.rollup_query import plan_rollups
from trail.store.events import EventStore

__all__ = ["run", "realtime_visitors", "first_event", "fmt_metric", "percent_change"]

INT_METRICS = frozenset({"visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration",
                         "scroll_depth", "time_on_page"})
# meta of responses answered from daily rollups (visits crossing the range's edges count whole: docs/ARCHITECTURE.md)
APPROXIMATE = {"approximate": True, "source": "rollups"}
POINT_CHANGE = frozenset({"bounce_rate", "conversion_rate", "percentage"})


def round_half_up(value: float, digits: int = 0) -> float:
    """Round half away from zero (Python's round() rounds half to even)."""
    q = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(float(value))).quantize(q, rounding=ROUND_HALF_UP))


def fmt_metric(metric: str, value: Any) -> Any:
    """A metric's raw SQL value in its response format (ints, 2-decimal floats, None when undefined)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None if metric in ("scroll_depth", "time_on_page", "average_revenue") else 0
    if metric in INT_METRICS:
        return int(round_half_up(float(value)))
    if metric == "percentage":
        return round_half_up(float(value), 1)
    return round_half_up(float(value), 2)


def percent_change(metric: str, old: Any, new: Any) -> Any:
    """Change from old to new: points for rates, else percent (100 from zero, as Plausible)."""
    if old is None or new is None:
        return None
    if metric in POINT_CHANGE:
        return round_half_up(new - old, 1) if metric != "bounce_rate" else int(new - old)
    if old == 0:
        return 100 if new > 0 else 0
    return int(round_half_up((new - old) / old * 100))


async def first_event(store: EventStore, site: SiteLike) -> datetime | None:
    """The time of the site's first event (for date_range "all")."""
    _, rows = await store.query("SELECT min(ts) AS first, count() AS n FROM events WHERE site_id = {s:UInt32}",
                                {"s": int(site.id)})
    if not rows or not rows[0][1]:
        return None
    value = rows[0][0]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


async def realtime_visitors(store: EventStore, site: SiteLike, now: datetime | None = None) -> int:
    """Unique visitors with a pageview or custom event in the last 5 minutes ("current visitors")."""
    now = now or datetime.now(timezone.utc)
    sql = ("SELECT uniqExact(visitor_id) FROM events WHERE site_id = {s:UInt32} AND ts >= {a:DateTime64(3, 'UTC')} "
           "AND ts <= {b:DateTime64(3, 'UTC')} AND name != 'engagement'")
    _, rows = await store.query(sql, {"s": int(site.id), "a": now - timedelta(minutes=5), "b": now})
    return int(rows[0][0]) if rows else 0


async def _fetch(store: EventStore, built: BuiltQuery) -> list[tuple[Any, ...]]:
    _, rows = await store.query(built.sql, built.params)
    return rows


def _revenue_goal_names(site: SiteLike) -> set[str]:
    return {g.display_name for g in site.goals if g.currency and g.event_name}


class _Shaped:
    """Rows of one executed query: dimension keys (raw bucket keys for time) and formatted metrics."""

    def __init__(self, query: Query, site: SiteLike, rows: list[tuple[Any, ...]], built: BuiltQuery,
                 totals: dict[str, int], sample: float = 1.0) -> None:
        self.query = query
        n = len(built.dimensions)
        goal_idx = query.dimensions.index("event:goal") if "event:goal" in query.dimensions else None
        revenue_goals = _revenue_goal_names(site)
        self.rows: list[tuple[tuple[Any, ...], list[Any]]] = []
        for row in rows:
            dims = tuple(row[:n])
            raw = dict(zip(built.metrics, row[n:]))
            metrics = []
            for m in query.metrics:
                if m == "percentage":
                    metrics.append(_ratio(raw.get("visitors"), totals.get("total_visitors"), "percentage"))
                elif m == "conversion_rate":
                    metrics.append(_ratio(raw.get("visitors"), totals.get("goal_total_visitors"), m))
                else:
                    value = fmt_metric(m, sampling.scale(m, raw.get(m), sample))
                    if m == "total_revenue" and value is None and goal_idx is not None \
                            and dims[goal_idx] in revenue_goals:
                        value = 0.0
                    metrics.append(value)
            self.rows.append((dims, metrics))


def _ratio(part: Any, total: Any, metric: str) -> Any:
    if not total:
        return 0.0
    return fmt_metric(metric, int(part or 0) / int(total) * 100)


def empty_metrics(metrics: Sequence[str]) -> list[Any]:
    """Metric values of a bucket or row without data."""
    return [0 if m in INT_METRICS and m not in ("scroll_depth", "time_on_page")
            else 0.0 if m in ("views_per_visit", "conversion_rate", "percentage") else None for m in metrics]


def _fill_time(shaped: _Shaped, labels: Sequence[Any]) -> None:
    """Give every bucket of the range a row (zeros for the empty ones), oldest first."""
    have = {row[0][0]: row for row in shaped.rows}
    shaped.rows = [have.get(key) or ((key,), empty_metrics(shaped.query.metrics)) for key in labels]


def _sort_page(shaped: _Shaped) -> None:
    """Order and paginate rows in Python (time-only queries, after filling)."""
    q = shaped.query
    for name, direction in reversed(q.order_by):
        if name in q.dimensions:
            i = q.dimensions.index(name)
            shaped.rows.sort(key=lambda r: r[0][i], reverse=direction == "desc")
        else:
            j = q.metrics.index(name)
            shaped.rows.sort(key=lambda r: (r[1][j] is None, r[1][j] or 0), reverse=direction == "desc")
    shaped.rows = shaped.rows[q.offset:q.offset + q.limit]


async def _rollup_plan(store: EventStore, query: Query, site: SiteLike,
                       totals_source: Query | None) -> dict[str, BuiltQuery] | None:
    goals = rollup_planner.goals_as_names(query, site.goals)
    if rollup_planner.precheck(query if goals is None else goals.query) is not None:
        return None
    cover = await rollup_coverage.coverage(store, site.id)
    return plan_rollups(query, site, cover, totals_source) if cover.days else None


async def _plan(store: EventStore, query: Query, site: SiteLike,
                totals_source: Query | None) -> tuple[dict[str, BuiltQuery], dict[str, Any], float, bool]:
    """The SQL of every role, its meta, the share of visitors it reads and whether its visit-level roles are
    gathered with other queries': from daily rollups when the rollup planner says so (approximate), else raw events
    (a sample of the visitors on a very large range)."""
    built = await _rollup_plan(store, query, site, totals_source)
    if built is not None:
        return built, dict(APPROXIMATE), 1.0, False
    cover = await rollup_coverage.coverage(store, site.id)
    sample = sampling.share(cover, query)
    gather = visit_batch.worth_it(sampling.estimated_events(cover, query), sample)
    return plan(query, site, totals_source, sample), sampling.meta(sample), sample, gather


async def _execute(store: EventStore, query: Query, site: SiteLike,
                   totals_source: Query | None = None) -> tuple[_Shaped, dict[str, Any]]:
    built, meta, sample, gather = await _plan(store, query, site, totals_source)
    names = list(built)
    roles = role_queries(query, totals_source) if gather else {}

    async def fetch(name: str) -> list[tuple[Any, ...]]:
        role = roles.get(name)
        if role is not None and visit_sets.batchable(role):
            rows, total = await visit_batch.fetch(store, role, site, sample)
            return [(total,)] if name == "total_rows" else rows
        return await _fetch(store, built[name])

    results = await asyncio.gather(*(fetch(n) for n in names))
    by_name = dict(zip(names, results))
    totals = {k: int(by_name[k][0][0]) for k in ("total_visitors", "goal_total_visitors") if k in by_name}
    shaped = _Shaped(query, site, by_name["main"], built["main"], totals, sample)
    if time_only(query):
        labels = dates.labels(query.date_range, query.dimensions[0])
        _fill_time(shaped, labels)
        meta["total_rows"] = len(shaped.rows)
        _sort_page(shaped)
    elif "total_rows" in by_name:
        meta["total_rows"] = int(by_name["total_rows"][0][0])
    return shaped, meta


async def _resolve_all(store: EventStore, query: Query, site: SiteLike) -> Query:
    if not query.date_range.unresolved_all:
        return query
    rng = dates.resolve_all(query.date_range, await first_event(store, site))
    return replace(query, date_range=rng)


def _render_dims(query: Query, dims: tuple[Any, ...]) -> list[Any]:
    return [dates.label_text(v, d, query.timezone) if d.startswith("time") else v
            for d, v in zip(query.dimensions, dims)]


async def run(store: EventStore, query: Query, site: SiteLike) -> dict[str, Any]:
    """Execute a query (and its totals, row count and comparison) and return the API response body."""
    query = await _resolve_all(store, query, site)
    cmp_query = None
    if query.include.comparisons:
        cmp_range = dates.comparison_range(query.date_range, query.include.comparisons)
        cmp_query = replace(query, date_range=cmp_range, include=replace(query.include, total_rows=False),
                            offset=0, limit=10_000)
    keyed = [d for d in query.dimensions if not d.startswith("time")]
    cmp_shaped = None
    if cmp_query is not None and not keyed:  # nothing to restrict: run both at once
        (shaped, meta), (cmp_shaped, cmp_meta) = await asyncio.gather(_execute(store, query, site),
                                                               _execute(store, cmp_query, site))
    else:
        shaped, meta = await _execute(store, query, site)
        if cmp_query is not None:
            restrict = tuple(_restriction(query, shaped, dim) for dim in keyed)
            restricted = replace(cmp_query, filters=cmp_query.filters + restrict)
            cmp_shaped, cmp_meta = await _execute(store, restricted, site, totals_source=cmp_query)
    results: list[dict[str, Any]] = [{"dimensions": _render_dims(query, dims), "metrics": metrics}
                                     for dims, metrics in shaped.rows]
    if cmp_query is not None and cmp_shaped is not None:
        _attach_comparisons(query, cmp_query, shaped, cmp_shaped, results)
        meta["comparison_date_range"] = cmp_query.normalised()["date_range"]
        if "sample_percent" in cmp_meta:  # the comparison period's numbers are estimates too
            meta["comparison_sample_percent"] = cmp_meta["sample_percent"]
            meta["approximate"] = True
    if query.include.time_labels and query.time_dimension:
        meta["time_labels"] = [dates.label_text(k, query.time_dimension, query.timezone)
                               for k in dates.labels(query.date_range, query.time_dimension)]
    return {"results": results, "meta": meta, "query": query.normalised()}


def _restriction(query: Query, shaped: _Shaped, dim: str) -> Filter:
    """A filter keeping only the main rows' values of `dim` (so the comparison fetches just those rows)."""
    i = query.dimensions.index(dim)
    values = sorted({str(dims[i]) for dims, _ in shaped.rows})
    return Filter("is", dim, tuple(values or [""]))


def _attach_comparisons(query: Query, cmp_query: Query, shaped: _Shaped, cmp_shaped: _Shaped,
                        results: list[dict[str, Any]]) -> None:
    """Match comparison rows to main rows (time buckets by position, other dimensions by value)."""
    time_dim = query.time_dimension
    time_pos = query.dimensions.index(time_dim) if time_dim else None
    main_pos = {k: i for i, k in enumerate(dates.labels(query.date_range, time_dim))} if time_dim else {}
    cmp_labels = dates.labels(cmp_query.date_range, time_dim) if time_dim else []
    index = {tuple(dims): metrics for dims, metrics in cmp_shaped.rows}
    empty = empty_metrics(query.metrics)
    for (dims, metrics), result in zip(shaped.rows, results):
        key = list(dims)
        if time_pos is not None:
            pos = main_pos.get(dims[time_pos])
            key[time_pos] = cmp_labels[pos] if pos is not None and pos < len(cmp_labels) else None
        cmp_metrics = index.get(tuple(key), empty)
        result["comparison"] = {
            "dimensions": _render_dims(cmp_query, tuple(key)) if None not in key else key,
            "metrics": cmp_metrics,
            "change": [percent_change(m, o, n) for m, o, n in zip(query.metrics, cmp_metrics, metrics)],
        }

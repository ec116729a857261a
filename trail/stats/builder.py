"""Pure query builder: a frozen Query and a site's facts -> ClickHouse SQL with bound `{pN:Type}` parameters.

Two shapes (see docs/API.md, "Stats queries"):
- per visit: no event dimension and no event filter -> aggregate a one-row-per-visit subquery (one scan, no join);
- per event: group events by (dimensions, session_id) first, then by dimensions; visit attributes, visit filters and
  visit metrics come from the same one-row-per-visit subquery, joined on session_id only when needed.
Visit filters therefore select whole visits; event filters select events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Protocol, Sequence

from trail.stats import sql_metrics as M
from trail.stats.query import Filter, FilterNode, Query, is_event_dimension, walk
from trail.stats.sql_dimensions import (
    VISIT_COLUMNS,
    event_expression,
    time_expression,
    visit_aggregate,
    visit_expression,
)
from trail.stats.sql_filters import GoalLike, Params, compile_filters, compile_node, goal_condition, selected_goals

__all__ = ["BuiltQuery", "SiteLike", "build", "build_count", "plan", "role_queries", "sample_bound", "totals_query",
           "per_visit", "visit_level", "visit_source", "visits_by_events"]

TS_TYPE = "DateTime64(3, 'UTC')"
POSITIVE_OPS = ("is", "contains", "matches")


class SiteLike(Protocol):
    id: int
    timezone: str
    goals: Sequence[GoalLike]


@dataclass(frozen=True)
class BuiltQuery:
    """SQL plus its parameters; `columns` are d0..dN (dimensions) then m_<metric> (SQL metrics)."""

    sql: str
    params: Mapping[str, Any]
    dimensions: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    paginated: bool = True

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"d{i}" for i in range(len(self.dimensions))) + tuple(f"m_{m}" for m in self.metrics)


def time_only(query: Query) -> bool:
    """One time dimension and nothing else: the runner fills empty buckets, then sorts and paginates."""
    return len(query.dimensions) == 1 and query.dimensions[0].startswith("time")


def per_visit(query: Query) -> bool:
    """True when the per-visit shape answers the query (no event dimension, no event filter)."""
    if any(is_event_dimension(d) for d in query.dimensions):
        return False
    if any(is_event_dimension(f.dimension) for f in walk(query.filters)):
        return False
    return not (set(query.metrics) & (M.ENGAGEMENT_METRICS | M.REVENUE_METRICS))


def _pure_event(node: FilterNode) -> bool:
    """A filter (tree) on event dimensions only."""
    return all(is_event_dimension(f.dimension) for f in walk([node]))


def _pure_visit(node: FilterNode) -> bool:
    return all(f.dimension.startswith("visit:") for f in walk([node]))


def visits_by_events(query: Query) -> bool:
    """True when whole visits, selected by their events, answer the query: no event or time dimension, only visit
    metrics, and every top-level filter is on event dimensions only or on visit dimensions only. One GROUP BY
    session_id then counts each visit's matching events (no join of events to their visits)."""
    if per_visit(query) or any(is_event_dimension(d) or d.startswith("time") for d in query.dimensions):
        return False
    if not set(M.sql_metrics(query.metrics)) <= set(M.VISITS_BY_EVENTS_SHAPE):
        return False
    return all(_pure_event(node) or _pure_visit(node) for node in query.filters)


def _visit_dims(query: Query, extra: Sequence[str] = ()) -> list[str]:
    names = [d for d in query.dimensions if d.startswith("visit:")]
    names += [f.dimension for f in walk(query.filters) if f.dimension.startswith("visit:")]
    names += list(extra)
    return list(dict.fromkeys(names))


def sample_bound(sample: float) -> int | None:
    """The visitor-id bound that keeps `sample` of all visitors (ids are uniform 64-bit keyed hashes); None: all."""
    if sample >= 1.0:
        return None
    return max(1, min(2**64 - 1, int(sample * 2**64)))


def _base_where(query: Query, site: SiteLike, params: Params, sample: float = 1.0) -> str:
    """Site and range; with a sample, only the visitors whose id is below the bound. The events' sort key is
    (site_id, toDate(ts), visitor_id, ...), so the bound skips granules within every day instead of filtering rows,
    and a visit (one visitor id) is kept or dropped whole."""
    rng = query.date_range
    where = (f"site_id = {params.add(int(site.id), 'UInt32')} AND ts >= {params.add(rng.start, TS_TYPE)} "
             f"AND ts < {params.add(rng.end, TS_TYPE)}")
    bound = sample_bound(sample)
    if bound is not None:
        where += f" AND visitor_id < {params.add(bound, 'UInt64')}"
    return where


def _event_level(dimension: str, params: Params) -> str:
    """A filtered dimension's expression over a plain events row (a visit dimension: the event's own column, shown
    the way the visit's attribute is)."""
    if dimension.startswith("visit:"):
        column, empty = VISIT_COLUMNS[dimension]
        return column if empty is None else f"if(empty({column}), '{empty}', {column})"
    return event_expression(dimension, params)


def _groups_visits(query: Query, metrics: tuple[str, ...]) -> bool:
    """Whether the SQL builds the one-row-per-visit subquery (per-visit shape, or a per-event one joining it)."""
    if per_visit(query):
        return True
    return bool(_visit_dims(query)) or bool(set(metrics) & M.VISIT_LEVEL)


def _candidate_visits(query: Query, site: SiteLike, params: Params, base: str) -> str:
    """` AND session_id IN (...)`: the visits holding, for every top-level simple visit filter, an event that
    satisfies it. A superset of the visits the filters keep (a visit attribute is the value of one of its events),
    found in one narrow scan, so that the per-visit GROUP BY only sees those visits instead of every visit of the
    range. The filters themselves are still applied as before. '' when no top-level filter is a simple visit
    filter. (Event filters are left out: on the 10M bench the extra scan cost more than it saved there.)"""
    simple = [f for f in query.filters if isinstance(f, Filter) and f.dimension.startswith("visit:")
              and f.op in POSITIVE_OPS]
    if not simple:
        return ""
    conds = [compile_node(f, lambda d: _event_level(d, params), list(site.goals), params) for f in simple]
    having = " AND ".join(f"max({c})" for c in conds)
    return (f" AND session_id IN (SELECT session_id FROM events WHERE {base} AND ({' OR '.join(conds)}) "
            f"GROUP BY session_id HAVING {having})")


def _sessions_sql(base: str, visit_dims: Sequence[str]) -> str:
    """One row per visit in the range (session_id, v_visitor, v_start, v_pv, v_ev, v_is_bounce, v_duration, v_*)."""
    columns = list(M.SESSION_COLUMNS) + [visit_aggregate(d) for d in visit_dims]
    return f"SELECT {', '.join(columns)} FROM events WHERE {base} GROUP BY session_id HAVING v_ev > 0"


class _Resolver:
    """Dimension -> SQL expression, over rows that carry event columns and/or the visit's v_* columns."""

    def __init__(self, params: Params, tz: str, first_day: str, time_column: str) -> None:
        self.params, self.tz, self.first_day, self.time_column = params, tz, first_day, time_column

    def __call__(self, dimension: str) -> str:
        if dimension.startswith("visit:"):
            return visit_expression(dimension)
        if dimension.startswith("time"):
            return time_expression(dimension, self.time_column, self.tz, self.first_day)
        return event_expression(dimension, self.params)


def _order_sql(query: Query, dims: tuple[str, ...], metrics: tuple[str, ...]) -> str:
    parts: list[str] = []
    for name, direction in query.order_by:
        column = f"d{dims.index(name)}" if name in dims else M.order_column(name)
        if column.startswith("m_") and column[2:] not in metrics:
            continue
        parts.append(f"{column} {direction.upper()}")
    parts += [f"d{i} ASC" for i in range(len(dims)) if f"d{i} ASC" not in parts and f"d{i} DESC" not in parts]
    return ", ".join(parts)


def _revenue_condition(query: Query, site: SiteLike, params: Params, goal_dim: str | None) -> str:
    revenue_goals = [g for g in site.goals if g.currency and g.event_name]
    if goal_dim is not None:
        names = [g.display_name for g in revenue_goals]
        return f"revenue_amount IS NOT NULL AND has({params.add(names, 'Array(String)')}, {goal_dim})"
    chosen: dict[str, GoalLike] = {}
    for node in query.filters:
        if isinstance(node, Filter) and node.dimension == "event:goal" and node.op in ("is", "contains"):
            for goal in selected_goals(revenue_goals, node):
                chosen[goal.display_name] = goal
    if len({g.currency for g in chosen.values()}) != 1:
        return "0"  # no revenue goal selected, or several currencies: no sum makes sense
    conds = " OR ".join(goal_condition(g, params) for g in chosen.values())
    return f"revenue_amount IS NOT NULL AND ({conds})"


def _bounce_scope(query: Query, resolver: _Resolver, site: SiteLike, params: Params) -> str:
    """Which visits count for bounce_rate next to a page: those that entered on it."""
    if "event:page" in query.dimensions:
        return "max(v_entry_page = pathname) AS bscope"
    page_filters: list[FilterNode] = [f for f in query.filters if isinstance(f, Filter) and f.dimension == "event:page"]
    if not page_filters:
        return "1 AS bscope"

    def entry(dimension: str) -> str:
        return "v_entry_page" if dimension == "event:page" else resolver(dimension)

    cond = " AND ".join(compile_node(f, entry, list(site.goals), params) for f in page_filters)
    return f"max({cond}) AS bscope"


def build(query: Query, site: SiteLike, paginate: bool | None = None, sample: float = 1.0) -> BuiltQuery:
    """The main SQL of a query. Pagination goes into the SQL unless the runner must fill time buckets first.
    `sample` < 1 reads that share of the visitors only (see `_base_where`); the runner scales the counts."""
    params = Params()
    base = _base_where(query, site, params, sample)
    tz, first_day = params.add(query.timezone), params.add(query.date_range.first_day, "Date")
    if _groups_visits(query, M.sql_metrics(query.metrics)):
        base += _candidate_visits(query, site, params, base)
    dims, metrics = query.dimensions, M.sql_metrics(query.metrics)
    paginate = (not time_only(query)) if paginate is None else paginate
    if visit_level(query):
        body = _visit_level_sql(query, site, params, base, _Resolver(params, tz, first_day, "v_start"), metrics)
    else:
        body = _per_event_sql(query, site, params, base, _Resolver(params, tz, first_day, "ts"), metrics)
    sql = body
    if paginate:
        sql += f" ORDER BY {_order_sql(query, dims, metrics)}"
        sql += f" LIMIT {params.add(query.limit, 'UInt64')} OFFSET {params.add(query.offset, 'UInt64')}"
    return BuiltQuery(sql, params.values, dims, metrics, paginate)


def visit_source(query: Query, site: SiteLike, params: Params, base: str, resolver: _Resolver,
                 metrics: Sequence[str]) -> tuple[str, dict[str, str]]:
    """What the visit-level shapes aggregate: `FROM (one row per visit) WHERE <visit filters>`, and each metric's
    aggregate over those rows. Per visit (no event filter): every visit of the range. Visits selected by their
    events: visits with at least one event passing the event filters; event counts are of the passing events,
    visit metrics of the whole visits."""
    goals = list(site.goals)
    if per_visit(query):
        sessions = _sessions_sql(base, _visit_dims(query))
        where = compile_filters(query.filters, resolver, goals, params)
        return f"FROM ({sessions}) WHERE {where}", {m: M.SESSION_SHAPE[m] for m in metrics}
    event_nodes = [n for n in query.filters if _pure_event(n)]
    visit_nodes = [n for n in query.filters if not _pure_event(n)]
    cond = compile_filters(event_nodes, resolver, goals, params)
    page_filters = [f for f in event_nodes if isinstance(f, Filter) and f.dimension == "event:page"]
    bounce = "bounce_rate" in metrics and bool(page_filters)
    columns = list(M.SESSION_COLUMNS)
    columns += [visit_aggregate(d) for d in _visit_dims(query, ["visit:entry_page"] if bounce else [])]
    columns += [f"countIf(name = 'pageview' AND {cond}) AS f_pv", f"countIf(name != 'engagement' AND {cond}) AS f_ev"]
    sessions = (f"SELECT {', '.join(columns)} FROM events WHERE {base} GROUP BY session_id "
                "HAVING v_ev > 0 AND f_ev > 0")
    bscope = "1"
    if bounce:
        def entry(dimension: str) -> str:
            return "v_entry_page" if dimension == "event:page" else resolver(dimension)
        bscope = " AND ".join(compile_node(f, entry, goals, params) for f in page_filters)
    shapes = {m: M.VISITS_BY_EVENTS_SHAPE[m].replace("{bscope}", bscope) for m in metrics}
    return f"FROM ({sessions}) WHERE {compile_filters(visit_nodes, resolver, goals, params)}", shapes


def visit_level(query: Query) -> bool:
    """Whether one of the visit-level shapes (per visit, visits selected by their events) answers the query."""
    return per_visit(query) or visits_by_events(query)


def _visit_level_sql(query: Query, site: SiteLike, params: Params, base: str, resolver: _Resolver,
                     metrics: tuple[str, ...]) -> str:
    source, shapes = visit_source(query, site, params, base, resolver, metrics)
    select = [f"{resolver(d)} AS d{i}" for i, d in enumerate(query.dimensions)]
    select += [f"{shapes[m]} AS m_{m}" for m in metrics]
    sql = f"SELECT {', '.join(select)} {source}"
    if query.dimensions:
        sql += " GROUP BY " + ", ".join(f"d{i}" for i in range(len(query.dimensions)))
    return sql


def _per_event_sql(query: Query, site: SiteLike, params: Params, base: str, resolver: _Resolver,
                   metrics: tuple[str, ...]) -> str:
    wanted = set(metrics)
    visit_metrics = bool(wanted & M.VISIT_LEVEL)
    extra = ["visit:entry_page"] if "bounce_rate" in wanted else []
    visit_dims = _visit_dims(query, extra)
    join = bool(visit_dims) or visit_metrics
    inner: list[str] = []
    where = [base]
    goal_dim = None
    for i, dim in enumerate(query.dimensions):
        if dim == "event:goal":
            goal_dim = f"d{i}"
            conds = [goal_condition(g, params) for g in site.goals]
            names = params.add([g.display_name for g in site.goals], "Array(String)")
            if conds:
                inner.append(f"arrayJoin(arrayFilter((g, c) -> c, {names}, [{', '.join(conds)}])) AS d{i}")
                where.append("(" + " OR ".join(conds) + ")")
            else:
                inner.append(f"'' AS d{i}")
                where.append("0")
        else:
            inner.append(f"{resolver(dim)} AS d{i}")
    inner += ["session_id", *M.INNER_BASE]
    if visit_metrics:
        inner += list(M.INNER_VISIT)
    if "bounce_rate" in wanted:
        inner.append(_bounce_scope(query, resolver, site, params))
    if wanted & M.ENGAGEMENT_METRICS:
        inner += list(M.INNER_ENGAGEMENT)
    if wanted & M.REVENUE_METRICS:
        cond = _revenue_condition(query, site, params, goal_dim)
        inner += [f"sumIf(revenue_amount, {cond}) AS rev", f"countIf({cond}) AS rev_n"]
    if query.filters:
        where.append(compile_filters(query.filters, resolver, site.goals, params))
    table = "events"
    if join:
        table += f" INNER JOIN ({_sessions_sql(base, visit_dims)}) AS s USING session_id"
    dim_cols = [f"d{i}" for i in range(len(query.dimensions))]
    if set(metrics) <= set(M.FLAT_SHAPE):  # no per-visit value needed: one level of grouping
        flat = inner[:len(dim_cols)] + [f"{M.FLAT_SHAPE[m]} AS m_{m}" for m in metrics]
        sql = f"SELECT {', '.join(flat)} FROM {table} WHERE {' AND '.join(where)}"
        if dim_cols:
            sql += f" GROUP BY {', '.join(dim_cols)} HAVING countIf(name != 'engagement') > 0"
        return sql
    inner_sql = (f"SELECT {', '.join(inner)} FROM {table} WHERE {' AND '.join(where)} "
                 f"GROUP BY {', '.join(dim_cols + ['session_id'])}")
    select = dim_cols + [f"{M.EVENT_SHAPE[m]} AS m_{m}" for m in metrics]
    sql = f"SELECT {', '.join(select)} FROM ({inner_sql})"
    if dim_cols:
        sql += f" GROUP BY {', '.join(dim_cols)}"
    if dim_cols:
        sql += " HAVING countIf(ev > 0) > 0 OR sum(eng_n) > 0" if wanted & M.ENGAGEMENT_METRICS \
            else " HAVING countIf(ev > 0) > 0"
    return sql


def build_count(query: Query, site: SiteLike, sample: float = 1.0) -> BuiltQuery:
    """SQL counting the rows of the query before pagination (meta.total_rows)."""
    inner = build(query, site, paginate=False, sample=sample)
    return BuiltQuery(f"SELECT count() AS n FROM ({inner.sql})", inner.params, (), ("n",), False)


def totals_query(query: Query, without_goals: bool = False) -> Query:
    """The query for the total visitors behind `percentage` (same filters) or `conversion_rate` (no goal filter)."""
    filters = query.filters
    if without_goals:
        filters = tuple(f for f in filters if not (isinstance(f, Filter) and (
            f.dimension == "event:goal" or f.dimension.startswith("event:props:"))))
    return replace(query, metrics=("visitors",), dimensions=(), filters=filters, order_by=(("visitors", "desc"),),
                   limit=1, offset=0)


def role_queries(query: Query, totals_source: Query | None = None) -> dict[str, Query]:
    """The query behind each role a query needs: main, total_rows (counted), total_visitors, goal_total_visitors.
    Totals come from `totals_source` when given (a comparison restricted to the main rows' values)."""
    out = {"main": query}
    totals = totals_source or query
    if query.include.total_rows and not time_only(query):
        out["total_rows"] = query
    if "percentage" in query.metrics:
        out["total_visitors"] = totals_query(totals)
    if "conversion_rate" in query.metrics:
        out["goal_total_visitors"] = totals_query(totals, without_goals=True)
    return out


def plan(query: Query, site: SiteLike, totals_source: Query | None = None,
         sample: float = 1.0) -> dict[str, BuiltQuery]:
    """Every SQL a query needs, by role (`role_queries`). Every role reads the same `sample` of visitors."""
    return {role: build_count(q, site, sample) if role == "total_rows" else build(q, site, sample=sample)
            for role, q in role_queries(query, totals_source).items()}

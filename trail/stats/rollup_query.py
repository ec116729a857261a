"""A query planned onto rollups (trail.stats.rollup_planner) -> the SQL the runner executes, same result columns
as trail.stats.builder (d0.., m_<metric>), so the runner shapes both alike. Every metric is a sum over the rows of a
bucket (visitors too: trail.stats.rollups), so a top-N is ordered exactly over all values.
"""

from __future__ import annotations

from trail.stats import sql_metrics as M
from trail.stats.builder import BuiltQuery, SiteLike, _order_sql, time_only, totals_query
from trail.stats.query import Query
from trail.stats.rollup_planner import Coverage, GoalNames, RollupPlan, decide, goals_as_names
from trail.stats.rollups import COLUMNS, compute_sql, metric_sql, needed_parts, prefix_sql, stored_sql, value_sql
from trail.stats.sql_filters import Params

__all__ = ["build_rollup", "plan_rollups"]


def _bucket_start(time_dim: str | None, params: Params, query: Query) -> str:
    """The first day of a row's bucket within the range (the whole range without a time dimension)."""
    first = params.add(query.date_range.first_day, "Date")
    if time_dim == "time:day":
        return "day"
    if time_dim == "time:week":
        return f"greatest(toMonday(day), {first})"
    if time_dim == "time:month":
        return f"greatest(toStartOfMonth(day), {first})"
    return first


def _parts(params: Params, query: Query, site: SiteLike, plan: RollupPlan) -> list[str]:
    """SELECTs of day, value, <COLUMNS>: the stored rows and the raw-events tail."""
    parts = []
    if plan.days:
        parts.append(stored_sql(params, site.id, plan.dim, plan.days, plan.gens, plan.values, plan.prefix))
    if plan.tail:
        tail = compute_sql(params, site.id, query.timezone, plan.tail[0], plan.tail[-1], (plan.dim,),
                           until=query.date_range.end, since=plan.since, grouped=False,
                           parts=needed_parts(plan.dim, M.sql_metrics(query.metrics)))
        where = f"dim = {params.add(plan.dim)}"
        if plan.values:
            where += f" AND value IN {params.add(list(plan.values), 'Array(String)')}"
        where += prefix_sql(params, plan.prefix)
        parts.append(f"SELECT day, value, {', '.join(COLUMNS)} FROM ({tail}) WHERE {where}")
    if not parts:  # nothing to read (a range wholly in the future or before the first event)
        parts.append(f"SELECT day, value, {', '.join(COLUMNS)} FROM rollup_daily WHERE 0")
    return parts


def build_rollup(query: Query, site: SiteLike, plan: RollupPlan, paginate: bool | None = None,
                 goals: GoalNames | None = None) -> BuiltQuery:
    """The main SQL of `query` over rollup rows plus its raw-events tail (`goals`: `query` is their event:name
    breakdown, shown under their display names)."""
    params = Params()
    paginate = (not time_only(query)) if paginate is None else paginate
    parts = _parts(params, query, site, plan)
    dims, metrics = query.dimensions, M.sql_metrics(query.metrics)
    start = _bucket_start(plan.time_dim, params, query)
    select = []
    if plan.time_dim:
        key = "toString(toStartOfMonth(day))" if plan.time_dim == "time:month" else f"toString({start})"
        select.append(f"{key} AS d0")
    elif goals is not None and goals.names:
        select.append(f"transform(value, {params.add(list(goals.names), 'Array(String)')}, "
                      f"{params.add(list(goals.labels), 'Array(String)')}, value) AS d0")
    elif dims:
        select.append(f"{value_sql(params, plan.prefix)} AS d0")
    revenue = "0"
    if goals is not None and goals.all_revenue:
        revenue = "1"
    elif goals is not None and goals.revenue:
        revenue = f"has({params.add(list(goals.revenue), 'Array(String)')}, value)"
    select += [f"{metric_sql(m, start, revenue)} AS m_{m}" for m in metrics]
    sql = f"SELECT {', '.join(select)} FROM ({' UNION ALL '.join(parts)})"
    if dims:
        sql += " GROUP BY d0 HAVING sum(events) > 0 OR sum(visitors_day) > 0"  # rollups.needed_parts
    if paginate:
        sql += f" ORDER BY {_order_sql(query, dims, metrics)}"
        sql += f" LIMIT {params.add(query.limit, 'UInt64')} OFFSET {params.add(query.offset, 'UInt64')}"
    return BuiltQuery(sql, params.values, dims, metrics, paginate)


def plan_rollups(query: Query, site: SiteLike, coverage: Coverage, totals_source: Query | None = None,
                 min_events: int | None = None) -> dict[str, BuiltQuery] | None:
    """Every SQL of `query` by role (as trail.stats.builder.plan) when rollups answer all of them, else None."""
    goals = goals_as_names(query, site.goals)
    target = query if goals is None else goals.query
    main = decide(target, coverage, min_events).plan
    if main is None:
        return None
    out = {"main": build_rollup(target, site, main, goals=goals)}
    if query.include.total_rows and not time_only(query):
        inner = build_rollup(target, site, main, paginate=False, goals=goals)
        out["total_rows"] = BuiltQuery(f"SELECT count() AS n FROM ({inner.sql})", inner.params, (), ("n",), False)
    if "percentage" in query.metrics:
        totals = totals_query(totals_source or query)
        mapped = goals_as_names(totals, site.goals)
        totals = totals if mapped is None else mapped.query
        total_plan = decide(totals, coverage, 0).plan
        if total_plan is None:
            return None
        out["total_visitors"] = build_rollup(totals, site, total_plan)
    if "conversion_rate" in query.metrics:
        totals = totals_query(totals_source or query, without_goals=True)
        total_plan = decide(totals, coverage, 0).plan
        if total_plan is None:
            return None
        out["goal_total_visitors"] = build_rollup(totals, site, total_plan)
    return out



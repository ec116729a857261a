"""A query planned onto rollups (trail.stats.rollup_planner) -> the SQL the runner executes, same result columns
as trail.stats.builder (d0.., m_<metric>), so the runner shapes both alike.

Top-N by visitors (a grouped dimension ordered by visitors desc, one page): HLL states are merged only for a
candidate set of values, the CANDIDATES_FACTOR x (offset + limit) (at least MIN_CANDIDATES) values with the largest
cheap upper bound of their visitors (sum of events for event dimensions, of visits for visit dimensions: a value's
visitors over the range never exceed either). Exact ordering by merged visitors among the candidates; a value
outside them would need more visitors than its bound lets it have relative to the candidates', which the bound
ranks below (sound approximation, docs/ARCHITECTURE.md "Stats storage"); at most a few percent of the values'
states are merged instead of all pages x days.
"""

from __future__ import annotations

from trail.stats import sql_metrics as M
from trail.stats.builder import BuiltQuery, SiteLike, _order_sql, time_only, totals_query
from trail.stats.query import Query
from trail.stats.rollup_planner import Coverage, RollupPlan, decide
from trail.stats.rollups import COLUMNS, EVENT_DIMS, METRIC_SQL, compute_sql, stored_sql
from trail.stats.sql_filters import Params

__all__ = ["build_rollup", "plan_rollups", "candidates"]

CANDIDATES_FACTOR = 5
MIN_CANDIDATES = 50


def _time_key(time_dim: str, params: Params, query: Query) -> str:
    if time_dim == "time:day":
        return "toString(day)"
    if time_dim == "time:week":
        return f"toString(greatest(toMonday(day), {params.add(query.date_range.first_day, 'Date')}))"
    return "toString(toStartOfMonth(day))"


def _parts(params: Params, query: Query, site: SiteLike, plan: RollupPlan, restrict: str = "") -> list[str]:
    """SELECTs of day, value, <COLUMNS>: the stored rows and the raw-events tail (`restrict`: more WHERE)."""
    parts = []
    if plan.days:
        parts.append(stored_sql(params, site.id, plan.dim, plan.days, plan.gens, plan.values) + restrict)
    if plan.tail:
        tail = compute_sql(params, site.id, query.timezone, plan.tail[0], plan.tail[-1], (plan.dim,),
                           until=query.date_range.end, since=plan.since)
        where = f"dim = {params.add(plan.dim)}"
        if plan.values:
            where += f" AND value IN {params.add(list(plan.values), 'Array(String)')}"
        parts.append(f"SELECT day, value, {', '.join(COLUMNS)} FROM ({tail}) WHERE {where}{restrict}")
    if not parts:  # nothing to read (a range wholly in the future or before the first event)
        parts.append(f"SELECT day, value, {', '.join(COLUMNS)} FROM rollup_daily WHERE 0")
    return parts


def build_rollup(query: Query, site: SiteLike, plan: RollupPlan, paginate: bool | None = None) -> BuiltQuery:
    """The main SQL of `query` over rollup rows plus its raw-events tail."""
    params = Params()
    paginate = (not time_only(query)) if paginate is None else paginate
    top = candidates(query, plan) if paginate else None
    restrict = ""
    if top is not None:  # merge visitors only for the top candidates by an upper bound (module docstring)
        bound = "events" if plan.dim in EVENT_DIMS else "visits"
        every = " UNION ALL ".join(_parts(params, query, site, plan))
        restrict = (f" AND value IN (SELECT value FROM ({every}) GROUP BY value HAVING sum(events) > 0 "
                    f"ORDER BY sum({bound}) DESC, value LIMIT {params.add(top, 'UInt64')})")
    parts = _parts(params, query, site, plan, restrict)
    dims, metrics = query.dimensions, M.sql_metrics(query.metrics)
    select = []
    if plan.time_dim:
        select.append(f"{_time_key(plan.time_dim, params, query)} AS d0")
    elif dims:
        select.append("value AS d0")
    select += [f"{METRIC_SQL[m]} AS m_{m}" for m in metrics]
    sql = f"SELECT {', '.join(select)} FROM ({' UNION ALL '.join(parts)})"
    if dims:
        sql += " GROUP BY d0 HAVING sum(events) > 0"
    if paginate:
        sql += f" ORDER BY {_order_sql(query, dims, metrics)}"
        sql += f" LIMIT {params.add(query.limit, 'UInt64')} OFFSET {params.add(query.offset, 'UInt64')}"
    return BuiltQuery(sql, params.values, dims, metrics, paginate)


def candidates(query: Query, plan: RollupPlan) -> int | None:
    """How many values to merge visitors for (top-N by visitors of a grouped dimension), None for all."""
    if plan.time_dim or plan.values or plan.dim == "" or not query.order_by:
        return None
    if query.order_by[0] != ("visitors", "desc") or "visitors" not in query.metrics:
        return None
    return max(CANDIDATES_FACTOR * (query.offset + query.limit), MIN_CANDIDATES)


def plan_rollups(query: Query, site: SiteLike, coverage: Coverage, totals_source: Query | None = None,
                 min_events: int | None = None) -> dict[str, BuiltQuery] | None:
    """Every SQL of `query` by role (as trail.stats.builder.plan) when rollups answer all of them, else None."""
    main = decide(query, coverage, min_events).plan
    if main is None:
        return None
    out = {"main": build_rollup(query, site, main)}
    if query.include.total_rows and not time_only(query):
        inner = build_rollup(query, site, main, paginate=False)
        out["total_rows"] = BuiltQuery(f"SELECT count() AS n FROM ({inner.sql})", inner.params, (), ("n",), False)
    if "percentage" in query.metrics:
        totals = totals_query(totals_source or query)
        total_plan = decide(totals, coverage, 0).plan
        if total_plan is None:
            return None
        out["total_visitors"] = build_rollup(totals, site, total_plan)
    return out



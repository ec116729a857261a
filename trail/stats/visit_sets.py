"""Several visit-level queries over the same visits as one GROUPING SETS query (pure: the SQL and the split).

A dashboard under a filter the rollups cannot answer asks for top stats, sources, countries, devices and entry pages
over the same visits (same site, range, filters and sample). Each query on its own groups millions of events by
visit; together they group them once and aggregate the visit rows per grouping set. `visit_batch` gathers the
queries that arrive together; this module builds their SQL and hands each query its rows exactly as `build()`
would have returned them (same columns, order and page).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

from trail.stats import sql_metrics as M
from trail.stats.builder import (
    SiteLike,
    _base_where,
    _candidate_visits,
    _Resolver,
    time_only,
    visit_level,
    visit_source,
)
from trail.stats.query import Query
from trail.stats.sql_filters import Params

Row = tuple[Any, ...]


def batchable(query: Query) -> bool:
    """A visit-level query with at most one dimension."""
    return len(query.dimensions) <= 1 and visit_level(query)


def batch_key(query: Query, sample: float) -> tuple[Any, ...]:
    """Queries with equal keys read the same visit rows (the dimensions and metrics may differ)."""
    rng = query.date_range
    return (query.site_id, rng.start, rng.end, rng.first_day, query.timezone, repr(query.filters), sample)


@dataclass(frozen=True)
class BuiltSets:
    sql: str
    params: dict[str, Any]
    dimensions: tuple[str, ...]  # d0..dN-1 of the SQL, after the grouping mask `g`
    metrics: tuple[str, ...]  # m_<metric> columns after the dimensions


def build_sets(queries: Sequence[Query], site: SiteLike, sample: float = 1.0) -> BuiltSets:
    """One SQL answering every query (all with the same batch_key): GROUPING SETS of their dimensions."""
    first = queries[0]
    dims = tuple(dict.fromkeys(d for q in queries for d in q.dimensions))
    metrics = tuple(dict.fromkeys(m for q in queries for m in M.sql_metrics(q.metrics)))
    union = replace(first, dimensions=dims, metrics=metrics)
    params = Params()
    base = _base_where(first, site, params, sample)
    tz, first_day = params.add(first.timezone), params.add(first.date_range.first_day, "Date")
    base += _candidate_visits(first, site, params, base)
    resolver = _Resolver(params, tz, first_day, "v_start")
    source, shapes = visit_source(union, site, params, base, resolver, metrics)
    select = [f"{resolver(d)} AS d{i}" for i, d in enumerate(dims)] + [f"{shapes[m]} AS m_{m}" for m in metrics]
    if not dims:
        return BuiltSets(f"SELECT {', '.join(select)} {source}", params.values, dims, metrics)
    names = [f"d{i}" for i in range(len(dims))]
    sets = [f"({n})" for n in names] + (["()"] if any(not q.dimensions for q in queries) else [])
    sql = (f"SELECT grouping({', '.join(names)}) AS g, {', '.join(select)} {source} "
           f"GROUP BY GROUPING SETS ({', '.join(sets)})")
    return BuiltSets(sql, params.values, dims, metrics)


def split(built: BuiltSets, rows: Sequence[Row], query: Query) -> tuple[list[Row], int]:
    """The rows `build(query)` would return (d0, m_<metric>...: ordered and paginated unless time-only), and how
    many rows there are before pagination."""
    n = len(built.dimensions)
    picks = [built.metrics.index(m) for m in M.sql_metrics(query.metrics)]
    if n == 0:
        return [tuple(rows[0][i] for i in picks)], 1
    every = (1 << n) - 1  # standard GROUPING(): a bit is 1 for an argument left out of the row's grouping set
    if query.dimensions:
        i = built.dimensions.index(query.dimensions[0])
        mask = every ^ (1 << (n - 1 - i))
        mine = [(r[1 + i],) + tuple(r[1 + n + j] for j in picks) for r in rows if r[0] == mask]
    else:
        mine = [tuple(r[1 + n + j] for j in picks) for r in rows if r[0] == every]
    total = len(mine)
    if time_only(query):
        return mine, total
    _order(query, mine)
    return mine[query.offset:query.offset + query.limit], total


def _order(query: Query, rows: list[Row]) -> None:
    """Sort as the builder's ORDER BY: the query's order_by (metrics not computed are skipped), then d0 ascending."""
    dims, metrics = query.dimensions, M.sql_metrics(query.metrics)
    keys: list[tuple[int, bool]] = []
    for name, direction in query.order_by:
        if name in dims:
            index = dims.index(name)
        else:
            column = M.order_column(name)[2:]
            if column not in metrics:
                continue
            index = len(dims) + metrics.index(column)
        keys.append((index, direction == "desc"))
    keys += [(i, False) for i in range(len(dims)) if i not in {k for k, _ in keys}]
    for index, desc in reversed(keys):  # stable sorts, least significant key first
        rows.sort(key=lambda r: _sortable(r[index], desc), reverse=desc)


def _sortable(value: Any, desc: bool) -> tuple[int, Any]:
    """NaN (a rate over no visit; None once decoded from JSON) sorts after every number either way, as in
    ClickHouse."""
    if value is None or isinstance(value, float) and math.isnan(value):
        return (0 if desc else 1, 0.0)
    return (1 if desc else 0, value)

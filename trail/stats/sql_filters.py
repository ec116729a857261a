"""Filters to ClickHouse WHERE conditions: every value bound as a `{pN:Type}` placeholder, never formatted in."""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Protocol

from trail.stats.query import Filter, FilterNode, Logical, Not


class Params:
    """Collects bound values; `add` returns the placeholder to put in the SQL."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any, ch_type: str = "String") -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{ch_type}}}"


class GoalLike(Protocol):
    display_name: str
    event_name: str | None
    page_path: str | None
    currency: str | None


def page_pattern(path: str) -> str:
    """A goal's or filter's page path with `*` wildcards as an anchored RE2 pattern (as Plausible does)."""
    return "^" + re.escape(path).replace(r"\*\*", ".*").replace(r"\*", ".*") + "$"


def goal_condition(goal: GoalLike, params: Params) -> str:
    """SQL true for the events that complete `goal` (a custom event name, or pageviews of a path pattern)."""
    if goal.event_name:
        return f"(name = {params.add(goal.event_name)})"
    if goal.page_path:
        if "*" in goal.page_path:
            return f"(name = 'pageview' AND match(pathname, {params.add(page_pattern(goal.page_path))}))"
        return f"(name = 'pageview' AND pathname = {params.add(goal.page_path)})"
    return "0"


def _matches(op: str, name: str, values: Iterable[str], case_sensitive: bool) -> bool:
    fold = (lambda s: s) if case_sensitive else str.casefold
    if op in ("is", "is_not"):
        return fold(name) in {fold(v) for v in values}
    return any(fold(v) in fold(name) for v in values)


def selected_goals(goals: Iterable[GoalLike], f: Filter) -> list[GoalLike]:
    """The goals an `is`/`contains` filter on event:goal names (negations are applied by the caller)."""
    positive = {"is_not": "is", "contains_not": "contains"}.get(f.op, f.op)
    return [g for g in goals if _matches(positive, g.display_name, f.values, f.case_sensitive)]


def _or(parts: list[str]) -> str:
    if not parts:
        return "0"
    return "(" + " OR ".join(parts) + ")"


def simple_condition(f: Filter, expr: str, params: Params) -> str:
    """The condition of one simple filter on the SQL expression `expr` (a String)."""
    negate = f.op in ("is_not", "contains_not", "matches_not")
    if f.op in ("is", "is_not"):
        if f.case_sensitive:
            cond = f"({expr} IN {params.add(list(f.values), 'Array(String)')})"
        else:
            folded = [v.lower() for v in f.values]
            cond = f"(lowerUTF8({expr}) IN {params.add(folded, 'Array(String)')})"
    elif f.op in ("contains", "contains_not"):
        fn = "positionUTF8" if f.case_sensitive else "positionCaseInsensitiveUTF8"
        cond = _or([f"{fn}({expr}, {params.add(v)}) > 0" for v in f.values])
    else:
        cond = _or([f"match({expr}, {params.add(v)})" for v in f.values])
    return f"(NOT {cond})" if negate else cond


Resolver = Callable[[str], str]


def compile_filters(nodes: Iterable[FilterNode], resolve: Resolver, goals: Iterable[GoalLike],
                    params: Params) -> str:
    """AND of the top-level filters; `resolve(dimension)` gives the SQL expression of a dimension."""
    goals = list(goals)
    parts = [compile_node(node, resolve, goals, params) for node in nodes]
    return " AND ".join(parts) if parts else "1"


def compile_node(node: FilterNode, resolve: Resolver, goals: list[GoalLike], params: Params) -> str:
    if isinstance(node, Logical):
        joiner = " AND " if node.op == "and" else " OR "
        return "(" + joiner.join(compile_node(c, resolve, goals, params) for c in node.children) + ")"
    if isinstance(node, Not):
        return f"(NOT {compile_node(node.child, resolve, goals, params)})"
    if node.dimension == "event:goal":
        cond = _or([goal_condition(g, params) for g in selected_goals(goals, node)])
        return f"(NOT {cond})" if node.op in ("is_not", "contains_not") else cond
    return simple_condition(node, resolve(node.dimension), params)

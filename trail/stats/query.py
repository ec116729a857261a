"""Parse and validate a Stats API v2 request body into a frozen Query (stage 1 of parser -> builder -> runner)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Union

from trail.stats import dates
from trail.stats.dates import DateRange
from trail.stats.errors import QueryError

__all__ = ["Filter", "FilterNode", "Include", "Logical", "Not", "Query", "QueryError", "parse_query"]

METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events",
           "percentage", "conversion_rate", "scroll_depth", "time_on_page", "total_revenue", "average_revenue")
SESSION_METRICS = frozenset({"visits", "bounce_rate", "visit_duration", "views_per_visit"})
EVENT_DIMENSIONS = ("event:page", "event:name", "event:goal", "event:hostname")
PROPS_PREFIX = "event:props:"
VISIT_DIMENSIONS = ("visit:entry_page", "visit:exit_page", "visit:source", "visit:referrer", "visit:utm_source",
                    "visit:utm_medium", "visit:utm_campaign", "visit:utm_term", "visit:utm_content", "visit:country",
                    "visit:region", "visit:city", "visit:device", "visit:browser", "visit:browser_version", "visit:os",
                    "visit:os_version", "visit:screen")
TIME_DIMENSIONS = ("time", "time:minute", "time:hour", "time:day", "time:week", "time:month")
OPERATORS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
TOP_KEYS = frozenset({"site_id", "metrics", "date_range", "dimensions", "filters", "order_by", "include", "pagination"})
MAX_LIMIT = 10_000
MAX_FILTER_DEPTH = 10
_ONE_SECOND = timedelta(seconds=1)
_PROP_KEY = re.compile(r"^[^\x00-\x1f]{1,300}$")


@dataclass(frozen=True)
class Filter:
    """A simple filter: `[op, dimension, values]` with an optional case_sensitive modifier."""

    op: str
    dimension: str
    values: tuple[str, ...]
    case_sensitive: bool = True


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    children: tuple["FilterNode", ...]


@dataclass(frozen=True)
class Not:
    child: "FilterNode"


FilterNode = Union[Filter, Logical, Not]


@dataclass(frozen=True)
class Include:
    total_rows: bool = False
    time_labels: bool = False
    comparisons: str | None = None  # "previous_period" | "year_over_year"


@dataclass(frozen=True)
class Query:
    """A validated query; `dimensions` has `time` already resolved to its bucket (e.g. time:day)."""

    site_id: str
    metrics: tuple[str, ...]
    date_range: DateRange
    dimensions: tuple[str, ...] = ()
    filters: tuple[FilterNode, ...] = ()
    order_by: tuple[tuple[str, str], ...] = ()
    include: Include = field(default_factory=Include)
    limit: int = MAX_LIMIT
    offset: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def timezone(self) -> str:
        return self.date_range.timezone

    @property
    def time_dimension(self) -> str | None:
        return next((d for d in self.dimensions if d.startswith("time")), None)

    def normalised(self) -> dict[str, Any]:
        """The query as executed, for the response's `query` echo."""
        tz = dates.zone(self.timezone)
        last = (self.date_range.end - _ONE_SECOND).astimezone(tz).replace(microsecond=0)
        return {
            "site_id": self.site_id,
            "metrics": list(self.metrics),
            "date_range": [self.date_range.start.astimezone(tz).isoformat(timespec="seconds"),
                           last.isoformat(timespec="seconds")],
            "dimensions": list(self.dimensions),
            "filters": [filter_to_json(f) for f in self.filters],
            "order_by": [list(o) for o in self.order_by],
            "include": {"total_rows": self.include.total_rows, "time_labels": self.include.time_labels,
                        "comparisons": {"mode": self.include.comparisons} if self.include.comparisons else None},
            "pagination": {"limit": self.limit, "offset": self.offset},
        }




def filter_to_json(node: FilterNode) -> list[Any]:
    if isinstance(node, Filter):
        out: list[Any] = [node.op, node.dimension, list(node.values)]
        if not node.case_sensitive:
            out.append({"case_sensitive": False})
        return out
    if isinstance(node, Logical):
        return [node.op, [filter_to_json(c) for c in node.children]]
    return ["not", filter_to_json(node.child)]


def walk(nodes: tuple[FilterNode, ...] | list[FilterNode]) -> list[Filter]:
    """Every simple filter in a filter tree."""
    out: list[Filter] = []
    for node in nodes:
        if isinstance(node, Filter):
            out.append(node)
        elif isinstance(node, Logical):
            out.extend(walk(node.children))
        else:
            out.extend(walk([node.child]))
    return out


def is_event_dimension(name: str) -> bool:
    return name in EVENT_DIMENSIONS or name.startswith(PROPS_PREFIX)


def _valid_dimension(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise QueryError(f"{where}: a dimension must be a string, got {name!r}")
    if name in EVENT_DIMENSIONS or name in VISIT_DIMENSIONS or name in TIME_DIMENSIONS:
        return name
    if name.startswith(PROPS_PREFIX) and _PROP_KEY.match(name[len(PROPS_PREFIX):]):
        return name
    raise QueryError(f"{where}: unknown dimension {name!r}")


def _parse_filter(raw: Any, depth: int = 0) -> FilterNode:
    if depth > MAX_FILTER_DEPTH:
        raise QueryError(f"filters: nested deeper than {MAX_FILTER_DEPTH} levels")
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise QueryError(f"filters: malformed filter {raw!r}: expected [operator, dimension, [values]]")
    op = raw[0]
    if op in ("and", "or"):
        if len(raw) != 2 or not isinstance(raw[1], list) or not raw[1]:
            raise QueryError(f"filters: {op!r} takes a non-empty list of filters, got {raw!r}")
        return Logical(op, tuple(_parse_filter(child, depth + 1) for child in raw[1]))
    if op == "not":
        if len(raw) != 2:
            raise QueryError(f"filters: 'not' takes one filter, got {raw!r}")
        return Not(_parse_filter(raw[1], depth + 1))
    if op not in OPERATORS:
        raise QueryError(f"filters: unknown operator {op!r}")
    if len(raw) not in (3, 4):
        raise QueryError(f"filters: malformed filter {raw!r}: expected [operator, dimension, [values]]")
    dimension = _valid_dimension(raw[1], "filters")
    if dimension.startswith("time"):
        raise QueryError(f"filters: cannot filter on {dimension!r}; set date_range instead")
    values = raw[2]
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise QueryError(f"filters: the values of {op!r} on {dimension!r} must be a non-empty list of strings")
    if dimension == "event:goal" and op in ("matches", "matches_not"):
        raise QueryError("filters: event:goal takes is, is_not, contains or contains_not")
    if op in ("matches", "matches_not"):
        for pattern in values:
            _check_regex(pattern)
    case_sensitive = True
    if len(raw) == 4:
        mods = raw[3]
        if not isinstance(mods, dict) or set(mods) - {"case_sensitive"} or not isinstance(
                mods.get("case_sensitive", True), bool):
            raise QueryError(f"filters: bad modifiers {mods!r}: only {{\"case_sensitive\": bool}} is allowed")
        case_sensitive = mods.get("case_sensitive", True)
        if not case_sensitive and op in ("matches", "matches_not"):
            raise QueryError("filters: case_sensitive is for is/is_not/contains/contains_not; use (?i) in a regex")
    return Filter(op, dimension, tuple(values), case_sensitive)


_RE2_UNSUPPORTED = re.compile(r"\(\?[=!<]|\\[1-9]")


def _check_regex(pattern: str) -> None:
    if len(pattern) > 1000 or _RE2_UNSUPPORTED.search(pattern):
        raise QueryError(f"filters: regular expression {pattern!r} is not supported (RE2 syntax, no lookaround)")
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        raise QueryError(f"filters: {pattern!r} is not a valid regular expression") from None


def _list_of_str(body: dict[str, Any], key: str, required: bool) -> list[str]:
    value = body.get(key, None if required else [])
    if value is None or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError(f"{key} must be a list of strings" + (" (required)" if required else ""))
    if len(set(value)) != len(value):
        raise QueryError(f"{key}: duplicates are not allowed")
    return value


def _parse_include(raw: Any, dims: tuple[str, ...]) -> Include:
    if raw is None:
        return Include()
    if not isinstance(raw, dict):
        raise QueryError("include must be an object")
    unknown = set(raw) - {"total_rows", "time_labels", "comparisons", "imports"}
    if unknown:
        raise QueryError(f"include: unknown option {sorted(unknown)[0]!r}")
    for key in ("total_rows", "time_labels", "imports"):
        if key in raw and not isinstance(raw[key], bool):
            raise QueryError(f"include.{key} must be true or false")
    mode = None
    cmp = raw.get("comparisons")
    if cmp is not None:
        if not isinstance(cmp, dict) or set(cmp) != {"mode"} or cmp["mode"] not in ("previous_period",
                                                                                     "year_over_year"):
            raise QueryError("include.comparisons must be {\"mode\": \"previous_period\"|\"year_over_year\"}")
        mode = cmp["mode"]
    time_labels = bool(raw.get("time_labels", False))
    if time_labels and not any(d.startswith("time") for d in dims):
        raise QueryError("include.time_labels needs a time dimension")
    return Include(bool(raw.get("total_rows", False)), time_labels, mode)


def _parse_pagination(raw: Any) -> tuple[int, int]:
    if raw is None:
        return MAX_LIMIT, 0
    if not isinstance(raw, dict) or set(raw) - {"limit", "offset"}:
        raise QueryError("pagination must be {\"limit\": N, \"offset\": M}")
    limit, offset = raw.get("limit", MAX_LIMIT), raw.get("offset", 0)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"pagination.limit must be an integer from 1 to {MAX_LIMIT}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 10**9:
        raise QueryError("pagination.offset must be a non-negative integer")
    return limit, offset


def _check_metrics(metrics: list[str], dims: tuple[str, ...], filters: tuple[FilterNode, ...]) -> None:
    for metric in metrics:
        if metric not in METRICS:
            raise QueryError(f"metrics: unknown metric {metric!r}")
    filter_dims = {f.dimension for f in walk(filters)}
    top_dims = {f.dimension for f in filters if isinstance(f, Filter)} | filter_dims
    for metric in metrics:
        if metric in SESSION_METRICS:
            for dim in dims:
                if is_event_dimension(dim) and dim != "event:page":
                    raise QueryError(f"metric {metric!r} cannot be used with dimension {dim!r} "
                                     "(session metrics go with visit dimensions and event:page only)")
        if metric in ("conversion_rate", "total_revenue", "average_revenue") and not (
                "event:goal" in dims or "event:goal" in top_dims):
            raise QueryError(f"metric {metric!r} needs an event:goal filter or the event:goal dimension")
        if metric in ("scroll_depth", "time_on_page") and not ("event:page" in dims or "event:page" in top_dims):
            raise QueryError(f"metric {metric!r} needs an event:page filter or the event:page dimension")
        if metric == "percentage" and not dims:
            raise QueryError("metric 'percentage' needs at least one dimension")


def parse_query(body: Any, timezone_name: str = "UTC", now: datetime | None = None) -> Query:
    """Validate a request body; raise QueryError naming the first bad part."""
    if not isinstance(body, dict):
        raise QueryError("the query must be a JSON object")
    unknown = set(body) - TOP_KEYS
    if unknown:
        raise QueryError(f"unknown key {sorted(unknown)[0]!r} in query")
    site_id = body.get("site_id")
    if not isinstance(site_id, str) or not site_id:
        raise QueryError("site_id is required: the site's domain")
    now = now or datetime.now(timezone.utc)
    metrics = _list_of_str(body, "metrics", required=True)
    if not metrics:
        raise QueryError("metrics: give at least one metric")
    if "date_range" not in body:
        raise QueryError("date_range is required")
    rng = dates.resolve(body["date_range"], timezone_name, now)
    dims = tuple(_valid_dimension(d, "dimensions") for d in _list_of_str(body, "dimensions", required=False))
    time_dims = [d for d in dims if d.startswith("time")]
    if len(time_dims) > 1:
        raise QueryError("dimensions: at most one time dimension")
    if "time" in dims:
        resolved = dates.auto_interval(rng)
        dims = tuple(resolved if d == "time" else d for d in dims)
    if "time:minute" in dims and (rng.unresolved_all or rng.end - rng.start > timedelta(days=7, hours=2)):
        raise QueryError("dimensions: time:minute works for date ranges up to 7 days")
    raw_filters = body.get("filters", [])
    if not isinstance(raw_filters, list):
        raise QueryError("filters must be a list")
    filters = tuple(_parse_filter(f) for f in raw_filters)
    _check_metrics(metrics, dims, filters)
    order_by = _parse_order_by(body.get("order_by"), metrics, dims, body.get("dimensions") or [])
    include = _parse_include(body.get("include"), dims)
    limit, offset = _parse_pagination(body.get("pagination"))
    return Query(site_id, tuple(metrics), rng, dims, filters, order_by, include, limit, offset, now)


def _parse_order_by(raw: Any, metrics: list[str], dims: tuple[str, ...], raw_dims: list[Any]) -> tuple[
        tuple[str, str], ...]:
    if raw is None:
        time_dim = next((d for d in dims if d.startswith("time")), None)
        return ((time_dim, "asc"),) if time_dim else ((metrics[0], "desc"),)
    if not isinstance(raw, list):
        raise QueryError("order_by must be a list of [metric_or_dimension, \"asc\"|\"desc\"]")
    out: list[tuple[str, str]] = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 2 or item[1] not in ("asc", "desc") or not isinstance(
                item[0], str):
            raise QueryError(f"order_by: bad entry {item!r}: expected [metric_or_dimension, \"asc\"|\"desc\"]")
        name = item[0]
        if name == "time" and "time" in raw_dims:
            name = next(d for d in dims if d.startswith("time"))
        if name not in metrics and name not in dims:
            raise QueryError(f"order_by: {item[0]!r} is not one of the query's metrics or dimensions")
        out.append((name, item[1]))
    return tuple(out)


def with_changes(query: Query, **changes: Any) -> Query:
    """A copy of query with some fields replaced (derived queries: totals, comparisons)."""
    return replace(query, **changes)

"""Dimensions as ClickHouse expressions: event columns, visit attributes (v_* of the visit) and time buckets."""

from __future__ import annotations

from trail.stats.query import PROPS_PREFIX
from trail.stats.sql_filters import Params

NO_REF = "Direct / None"
NOT_SET = "(not set)"
NO_PROP = "(none)"

# visit dimension -> (events column, shown instead of an empty value or None to show '' as it is)
VISIT_COLUMNS: dict[str, tuple[str, str | None]] = {
    "visit:entry_page": ("pathname", None),
    "visit:exit_page": ("pathname", None),
    "visit:source": ("source", NO_REF),
    "visit:referrer": ("referrer", NO_REF),
    "visit:utm_source": ("utm_source", NOT_SET),
    "visit:utm_medium": ("utm_medium", NOT_SET),
    "visit:utm_campaign": ("utm_campaign", NOT_SET),
    "visit:utm_term": ("utm_term", NOT_SET),
    "visit:utm_content": ("utm_content", NOT_SET),
    "visit:country": ("country", None),
    "visit:region": ("region", None),
    "visit:city": ("city", None),
    "visit:device": ("device", NOT_SET),
    "visit:browser": ("browser", NOT_SET),
    "visit:browser_version": ("browser_version", NOT_SET),
    "visit:os": ("os", NOT_SET),
    "visit:os_version": ("os_version", NOT_SET),
    "visit:screen": ("screen", NOT_SET),
}
EVENT_COLUMNS = {"event:page": "pathname", "event:name": "name", "event:hostname": "hostname"}


def visit_column(dimension: str) -> str:
    """The name of the visit-level column (in the sessions subquery) holding a visit dimension."""
    return "v_" + dimension.split(":", 1)[1]


def visit_aggregate(dimension: str) -> str:
    """How the sessions subquery computes a visit attribute: from the visit's first (or last) pageview/event."""
    column, _ = VISIT_COLUMNS[dimension]
    fn = "argMaxIf" if dimension == "visit:exit_page" else "argMinIf"
    return f"{fn}({column}, ts, name != 'engagement') AS {visit_column(dimension)}"


def visit_expression(dimension: str) -> str:
    """The shown value of a visit dimension, over a row that carries the visit's v_* columns."""
    column = visit_column(dimension)
    _, empty = VISIT_COLUMNS[dimension]
    return column if empty is None else f"if(empty({column}), '{empty}', {column})"


def event_expression(dimension: str, params: Params) -> str:
    """The shown value of an event dimension (not event:goal) over an events row."""
    if dimension.startswith(PROPS_PREFIX):
        key = params.add(dimension[len(PROPS_PREFIX):])
        return f"if(mapContains(props, {key}), props[{key}], '{NO_PROP}')"
    return EVENT_COLUMNS[dimension]


def time_expression(dimension: str, column: str, tz_param: str, first_day_param: str) -> str:
    """The bucket of `column` (a UTC DateTime64) in the site's timezone: an ISO date, or epoch seconds for
    hour/minute buckets (the runner renders those with the site's UTC offset, so DST-repeated hours stay apart)."""
    local = f"toTimeZone({column}, {tz_param})"
    if dimension == "time:day":
        return f"toString(toDate({local}))"
    if dimension == "time:week":
        return f"toString(greatest(toMonday({local}), {first_day_param}))"
    if dimension == "time:month":
        return f"toString(toStartOfMonth({local}))"
    if dimension == "time:hour":
        return f"toUnixTimestamp(toStartOfHour({local}))"
    if dimension == "time:minute":
        return f"toUnixTimestamp(toStartOfMinute({local}))"
    raise ValueError(f"not a time dimension: {dimension}")

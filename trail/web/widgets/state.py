"""The dashboard's view state from the URL query string: range, comparison, filters, chart metric (and back)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Iterable, Mapping
from urllib.parse import urlencode

PERIODS: tuple[tuple[str, str], ...] = (
    ("realtime", "Realtime"), ("day", "Today"), ("7d", "Last 7 days"), ("28d", "Last 28 days"),
    ("30d", "Last 30 days"), ("91d", "Last 91 days"), ("month", "This month"), ("6mo", "Last 6 months"),
    ("12mo", "Last 12 months"), ("year", "This year"), ("all", "All time"), ("custom", "Custom range"))
PERIOD_NAMES = dict(PERIODS)
DEFAULT_PERIOD = "30d"
LIVE_PERIODS = frozenset({"realtime", "day"})  # the page keeps a websocket open for these
COMPARISONS: tuple[tuple[str, str], ...] = (("", "No comparison"), ("previous_period", "Previous period"),
                                            ("year_over_year", "Year over year"))
CHART_METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration")
# What a row click may filter by: every dimension a widget lists (one "is" filter each, ANDed).
FILTER_DIMENSIONS: dict[str, str] = {
    "event:page": "Page", "visit:entry_page": "Entry page", "visit:exit_page": "Exit page",
    "visit:source": "Source", "visit:referrer": "Referrer", "visit:utm_source": "UTM source",
    "visit:utm_medium": "UTM medium", "visit:utm_campaign": "UTM campaign", "visit:utm_term": "UTM term",
    "visit:utm_content": "UTM content", "visit:country": "Country", "visit:region": "Region", "visit:city": "City",
    "visit:browser": "Browser", "visit:os": "Operating system", "visit:screen": "Screen size",
    "visit:device": "Device", "event:goal": "Goal", "event:name": "Event",
}
PROPS_PREFIX = "event:props:"
MAX_FILTERS = 12
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PROP_KEY = re.compile(r"^[^\x00-\x1f=]{1,100}$")


@dataclass(frozen=True)
class ViewState:
    """What the dashboard shows; `query_string()` round-trips it through the URL."""

    period: str = DEFAULT_PERIOD
    date_from: str = ""
    date_to: str = ""
    compare: str = ""
    metric: str = "visitors"
    filters: tuple[tuple[str, str], ...] = ()
    error: str = ""
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # widget args (tab, prop, search...)

    @property
    def live(self) -> bool:
        return self.period in LIVE_PERIODS

    @property
    def date_range(self) -> Any:
        """The Stats API date_range of this view."""
        return [self.date_from, self.date_to] if self.period == "custom" else self.period

    @property
    def period_label(self) -> str:
        if self.period == "custom":
            return f"{self.date_from} – {self.date_to}"
        return PERIOD_NAMES[self.period]

    def api_filters(self) -> list[list[Any]]:
        return [["is", dim, [value]] for dim, value in self.filters]

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query-string pairs of this state (with `changes` applied), defaults left out."""
        state = replace(self, **changes) if changes else self
        pairs: list[tuple[str, str]] = []
        if state.period != DEFAULT_PERIOD:
            pairs.append(("period", state.period))
        if state.period == "custom":
            pairs += [("from", state.date_from), ("to", state.date_to)]
        if state.compare:
            pairs.append(("compare", state.compare))
        if state.metric != "visitors":
            pairs.append(("metric", state.metric))
        pairs += [("f", f"{dim}={value}") for dim, value in state.filters]
        return pairs

    def query_string(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def with_filter(self, dimension: str, value: str) -> str:
        """The query string with one more filter (replacing a filter on the same dimension)."""
        kept = tuple((d, v) for d, v in self.filters if d != dimension)
        return self.query_string(filters=kept + ((dimension, value),))

    def without_filter(self, dimension: str, value: str) -> str:
        return self.query_string(filters=tuple(f for f in self.filters if f != (dimension, value)))

    def chips(self, base: str) -> list[dict[str, str]]:
        """The filter bar: one removable chip per filter (`remove` is the page URL without it)."""
        out = []
        for dim, value in self.filters:
            rest = self.without_filter(dim, value)
            out.append({"label": filter_label(dim), "value": value, "dimension": dim,
                        "remove": base + ("?" + rest if rest else "")})
        return out


def filter_label(dimension: str) -> str:
    if dimension.startswith(PROPS_PREFIX):
        return f"Property {dimension[len(PROPS_PREFIX):]}"
    return FILTER_DIMENSIONS.get(dimension, dimension)


def _valid_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _filters(raw: Iterable[str]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in raw:
        dimension, sep, value = item.partition("=")
        if not sep or len(value) > 2000:
            continue
        if dimension in FILTER_DIMENSIONS or (dimension.startswith(PROPS_PREFIX)
                                              and _PROP_KEY.match(dimension[len(PROPS_PREFIX):])):
            if (dimension, value) not in out:
                out.append((dimension, value))
    return tuple(out[:MAX_FILTERS])


def parse_state(args: Mapping[str, Any]) -> ViewState:
    """The view state of a request's args (a werkzeug MultiDict); bad values fall back to defaults, with a note."""
    getlist = getattr(args, "getlist", None)
    period = str(args.get("period") or DEFAULT_PERIOD)
    error = ""
    date_from, date_to = str(args.get("from") or ""), str(args.get("to") or "")
    if period not in PERIOD_NAMES:
        period, error = DEFAULT_PERIOD, "Unknown date range; showing the last 30 days."
    if period == "custom":
        if not (_valid_date(date_from) and _valid_date(date_to)):
            period, error = DEFAULT_PERIOD, "Give both dates of a custom range as YYYY-MM-DD."
        elif date_from > date_to:
            date_from, date_to = date_to, date_from
    if period != "custom":
        date_from = date_to = ""
    compare = str(args.get("compare") or "")
    if compare not in dict(COMPARISONS):
        compare = ""
    metric = str(args.get("metric") or "visitors")
    if metric not in CHART_METRICS:
        metric = "visitors"
    raw_filters = getlist("f") if getlist else ([args["f"]] if "f" in args else [])
    return ViewState(period, date_from, date_to, compare, metric, _filters(raw_filters), error)

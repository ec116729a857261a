"""Widgets as small objects (CONVENTIONS §5): one data function over the stats runner, one Jinja partial.

Every number a widget shows comes from `trail.stats.runner.run` (the engine behind POST /api/v2/query), asked
through `ask()` with a Stats API v2 body built from the view state. `render()` turns a widget's data into its
partial `templates/widgets/_<name>.html`, whose root element is `id="widget-<name>"`; the same partial serves the
first load, every htmx refresh and (for live widgets) the websocket push.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import urlencode

from trail.live.renderers import render_partial
from trail.sites import SiteInfo
from trail.stats.errors import QueryError
from trail.stats.query import parse_query
from trail.stats.runner import run
from trail.store.events import EventStore, EventStoreError
from trail.web.widgets import prefetch
from trail.web.widgets.fmt import fmt_value
from trail.web.widgets.state import ViewState

log = logging.getLogger("trail.dashboard")
LIST_LIMIT = 9
DETAILS_LIMIT = 100


@dataclass
class WidgetContext:
    """Everything a widget needs for one render: the site, the view, where links go, the widget's own args."""

    site: SiteInfo
    state: ViewState
    base: str  # "/example.com" or "/share/<token>": links and partial URLs hang off it
    store: EventStore | None
    args: Mapping[str, Any] = field(default_factory=dict)
    details: bool = False
    now: datetime | None = None
    shared: bool = False
    sample_percent: float | None = None  # set by `ask` when an answer came from a sample of the visitors

    def arg(self, name: str, default: str = "") -> str:
        value = self.args.get(name)
        return str(value)[:300] if value else default

    def page_url(self, query_string: str) -> str:
        return self.base + ("?" + query_string if query_string else "")

    def widget_url(self, name: str, **extra: str) -> str:
        pairs = self.state.params() + [(k, v) for k, v in extra.items() if v]
        return f"{self.base}/widgets/{name}" + ("?" + urlencode(pairs) if pairs else "")

    def details_url(self, name: str, suffix: str = "", **extra: str) -> str:
        pairs = self.state.params() + [(k, v) for k, v in extra.items() if v]
        return f"{self.base}/details/{name}{suffix}" + ("?" + urlencode(pairs) if pairs else "")


async def ask(ctx: WidgetContext, metrics: list[str], dimensions: list[str] | None = None,
              filters: list[list[Any]] | None = None, *, limit: int | None = None, offset: int = 0,
              comparisons: bool = False, total_rows: bool = False,
              order_by: list[list[str]] | None = None) -> dict[str, Any]:
    """Run one Stats API v2 query for this view (its range and filters, plus `filters`) through the runner."""
    body: dict[str, Any] = {"site_id": ctx.site.domain, "metrics": metrics, "date_range": ctx.state.date_range,
                            "filters": ctx.state.api_filters() + list(filters or [])}
    if dimensions:
        body["dimensions"] = dimensions
    include: dict[str, Any] = {}
    if comparisons and ctx.state.compare:
        include["comparisons"] = {"mode": ctx.state.compare}
    if total_rows:
        include["total_rows"] = True
    if include:
        body["include"] = include
    if limit is not None:
        body["pagination"] = {"limit": limit, "offset": offset}
    if order_by:
        body["order_by"] = order_by
    if ctx.store is None:
        raise EventStoreError("no event store on this instance")
    store, query = ctx.store, parse_query(body, ctx.site.timezone, ctx.now)
    result = await prefetch.answer(store, ctx.site.id, body, lambda: run(store, query, ctx.site))
    for key in ("sample_percent", "comparison_sample_percent"):
        sampled = result["meta"].get(key)
        if sampled is not None:
            ctx.sample_percent = min(sampled, ctx.sample_percent or 100.0)
    return result


class Widget:
    """A dashboard widget: `name` (URL and root id), a title, a partial, optional tabs, and `data()`."""

    name = ""
    title = ""
    template = ""
    tabs: tuple[tuple[str, str], ...] = ()
    live_refresh = True  # refreshed over HTTP when a live frame arrives (realtime / today)
    prefetch = True  # the page starts its stats queries while the browser loads it (trail.web.widgets.prefetch)

    def tab(self, ctx: WidgetContext) -> str:
        wanted = ctx.arg("tab")
        names = [t for t, _ in self.tabs]
        return wanted if wanted in names else (names[0] if names else "")

    async def data(self, ctx: WidgetContext) -> dict[str, Any]:
        raise NotImplementedError

    def tab_links(self, ctx: WidgetContext, current: str) -> list[dict[str, Any]]:
        return [{"id": t, "label": label, "url": ctx.widget_url(self.name, tab=t),
                 "page": ctx.details_url(self.name, tab=t), "selected": t == current} for t, label in self.tabs]

    async def render(self, ctx: WidgetContext) -> str:
        """The partial, or the same frame with an error note when the stats engine cannot answer."""
        tab = self.tab(ctx)
        common = {"name": self.name, "title": self.title, "tab": tab, "tabs": self.tab_links(ctx, tab),
                  "url": ctx.widget_url(self.name, tab=tab, **self.keep_args(ctx)),
                  "details_url": ctx.details_url(self.name, tab=tab, **self.keep_args(ctx)),
                  "live": self.live_refresh and ctx.state.live, "details": ctx.details, "shared": ctx.shared}
        try:
            data = await self.data(ctx)
            error = ""
        except QueryError as exc:
            data, error = {}, str(exc)
        except EventStoreError as exc:
            log.warning("widget %s failed for %s: %s", self.name, ctx.site.domain, exc)
            data, error = {}, "The stats database could not answer; it will be retried."
        sampled = f"{ctx.sample_percent:g}" if ctx.sample_percent is not None else ""
        return render_partial(self.template, **{**common, **data, "error": error, "sample_percent": sampled})

    def keep_args(self, ctx: WidgetContext) -> dict[str, str]:
        """Widget args that a refresh keeps (beyond the tab)."""
        return {}


@dataclass(frozen=True)
class Column:
    metric: str
    label: str
    wide: bool = False  # hidden on narrow screens (still in details and CSV)


@dataclass(frozen=True)
class Breakdown:
    """One tab of a list widget: a dimension, its metrics (the first one sorts and draws the bars)."""

    dimension: str
    label: str
    columns: tuple[Column, ...]
    filters: tuple[tuple[Any, ...], ...] = ()
    filter_dimension: str | None = None  # what a row click filters by (default: the dimension)


def row_label(dimension: str, value: Any) -> str:
    if dimension == "visit:country":
        from trail.web.widgets.world import country_name

        return country_name(str(value))
    return str(value) if value not in (None, "") else "(unknown)"


async def breakdown_rows(ctx: WidgetContext, b: Breakdown, *, limit: int, offset: int = 0,
                         search: str = "") -> dict[str, Any]:
    """The rows of a breakdown: labels, filter links, bar widths and formatted cells (raw values kept).
    The dashboard's short lists skip the "wide" columns that cost an extra query (percentage) and the row count;
    the details view has them all."""
    columns = b.columns if ctx.details else tuple(c for c in b.columns if c.metric != "percentage")
    b = Breakdown(b.dimension, b.label, columns, b.filters, b.filter_dimension)
    metrics = [c.metric for c in b.columns]
    extra = [list(f) for f in b.filters]
    if search:
        extra.append(["contains", b.dimension, [search], {"case_sensitive": False}])
    result = await ask(ctx, metrics, [b.dimension], extra, limit=limit, offset=offset, total_rows=ctx.details)
    rows = result["results"]
    top = max([r["metrics"][0] or 0 for r in rows] + [1])
    filter_dim = b.filter_dimension or b.dimension
    out = []
    for r in rows:
        value = r["dimensions"][0]
        first = r["metrics"][0] or 0
        out.append({
            "value": value, "label": row_label(b.dimension, value),
            "href": ctx.page_url(ctx.state.with_filter(filter_dim, str(value))),
            "bar": round(first / top * 100, 1),
            "cells": [{"metric": c.metric, "raw": v, "text": fmt_value(c.metric, v), "wide": c.wide}
                      for c, v in zip(b.columns, r["metrics"])],
        })
    return {"rows": out, "columns": b.columns, "dimension_label": b.label,
            "total_rows": result["meta"].get("total_rows", 0)}

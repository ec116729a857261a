"""List widgets: tabs of breakdowns (a dimension and its metrics), rows that filter the dashboard when clicked."""

from __future__ import annotations

from typing import Any

from trail.web.widgets.base import DETAILS_LIMIT, LIST_LIMIT, Breakdown, Widget, WidgetContext, breakdown_rows


class ListWidget(Widget):
    """A widget whose tabs are breakdowns; `details` shows 100 rows a page, with search and CSV."""

    template = "widgets/_list.html"  # subclasses: widgets/_<name>.html (extends it)
    breakdowns: dict[str, Breakdown] = {}

    def breakdown(self, ctx: WidgetContext, tab: str) -> Breakdown | None:
        return self.breakdowns.get(tab)

    async def data(self, ctx: WidgetContext) -> dict[str, Any]:
        tab = self.tab(ctx)
        b = self.breakdown(ctx, tab)
        if b is None:
            return {"rows": [], "columns": (), "dimension_label": "", "total_rows": 0, "empty_note": self.empty(ctx)}
        search = ctx.arg("search") if ctx.details else ""
        offset = max(0, min(10**6, int(ctx.arg("offset", "0")) if ctx.arg("offset").isdigit() else 0))
        data = await breakdown_rows(ctx, b, limit=DETAILS_LIMIT if ctx.details else LIST_LIMIT,
                                    offset=offset if ctx.details else 0, search=search)
        data.update(search=search, offset=offset, empty_note=self.empty(ctx))
        if ctx.details:
            more = offset + DETAILS_LIMIT < data["total_rows"]
            keep = {"tab": tab, "search": search, **self.keep_args(ctx)}
            data["next_url"] = ctx.details_url(self.name, **keep, offset=str(offset + DETAILS_LIMIT)) if more else ""
            data["prev_url"] = ctx.details_url(self.name, **keep, offset=str(max(0, offset - DETAILS_LIMIT))) \
                if offset else ""
            data["csv_url"] = ctx.details_url(self.name, ".csv", **keep)
        return data

    def empty(self, ctx: WidgetContext) -> str:
        return "No data for this range yet."

"""Top stats: visitors, visits, pageviews, views per visit, bounce rate, visit duration, each with its change."""

from __future__ import annotations

from typing import Any

from trail.web.widgets.base import Widget, WidgetContext, ask
from trail.web.widgets.fmt import fmt_change, fmt_value
from trail.web.widgets.state import CHART_METRICS

LABELS = {"visitors": "Unique visitors", "visits": "Total visits", "pageviews": "Total pageviews",
          "views_per_visit": "Views per visit", "bounce_rate": "Bounce rate", "visit_duration": "Visit duration"}


class TopStatsWidget(Widget):
    name = "top-stats"
    title = "Top stats"
    template = "widgets/_top_stats.html"

    async def data(self, ctx: WidgetContext) -> dict[str, Any]:
        metrics = list(CHART_METRICS)
        result = await ask(ctx, metrics, comparisons=True)
        row = result["results"][0] if result["results"] else {"metrics": [None] * len(metrics)}
        cmp = row.get("comparison")
        suffix = " (last 30 min)" if ctx.state.period == "realtime" else ""
        stats = []
        for i, metric in enumerate(metrics):
            value = row["metrics"][i]
            stats.append({
                "metric": metric, "label": LABELS[metric] + suffix, "raw": value, "text": fmt_value(metric, value),
                "href": ctx.page_url(ctx.state.query_string(metric=metric)), "selected": metric == ctx.state.metric,
                "change": fmt_change(metric, cmp["change"][i]) if cmp else None,
                "previous": fmt_value(metric, cmp["metrics"][i]) if cmp else "",
            })
        return {"stats": stats, "compare_label": result["meta"].get("comparison_date_range")}

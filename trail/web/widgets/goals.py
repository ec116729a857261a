"""Goals and custom events: conversions (with revenue for revenue goals), custom events, and a props breakdown."""

from __future__ import annotations

import re
from typing import Any

from trail.web.widgets.base import Breakdown, Column, WidgetContext
from trail.web.widgets.listing import ListWidget

_PROP_KEY = re.compile(r"^[^\x00-\x1f=]{1,100}$")
EVENTS = Breakdown("event:name", "Event", (Column("visitors", "Visitors"), Column("events", "Events", True)),
                   filters=(("is_not", "event:name", ["pageview", "engagement"]),))


class GoalsWidget(ListWidget):
    name = "goals"
    template = "widgets/_goals.html"
    title = "Goals & events"
    tabs = (("goals", "Goals"), ("events", "Custom events"), ("props", "Properties"))

    def prop_key(self, ctx: WidgetContext) -> str:
        key = ctx.arg("prop").strip()
        return key if _PROP_KEY.match(key) else ""

    def keep_args(self, ctx: WidgetContext) -> dict[str, str]:
        return {"prop": self.prop_key(ctx)} if self.tab(ctx) == "props" else {}

    def breakdown(self, ctx: WidgetContext, tab: str) -> Breakdown | None:
        if tab == "goals":
            if not ctx.site.goals:
                return None
            columns = [Column("visitors", "Uniques"), Column("events", "Total", True),
                       Column("conversion_rate", "CR")]
            if any(g.currency for g in ctx.site.goals):
                columns += [Column("total_revenue", "Revenue", True), Column("average_revenue", "Average", True)]
            return Breakdown("event:goal", "Goal", tuple(columns))
        if tab == "events":
            return EVENTS
        key = self.prop_key(ctx)
        if not key:
            return None
        return Breakdown(f"event:props:{key}", f"Property {key}", (Column("visitors", "Visitors"),
                                                                   Column("events", "Events", True)))

    def empty(self, ctx: WidgetContext) -> str:
        tab = self.tab(ctx)
        if tab == "goals" and not ctx.site.goals:
            return "No goals yet: add one in the site's settings to count conversions."
        if tab == "props" and not self.prop_key(ctx):
            return "Name a custom property to break events down by its values."
        return "No conversions or events in this range."

    async def data(self, ctx: WidgetContext) -> dict[str, Any]:
        data = await super().data(ctx)
        data["prop"] = self.prop_key(ctx)
        data["prop_form_url"] = ctx.widget_url(self.name, tab="props")
        data["settings_url"] = "" if ctx.shared else f"/{ctx.site.domain}/settings/goals"
        return data

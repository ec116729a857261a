"""Current visitors (last 5 minutes): from the stats runner over HTTP, and from the live Snapshot on every frame."""

from __future__ import annotations

from typing import Any

from trail.live.renderers import render_partial
from trail.live.snapshot import Snapshot
from trail.stats.runner import realtime_visitors
from trail.store.events import EventStoreError
from trail.web.widgets.base import Widget, WidgetContext

TEMPLATE = "widgets/_current.html"


class CurrentVisitorsWidget(Widget):
    name = "current"
    title = "Current visitors"
    template = TEMPLATE
    live_refresh = False  # pushed by the live engine instead
    prefetch = False  # one cheap realtime count, not a stats-engine query

    async def data(self, ctx: WidgetContext) -> dict[str, Any]:
        if ctx.store is None:
            raise EventStoreError("no event store on this instance")
        return {"current_visitors": await realtime_visitors(ctx.store, ctx.site, ctx.now)}


def render_live(snapshot: Snapshot) -> str:
    """The dashboard frame's current-visitors fragment (registered as a "dashboard" renderer)."""
    return render_partial(TEMPLATE, name="current", current_visitors=snapshot.current_visitors, error="", url="",
                          live=False)

"""The dashboard's widgets by name (one module each); `WIDGETS` is the page's order."""

from __future__ import annotations

from trail.web.widgets.base import Widget
from trail.web.widgets.chart import ChartWidget
from trail.web.widgets.current import CurrentVisitorsWidget
from trail.web.widgets.devices import DevicesWidget
from trail.web.widgets.goals import GoalsWidget
from trail.web.widgets.locations import LocationsWidget
from trail.web.widgets.pages import PagesWidget
from trail.web.widgets.sources import SourcesWidget
from trail.web.widgets.top_stats import TopStatsWidget

WIDGETS: dict[str, Widget] = {w.name: w for w in (
    CurrentVisitorsWidget(), TopStatsWidget(), ChartWidget(), PagesWidget(), SourcesWidget(), LocationsWidget(),
    DevicesWidget(), GoalsWidget())}
LIST_WIDGETS = ("pages", "sources", "locations", "devices", "goals")

__all__ = ["LIST_WIDGETS", "WIDGETS", "Widget"]

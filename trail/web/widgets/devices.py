"""Devices: browsers, operating systems, screen sizes."""

from __future__ import annotations

from trail.web.widgets.base import Breakdown, Column
from trail.web.widgets.listing import ListWidget

_COLUMNS = (Column("visitors", "Visitors"), Column("percentage", "%", True))


class DevicesWidget(ListWidget):
    name = "devices"
    template = "widgets/_devices.html"
    title = "Devices"
    tabs = (("browser", "Browser"), ("os", "OS"), ("screen", "Screen size"))
    breakdowns = {
        "browser": Breakdown("visit:browser", "Browser", _COLUMNS),
        "os": Breakdown("visit:os", "Operating system", _COLUMNS),
        "screen": Breakdown("visit:screen", "Screen size", _COLUMNS),
    }

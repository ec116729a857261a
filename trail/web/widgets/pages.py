"""Pages: top pages (with scroll depth and time on page), entry pages and exit pages."""

from __future__ import annotations

from trail.web.widgets.base import Breakdown, Column
from trail.web.widgets.listing import ListWidget


class PagesWidget(ListWidget):
    name = "pages"
    template = "widgets/_pages.html"
    title = "Pages"
    tabs = (("top", "Top pages"), ("entry", "Entry pages"), ("exit", "Exit pages"))
    breakdowns = {
        "top": Breakdown("event:page", "Page", (Column("visitors", "Visitors"), Column("pageviews", "Pageviews", True),
                                                 Column("scroll_depth", "Scroll depth", True),
                                                 Column("time_on_page", "Time on page", True))),
        "entry": Breakdown("visit:entry_page", "Entry page", (Column("visitors", "Visitors"),
                                                              Column("visits", "Entrances", True),
                                                              Column("bounce_rate", "Bounce rate", True))),
        "exit": Breakdown("visit:exit_page", "Exit page", (Column("visitors", "Visitors"),
                                                           Column("visits", "Exits", True))),
    }

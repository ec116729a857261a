"""Sources: sources, referrers, and UTM parameters (source, medium, campaign, term, content)."""

from __future__ import annotations

from trail.web.widgets.base import Breakdown, Column
from trail.web.widgets.listing import ListWidget

_COLUMNS = (Column("visitors", "Visitors"), Column("bounce_rate", "Bounce rate", True),
            Column("visit_duration", "Visit duration", True))
UTM = (("utm_source", "UTM source"), ("utm_medium", "UTM medium"), ("utm_campaign", "UTM campaign"),
       ("utm_term", "UTM term"), ("utm_content", "UTM content"))


class SourcesWidget(ListWidget):
    name = "sources"
    template = "widgets/_sources.html"
    title = "Sources"
    tabs = (("source", "Sources"), ("referrer", "Referrers"), *UTM)
    breakdowns = {
        "source": Breakdown("visit:source", "Source", _COLUMNS),
        "referrer": Breakdown("visit:referrer", "Referrer", _COLUMNS),
        **{tab: Breakdown(f"visit:{tab}", label, _COLUMNS) for tab, label in UTM},
    }

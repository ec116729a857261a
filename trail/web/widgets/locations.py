"""Locations: countries on a world map (server-side SVG), countries, regions and cities."""

from __future__ import annotations

import math
from typing import Any

from trail.web.widgets.base import Breakdown, Column, WidgetContext, breakdown_rows
from trail.web.widgets.listing import ListWidget
from trail.web.widgets.world import world_map

_COLUMNS = (Column("visitors", "Visitors"), Column("percentage", "%", True))
COUNTRIES = Breakdown("visit:country", "Country", _COLUMNS)
LEVELS = 5


class LocationsWidget(ListWidget):
    name = "locations"
    template = "widgets/_locations.html"
    title = "Locations"
    tabs = (("map", "Map"), ("countries", "Countries"), ("regions", "Regions"), ("cities", "Cities"))
    breakdowns = {
        "map": COUNTRIES,
        "countries": COUNTRIES,
        "regions": Breakdown("visit:region", "Region", _COLUMNS),
        "cities": Breakdown("visit:city", "City", _COLUMNS),
    }

    async def data(self, ctx: WidgetContext) -> dict[str, Any]:
        if self.tab(ctx) != "map" or ctx.details:
            return await super().data(ctx)
        data = await breakdown_rows(ctx, COUNTRIES, limit=300)
        data["map"] = map_shapes(data["rows"])
        data["rows"] = data["rows"][:5]  # a short legend under the map
        return data


def map_shapes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every country's path, shaded in LEVELS steps by visitors (square-root scale), linked when it has visitors."""
    geo = world_map()
    by_code = {str(r["value"]).upper(): r for r in rows if r["value"]}
    top = max([r["cells"][0]["raw"] or 0 for r in by_code.values()] + [1])
    shapes = []
    for code, d in geo["paths"].items():
        row = by_code.get(code)
        visitors = row["cells"][0]["raw"] if row else 0
        level = 0 if not visitors else max(1, math.ceil(math.sqrt(visitors / top) * LEVELS))
        shapes.append({"code": code, "d": d, "level": level, "visitors": visitors,
                       "label": row["label"] if row else code, "href": row["href"] if row else ""})
    return {"width": geo["width"], "height": geo["height"], "shapes": shapes}

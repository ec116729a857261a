"""Build the dashboard's world map once: world-atlas TopoJSON -> SVG path data per ISO alpha-2 code (Equal Earth).

Usage: python scripts/build_world_map.py
Reads  static/vendor/world-atlas/countries-110m.json (npm world-atlas, Natural Earth 1:110m, ISC licence) and
       static/vendor/i18n-iso-countries/codes.json (npm i18n-iso-countries: alpha-2 <-> numeric, MIT),
writes static/vendor/world-atlas/world-110m-paths.json: {"width", "height", "paths": {"DE": "M...Z", ...}}.
The output is committed; run this again only when upgrading the vendored data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOPO = ROOT / "static/vendor/world-atlas/countries-110m.json"
CODES = ROOT / "static/vendor/i18n-iso-countries/codes.json"
OUT = ROOT / "static/vendor/world-atlas/world-110m-paths.json"
BY_NAME = {"Kosovo": "XK"}  # features without an ISO numeric id in Natural Earth
SKIP = {"AQ"}  # Antarctica: no visitors, and a third of the map's height
WIDTH = 1000.0

# Equal Earth projection (Šavrič, Patterson, Jenny 2018)
A1, A2, A3, A4 = 1.340264, -0.081106, 0.000893, 0.003796
M = math.sqrt(3) / 2


def equal_earth(lon: float, lat: float) -> tuple[float, float]:
    lam, phi = math.radians(lon), math.radians(lat)
    theta = math.asin(M * math.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * math.cos(theta) / (M * (A1 + 3 * A2 * t2 + t6 * (7 * A3 + 9 * A4 * t2)))
    y = theta * (A1 + A2 * t2 + t6 * (A3 + A4 * t2))
    return x, y


def decode_arcs(topo: dict[str, Any]) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring_points(ring: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for index in ring:
        points = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        out.extend(points if not out else points[1:])
    return out


def main() -> None:
    topo = json.loads(TOPO.read_text())
    numeric_to_alpha2 = {row[2]: row[0] for row in json.loads(CODES.read_text())}
    arcs = decode_arcs(topo)
    x_max, _ = equal_earth(180, 0)
    _, y_max = equal_earth(0, 90)
    scale = WIDTH / (2 * x_max)
    top, bottom = equal_earth(0, 84)[1], equal_earth(0, -58)[1]
    height = (top - bottom) * scale
    paths: dict[str, str] = {}
    for geometry in topo["objects"]["countries"]["geometries"]:
        code = numeric_to_alpha2.get(str(geometry.get("id", ""))) or BY_NAME.get(geometry["properties"]["name"])
        if not code or code in SKIP or geometry["type"] not in ("Polygon", "MultiPolygon"):
            continue
        polygons = [geometry["arcs"]] if geometry["type"] == "Polygon" else geometry["arcs"]
        parts = []
        for polygon in polygons:
            for ring in polygon:
                pts = [equal_earth(lon, max(-89.9, min(89.9, lat))) for lon, lat in ring_points(ring, arcs)]
                coords = [f"{(x + x_max) * scale:.1f},{(top - y) * scale:.1f}" for x, y in pts]
                parts.append("M" + "L".join(coords) + "Z")
        paths[code] = paths.get(code, "") + "".join(parts)
    OUT.write_text(json.dumps({"width": WIDTH, "height": round(height, 1), "paths": paths}, sort_keys=True))
    print(f"{len(paths)} countries, {OUT.stat().st_size:,} bytes -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""The wall display /wall/<token>: a full-screen live view of a wall's sites, pushed over one websocket."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, abort, render_template, request

from trail.live.renderers import register_renderer, render_partial
from trail.live.snapshot import Snapshot, iso_ms
from trail.security.access import token_required
from trail.services import current_services
from trail.web.live_api import live_engine, origin_allowed, serve_live

wall = Blueprint("wall", __name__)
THEMES = ("dark", "light")
CHART_W, CHART_H = 600, 200


async def _load_wall(token: str) -> tuple[Any, list[Any]] | None:
    """(wall, its live sites) for an active token, else None (unknown and revoked look the same)."""
    from trail.store.meta import repo

    async with current_services().meta.session() as db:
        found = await repo.lookup_wall(db, token)
        if found is None:
            return None
        sites = await repo.wall_sites(db, found.id)
    return (found, sites) if sites else None


def _flag(code: str) -> str:
    if len(code) != 2 or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in code.upper())


def _chart(snapshot: Snapshot) -> dict[str, Any]:
    """Geometry of the per-minute chart: pageview bars and a visitors line, in a CHART_W x CHART_H viewBox."""
    rows = snapshot.per_minute
    top = max([max(pv, v) for _, pv, v in rows] + [1])
    step = CHART_W / max(len(rows), 1)
    bars, points = [], []
    for i, (minute, pv, v) in enumerate(rows):
        h = pv / top * (CHART_H - 8)
        bars.append({"x": round(i * step + step * 0.12, 1), "y": round(CHART_H - h, 1), "w": round(step * 0.76, 1),
                     "h": round(h, 1), "title": f"{iso_ms(minute)[11:16]} UTC: {pv} pageviews, {v} visitors"})
        points.append(f"{round(i * step + step / 2, 1)},{round(CHART_H - v / top * (CHART_H - 8), 1)}")
    return {"bars": bars, "line": " ".join(points), "w": CHART_W, "h": CHART_H, "max": top}


def wall_context(snapshot: Snapshot) -> dict[str, Any]:
    """The template data of one site's panel (the same for the first page load and every push)."""
    def share(rows: list[tuple[str, int]]) -> list[dict[str, Any]]:
        most = max([n for _, n in rows] + [1])
        return [{"name": name, "visitors": n, "pct": round(n / most * 100)} for name, n in rows[:8]]

    countries = [{**row, "flag": _flag(row["name"]), "name": row["name"] or "Unknown"}
                 for row in share(snapshot.top_countries)]
    return {
        "s": snapshot, "sid": snapshot.site_id, "chart": _chart(snapshot),
        "pages": share(snapshot.top_pages), "sources": share(snapshot.top_sources), "countries": countries,
        "recent": [{"time": iso_ms(r.ts_ms)[11:19], "name": r.name, "path": r.path, "flag": _flag(r.country),
                    "country": r.country, "source": r.source, "device": r.device} for r in snapshot.recent[:12]],
        "updated": snapshot.ts[11:19],
    }


def render_wall_site(snapshot: Snapshot) -> str:
    """The "wall" frame of one site: its widgets, each with a root id widget-wall-<site>-<name>."""
    return render_partial("wall/_site.html", **wall_context(snapshot))


register_renderer("wall", render_wall_site, name="site")


@wall.get("/wall/<token>")
@token_required("wall")
async def wall_page(token: str) -> Response:
    found = await _load_wall(token)
    if found is None:
        abort(404)
    row, sites = found
    engine = live_engine()
    await engine.wake()
    panels = []
    for site in sites:
        engine.domains[site.id] = site.domain
        panels.append({"site_id": site.id, "domain": site.domain, "html": engine.frame(site.id, "wall")})
    theme = request.args.get("theme", "")
    theme = theme if theme in THEMES else (row.theme if row.theme in THEMES else "dark")
    html = await render_template("wall/page.html", panels=panels, theme=theme, layout=row.layout,
                                 rotate_seconds=row.rotate_seconds, label=row.label, ws_path=f"/wall/{token}/ws")
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@wall.websocket("/wall/<token>/ws")
@token_required("wall")
async def wall_socket(token: str) -> None:
    if not origin_allowed():
        abort(403)
    found = await _load_wall(token)
    if found is None:
        abort(404)
    row, sites = found
    await serve_live("wall", [(s.id, s.domain) for s in sites],
                     {"wall_id": row.id, "token_hash": row.token_hash, "team_id": row.team_id})


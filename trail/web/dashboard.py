"""The dashboard: `/<domain>` (signed in) and the read-only `/share/<token>`, their widget partials and details.

The page is a shell: each widget loads as its own htmx partial (`<base>/widgets/<name>?<view>`, root element
`id="widget-<name>"`) through the stats runner, the engine of the JSON API. Range, comparison, chart metric and
filters live in the query string (`trail.web.widgets.state`), so a view survives a reload and can be shared.

Live (realtime and today): the page keeps one websocket to `<base>/live`. Each frame (kind "dashboard", rendered
once per site per tick by the live engine) carries `#widget-current` rendered from the Snapshot, which htmx swaps by
id. Every other widget is filtered, tabbed and compared per viewer, which a per-site frame cannot be, so on a frame
the page re-requests the visible widgets over HTTP (static/js/dashboard.js, at most once a second): the numbers stay
the stats engine's exact ones under any filter, at the cost of one query per widget per second per open live page.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from quart import Blueprint, Response, abort, g, render_template, request

from trail.live.renderers import register_renderer
from trail.security.access import site_required, token_required
from trail.services import current_services
from trail.sites import SiteInfo, site_directory
from trail.web.live_api import origin_allowed, serve_live
from trail.web.widgets import LIST_WIDGETS, WIDGETS, prefetch
from trail.web.widgets.base import WidgetContext, ask
from trail.web.widgets.current import render_live
from trail.web.widgets.listing import ListWidget
from trail.web.widgets.state import COMPARISONS, PERIODS, ViewState, parse_state

dashboard = Blueprint("dashboard", __name__)
CSV_LIMIT = 10_000

register_renderer("dashboard", render_live, name="current")


# -- helpers ---------------------------------------------------------------------------------------------------------
async def _site_info(domain: str) -> SiteInfo:
    info = await site_directory().get(domain)
    if info is None:
        abort(404)
    return info


def _context(info: SiteInfo, base: str, *, details: bool = False, shared: bool = False) -> WidgetContext:
    return WidgetContext(site=info, state=parse_state(request.args), base=base, store=current_services().events,
                         args=request.args, details=details, shared=shared)


def _no_store(response: Response, shared: bool) -> Response:
    response.headers["Cache-Control"] = "no-store"
    if shared:  # the token is in the URL
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _html(body: str, shared: bool, status: int = 200) -> Response:
    return _no_store(Response(body, status=status, content_type="text/html; charset=utf-8"), shared)


def _href(base: str, query_string: str) -> str:
    return base + ("?" + query_string if query_string else "")


def _nav(state: ViewState, base: str) -> dict[str, Any]:
    """Range and comparison links of the page header."""
    periods = [{"id": p, "label": label, "href": _href(base, state.query_string(period=p, date_from="", date_to="")),
                "selected": p == state.period} for p, label in PERIODS if p != "custom"]
    compares = [{"id": c, "label": label, "href": _href(base, state.query_string(compare=c)),
                 "selected": c == state.compare} for c, label in COMPARISONS]
    return {"periods": periods, "compares": compares, "chips": state.chips(base),
            "clear_filters": _href(base, state.query_string(filters=())),
            "hidden_filters": [("f", f"{d}={v}") for d, v in state.filters]
            + ([("compare", state.compare)] if state.compare else [])
            + ([("metric", state.metric)] if state.metric != "visitors" else [])}


async def _page(info: SiteInfo, base: str, *, shared: bool, can_settings: bool) -> Response:
    ctx = _context(info, base, shared=shared)
    state = ctx.state
    if not state.error and ctx.store is not None:  # the widgets' queries start now, while the browser loads the page
        prefetch.start([w for w in WIDGETS.values() if w.prefetch],
                       lambda: _context(info, base, shared=shared))
    widgets = {name: {"name": name, "url": ctx.widget_url(name)} for name in WIDGETS}
    html = await render_template(
        "dashboard/page.html", info=info, base=base, state=state, widgets=widgets, shared=shared,
        can_settings=can_settings, ws_path=f"{base}/live" if state.live else "", list_widgets=LIST_WIDGETS,
        **_nav(state, base))
    return _html(html, shared)


async def _widget(info: SiteInfo, base: str, name: str, shared: bool) -> Response:
    widget = WIDGETS.get(name)
    if widget is None:
        abort(404)
    return _html(await widget.render(_context(info, base, shared=shared)), shared)


async def _details(info: SiteInfo, base: str, name: str, shared: bool) -> Response:
    if name.endswith(".csv"):
        return await _csv(info, base, name[:-4], shared)
    widget = WIDGETS.get(name)
    if name not in LIST_WIDGETS or widget is None:
        abort(404)
    ctx = _context(info, base, details=True, shared=shared)
    body = await widget.render(ctx)
    html = await render_template("dashboard/details.html", info=info, base=base, state=ctx.state, widget=widget,
                                 body=body, shared=shared, back=ctx.page_url(ctx.state.query_string()),
                                 tab=widget.tab(ctx), search=ctx.arg("search"),
                                 keep=[(k, v) for k, v in widget.keep_args(ctx).items() if v],
                                 **_nav(ctx.state, base))
    return _html(html, shared)


async def _csv(info: SiteInfo, base: str, name: str, shared: bool) -> Response:
    widget = WIDGETS.get(name)
    if name not in LIST_WIDGETS or not isinstance(widget, ListWidget):
        abort(404)
    ctx = _context(info, base, details=True, shared=shared)
    tab = widget.tab(ctx)
    b = widget.breakdown(ctx, tab)
    out = io.StringIO()
    writer = csv.writer(out)
    if b is not None:
        extra = [list(f) for f in b.filters]
        search = ctx.arg("search")
        if search:
            extra.append(["contains", b.dimension, [search], {"case_sensitive": False}])
        result = await ask(ctx, [c.metric for c in b.columns], [b.dimension], extra, limit=CSV_LIMIT)
        writer.writerow([b.label] + [c.metric for c in b.columns])
        for row in result["results"]:
            writer.writerow([row["dimensions"][0]] + ["" if v is None else v for v in row["metrics"]])
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in f"{info.domain}-{name}-{tab}")
    response = Response(out.getvalue(), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}.csv"'
    return _no_store(response, shared)


# -- signed in: /<domain> --------------------------------------------------------------------------------------------
@dashboard.get("/<dotted:domain>")
@site_required("viewer")
async def page(domain: str) -> Response:
    info = await _site_info(g.site.domain)
    return await _page(info, f"/{info.domain}", shared=False, can_settings=g.role in ("admin", "owner"))


@dashboard.get("/<dotted:domain>/widgets/<name>")
@site_required("viewer")
async def widget(domain: str, name: str) -> Response:
    info = await _site_info(g.site.domain)
    return await _widget(info, f"/{info.domain}", name, shared=False)


@dashboard.get("/<dotted:domain>/details/<name>")
@site_required("viewer")
async def details(domain: str, name: str) -> Response:
    info = await _site_info(g.site.domain)
    return await _details(info, f"/{info.domain}", name, shared=False)


# -- public: /share/<token> (read only) ------------------------------------------------------------------------------
async def _shared_site(token: str) -> Any:
    from trail.store.meta import repo

    async with current_services().meta.session() as db:
        site = await repo.site_by_share_token(db, token)
    if site is None:
        abort(404)
    return site


async def shared_page(site: Any, token: str) -> Response:
    """The public dashboard of `site` (trail/web/share.py checks the token and calls this)."""
    info = await _site_info(site.domain)
    return await _page(info, f"/share/{token}", shared=True, can_settings=False)


@dashboard.get("/share/<token>/widgets/<name>")
@token_required("share")
async def shared_widget(token: str, name: str) -> Response:
    site = await _shared_site(token)
    return await _widget(await _site_info(site.domain), f"/share/{token}", name, shared=True)


@dashboard.get("/share/<token>/details/<name>")
@token_required("share")
async def shared_details(token: str, name: str) -> Response:
    site = await _shared_site(token)
    return await _details(await _site_info(site.domain), f"/share/{token}", name, shared=True)


@dashboard.websocket("/share/<token>/live")
@token_required("share")
async def shared_live(token: str) -> None:
    """The shared dashboard's live frames; closed with 4403 when the link is revoked (see LiveEngine)."""
    if not origin_allowed():
        abort(403)
    site = await _shared_site(token)
    await serve_live("dashboard", [(site.id, site.domain)],
                     {"share": True, "token_hash": site.share_token_hash, "team_id": site.team_id})

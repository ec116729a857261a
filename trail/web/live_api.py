"""Live websockets: GET /api/v2/live (JSON snapshots, API key) and /<domain>/live (dashboard fragments)."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from quart import Blueprint, abort, g, websocket

from trail.live.hub import Sender
from trail.live.ticker import LiveEngine
from trail.security.access import api_key_required, authorize_key_for_site, site_required
from trail.services import current_services

live_api = Blueprint("live_api", __name__)
PAGE_CHANNELS = ("dashboard", "first-event")  # the channel kinds a signed-in page may open on /<domain>/live


def live_engine() -> LiveEngine:
    """This instance's live engine (absent on a `--role writer` instance)."""
    engine = current_services().extras.get("live")
    if engine is None:
        abort(503)
    return engine  # type: ignore[no-any-return]


def origin_allowed() -> bool:
    """The websocket's Origin is this instance's own: TRAIL_PUBLIC_URL when set, else the Host it was asked as.
    A missing Origin is refused too (browsers always send one; cookie-authorised sockets are for browsers)."""
    origin = websocket.headers.get("Origin", "")
    if not origin:
        return False
    sent = urlsplit(origin)
    public = current_services().settings.public_url
    if public:
        own = urlsplit(public)
        return (sent.scheme.lower(), sent.netloc.lower()) == (own.scheme.lower(), own.netloc.lower())
    return sent.scheme.lower() in ("http", "https") and sent.netloc.lower() == websocket.headers.get("Host", "").lower()


def _frame_sender(ws: Any) -> Sender:
    """What the hub sends this socket's frames with (it calls it inline for every client, see trail/live/hub.py).

    The server's own ASGI `send` when Quart's connection exposes it (Quart 0.22: `Websocket._send` is
    `partial(ASGIWebsocketConnection.send_data, send)`): `Websocket.send` first does `await asyncio.sleep(0)` (a
    task switch per frame per client) and an accept check, and `send_data` adds a coroutine and the
    `websocket_sent` signal (no receiver in Trail); with 1,000 sockets each of these is a measurable share of the
    fan-out. Falls back to `_send`, then to `Websocket.send`, if Quart's internals change
    (tests/live/test_live_api.py checks that the fast path is the one in use)."""
    sender = getattr(ws, "_send", None)
    if isinstance(sender, partial) and getattr(sender.func, "__name__", "") == "send_data" and sender.args:
        asgi_send = sender.args[0]
        return lambda frame: asgi_send({"type": "websocket.send", "text": frame})
    return sender if callable(sender) else ws.send  # type: ignore[no-any-return]


async def serve_live(kind: str, sites: list[tuple[int, str]], auth: dict[str, Any]) -> None:
    """Accept the websocket and send the frames of `sites` on channel `kind` until closed (by either side)."""
    engine = live_engine()
    await websocket.accept()
    await engine.wake()  # nothing awaited between this and connect: the engine cannot fall asleep in between
    client = engine.connect(kind, sites, auth)

    async def discard_incoming() -> None:  # keep Quart's receive queue empty; nothing is expected from clients
        while True:
            await websocket.receive()

    reader = asyncio.create_task(discard_incoming())
    try:
        code, reason = await engine.hub.pump(client, _frame_sender(websocket._get_current_object()))
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
    await websocket.close(code, reason)


@live_api.websocket("/api/v2/live")
@api_key_required
async def api_live() -> None:
    """JSON snapshots of one site: a full one at once, then one per tick while it changes, at least every 15 s."""
    site = await authorize_key_for_site(websocket.args.get("site_id", ""))
    key = g.api_key
    await serve_live("json", [(site.id, site.domain)],
                     {"key_id": key.id, "key_hash": key.key_hash, "team_id": key.team_id})


@live_api.websocket("/<dotted:domain>/live")
@site_required("viewer")
async def dashboard_live(domain: str) -> None:
    """The dashboard's live widgets (renderers registered as kind "dashboard"), swapped by id by htmx; with
    `?channel=first-event`, the settings page's "we got your first pageview" fragment instead."""
    if not origin_allowed():
        abort(403)
    kind = websocket.args.get("channel", "dashboard")
    if kind not in PAGE_CHANNELS:
        abort(404)
    site, user = g.site, g.user
    await serve_live(kind, [(site.id, site.domain)],
                     {"user_id": user.id, "team_id": site.team_id})

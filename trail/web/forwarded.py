"""X-Forwarded-Proto from a trusted proxy, on every server (uvicorn's own handling is off, hypercorn has none).

Behind a TLS-terminating proxy the app is reached over http; the scheme the browser used decides the session
cookie's Secure flag (TRAIL_SESSION_COOKIE_SECURE=auto) and the URLs the app builds. This middleware takes it from
X-Forwarded-Proto only when the socket peer is in TRAIL_TRUSTED_PROXIES, and only the value that proxy set (the
last one, were there several); see `trail.server.uvicorn_proxy_options`.
"""

from __future__ import annotations

from typing import Any

from trail.ingest.ip import Network, peer_trusted

_UPGRADED = {("http", "https"): "https", ("ws", "https"): "wss", ("http", "wss"): "https", ("ws", "wss"): "wss"}


def forwarded_proto(headers: Any) -> str:
    """The last X-Forwarded-Proto value of ASGI headers, lower-case ("" when absent)."""
    value = ""
    for name, raw in headers:
        if name.lower() == b"x-forwarded-proto":
            value = raw.decode("latin-1")
    return value.rsplit(",", 1)[-1].strip().lower()


class ForwardedProto:
    """ASGI middleware: scope["scheme"] becomes https (wss) when a trusted proxy says the request came so."""

    def __init__(self, app: Any, proxies: tuple[Network, ...]) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("scheme") in ("http", "ws"):
            client = scope.get("client")
            if client and peer_trusted(client[0], self.proxies):
                scheme = _UPGRADED.get((scope["scheme"], forwarded_proto(scope.get("headers", ()))))
                if scheme is not None:
                    scope = {**scope, "scheme": scheme}
        await self.app(scope, receive, send)

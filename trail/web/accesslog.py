"""ASGI access log: method, path (never the query string, which may hold a key; never the IP), status, time."""

from __future__ import annotations

import logging
import time
from typing import Any, Awaitable, Callable

log = logging.getLogger("trail.access_log")

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]]


class AccessLog:
    """Wraps an ASGI app and logs one line per HTTP request or websocket, without query strings."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "websocket.accept":
                status[0] = 101
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope.get("method", "WS")  # no client IP either: Trail never stores IPs
            log.info('"%s %s" %s %.1fms', method, _redact(scope.get("path", "")), status[0] or "-",
                     (time.perf_counter() - started) * 1000)


def _redact(path: str) -> str:
    """Paths that carry a capability token (/wall/<token>) are logged without it."""
    if path.startswith("/wall/"):
        return "/wall/<token>" + ("/ws" if path.endswith("/ws") else "")
    return path

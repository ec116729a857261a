"""Raw-ASGI fast path for `POST /api/event`: the hot ingest route answered without Quart's request machinery.

Quart's per-request overhead (request/response objects, context locals, signals) caps a worker near
1-2k requests/s. The ingest route needs none of it: it reads a small body, runs the Ingestor (the same
object the Quart blueprint calls, so behaviour is identical) and answers 202. Everything else falls
through to the Quart app.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from trail.ingest.handler import ACCEPTED, Response

log = logging.getLogger("trail.access_log")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

PATHS = {"/api/event", "/api/event/"}
# The request headers POST /api/event looks at (handler.Ingestor.single and the pipeline's steps).
WANTED = frozenset({b"content-length", b"user-agent", b"x-forwarded-for", b"dnt", b"sec-gpc", b"accept-language"})
_ACCEPTED_HEADERS = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in ACCEPTED.headers.items()] + [
    (b"content-length", str(len(ACCEPTED.body)).encode())]
_ACCEPTED_START = {"type": "http.response.start", "status": 202, "headers": _ACCEPTED_HEADERS}
_ACCEPTED_BODY = {"type": "http.response.body", "body": ACCEPTED.body}


class IngestFastPath:
    """ASGI middleware: serves POST/OPTIONS /api/event from the app's Ingestor; everything else goes on to `app`.

    `quart_app` holds the services (default: `app` itself). When the fast path sits in front of the access log,
    accepted events are not logged line by line (at thousands a second that would cost more than the ingest itself;
    /metrics counts them); answers other than 2xx are still logged there.
    """

    def __init__(self, app: Any, quart_app: Any = None) -> None:
        self.app = app
        self.quart_app = app if quart_app is None else quart_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS or scope["method"] not in ("POST", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        services = self.quart_app.extensions.get("trail")
        if services is None or "ingestor" not in services.extras:  # not started, or a writer: Quart answers
            await self.app(scope, receive, send)
            return
        ingestor = services.extras["ingestor"]
        if scope["method"] == "OPTIONS":
            await _respond(send, ingestor.preflight())
            return
        limit = services.settings.body_limit_bytes
        # only the headers the Ingestor reads are decoded: a browser sends a dozen more
        headers = {name.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())
                   if (name := k.lower()) in WANTED}
        declared = headers.get("content-length", "")
        body = None if declared.isdigit() and int(declared) > limit else await _read_body(receive, limit)
        if body is None:
            result = ingestor.too_large()
        else:
            client = scope.get("client")
            result = await ingestor.single(body, headers, client[0] if client else "")
        if result is ACCEPTED:
            await send(_ACCEPTED_START)
            await send(_ACCEPTED_BODY)
            return
        await _respond(send, result)
        if result.status >= 400 and log.isEnabledFor(logging.INFO):
            log.info('"POST %s" %s', scope["path"], result.status)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, result: Response) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in result.headers.items()]
    headers.append((b"content-length", str(len(result.body)).encode()))
    await send({"type": "http.response.start", "status": result.status, "headers": headers})
    await send({"type": "http.response.body", "body": result.body})

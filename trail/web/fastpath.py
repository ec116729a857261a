"""Raw-ASGI fast path for `POST /api/event`: the hot ingest route answered without Quart's request machinery.

Quart's per-request overhead (request/response objects, context locals, signals) caps a worker near
1-2k requests/s. The ingest route needs none of it: it reads a small body, runs the Ingestor (the same
object the Quart blueprint calls, so behaviour is identical) and answers 202. Everything else falls
through to the Quart app.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Iterable

from trail.ingest.handler import ACCEPTED, Response

log = logging.getLogger("trail.access_log")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

PATHS = {"/api/event", "/api/event/"}
# The request headers POST /api/event looks at (handler.Ingestor.single and the pipeline's steps).
WANTED = frozenset({b"content-length", b"user-agent", b"x-forwarded-for", b"dnt", b"sec-gpc", b"accept-language"})


def header_pairs(result: Response) -> list[tuple[bytes, bytes]]:
    """The answer's headers as the wire carries them: lower-case names, latin-1, and its Content-Length."""
    pairs = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in result.headers.items()]
    pairs.append((b"content-length", str(len(result.body)).encode()))
    return pairs


_ACCEPTED_START = {"type": "http.response.start", "status": 202, "headers": header_pairs(ACCEPTED)}
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
        self._services: Any = None  # the services the Ingestor below was taken from
        self._ingestor: Any = None

    def started_ingestor(self) -> Any:
        """The started app's Ingestor (None before start-up and on a writer: Quart answers then)."""
        services = self.quart_app.extensions.get("trail")
        if services is not self._services:  # started (again) since the last request
            self._services = services
            self._ingestor = services.extras.get("ingestor") if services is not None else None
        return self._ingestor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS or scope["method"] not in ("POST", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        ingestor = self.started_ingestor()
        if ingestor is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await _respond(send, ingestor.preflight())
            return
        limit = ingestor.body_limit
        headers = wanted_headers(scope.get("headers", ()))
        if declared_too_large(headers.get("content-length", ""), limit):
            body = None
        else:
            message = await receive()  # a beacon's body comes in one message: no loop, no coroutine for it
            if message["type"] == "http.request" and not message.get("more_body", False):
                body = message.get("body", b"")
                if len(body) > limit:
                    body = None
            else:
                body = await _read_body(receive, limit, message)
        if body is None:
            result = ingestor.too_large()
        else:
            client = scope.get("client")
            result = await ingestor.take(body, headers, client[0] if client else "")
        if result is ACCEPTED:
            await send(_ACCEPTED_START)
            await send(_ACCEPTED_BODY)
            return
        await _respond(send, result)
        log_refusal(scope["path"], result)


def find_fast_path(app: Any) -> IngestFastPath | None:
    """The `IngestFastPath` that `app` is or wraps (through the wrappers' `.app`), or None."""
    for _ in range(16):  # a server's or a bench's wrappers: a few levels at most
        if isinstance(app, IngestFastPath) or app is None:
            return app
        app = getattr(app, "app", None)
    return None


def declared_too_large(value: str, limit: int) -> bool:
    """Whether a Content-Length header declares more than `limit` bytes (any length of digits; False when it is
    not a plain number, which the server's parser refuses on its own)."""
    if not (value.isascii() and value.isdigit()):
        return False
    digits = value.lstrip("0")
    return len(digits) > len(str(limit)) or int(digits or "0") > limit


def wanted_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request headers the Ingestor reads, decoded (a browser sends a dozen more)."""
    return {name.decode("latin-1"): v.decode("latin-1") for k, v in raw if (name := k.lower()) in WANTED}


def log_refusal(path: str, result: Response) -> None:
    """Answers other than 2xx are logged as the access log would (accepted events are counted, not logged)."""
    if result.status >= 400 and log.isEnabledFor(logging.INFO):
        log.info('"POST %s" %s', path, result.status)


async def _read_body(receive: Receive, limit: int, message: dict[str, Any]) -> bytes | None:
    """The body of which `message` is the first message: None past `limit` bytes, b"" when the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


async def _respond(send: Send, result: Response) -> None:
    await send({"type": "http.response.start", "status": result.status, "headers": header_pairs(result)})
    await send({"type": "http.response.body", "body": result.body})

"""uvicorn's HTTP/1.1 protocol with `POST /api/event` answered at the protocol level, below ASGI.

On uvicorn each ASGI request costs a scope, a task with its coroutine, an `asyncio.Event`, the receive and send
coroutines, and two socket writes (the status line and headers, then the body). At one small event per request that
is as much as the Ingestor's own work. `IngestProtocol` serves exactly `POST /api/event` (the URL as trackers send
it) from the parser's callbacks: the body is gathered as it comes, handed to the same Ingestor as the ASGI fast path
(`trail/web/fastpath.py`, so the answers are the same), and the answer goes out in one write once the Ingestor's
future is done. Every other request, and every one this path would not serve plainly (`Expect: 100-continue`, an
upgrade, a request pipelined behind one not answered yet, before start-up), takes uvicorn's ASGI path unchanged.
uvicorn's connection handling (keep-alive and its timeout, pipelining, graceful shutdown, disconnects) stays its own:
the request state below has the attributes its protocol reads of a request cycle.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from trail.ingest.handler import ACCEPTED, UNAVAILABLE, Response
from trail.web.fastpath import declared_too_large, find_fast_path, header_pairs, log_refusal, wanted_headers

log = logging.getLogger(__name__)

EVENT_URL = b"/api/event"


class _NoEvent:
    """What uvicorn sets on a disconnect for a request cycle's body reader: nobody reads a body here."""

    __slots__ = ()

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()


class EventRequest:
    """One `POST /api/event` served here: the state uvicorn's protocol reads of a cycle, and the body so far."""

    __slots__ = ("ingestor", "headers", "chunks", "size", "refused", "keep_alive", "response_complete",
                 "disconnected", "message_event")

    def __init__(self, ingestor: Any, headers: dict[str, str], keep_alive: bool) -> None:
        self.ingestor = ingestor
        self.headers = headers
        self.chunks: list[bytes] = []
        self.size = 0
        self.refused = False  # too large: the rest of the body is read and dropped
        self.keep_alive = keep_alive  # uvicorn's graceful shutdown turns it off
        self.response_complete = False
        self.disconnected = False  # set by uvicorn when the client goes away
        self.message_event = _NO_EVENT


def encode_response(result: Response, default_headers: list[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
    """The whole HTTP/1.1 answer as one buffer: status line, uvicorn's default headers (date, server), ours, body."""
    parts = [STATUS_LINE[result.status]]
    for name, value in default_headers + header_pairs(result):
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", result.body)
    return b"".join(parts)


class _AcceptedBytes:
    """The encoded 202 of a kept-alive connection, rebuilt when uvicorn renews its default headers (each second)."""

    __slots__ = ("defaults", "data")

    def __init__(self) -> None:
        self.defaults: list[tuple[bytes, bytes]] | None = None
        self.data = b""

    def get(self, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        if default_headers is not self.defaults:
            self.data = encode_response(ACCEPTED, default_headers, True)
            self.defaults = default_headers
        return self.data


_ACCEPTED = _AcceptedBytes()


class IngestProtocol(HttpToolsProtocol):
    """`uvicorn.run(..., http=IngestProtocol)`: httptools' protocol with the event route served without ASGI."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # a root path or a concurrency limit changes what uvicorn does per request: then the ASGI path serves all
        plain = self.root_path == "" and self.limit_concurrency is None
        self.fast_path = find_fast_path(self.app) if plain else None
        self.event: EventRequest | None = None  # the event request whose message is being parsed, if any

    def on_message_begin(self) -> None:
        self.event = None
        # a request has begun: the connection is not idle (a keep-alive timer armed after a refused body's answer
        # would otherwise run on while this request waits for its answer)
        self._unset_keepalive_if_required()
        super().on_message_begin()

    def ingestor_for(self, url: bytes) -> Any:
        """The Ingestor that serves a POST to `url` here: the app's for the event URL once started, else None."""
        if url != EVENT_URL or self.fast_path is None:
            return None
        return self.fast_path.started_ingestor()

    def on_headers_complete(self) -> None:
        cycle = self.cycle
        ingestor = self.ingestor_for(self.url)
        if (ingestor is None or self.expect_100_continue or (cycle is not None and not cycle.response_complete)
                or self.parser.get_method() != b"POST" or self.parser.should_upgrade() or self.flow.write_paused):
            # (write_paused: the client does not read its answers; the ASGI path waits for it, and stops reading)
            super().on_headers_complete()
            return
        parser = self.parser
        request = EventRequest(ingestor, wanted_headers(self.headers),
                               parser.get_http_version() != "1.0" and parser.should_keep_alive())
        self.cycle = request  # type: ignore[assignment]
        self.event = request
        if declared_too_large(request.headers.get("content-length", ""), ingestor.body_limit):
            self._refuse(request)

    def _refuse(self, request: EventRequest) -> None:
        """413 for a body past the limit. Answered after the parser's callbacks, as uvicorn answers ASGI requests:
        when the rest of the data turns out not to be HTTP, uvicorn's own 400 (and close) is the only answer."""
        request.refused = True
        self.loop.call_soon(self._answer, request, request.ingestor.too_large())

    def on_body(self, body: bytes) -> None:
        request = self.event
        if request is None:
            super().on_body(body)
            return
        if request.refused or request.response_complete:
            return
        request.size += len(body)
        if request.size > request.ingestor.body_limit:
            self._refuse(request)
            return
        request.chunks.append(body)

    def on_message_complete(self) -> None:
        request = self.event
        if request is None:
            super().on_message_complete()
            return
        self.event = None
        if request.refused:
            if request.response_complete and self.cycle is request and not self.pipeline:
                # answered while its body still came: the connection is idle only from now on
                self._unset_keepalive_if_required()
                self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                    self.timeout_keep_alive_handler)
            return
        chunks = request.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        client = self.client
        future = request.ingestor.take(body, request.headers, client[0] if client else "")
        future.add_done_callback(partial(self._answered, request))

    def _answered(self, request: EventRequest, future: asyncio.Future[Response]) -> None:
        if future.cancelled():
            result = UNAVAILABLE
        elif future.exception() is not None:  # the Ingestor answers every request; this is the last defence
            log.error("ingest: unexpected error", exc_info=future.exception())
            result = UNAVAILABLE
        else:
            result = future.result()
        self._answer(request, result)

    def _answer(self, request: EventRequest, result: Response) -> None:
        if request.response_complete:
            return
        request.response_complete = True
        if request.disconnected or self.transport.is_closing():
            return
        keep_alive = request.keep_alive
        defaults = self.server_state.default_headers
        if result is ACCEPTED and keep_alive:
            self.transport.write(_ACCEPTED.get(defaults))
        else:
            self.transport.write(encode_response(result, defaults, keep_alive))
            log_refusal("/api/event", result)
            if not keep_alive:
                self.transport.close()
        self.on_response_complete()

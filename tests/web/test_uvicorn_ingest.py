"""`IngestProtocol`: POST /api/event served inside uvicorn's HTTP protocol, everything else through ASGI.

The protocol's mechanics (one write per answer, keep-alive, pipelining, shutdown, disconnects, body limits) are
tested on a fake transport with an Ingestor whose answers the test releases; then the real thing: uvicorn serving
the started app on a socket, its answers compared with the ASGI fast path's, and the events in the broker.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import orjson
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from uvicorn.server import ServerState

from tests.ingest.test_ingest_property import _SETTINGS, SINGLE_ALLOWED, _fakes, bodies, headers, peers
from tests.web.test_fastpath import CASES, CONTRACT_HEADERS, EVENT, UA, _add_site, _call, _client, _setup
from trail.ingest.event import EnrichedEvent
from trail.ingest.handler import ACCEPTED, Response
from trail.ingest.testing import build_test_ingestor
from trail.web.fastpath import IngestFastPath, declared_too_large
from trail.web.uvicorn_ingest import IngestProtocol

BODY = orjson.dumps(EVENT)


def _post(body: bytes = BODY, url: str = "/api/event", extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST {url} HTTP/{version}\r\nHost: t\r\nUser-Agent: {UA}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


# -- the protocol alone: a fake transport, an Ingestor whose answers the test releases --------------------------

class FakeIngestor:
    body_limit = 100

    def __init__(self) -> None:
        self.taken: list[tuple[bytes, dict[str, str], str, asyncio.Future[Response]]] = []

    def take(self, body: bytes, headers: dict[str, str], peer_ip: str) -> asyncio.Future[Response]:
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.taken.append((body, headers, peer_ip, future))
        return future

    def too_large(self) -> Response:
        return Response(413, {"content-type": "application/json"}, b'{"error":"too large"}')


class Transport(asyncio.Transport):
    def __init__(self, peer: str = "81.2.69.142") -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": (self.peer, 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:  # a websocket upgrade hands the connection on
        self.protocol = protocol

    def get_write_buffer_size(self) -> int:
        return 0


class Other:
    """The ASGI app behind the fast path: answers 200 with its path, and remembers what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.paths.append(scope["path"])
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        body = scope["path"].encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class StartedFastPath(IngestFastPath):
    """The ASGI fast path with the given Ingestor; remembers the paths that reached it through ASGI."""

    def __init__(self, app: Any, ingestor: Any) -> None:
        super().__init__(app, quart_app=object())
        self.ingestor = ingestor
        self.paths: list[str] = []

    def started_ingestor(self) -> Any:
        return self.ingestor

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await super().__call__(scope, receive, send)


def _protocol(ingestor: Any = None, peer: str = "81.2.69.142") -> tuple[IngestProtocol, Transport, Other, Any]:
    ingestor = ingestor or FakeIngestor()
    other = Other()
    config = uvicorn.Config(StartedFastPath(other, ingestor), lifespan="off", log_config=None)
    state = ServerState()
    state.default_headers = [(b"date", b"Mon, 30 Nov 2026 22:00:00 GMT"), (b"server", b"uvicorn")]
    protocol = IngestProtocol(config, state, {})
    transport = Transport(peer)
    protocol.connection_made(transport)
    return protocol, transport, other, ingestor


def _responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split the bytes a connection got into (status, headers, body) answers."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return out


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_event_answered_in_one_write_without_asgi() -> None:
    protocol, transport, other, ingestor = _protocol()
    protocol.data_received(_post(extra="X-Forwarded-For: 10.0.0.1\r\nCookie: a=b\r\n"))
    assert len(ingestor.taken) == 1 and transport.writes == []  # nothing answered before the Ingestor's answer
    body, headers, peer, future = ingestor.taken[0]
    assert (body, peer) == (BODY, "81.2.69.142")
    assert headers["user-agent"] == UA and headers["x-forwarded-for"] == "10.0.0.1" and "cookie" not in headers
    future.set_result(ACCEPTED)
    await _settle()
    assert len(transport.writes) == 1  # status line, headers and body in one write
    [(status, got, payload)] = _responses(transport.writes[0])
    assert (status, payload) == (202, b"ok")
    assert got["date"] == "Mon, 30 Nov 2026 22:00:00 GMT" and got["server"] == "uvicorn"
    assert got["access-control-allow-origin"] == "*" and got["content-length"] == "2"
    assert "connection" not in got and not transport.closed  # kept alive
    assert protocol.fast_path.paths == [] and protocol.server_state.total_requests == 1


async def test_refusals_keep_their_headers_and_http_10_closes() -> None:
    protocol, transport, _, ingestor = _protocol()
    protocol.data_received(_post(version="1.0"))
    ingestor.taken[0][3].set_result(Response(400, {"content-type": "application/json",
                                                   "access-control-allow-origin": "*"}, b'{"error":"url: bad"}'))
    await _settle()
    [(status, got, payload)] = _responses(b"".join(transport.writes))
    assert status == 400 and payload == b'{"error":"url: bad"}' and got["access-control-allow-origin"] == "*"
    assert got["connection"] == "close" and transport.closed

    protocol, transport, _, ingestor = _protocol()
    protocol.data_received(_post(extra="Connection: close\r\n"))
    ingestor.taken[0][3].set_result(ACCEPTED)
    await _settle()
    assert _responses(b"".join(transport.writes))[0][1]["connection"] == "close" and transport.closed


async def test_pipelined_requests_are_answered_in_order() -> None:
    protocol, transport, other, ingestor = _protocol()
    protocol.data_received(_post() + _get("/healthz") + _post())
    assert len(ingestor.taken) == 1  # the rest wait behind the first answer, as uvicorn queues them
    await _settle()
    assert transport.writes == []
    ingestor.taken[0][3].set_result(ACCEPTED)
    await _settle()
    # the third, an event queued behind another request, goes the ASGI way (the ASGI fast path serves it)
    assert len(ingestor.taken) == 2 and protocol.fast_path.paths == ["/healthz", "/api/event"]
    ingestor.taken[1][3].set_result(Response(202, {"x-trail-dropped": "bot"}, b"ok"))
    await _settle()
    answers = _responses(b"".join(transport.writes))  # in the order of the requests
    assert [(a[0], a[2]) for a in answers] == [(202, b"ok"), (200, b"/healthz"), (202, b"ok")]
    assert answers[2][1]["x-trail-dropped"] == "bot" and other.paths == ["/healthz"]


async def test_body_limit_by_declared_length_and_by_chunks() -> None:
    protocol, transport, _, ingestor = _protocol()
    big = b"x" * 500
    protocol.data_received(_post(big) + _post())  # refused from its Content-Length; the next one is served
    await _settle()
    assert _responses(transport.writes[0])[0][0] == 413 and not transport.closed
    assert len(ingestor.taken) == 1 and ingestor.taken[0][0] == BODY

    protocol, transport, _, ingestor = _protocol()
    head = f"POST /api/event HTTP/1.1\r\nHost: t\r\nUser-Agent: {UA}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    protocol.data_received(head + b"3c\r\n" + b"y" * 60 + b"\r\n")
    assert transport.writes == []
    protocol.data_received(b"3c\r\n" + b"y" * 60 + b"\r\n0\r\n\r\n")  # 120 bytes in all: past the limit of 100
    await _settle()
    assert ingestor.taken == [] and _responses(transport.writes[0])[0][0] == 413

    protocol, transport, _, ingestor = _protocol()
    protocol.data_received(head + b"5\r\n" + BODY[:5] + b"\r\n")
    protocol.data_received(b"%x\r\n" % (len(BODY) - 5) + BODY[5:] + b"\r\n0\r\n\r\n")
    assert [t[0] for t in ingestor.taken] == [BODY]  # the chunks, joined


async def test_what_this_path_does_not_serve_goes_the_asgi_way() -> None:
    for request in (_post(url="/api/event?x=1"), _post(extra="Expect: 100-continue\r\n"), _get("/api/event"),
                    _post(url="/api/events")):
        protocol, transport, other, ingestor = _protocol()
        protocol.data_received(request)
        await _settle()
        assert len(protocol.fast_path.paths) == 1, request  # through ASGI (where the ASGI fast path may serve it)
    protocol, transport, other, _ = _protocol()
    protocol.fast_path.ingestor = None  # before start-up (or a writer): no Ingestor
    protocol.data_received(_post())
    await _settle()
    assert other.paths == ["/api/event"]
    no_fast_path = IngestProtocol(uvicorn.Config(Other(), lifespan="off", log_config=None), ServerState(), {})
    assert no_fast_path.fast_path is None


async def test_shutdown_and_disconnect_while_an_event_waits() -> None:
    protocol, transport, _, ingestor = _protocol()
    protocol.data_received(_post())
    protocol.shutdown()  # uvicorn's graceful shutdown: answer, then close
    assert not transport.closed
    ingestor.taken[0][3].set_result(ACCEPTED)
    await _settle()
    assert _responses(b"".join(transport.writes))[0][1]["connection"] == "close" and transport.closed

    protocol, transport, _, ingestor = _protocol()
    protocol.data_received(_post())
    protocol.connection_lost(None)  # the client went away: its event is still taken, nothing is written
    ingestor.taken[0][3].set_result(ACCEPTED)
    await _settle()
    assert transport.writes == [] and len(ingestor.taken) == 1

    protocol, transport, _, ingestor = _protocol()
    protocol.data_received(_post())
    ingestor.taken[0][3].set_exception(RuntimeError("a bug"))  # never from the Ingestor; still an answer
    await _settle()
    assert _responses(b"".join(transport.writes))[0][0] == 503


async def test_an_upgrade_pipelined_behind_an_event_does_not_take_it_again() -> None:
    protocol, transport, _, ingestor = _protocol()
    upgrade = (b"GET /live/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    protocol.data_received(_post() + upgrade)
    ingestor.taken[0][3].set_result(ACCEPTED)
    await _settle()
    # the event is taken once; uvicorn's websocket protocol has the connection now (and refuses the socket here)
    assert len(ingestor.taken) == 1 and transport.protocol is not protocol


async def test_a_client_that_does_not_read_is_held_by_the_asgi_path() -> None:
    protocol, transport, _, ingestor = _protocol()
    protocol.pause_writing()  # the transport's buffer is full: the client does not read its answers
    protocol.data_received(_post())
    await _settle()
    # uvicorn's ASGI path waits for the client to read before it answers (and stops reading meanwhile)
    assert protocol.fast_path.paths == ["/api/event"] and transport.writes == []
    protocol.resume_writing()
    ingestor.taken[0][3].set_result(ACCEPTED)
    await _settle()
    assert _responses(b"".join(transport.writes))[0][0] == 202


def test_declared_length_checks() -> None:
    assert declared_too_large("101", 100) and declared_too_large("9" * 30, 100)
    assert not declared_too_large("100", 100) and not declared_too_large("", 100)
    assert not declared_too_large("0" * 5000 + "2", 100)  # past int()'s digit limit, and still 2 bytes
    assert declared_too_large("0" * 5000 + "2" * 5000, 100)
    assert not declared_too_large("\u00b2", 100) and not declared_too_large("-1", 100)  # not plain numbers


async def test_keep_alive_timer_after_a_refused_body() -> None:
    protocol, transport, _, _ = _protocol()
    protocol.timeout_keep_alive = 0.05
    protocol.data_received(b"POST /api/event HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n" + b"x" * 100)
    await _settle()
    assert _responses(transport.writes[0])[0][0] == 413  # answered before the rest of the body came
    protocol.data_received(b"x" * 400)  # the rest: the connection is idle from now on, and times out
    await asyncio.sleep(0.2)
    assert transport.closed


async def test_date_header_follows_uvicorn() -> None:
    protocol, transport, _, ingestor = _protocol()
    for date in (b"Mon, 30 Nov 2026 22:00:00 GMT", b"Mon, 30 Nov 2026 22:00:01 GMT"):
        protocol.server_state.default_headers = [(b"date", date), (b"server", b"uvicorn")]
        protocol.data_received(_post())
        ingestor.taken[-1][3].set_result(ACCEPTED)
        await _settle()
        assert _responses(transport.writes[-1])[0][1]["date"] == date.decode()


async def _one_request(body: bytes, hdrs: dict[str, str], peer: str, full: bool, chunked: bool,
                       cuts: list[int]) -> list[tuple[int, dict[str, str], bytes]]:
    fakes = _fakes()
    fakes.full = full
    ingestor, _ = build_test_ingestor(_SETTINGS, fakes)
    protocol, transport, _, _ = _protocol(ingestor, peer)
    head = "".join(f"{name}: {value}\r\n" for name, value in hdrs.items() if name != "content-length")
    if chunked:
        framed = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in _split(body, cuts) if part) + b"0\r\n\r\n"
        head += "Transfer-Encoding: chunked\r\n"
    else:
        framed = body
        head += f"Content-Length: {len(body)}\r\n"
    data = f"POST /api/event HTTP/1.1\r\nHost: t\r\n{head}\r\n".encode() + framed
    for part in _split(data, cuts):  # as the socket delivers it, in pieces (none once closed)
        if not transport.closed:
            protocol.data_received(part)
    await _settle()
    await ingestor.idle()
    await _settle()
    await ingestor.close()
    return _responses(b"".join(transport.writes))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    parts, at = [], 0
    for cut in cuts:
        parts.append(data[at:at + cut])
        at += cut
    return [*parts, data[at:]]


# header values as a client can send them: no CR, LF or NUL (those end or break the header block)
clean_headers = headers.map(lambda h: {k: v.translate({10: None, 13: None, 0: None}) for k, v in h.items()})


async def test_a_refused_body_then_bad_http_gets_one_answer() -> None:
    """A body declared too large is answered after the parser's callbacks: when the data that follows turns out not
    to be HTTP (a header byte httptools refuses), uvicorn's 400 is the only answer, as on the ASGI path."""
    answers = await _one_request(b" " * 5000, {"user-agent": "\x08"}, "8.8.8.8", False, False, [48])
    assert [(a[0], a[2]) for a in answers] == [(400, b"Invalid HTTP request received.")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, hdrs=clean_headers, peer=peers, full=st.booleans(), chunked=st.booleans(),
       cuts=st.lists(st.integers(1, 300), max_size=5))
def test_any_event_request_gets_one_allowed_answer(body: bytes, hdrs: dict[str, str], peer: str, full: bool,
                                                   chunked: bool, cuts: list[int]) -> None:
    """The property of tests/ingest/test_ingest_property.py through the protocol: whatever the body, headers and
    framing (Content-Length or chunked, in pieces), one answer, with a status of the endpoint's list."""
    answers = asyncio.new_event_loop().run_until_complete(_one_request(body, hdrs, peer, full, chunked, cuts))
    assert len(answers) == 1
    status, _, payload = answers[0]
    assert status in SINGLE_ALLOWED
    if status == 400 and payload.startswith(b"Invalid HTTP request"):  # uvicorn's own, for a header it refuses
        return
    if status != 202:
        assert "error" in orjson.loads(payload)


async def _asgi_request(body: bytes, hdrs: dict[str, str], declared: str | None, peer: str, full: bool,
                        cuts: list[int]) -> tuple[int, bytes]:
    fakes = _fakes()
    fakes.full = full
    ingestor, _ = build_test_ingestor(_SETTINGS, fakes)
    fast = StartedFastPath(Other(), ingestor)
    raw = [(k.encode(), v.encode()) for k, v in hdrs.items() if k != "content-length"]
    if declared is not None:
        raw.append((b"Content-Length", declared.encode()))
    parts = _split(body, cuts)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts[1:])}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/api/event", "method": "POST", "headers": raw, "client": (peer, 40000)}
    await fast(scope, receive, send)
    await ingestor.close()
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    return sent[0]["status"], sent[1]["body"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, hdrs=clean_headers, peer=peers, full=st.booleans(), cuts=st.lists(st.integers(1, 300), max_size=4),
       declared=st.none() | st.text("0123456789\u00b2\u0663 +-", max_size=12) | st.just("0" * 5000 + "7"))
def test_asgi_fast_path_answers_any_request_within_the_contract(body: bytes, hdrs: dict[str, str], peer: str,
                                                                 full: bool, cuts: list[int],
                                                                 declared: str | None) -> None:
    """The same property on the ASGI fast path (hypercorn's, and uvicorn's for what the protocol passes on), with
    any Content-Length text a server might pass through: one answer, of the endpoint's statuses, never a 500."""
    status, payload = asyncio.new_event_loop().run_until_complete(
        _asgi_request(body, hdrs, declared, peer, full, cuts))
    assert status in SINGLE_ALLOWED
    if status != 202:
        assert "error" in orjson.loads(payload)


# -- the real server: uvicorn on a socket, the started app -----------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serving(asgi: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, http=IngestProtocol, lifespan="off",
                                          log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, port


async def _raw(port: int, data: bytes, answers: int) -> list[tuple[int, dict[str, str], bytes]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = b""
    try:
        while len(_complete(got)) < answers:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            if not chunk:
                break
            got += chunk
    finally:
        writer.close()
    return _responses(got)


def _complete(data: bytes) -> list[int]:
    try:
        return [a[0] for a in _responses(data)]
    except (ValueError, IndexError):
        return []


async def test_real_uvicorn_serves_events_like_the_asgi_path(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with await _setup(app_factory) as (app, _):
        await _add_site(app)
        broker = app.extensions["trail"].broker
        server, task, port = await _serving(IngestFastPath(app))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as wire, \
                    _client(IngestFastPath(app), "81.2.69.10") as asgi:
                for name, method, body, headers in CASES:
                    a = await _call(wire, method, body, headers)
                    b = await _call(asgi, method, body, headers)
                    assert (a.status_code, a.content) == (b.status_code, b.content), name
                    for header in CONTRACT_HEADERS:
                        assert a.headers.get(header) == b.headers.get(header), (name, header)
                assert (await wire.get("/healthz")).status_code == 200
            answers = await _raw(port, _post() + _get("/healthz") + _post() + _post(), 4)
            assert [a[0] for a in answers] == [202, 200, 202, 202]
        finally:
            server.should_exit = True
            await task
        # each accepted event is in the durable buffer once: two per path from CASES ("ok", "ok json"), three raw
        events = [EnrichedEvent.from_payload(e.data) for e in await broker.range_since(0)]
        assert len(events) == 7 and len({e.event_id for e in events}) == 7
        assert {e.pathname for e in events} == {"/pricing"}

"""The framework-free request path of the Events API: bytes + headers + peer in, a tiny Response out."""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Awaitable, Callable, Mapping, Sequence

import orjson

from trail.ingest import metrics
from trail.ingest.batcher import AppendBatcher
from trail.ingest.event import EnrichedEvent, datetime_to_ms, new_event_id
from trail.ingest.geo import Geo
from trail.ingest.ip import ClientIP
from trail.ingest.pipeline import Draft, Pipeline, SiteLookup
from trail.ingest.ratelimit import RateLimiter
from trail.ingest.request import EventRequest, RequestError, load_json, parse_event
from trail.ingest.visitor import CacheGetMany, CacheSetMany, Sessions

log = logging.getLogger(__name__)

BATCH_MAX_ITEMS = 1000
# Any origin may post events (they carry no credentials). Answers carry the origin header; the methods, headers and
# max-age are read by browsers only from the preflight's answer, so only `OPTIONS` sends them.
CORS_ORIGIN = {"access-control-allow-origin": "*"}
CORS_HEADERS = {
    **CORS_ORIGIN,
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": "Content-Type",
    "access-control-max-age": "86400",
}
_JSON = {"content-type": "application/json"}
_TEXT = {"content-type": "text/plain; charset=utf-8"}

# key_lookup(bearer) -> (team_id, can_see(domain) -> bool | awaitable bool) or None for an invalid key
CanSee = Callable[[str], "bool | Awaitable[bool]"]
KeyLookup = Callable[[str], Awaitable["tuple[int, CanSee] | None"]]
Enriched = tuple[list[bytes], list[str]]  # the payloads to store, and the drop reasons


@dataclass(slots=True)
class Response:
    """What an adapter (Quart, raw ASGI) sends back: status, lower-case headers, body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return orjson.loads(self.body)


# The answer to an accepted event: one shared, never-mutated object, so adapters can recognise it and send
# pre-encoded bytes (the fast path answers thousands of these a second).
ACCEPTED = Response(202, {**_TEXT, **CORS_ORIGIN}, b"ok")


def _error(status: int, message: str, cors: bool = False) -> Response:
    headers = dict(_JSON)
    if cors:
        headers.update(CORS_ORIGIN)
    return Response(status, headers, orjson.dumps({"error": message}))


# The answer to an event the Ingestor could not take in (a bug, a cancelled shutdown): shared, never mutated.
UNAVAILABLE = _error(503, "temporarily unable to accept events", cors=True)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Ingestor:
    """Parses, enriches and buffers events; independent of any web framework.

    Dependencies are injected: `site_lookup(domain)`, `salt_for(day)`, `cache_get_many/cache_set_many` (the broker's TTL
    cache), `append(payloads)` (the durable buffer), `backpressure()` (True: answer 503), `key_lookup(bearer)`
    and a clock `now()` returning an aware UTC datetime.
    """

    def __init__(self, settings: Any, *, site_lookup: SiteLookup, salt_for: Callable[[date], Awaitable[bytes]],
                 cache_get_many: CacheGetMany, cache_set_many: CacheSetMany,
                 append: Callable[[Sequence[bytes]], Awaitable[Any]],
                 backpressure: Callable[[], bool] = lambda: False, key_lookup: KeyLookup | None = None,
                 now: Callable[[], datetime] = _utcnow, geo: Geo | None = None) -> None:
        self.settings = settings
        self.body_limit = int(settings.body_limit_bytes)
        self.trusted_proxies = tuple(settings.trusted_proxies or ())
        self.client_ip = ClientIP(self.trusted_proxies)
        self.key_lookup = key_lookup
        self.backpressure = backpressure
        self.now = now
        self.geo = geo or Geo(getattr(settings, "geoip_city_db", "") or "")
        self.sessions = Sessions(cache_get_many, cache_set_many)
        self.pipeline = Pipeline(site_lookup, salt_for, self.sessions, self.geo)
        self.batcher = AppendBatcher(append)
        self.limiter = RateLimiter(int(settings.rate_limit_per_ip))
        self._intake: list[tuple[bytes, Mapping[str, str], str, asyncio.Future[Response]]] = []
        self._slow: set[asyncio.Task[None]] = set()

    # -- POST /api/event -----------------------------------------------------------------------
    def preflight(self) -> Response:
        """The answer to `OPTIONS /api/event`: any origin may post events."""
        return Response(204, dict(CORS_HEADERS))

    def too_large(self) -> Response:
        """The 413 answer, for adapters that refuse a body before reading all of it."""
        return _error(413, f"body is larger than {self.body_limit} bytes", cors=True)

    async def single(self, body: bytes, headers: Mapping[str, str], peer_ip: str) -> Response:
        """One event (possibly for several comma-listed sites): 202, 400, 413, 429 or 503; never 500.

        Requests that arrive in the same turn of the event loop are taken in together (`_take_in`, one callback):
        each is prepared there in plain calls (a known site and a visitor seen in the last seconds need no
        coroutine, see `Pipeline.run`), and the payloads of all of them go to the durable buffer as one group-commit
        entry. A request whose pipeline has to wait (a site, salt or session this instance has not cached) goes on
        in a task of its own, so it holds up no other. Against a coroutine chain per request this is about a tenth
        of a uvicorn worker's CPU per event (docs/BENCHMARKS.md, session 6).
        """
        return await self.take(body, headers, peer_ip)

    def take(self, body: bytes, headers: Mapping[str, str], peer_ip: str) -> asyncio.Future[Response]:
        """`single` without a coroutine of its own (for the fast path): the future of its answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        self._intake.append((body, headers, peer_ip, future))
        if len(self._intake) == 1:
            loop.call_soon(self._take_in)
        return future

    def _take_in(self) -> None:
        """Prepare every request of the intake; answer the early ones, append the rest's payloads together."""
        batch, self._intake = self._intake, []
        try:
            self._prepare_all(batch)
        except BaseException as exc:  # a bug here must not leave a request waiting for ever
            log.exception("ingest: unexpected error")
            for *_, future in batch:
                _answer(future, UNAVAILABLE)
            if not isinstance(exc, Exception):
                raise

    def _prepare_all(self, batch: list[tuple[bytes, Mapping[str, str], str, asyncio.Future[Response]]]) -> None:
        now_ms = datetime_to_ms(self.now())  # one clock reading per turn: its requests came within a millisecond or so
        payloads: list[bytes] = []
        waiting: list[tuple[asyncio.Future[Response], list[str]]] = []
        for body, headers, peer_ip, future in batch:
            try:
                outcome = self._prepare(body, headers, peer_ip, now_ms)
            except Exception:  # the last line of defence of "no input ever gives a 500"
                log.exception("ingest: unexpected error")
                _answer(future, UNAVAILABLE)
                continue
            if outcome.__class__ is Response:
                _answer(future, outcome)  # type: ignore[arg-type]
            elif outcome.__class__ is not tuple:  # a step has to wait: the rest in a task of its own
                task = asyncio.get_running_loop().create_task(self._single_later(outcome, future))  # type: ignore
                self._slow.add(task)
                task.add_done_callback(self._slow.discard)
            elif outcome[0]:  # type: ignore[index]
                payloads.extend(outcome[0])  # type: ignore[index]
                waiting.append((future, outcome[1]))  # type: ignore[index]
            else:
                _answer(future, _dropped(outcome[1]))  # type: ignore[index]
        if payloads:
            self._append(payloads, waiting)

    def _append(self, payloads: list[bytes], waiting: list[tuple[asyncio.Future[Response], list[str]]]) -> None:
        """Hand `payloads` to the group commit; its completion answers the `waiting` requests (`_appended`)."""
        count = len(payloads)
        self.batcher.enqueue(payloads).add_done_callback(lambda done: _appended(done, waiting, count))

    async def _single_later(self, pending: Awaitable[Enriched], future: asyncio.Future[Response]) -> None:
        """The rest of one request whose pipeline had to wait: finish it, then append and answer as the others."""
        try:
            payloads, reasons = await pending
        except BaseException as exc:  # cancelled too (a shutdown, a cancelled shared load): the request is answered
            if isinstance(exc, Exception):
                log.exception("ingest: unexpected error")
            _answer(future, UNAVAILABLE)
            if not isinstance(exc, Exception):
                raise
            return
        if payloads:
            self._append(payloads, [(future, reasons)])
        else:
            _answer(future, _dropped(reasons))

    def _prepare(self, body: bytes, headers: Mapping[str, str], peer_ip: str, now_ms: int) -> Response \
            | Enriched | Awaitable[Enriched]:
        """An early answer (413, 429, 400, 503); or (the payloads to store, the drop reasons); or, when the
        pipeline has to wait, an awaitable of those (a coroutine not started yet)."""
        if len(body) > self.body_limit:
            return self.too_large()
        ip = self.client_ip(peer_ip, headers.get("x-forwarded-for"))
        if not self.limiter.allow(ip):
            return _error(429, "too many events from this address", cors=True)
        try:
            request = parse_event(load_json(body))
        except RequestError as exc:
            metrics.EVENTS_REJECTED.labels(field=exc.field).inc()
            return _error(400, str(exc), cors=True)
        if self.backpressure():
            return _error(503, "the event buffer is full; retry later", cors=True)
        return self._enrich(request, ip, headers.get("user-agent", ""), headers, now_ms)

    async def idle(self) -> None:
        """Wait until every request taken in so far is answered: prepared, and its append done (shutdown, tests)."""
        while self._intake or self._slow:
            if self._slow:
                await asyncio.gather(*list(self._slow), return_exceptions=True)
            else:
                await asyncio.sleep(0)
        await self.batcher.close()  # waits for the appends in flight and those submitted; the batcher stays usable
        await self.sessions.flush()

    def _enrich(self, request: EventRequest, ip: str, user_agent: str, headers: Mapping[str, str],
                ts_ms: int) -> Enriched | Awaitable[Enriched]:
        """Run the pipeline once per listed site for an event at ts_ms (epoch ms, as the column holds it): (accepted
        payloads, drop reasons), or an awaitable of them from the first site whose pipeline has to wait."""
        payloads: list[bytes] = []
        reasons: list[str] = []
        domains = request.domains
        for index in range(len(domains)):
            draft = self._draft(request, domains[index], ip, user_agent, headers, ts_ms)
            reason = self.pipeline.run(draft)
            if reason is None:
                payloads.append(draft.event.to_payload())
            elif reason.__class__ is str:
                reasons.append(reason)  # type: ignore[arg-type]
            else:
                return self._enrich_rest(request, ip, user_agent, headers, ts_ms, index, draft,
                                         reason, payloads, reasons)  # type: ignore[arg-type]
        return payloads, reasons

    async def _enrich_rest(self, request: EventRequest, ip: str, user_agent: str, headers: Mapping[str, str],
                           ts_ms: int, index: int, draft: Draft, pending: Awaitable[str | None],
                           payloads: list[bytes], reasons: list[str]) -> Enriched:
        """`_enrich` from the site at `index` on, once its pipeline turned out to need waiting for."""
        while True:
            reason = await pending
            if reason is None:
                payloads.append(draft.event.to_payload())
            else:
                reasons.append(reason)
            index += 1
            if index == len(request.domains):
                return payloads, reasons
            draft = self._draft(request, request.domains[index], ip, user_agent, headers, ts_ms)
            pending = _awaitable(self.pipeline.run(draft))

    @staticmethod
    def _draft(request: EventRequest, domain: str, ip: str, user_agent: str, headers: Mapping[str, str],
               ts_ms: int) -> Draft:
        event = EnrichedEvent(
            event_id=new_event_id(ts_ms), site_id=0, ts_ms=ts_ms, name=request.name,
            props=request.props,
            revenue_amount=request.revenue_amount, revenue_currency=request.revenue_currency,
            interactive=1 if request.interactive else 0, scroll_depth=request.scroll_depth,
            engagement_ms=request.engagement_ms,
        )
        return Draft(request=request, domain=domain, ip=ip, user_agent=user_agent, headers=headers, event=event)

    # -- POST /api/events ----------------------------------------------------------------------
    async def batch(self, body: bytes, headers: Mapping[str, str], peer_ip: str) -> Response:
        """A server-side batch: 202 with per-item results, 400, 401, 404 (whole batch refused), 413, 429, 503."""
        try:
            return await self._batch(body, headers, peer_ip)
        except Exception:
            log.exception("ingest: unexpected error in batch")
            return _error(503, "temporarily unable to accept events")

    async def _batch(self, body: bytes, headers: Mapping[str, str], peer_ip: str) -> Response:
        if len(body) > self.body_limit:
            return _error(413, f"body is larger than {self.body_limit} bytes")
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        key = await self.key_lookup(token) if token and self.key_lookup is not None else None
        if key is None:
            return _error(401, "missing or invalid API key: send Authorization: Bearer <key>")
        _team_id, can_see = key
        ip = self.client_ip(peer_ip, headers.get("x-forwarded-for"))
        if not self.limiter.allow("batch:" + ip):
            return _error(429, "too many requests from this address")
        try:
            items = load_json(body)
        except RequestError:
            return _error(400, "body: not valid JSON")
        if not isinstance(items, list):
            return _error(400, "body: must be a JSON array of events")
        if len(items) > BATCH_MAX_ITEMS:
            return _error(400, f"body: at most {BATCH_MAX_ITEMS} events per batch")
        now = self.now()
        parsed: list[tuple[int, EventRequest]] = []
        rejected: list[dict[str, Any]] = []
        named: dict[str, None] = {}
        for index, item in enumerate(items):
            try:
                request = parse_event(item, batch=True, now=now)
            except RequestError as exc:
                metrics.EVENTS_REJECTED.labels(field=exc.field).inc()
                rejected.append({"index": index, "error": str(exc)})
                named.update(dict.fromkeys(_named_domains(item)))
                continue
            parsed.append((index, request))
            named.update(dict.fromkeys(request.domains))
        for domain in named:
            visible = can_see(domain)
            if inspect.isawaitable(visible):
                visible = await visible
            if not visible:
                return _error(404, f"site {domain!r} not found")
        if self.backpressure():
            return _error(503, "the event buffer is full; retry later")
        payloads: list[bytes] = []
        dropped: list[dict[str, Any]] = []
        default_ua = headers.get("user-agent", "")
        for index, request in parsed:
            payload, reasons = await _awaitable(self._enrich(
                request, request.ip or ip, request.user_agent if request.user_agent is not None else default_ua,
                headers, datetime_to_ms(request.timestamp or now)))
            payloads.extend(payload)
            if not payload and reasons:
                dropped.append({"index": index, "reason": reasons[0]})
            for reason in reasons:
                metrics.EVENTS_DROPPED.labels(reason=reason).inc()
        if payloads:
            try:
                await self.batcher.submit(payloads)
            except Exception as exc:
                log.warning("ingest: append failed: %r", exc)
                return _error(503, "the event buffer is unavailable; retry later")
            metrics.EVENTS_ACCEPTED.inc(len(payloads))
        accepted = len(parsed) - len(dropped)
        body_out = orjson.dumps({"accepted": accepted, "dropped": dropped, "rejected": rejected})
        return Response(202, dict(_JSON), body_out)

    async def close(self) -> None:
        """Finish the requests and appends in flight (called on shutdown)."""
        await self.idle()
        self.geo.close()


async def _awaitable(value: Any) -> Any:
    """Await `value` when it is awaitable (the pipeline's deferred answer), else return it."""
    if inspect.isawaitable(value):
        return await value
    return value


def _answer(future: asyncio.Future[Response], response: Response) -> None:
    if not future.done():  # a request cancelled meanwhile (its client went away) takes no answer
        future.set_result(response)


def _dropped(reasons: list[str]) -> Response:
    """The answer to an event that left nothing to store: 202 naming why (nothing to retry)."""
    if not reasons:
        return ACCEPTED
    _count_drops(reasons)
    return Response(202, {**_TEXT, **CORS_ORIGIN, "x-trail-dropped": reasons[0]}, b"ok")


def _count_drops(reasons: list[str]) -> None:
    for reason in reasons:
        metrics.EVENTS_DROPPED.labels(reason=reason).inc()


def _appended(append: asyncio.Future[None], waiting: list[tuple[asyncio.Future[Response], list[str]]],
              count: int) -> None:
    """The group commit of an intake finished: answer its requests (202, or 503 when the append failed)."""
    answer = ACCEPTED
    try:
        if append.cancelled() or append.exception() is not None:
            log.warning("ingest: append failed: %r", "cancelled" if append.cancelled() else append.exception())
            answer = _error(503, "the event buffer is unavailable; retry later", cors=True)
            return
        metrics.EVENTS_ACCEPTED.inc(count)
        for _, reasons in waiting:
            if reasons:
                _count_drops(reasons)
    finally:  # whatever happened above, no request is left waiting
        for future, _ in waiting:
            _answer(future, answer)


def _named_domains(item: Any) -> list[str]:
    """Domains an invalid item names, so a batch cannot probe other teams' sites through rejects."""
    if not isinstance(item, dict):
        return []
    value = item.get("domain", item.get("d"))
    if not isinstance(value, str):
        return []
    out = []
    for part in value.split(","):
        part = part.strip().lower()
        part = part[4:] if part.startswith("www.") else part
        if part and len(part) <= 253:
            out.append(part)
    return out[:50]


async def wait_idle(ingestor: Ingestor) -> None:
    """Let pending requests and appends finish (tests)."""
    await asyncio.sleep(0)
    await ingestor.idle()

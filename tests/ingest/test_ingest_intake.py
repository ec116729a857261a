"""The Ingestor's intake: requests of one event-loop turn are prepared in plain calls and appended together; one
that has to wait, fails or is cancelled holds up no other."""

from __future__ import annotations

import asyncio
import inspect
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest

from tests.ingest.conftest import CHROME
from trail.ingest.event import EnrichedEvent, datetime_to_ms, new_event_id
from trail.ingest.handler import Ingestor, wait_idle
from trail.ingest.pipeline import Draft
from trail.ingest.request import parse_event
from trail.ingest.testing import Fakes, MemoryCache
from trail.ingest.visitor import _PACK, SESSION_TIMEOUT_MS, WRITE_INTERVAL_MS, Sessions
from trail.sites import SiteDirectory, SiteInfo

T0 = 1_700_000_000_000


def _body(domain: str = "example.com", path: str = "/") -> bytes:
    return f'{{"n":"pageview","u":"https://{domain}{path}","d":"{domain}"}}'.encode()


async def test_one_turns_requests_go_to_the_buffer_in_one_append(ingestor: Ingestor, fakes: Fakes) -> None:
    fakes.cached_sites = True
    await ingestor.single(_body(), {"user-agent": CHROME}, "8.8.8.8")  # the day's salt and the session, once
    calls = fakes.buffer.calls
    results = await asyncio.gather(*(ingestor.single(_body(path=f"/{i}"), {"user-agent": CHROME}, "8.8.8.8")
                                     for i in range(40)))
    assert [r.status for r in results] == [202] * 40
    assert fakes.buffer.calls == calls + 1  # one group commit for the whole turn
    paths = [msgspec.json.decode(p)["pathname"] for p in fakes.buffer.payloads[-40:]]
    assert paths == [f"/{i}" for i in range(40)]  # in the order the requests came


async def test_a_request_that_has_to_wait_holds_up_no_other(ingestor: Ingestor, fakes: Fakes) -> None:
    fakes.cached_sites = True
    await ingestor.single(_body(), {"user-agent": CHROME}, "8.8.8.8")
    gate = asyncio.Event()
    real = fakes.site_lookup

    async def slow(domain: str) -> SiteInfo | None:
        await gate.wait()  # a site not cached here: the database is slow
        return fakes.sites.get(domain)

    ingestor.pipeline.site_lookup = lambda d: slow(d) if d == "other.org" else real(d)
    waiting = asyncio.ensure_future(ingestor.single(_body("other.org"), {"user-agent": CHROME}, "8.8.8.8"))
    quick = await asyncio.wait_for(ingestor.single(_body(path="/quick"), {"user-agent": CHROME}, "8.8.8.8"), 1)
    assert quick.status == 202 and not waiting.done()
    gate.set()
    assert (await waiting).status == 202
    assert {msgspec.json.decode(p)["hostname"] for p in fakes.buffer.payloads[-2:]} == {"example.com", "other.org"}


async def test_a_failed_append_answers_503_to_its_turn_only(ingestor: Ingestor, fakes: Fakes) -> None:
    fakes.buffer.fail = True
    failed = await asyncio.gather(*(ingestor.single(_body(), {"user-agent": CHROME}, "8.8.8.8") for _ in range(5)))
    assert [r.status for r in failed] == [503] * 5 and "retry" in failed[0].json()["error"]
    fakes.buffer.fail = False
    assert (await ingestor.single(_body(), {"user-agent": CHROME}, "8.8.8.8")).status == 202
    assert len(fakes.buffer.payloads) == 1


async def test_an_unexpected_error_answers_503_to_that_request_alone(ingestor: Ingestor, fakes: Fakes) -> None:
    real = ingestor.pipeline.geo.lookup

    def broken(ip: str) -> Any:
        if ip == "9.9.9.9":
            raise RuntimeError("bug")
        return real(ip)

    ingestor.pipeline.geo.lookup = broken  # type: ignore[method-assign]
    try:
        results = await asyncio.gather(*(ingestor.single(_body(), {"user-agent": CHROME}, ip)
                                         for ip in ("8.8.8.8", "9.9.9.9", "8.8.4.4")))
    finally:
        ingestor.pipeline.geo.lookup = real  # type: ignore[method-assign]
    assert [r.status for r in results] == [202, 503, 202]
    assert len(fakes.buffer.payloads) == 2


async def test_a_cancelled_request_leaves_the_others_answered(ingestor: Ingestor, fakes: Fakes) -> None:
    tasks = [asyncio.ensure_future(ingestor.single(_body(path=f"/{i}"), {"user-agent": CHROME}, "8.8.8.8"))
             for i in range(3)]
    await asyncio.sleep(0)  # each has joined the intake
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError) and done[0].status == done[2].status == 202
    await wait_idle(ingestor)
    assert len(fakes.buffer.payloads) == 3  # taken in before it was cancelled: stored, as with a client that left


async def test_close_waits_for_requests_still_waiting(ingestor: Ingestor, fakes: Fakes) -> None:
    gate = asyncio.Event()

    async def slow(domain: str) -> SiteInfo | None:
        await gate.wait()
        return fakes.sites.get(domain)

    ingestor.pipeline.site_lookup = slow
    task = asyncio.ensure_future(ingestor.single(_body(), {"user-agent": CHROME}, "8.8.8.8"))
    await asyncio.sleep(0.01)
    closing = asyncio.ensure_future(ingestor.idle())
    await asyncio.sleep(0.01)
    assert not closing.done()
    gate.set()
    await asyncio.wait_for(closing, 1)
    assert task.done() and (await task).status == 202 and len(fakes.buffer.payloads) == 1


# -- the synchronous path of the pipeline ----------------------------------------------------------


def _draft(at: datetime, ip: str = "8.8.8.8") -> Draft:
    request = parse_event({"n": "pageview", "u": "https://example.com/a?utm_source=x", "d": "example.com"})
    ts_ms = datetime_to_ms(at)
    event = EnrichedEvent(event_id=new_event_id(ts_ms), site_id=0, ts_ms=ts_ms, name=request.name)
    return Draft(request=request, domain="example.com", ip=ip, user_agent=CHROME, headers={}, event=event)


async def _run(ingestor: Ingestor, draft: Draft) -> tuple[bool, Any]:
    """(whether the run had to be awaited, its result)."""
    result = ingestor.pipeline.run(draft)
    if inspect.isawaitable(result):
        return True, await result
    return False, result


def _fields(event: EnrichedEvent) -> dict[str, Any]:
    out = msgspec.structs.asdict(event)
    del out["event_id"], out["ts_ms"]
    return out


async def test_a_seen_visitor_of_a_cached_site_runs_without_waiting(ingestor: Ingestor, fakes: Fakes) -> None:
    fakes.cached_sites = True
    at = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    first = _draft(at)
    assert await _run(ingestor, first) == (True, None)  # the day's salt and the visitor's session: not known yet
    second = _draft(at.replace(second=10))
    assert await _run(ingestor, second) == (False, None)
    assert _fields(second.event) == _fields(first.event)  # the same visitor, session and enrichment
    assert second.event.source == "x" and second.event.browser == "Chrome" and second.event.site_id == 1


async def test_the_first_half_hour_of_a_utc_day_takes_the_full_path(ingestor: Ingestor, fakes: Fakes) -> None:
    """Just after midnight a visit may have begun under yesterday's salt: only the awaited path looks for it."""
    fakes.cached_sites = True
    before = _draft(datetime(2026, 3, 1, 23, 50, tzinfo=timezone.utc))
    await _run(ingestor, before)
    await _run(ingestor, _draft(datetime(2026, 3, 2, 0, 10, tzinfo=timezone.utc)))  # learns the new day's salt
    again = _draft(datetime(2026, 3, 2, 0, 15, tzinfo=timezone.utc))
    waited, _ = await _run(ingestor, again)
    assert waited and (again.event.session_id, again.event.visitor_id) == (
        before.event.session_id, before.event.visitor_id)


async def test_touch_cached_answers_only_what_touch_would_without_the_cache() -> None:
    cache = MemoryCache()
    sessions = Sessions(cache.get_many, cache.set_many)
    assert sessions.touch_cached(1, 7, T0) is None  # never seen here
    session = await sessions.touch(1, 7, T0)
    await sessions.flush()
    assert cache.sets == 1
    assert sessions.touch_cached(1, 7, T0 + 1000) == session
    await sessions.flush()
    assert cache.sets == 1  # written under WRITE_INTERVAL_MS ago: nothing to write
    assert sessions.touch_cached(1, 7, T0 + WRITE_INTERVAL_MS + 1000) == session  # due a write: queued, not awaited
    assert cache.sets == 1
    await sessions.flush()
    assert cache.sets == 2
    assert await cache.get(f"sess:1:{7:x}") == _PACK.pack(session, T0 + WRITE_INTERVAL_MS + 1000)
    late = T0 + WRITE_INTERVAL_MS + 1000 + SESSION_TIMEOUT_MS + 1
    assert sessions.touch_cached(1, 7, late) is None  # timed out: a new session is touch's decision
    assert sessions.touch_cached(1, 7, T0) is None  # earlier than the last event seen
    assert await sessions.touch(1, 7, late) != session


class _Directory(SiteDirectory):
    def __init__(self, clock: list[float]) -> None:
        super().__init__(meta=None, ttl=5.0, clock=lambda: clock[0])
        self.loads = 0

    async def _load(self, domain: str) -> SiteInfo | None:
        self.loads += 1
        return SiteInfo(id=9, domain=domain, team_id=1, timezone="UTC") if domain == "known.test" else None


async def test_site_directory_lookup_answers_cached_sites_at_once() -> None:
    clock = [100.0]
    sites = _Directory(clock)
    pending = sites.lookup("known.test")
    assert inspect.isawaitable(pending) and (await pending).id == 9
    hit = sites.lookup("known.test")
    assert isinstance(hit, SiteInfo) and hit.id == 9 and sites.loads == 1
    assert await sites.lookup("gone.test") is None  # type: ignore[misc]
    assert sites.lookup("gone.test") is None and sites.loads == 2  # misses are cached too
    clock[0] += 6  # past the ttl
    stale = sites.lookup("known.test")
    assert inspect.isawaitable(stale) and (await stale).id == 9 and sites.loads == 3
    sites.invalidate("known.test")
    assert inspect.isawaitable(again := sites.lookup("known.test"))
    await again


async def test_a_request_whose_wait_is_cancelled_is_answered(ingestor: Ingestor, fakes: Fakes) -> None:
    """A shared site load cancelled under it (a shutdown): 503, not a request left waiting for ever."""
    async def cancelled(domain: str) -> SiteInfo | None:
        raise asyncio.CancelledError

    ingestor.pipeline.site_lookup = cancelled
    answer = await asyncio.wait_for(ingestor.single(_body(), {"user-agent": CHROME}, "8.8.8.8"), 1)
    assert answer.status == 503 and fakes.buffer.payloads == []


async def test_a_failure_outside_any_one_request_answers_the_whole_turn(ingestor: Ingestor, fakes: Fakes,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("bug")

    ingestor.now = broken_clock
    answers = await asyncio.wait_for(asyncio.gather(
        *(ingestor.single(_body(), {"user-agent": CHROME}, "8.8.8.8") for _ in range(3))), 1)
    assert [a.status for a in answers] == [503] * 3 and fakes.buffer.payloads == []
    assert any(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in caplog.records)  # the bug is logged

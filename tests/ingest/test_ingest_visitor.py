"""Visitor ids (keyed hash per UTC day) and sessions (30 minutes of inactivity, shared cache, midnight)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from hashlib import blake2b

import pytest

from tests.ingest.conftest import CHROME, IPHONE, Send, pageview
from trail.ingest.event import datetime_to_ms
from trail.ingest.handler import Ingestor
from trail.ingest.request import parse_event
from trail.ingest.testing import Fakes, MemoryCache
from trail.ingest.visitor import Sessions, visitor_id


def test_visitor_id_is_keyed_and_uint64() -> None:
    a = visitor_id(b"s" * 32, 1, "1.2.3.4", CHROME)
    assert 0 <= a < 2**64
    assert a == visitor_id(b"s" * 32, 1, "1.2.3.4", CHROME)
    assert a != visitor_id(b"t" * 32, 1, "1.2.3.4", CHROME)
    assert a != visitor_id(b"s" * 32, 2, "1.2.3.4", CHROME)
    assert a != visitor_id(b"s" * 32, 1, "1.2.3.5", CHROME)
    assert a != visitor_id(b"s" * 32, 1, "1.2.3.4", IPHONE)
    keyed = blake2b(f"1\x001.2.3.4\x00{CHROME}".encode(), digest_size=8, key=b"s" * 32)
    assert a == int.from_bytes(keyed.digest(), "big")  # the keyed states kept per salt change nothing
    for n in range(6):  # more salts than are kept: still the same answers
        visitor_id(bytes([n]) * 32, 1, "1.2.3.4", CHROME)
    assert visitor_id(b"s" * 32, 1, "1.2.3.4", CHROME) == a


async def test_visitor_stable_within_a_day_and_different_across_days_sites_and_uas(send: Send, fakes: Fakes) -> None:
    _, [a] = await send(pageview())
    fakes.clock.advance(hours=5)
    _, [b] = await send(pageview())
    assert a.visitor_id == b.visitor_id
    _, [c] = await send(pageview(domain="other.org"))
    assert c.visitor_id != a.visitor_id
    _, [d] = await send(pageview(), ua=IPHONE)
    assert d.visitor_id != a.visitor_id
    fakes.clock.advance(days=1)
    _, [e] = await send(pageview())
    assert e.visitor_id != a.visitor_id
    assert "8.8.8.8" not in a.to_payload().decode()  # the IP is never stored


async def test_session_rolls_over_after_30_minutes(send: Send, fakes: Fakes) -> None:
    _, [a] = await send(pageview())
    fakes.clock.advance(minutes=29)
    _, [b] = await send(pageview())
    fakes.clock.advance(minutes=29)
    _, [c] = await send(pageview())  # 29 min after the previous event: still the same visit
    fakes.clock.advance(minutes=31)
    _, [d] = await send(pageview())
    assert a.session_id == b.session_id == c.session_id
    assert d.session_id != a.session_id and d.visitor_id == a.visitor_id


async def test_session_survives_midnight(send: Send, fakes: Fakes) -> None:
    fakes.clock.at = datetime(2026, 3, 1, 23, 50, tzinfo=timezone.utc)
    _, [a] = await send(pageview())
    fakes.clock.at = datetime(2026, 3, 2, 0, 5, tzinfo=timezone.utc)
    _, [b] = await send(pageview())
    assert b.session_id == a.session_id and b.visitor_id == a.visitor_id
    fakes.clock.at = datetime(2026, 3, 2, 0, 50, tzinfo=timezone.utc)
    _, [c] = await send(pageview(), ip="9.9.9.9")
    assert c.visitor_id != a.visitor_id


async def test_sessions_are_shared_through_the_cache() -> None:
    cache = MemoryCache()
    one, two = Sessions(cache.get_many, cache.set_many), Sessions(cache.get_many, cache.set_many)
    t0 = 1_700_000_000_000
    s = await one.touch(1, 42, t0)
    await one.flush()  # written behind: in the shared cache a turn later
    assert await two.touch(1, 42, t0 + 60_000) == s  # another instance continues the visit
    await two.flush()
    assert await one.touch(1, 42, t0 + 20 * 60_000) == s
    await one.flush()
    assert await two.touch(1, 42, t0 + 45 * 60_000) == s  # 25 min after instance one's event, seen via cache
    assert await one.touch(1, 42, t0 + 90 * 60_000) != s


async def test_lru_hits_skip_cache_reads() -> None:
    cache = MemoryCache()
    sessions = Sessions(cache.get_many, cache.set_many)
    t0 = 1_700_000_000_000
    for i in range(100):
        await sessions.touch(1, 7, t0 + i * 1000)
        await sessions.flush()
    assert cache.gets == 1  # only the first event misses the in-process LRU
    assert 1 <= cache.sets <= 5  # written at most once per 30 s of activity


T0 = 1_700_000_000_000


async def test_session_reads_and_writes_of_a_turn_go_out_in_one_call_each() -> None:
    cache = MemoryCache()
    sessions = Sessions(cache.get_many, cache.set_many)
    ids = await asyncio.gather(*(sessions.touch(1, visitor, T0) for visitor in range(50)))  # 50 first events
    assert (cache.reads, cache.gets) == (1, 50)  # one read of the shared cache for all of them
    await sessions.flush()
    assert (cache.writes, cache.sets) == (1, 50)
    other = Sessions(cache.get_many, cache.set_many)  # another instance finds every one of them
    assert list(await asyncio.gather(*(other.touch(1, visitor, T0 + 60_000) for visitor in range(50)))) == ids
    assert cache.reads == 2


async def test_a_failed_session_read_fails_its_events_and_a_cancelled_one_no_other() -> None:
    cache = MemoryCache()
    sessions = Sessions(cache.get_many, cache.set_many)
    cache.fail = True
    results = await asyncio.gather(sessions.touch(1, 1, T0), sessions.touch(1, 2, T0), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    cache.fail = False
    first = asyncio.ensure_future(sessions.touch(1, 3, T0))
    second = asyncio.ensure_future(sessions.touch(1, 3, T0))  # the same visitor, in the same turn
    await asyncio.sleep(0)  # both wait for the read now
    first.cancel()
    assert isinstance(await second, int) and first.cancelled()


async def test_a_failed_session_write_is_made_again_with_the_next_event(caplog: pytest.LogCaptureFixture) -> None:
    cache = MemoryCache()
    sessions = Sessions(cache.get_many, cache.set_many)
    session = await sessions.touch(1, 7, T0)
    cache.fail = True  # Redis goes away before the write
    await sessions.flush()
    assert cache.sets == 0 and "writing 1 to the shared cache failed" in caplog.text
    cache.fail = False
    assert sessions.touch_cached(1, 7, T0 + 1000) == session  # under WRITE_INTERVAL_MS, yet written: it failed
    await sessions.flush()
    assert cache.sets == 1
    assert await Sessions(cache.get_many, cache.set_many).touch(1, 7, T0 + 60_000) == session


async def test_an_event_after_the_write_interval_is_prepared_without_waiting(send: Send, fakes: Fakes,
                                                                            ingestor: Ingestor) -> None:
    fakes.cached_sites = True
    await send(pageview())
    writes = fakes.cache.writes
    fakes.clock.advance(seconds=45)  # the shared cache is due the visitor's new last-seen
    prepared = ingestor._enrich(parse_event(pageview()), "8.8.8.8", CHROME, {"user-agent": CHROME},
                                datetime_to_ms(fakes.clock.now()))
    assert prepared.__class__ is tuple and len(prepared[0]) == 1  # prepared inline: no coroutine, no task
    assert fakes.cache.writes == writes  # its session write is queued, not awaited
    await ingestor.idle()
    assert fakes.cache.writes == writes + 1


@pytest.mark.parametrize("started", [False, True], ids=["before-it-ran", "mid-read"])
async def test_a_cancelled_read_fails_its_events_and_later_reads_still_go_out(started: bool) -> None:
    cache = MemoryCache()
    gate = asyncio.Event()
    real = cache.get_many

    async def slow(keys):  # type: ignore[no-untyped-def]
        await gate.wait()
        return await real(keys)

    sessions = Sessions(slow, cache.set_many)
    waiting = asyncio.ensure_future(sessions.touch(1, 1, T0))
    await asyncio.sleep(0)
    queued = None
    if started:
        await asyncio.sleep(0)  # the read task now waits for the cache
        queued = asyncio.ensure_future(sessions.touch(1, 3, T0))  # queued for the task's next read
        await asyncio.sleep(0)
    assert sessions._reading is not None
    sessions._reading.cancel()  # a shutdown
    with pytest.raises(RuntimeError, match="cancelled"):
        await waiting  # answered (the caller: 503), not left waiting
    if queued is not None:
        with pytest.raises(RuntimeError, match="cancelled"):
            await queued
    gate.set()
    assert isinstance(await sessions.touch(1, 2, T0), int)  # a new read task for the next events


async def test_a_short_cache_answer_fails_the_reads() -> None:
    cache = MemoryCache()

    async def short(keys):  # type: ignore[no-untyped-def]
        return [None]

    sessions = Sessions(short, cache.set_many)
    results = await asyncio.gather(sessions.touch(1, 1, T0), sessions.touch(1, 2, T0), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "2 keys" in str(r) for r in results)

"""Visitor ids (keyed hash per UTC day) and sessions (30 minutes of inactivity, shared cache, midnight)."""

from __future__ import annotations

from datetime import datetime, timezone
from hashlib import blake2b

from tests.ingest.conftest import CHROME, IPHONE, Send, pageview
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
    one, two = Sessions(cache.get, cache.set), Sessions(cache.get, cache.set)
    t0 = 1_700_000_000_000
    s = await one.touch(1, 42, t0)
    assert await two.touch(1, 42, t0 + 60_000) == s  # another instance continues the visit
    assert await one.touch(1, 42, t0 + 20 * 60_000) == s
    assert await two.touch(1, 42, t0 + 45 * 60_000) == s  # 25 min after instance one's event, seen via cache
    assert await one.touch(1, 42, t0 + 90 * 60_000) != s


async def test_lru_hits_skip_cache_reads() -> None:
    cache = MemoryCache()
    sessions = Sessions(cache.get, cache.set)
    t0 = 1_700_000_000_000
    for i in range(100):
        await sessions.touch(1, 7, t0 + i * 1000)
    assert cache.gets == 1  # only the first event misses the in-process LRU
    assert cache.sets <= 5  # written through, at most once per 30 s of activity

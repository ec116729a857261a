"""One contract for both brokers: Redis (real server, unique prefix) and the embedded spool broker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import AsyncIterator

import pytest

from tests.conftest import REDIS_URL, make_settings
from trail.live.broker import Broker, BrokerUnavailable, Entry, open_broker
from trail.live.memory_broker import MemoryBroker
from trail.live.redis_broker import RedisBroker

G = "writers"


@pytest.fixture(params=["redis", "memory"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str) -> AsyncIterator[Broker]:
    if request.param == "redis":
        impl: Broker = RedisBroker(REDIS_URL, redis_prefix)
    else:
        impl = MemoryBroker(tmp_path / "spool")
    await impl.start()
    try:
        yield impl
    finally:
        await impl.close()


def key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


async def fill(broker: Broker, n: int, tag: str = "p") -> list[str]:
    return await broker.append([f"{tag}{i}".encode() for i in range(n)])


async def test_append_returns_ordered_ids(broker: Broker) -> None:
    first = await fill(broker, 5)
    second = await broker.append([b"x"])
    ids = first + second
    assert len(ids) == len(set(ids)) == 6
    assert [key(i) for i in ids] == sorted(key(i) for i in ids)
    assert abs(key(ids[0])[0] - time.time() * 1000) < 5000
    assert await broker.append([]) == []
    assert await broker.length() == 6
    assert [e.data for e in await broker.range_since(0)] == [b"p0", b"p1", b"p2", b"p3", b"p4", b"x"]


async def test_read_group_delivers_each_entry_to_one_consumer(broker: Broker) -> None:
    await broker.ensure_group(G)
    await broker.ensure_group(G)  # idempotent
    ids = await fill(broker, 10)
    a = await broker.read_group(G, "a", 4, 0)
    b = await broker.read_group(G, "b", 100, 0)
    assert [e.id for e in a] == ids[:4] and [e.id for e in b] == ids[4:]
    assert [e.data for e in a] == [b"p0", b"p1", b"p2", b"p3"]
    assert await broker.read_group(G, "a", 10, 0) == []
    # a second group sees everything again
    await broker.ensure_group("other")
    assert [e.id for e in await broker.read_group("other", "a", 100, 0)] == ids


async def test_read_group_blocks_until_an_append(broker: Broker) -> None:
    await broker.ensure_group(G)
    started = time.monotonic()
    assert await broker.read_group(G, "a", 10, 150) == []
    assert time.monotonic() - started >= 0.1
    reader = asyncio.create_task(broker.read_group(G, "a", 10, 5000))
    await asyncio.sleep(0.1)
    ids = await broker.append([b"late"])
    got = await asyncio.wait_for(reader, 5)
    assert [e.id for e in got] == ids


async def test_pending_until_ack_and_read_pending(broker: Broker) -> None:
    await broker.ensure_group(G)
    ids = await fill(broker, 6)
    await broker.read_group(G, "a", 4, 0)
    await broker.read_group(G, "b", 2, 0)
    assert await broker.lag(G) == 6
    assert [e.id for e in await broker.read_pending(G, "a", 100)] == ids[:4]
    assert [e.id for e in await broker.read_pending(G, "a", 2)] == ids[:2]
    await broker.ack(G, ids[:2])
    await broker.ack(G, ids[:2])  # acking twice is harmless
    assert [e.id for e in await broker.read_pending(G, "a", 100)] == ids[2:4]
    assert [e.data for e in await broker.read_pending(G, "b", 100)] == [b"p4", b"p5"]
    assert await broker.lag(G) == 4
    await broker.ack(G, ids)
    assert await broker.read_pending(G, "a", 100) == []
    assert await broker.lag(G) == 0


async def test_ack_takes_ids_written_otherwise(broker: Broker) -> None:
    """An id given without its sequence number ("<ms>" is "<ms>-0", as Redis reads it) or with leading zeros acks
    the same entry."""
    await broker.ensure_group(G)
    await fill(broker, 3)
    got = await broker.read_group(G, "a", 3, 0)
    first_of_ms = next(e.id for e in got if e.id.endswith("-0"))
    ms, seq = key(first_of_ms)
    await broker.ack(G, [str(ms)])
    others = [e.id for e in got if e.id != first_of_ms]
    assert [e.id for e in await broker.read_pending(G, "a", 100)] == others
    padded = [f"0{key(i)[0]}-{key(i)[1]}" for i in others[:1]]
    await broker.ack(G, padded)
    assert [e.id for e in await broker.read_pending(G, "a", 100)] == others[1:]
    assert await broker.lag(G) == 1


async def test_claim_stale_takes_each_dead_consumers_exact_batch(broker: Broker) -> None:
    await broker.ensure_group(G)
    ids = await fill(broker, 9)
    dead1 = await broker.read_group(G, "dead1", 3, 0)
    dead2 = await broker.read_group(G, "dead2", 4, 0)
    await broker.ack(G, [dead2[1].id])  # dead2 finished one entry before dying
    live = await broker.read_group(G, "live", 10, 0)
    assert await broker.claim_stale(G, "heir", 60_000) == []  # nobody idle that long
    await asyncio.sleep(0.12)
    batches = await broker.claim_stale(G, "heir", 100)
    by_first = sorted(batches, key=lambda batch: key(batch[0].id))
    assert [[e.id for e in batch] for batch in by_first] == [
        [e.id for e in dead1], [dead2[0].id, dead2[2].id, dead2[3].id], [e.id for e in live]]
    assert by_first[0] == dead1
    assert [e.data for e in by_first[1]] == [b"p3", b"p5", b"p6"]
    # the heir owns them now; nobody else does, and nothing is claimable a second time right away
    heir = await broker.read_pending(G, "heir", 100)
    assert sorted(key(e.id) for e in heir) == sorted(key(i) for i in ids if i != dead2[1].id)
    assert await broker.read_pending(G, "dead1", 100) == []
    assert await broker.claim_stale(G, "other", 100) == []
    assert await broker.claim_stale(G, "heir", 0) == []  # never from itself


async def test_lag_and_oldest_unacked(broker: Broker) -> None:
    await broker.ensure_group(G)
    assert await broker.lag(G) == 0
    assert await broker.oldest_unacked(G) is None
    ids = await fill(broker, 5)
    assert await broker.lag(G) == 5
    assert await broker.oldest_unacked(G) == ids[0]  # undelivered
    got = await broker.read_group(G, "a", 3, 0)
    assert await broker.lag(G) == 5
    assert await broker.oldest_unacked(G) == ids[0]  # pending
    await broker.ack(G, [ids[0], ids[2]])
    assert await broker.oldest_unacked(G) == ids[1]
    assert await broker.lag(G) == 3
    await broker.ack(G, [e.id for e in got])
    assert await broker.oldest_unacked(G) == ids[3]  # first after the last delivered
    await broker.read_group(G, "a", 10, 0)
    await broker.ack(G, ids[3:])
    assert await broker.lag(G) == 0
    assert await broker.oldest_unacked(G) is None


async def test_unknown_group_is_a_lookup_error(broker: Broker) -> None:
    await broker.append([b"x"])
    with pytest.raises(LookupError):
        await broker.read_group("nope", "a", 1, 0)
    with pytest.raises(LookupError):
        await broker.lag("nope")


async def test_tail_from_an_id_and_from_now(broker: Broker) -> None:
    ids = await fill(broker, 5)
    assert [e.id for e in await broker.tail(ids[1], 2, 0)] == ids[2:4]
    assert [e.id for e in await broker.tail("0", 100, 0)] == ids
    assert await broker.tail(ids[-1], 10, 0) == []
    assert await broker.tail("$", 10, 50) == []  # old entries are not "new"
    waiter = asyncio.create_task(broker.tail("$", 10, 5000))
    await asyncio.sleep(0.1)
    new = await broker.append([b"new1", b"new2"])
    got = await asyncio.wait_for(waiter, 5)
    if len(got) == 1:  # Redis wakes a blocked XREAD on the first XADD of the (non-transactional) pipeline
        got += await broker.tail(got[0].id, 10, 1000)
    assert [e.id for e in got] == new and got[0] == Entry(new[0], b"new1")
    started = time.monotonic()
    assert await broker.tail(new[-1], 10, 100) == []
    assert time.monotonic() - started >= 0.08


async def test_range_since(broker: Broker) -> None:
    early = await fill(broker, 3, "a")
    await asyncio.sleep(0.01)
    cut = int(time.time() * 1000)
    await asyncio.sleep(0.01)
    late = await fill(broker, 3, "b")
    assert [e.id for e in await broker.range_since(cut)] == late
    assert [e.id for e in await broker.range_since(cut, count=2)] == late[:2]
    assert [e.id for e in await broker.range_since(0)] == early + late
    assert await broker.range_since(cut + 3_600_000) == []


async def test_trim_removes_only_older_entries(broker: Broker) -> None:
    ids = await fill(broker, 6)
    assert await broker.trim(ids[2]) == 2
    assert [e.id for e in await broker.range_since(0)] == ids[2:]
    assert await broker.length() == 4
    assert await broker.trim(ids[2]) == 0
    assert await broker.trim("0-0") == 0
    later = await broker.append([b"after"])
    assert [e.id for e in await broker.range_since(0)] == ids[2:] + later


async def test_pending_entry_trimmed_away_leaves_the_pending_list(broker: Broker) -> None:
    await broker.ensure_group(G)
    ids = await fill(broker, 3)
    await broker.read_group(G, "a", 3, 0)
    await broker.trim(ids[1])
    assert [e.id for e in await broker.read_pending(G, "a", 10)] == ids[1:]
    assert await broker.oldest_unacked(G) == ids[1]


async def test_publish_subscribe(broker: Broker) -> None:
    async with broker.subscription("access") as messages:
        async with broker.subscription("other") as others:
            await broker.publish("access", b"revoked:1")
            await broker.publish("access", b"revoked:2")
            await broker.publish("other", b"o")
            got = [await asyncio.wait_for(anext(messages), 5) for _ in range(2)]
            assert got == [b"revoked:1", b"revoked:2"]
            assert await asyncio.wait_for(anext(others), 5) == b"o"
    await broker.publish("access", b"nobody listens")  # after unsubscribing: not an error


async def test_subscribe_iterator_and_close(broker: Broker) -> None:
    stream = broker.subscribe("feed")
    first = asyncio.create_task(anext(stream))
    received = None
    for _ in range(100):  # subscribe() is lazy: publish until its first __anext__ has subscribed
        await broker.publish("feed", b"hello")
        try:
            received = await asyncio.wait_for(asyncio.shield(first), 0.05)
            break
        except TimeoutError:
            continue
    assert received == b"hello"
    await stream.aclose()  # type: ignore[attr-defined]


async def test_cache_set_get_expiry_delete(broker: Broker) -> None:
    assert await broker.cache_get("site:a") is None
    await broker.cache_set("site:a", b"1", 60)
    await broker.cache_set("site:b", b"2", 0.1)
    assert await broker.cache_get("site:a") == b"1"
    assert await broker.cache_get("site:b") == b"2"
    await broker.cache_set("site:a", b"3", 60)
    assert await broker.cache_get("site:a") == b"3"
    await asyncio.sleep(0.2)
    assert await broker.cache_get("site:b") is None
    await broker.cache_delete("site:a")
    await broker.cache_delete("site:a")
    assert await broker.cache_get("site:a") is None


async def test_cache_set_many_and_get_many(broker: Broker) -> None:
    await broker.cache_set_many([("sess:a", b"1"), ("sess:b", b"2")], 60)
    await broker.cache_set_many([("sess:c", b"3")], 0.1)
    assert [await broker.cache_get(k) for k in ("sess:a", "sess:b", "sess:c")] == [b"1", b"2", b"3"]
    await asyncio.sleep(0.2)
    assert await broker.cache_get("sess:c") is None and await broker.cache_get("sess:a") == b"1"
    assert await broker.cache_get_many(["sess:b", "sess:c", "sess:a", "sess:none"]) == [b"2", None, b"1", None]


async def test_ping(broker: Broker) -> None:
    await broker.ping()


async def test_unreachable_redis_is_broker_unavailable(unused_tcp_port: int) -> None:
    broker = RedisBroker(f"redis://:secret@127.0.0.1:{unused_tcp_port}/0", "x:", connect_timeout_s=1)
    await broker.start()
    try:
        with pytest.raises(BrokerUnavailable) as info:
            await broker.ping()
        assert "secret" not in str(info.value)
        with pytest.raises(BrokerUnavailable):
            await broker.append([b"x"])
    finally:
        await broker.close()


async def test_closed_memory_broker_is_unavailable(tmp_path: Path) -> None:
    broker = MemoryBroker(tmp_path / "spool")
    await broker.start()
    await broker.close()
    with pytest.raises(BrokerUnavailable):
        await broker.ping()


async def test_open_broker_picks_by_settings(tmp_path: Path) -> None:
    embedded = open_broker(make_settings(tmp_path))
    assert isinstance(embedded, MemoryBroker) and embedded.directory == tmp_path.resolve() / "spool"
    assert embedded._commit_spacing == 0.002  # TRAIL_SPOOL_COMMIT_MS's default
    assert open_broker(make_settings(tmp_path, TRAIL_SPOOL_COMMIT_MS="0"))._commit_spacing == 0
    remote = open_broker(make_settings(tmp_path, TRAIL_REDIS_URL=REDIS_URL, TRAIL_REDIS_PREFIX="pfx:"))
    assert isinstance(remote, RedisBroker) and remote.key == "pfx:events"
    await remote.close()

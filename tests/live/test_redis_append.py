"""RedisBroker.append: one pipeline of XADDs per chunk of payloads, ids in order; an error reply fails the append and
leaves the connection in step; a connection Redis closed while idle is replaced before sending, and one lost
mid-command fails that append (never resent blind)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.conftest import REDIS_URL
from trail.live import redis_broker
from trail.live.broker import BrokerUnavailable
from trail.live.redis_broker import RedisBroker
from trail.live.spool import parse_id


async def test_a_large_append_spans_chunks_in_order(redis_prefix: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(redis_broker, "_APPEND_CHUNK", 7)
    broker = RedisBroker(REDIS_URL, redis_prefix)
    try:
        payloads = [f"p{i}".encode() for i in range(30)]
        ids = await broker.append(payloads)
        assert len(ids) == 30 and len(set(ids)) == 30
        assert [parse_id(i) for i in ids] == sorted(parse_id(i) for i in ids)
        stored = await broker.range_since(0)
        assert [e.id for e in stored] == ids and [e.data for e in stored] == payloads
    finally:
        await broker.close()


async def test_an_error_reply_fails_the_append_and_the_connection_stays_in_step(redis_prefix: str) -> None:
    broker = RedisBroker(REDIS_URL, redis_prefix)
    admin = aioredis.from_url(REDIS_URL)
    try:
        first = await broker.append([b"a"])
        await admin.delete(broker.key)
        await admin.set(broker.key, "not a stream")  # every XADD of the next append answers WRONGTYPE
        with pytest.raises(Exception, match="WRONGTYPE"):
            await broker.append([b"b", b"c", b"d"])
        assert len(broker._own_idle) == 1 and broker._own_idle[0].idle  # all three replies read: kept, in step
        await admin.delete(broker.key)
        second = await broker.append([b"e", b"f"])
        assert parse_id(first[0]) < parse_id(second[0]) < parse_id(second[1])
        assert [e.data for e in await broker.range_since(0)] == [b"e", b"f"]
    finally:
        await admin.aclose()
        await broker.close()


async def test_connections_redis_closed_while_idle_are_replaced_before_sending(redis_prefix: str) -> None:
    broker = RedisBroker(REDIS_URL, redis_prefix)
    admin = aioredis.from_url(REDIS_URL)
    try:
        await asyncio.gather(broker.append([b"a"]), broker.append([b"b"]))  # two connections of the broker's own
        assert len(broker._own_idle) == 2
        for conn in broker._own_idle:  # as a Redis restart, or its idle `timeout`, would
            host, port = conn.transport.get_extra_info("sockname")[:2]
            await admin.client_kill_filter(addr=f"{host}:{port}")
        await asyncio.sleep(0.1)  # the loop sees the connections closed
        await broker.append([b"c"])
        assert [e.data for e in await broker.range_since(0)][-1:] == [b"c"]
        assert len(broker._own_idle) == 1  # the dead ones went, the new one stays
    finally:
        await admin.aclose()
        await broker.close()


async def test_a_connection_lost_mid_command_fails_that_append_and_is_never_resent(redis_prefix: str) -> None:
    broker = RedisBroker(REDIS_URL, redis_prefix)
    try:
        await asyncio.gather(broker.append([b"a"]), broker.append([b"b"]))
        lost = broker._own_idle[-1]

        class BreaksAfterSending:  # the command goes out, then the connection breaks before its reply
            def __init__(self, transport: Any) -> None:
                self.transport = transport

            def write(self, data: bytes) -> None:
                self.transport.write(data)
                self.transport.close()  # flushes what was written, then closes: the reply is never read

            def close(self) -> None:
                self.transport.close()

        lost.transport = BreaksAfterSending(lost.transport)
        with pytest.raises(BrokerUnavailable):
            await broker.append([b"sent once"])
        assert broker._own_idle == []  # Redis may be gone: the other idle connection went too
        await broker.append([b"c"])
        stored = [e.data for e in await broker.range_since(0)]
        assert stored.count(b"sent once") == 1 and stored[-1] == b"c"
    finally:
        await broker.close()


@pytest.mark.parametrize("protocol", ["2", "3"])
async def test_the_hot_paths_read_either_protocol(redis_prefix: str, protocol: str) -> None:
    """The hot paths parse the replies themselves: RESP2 gives XREAD's streams as a list, RESP3 as a map; an MGET
    miss is None in both."""
    broker = RedisBroker(f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}protocol={protocol}", redis_prefix)
    try:
        ids = await broker.append([b"x", b"y", b"z"])
        got = await broker.tail("0", 10, 0)
        assert [(e.id, e.data) for e in got] == list(zip(ids, [b"x", b"y", b"z"]))
        assert await broker.tail(ids[-1], 10, 50) == []
        assert [(e.id, e.data) for e in await broker.range_since(0, count=2)] == list(zip(ids, [b"x", b"y"]))
        await broker.cache_set_many([("sess:1:a", b"A"), ("sess:1:c", b"C")], 60)
        assert await broker.cache_get_many(["sess:1:a", "sess:1:b", "sess:1:c"]) == [b"A", None, b"C"]
        assert await broker.cache_get_many([]) == []
    finally:
        await broker.close()


async def test_cache_set_many_sets_every_pair_with_its_ttl_in_chunks(redis_prefix: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(redis_broker, "_APPEND_CHUNK", 4)
    broker = RedisBroker(REDIS_URL, redis_prefix)
    admin = aioredis.from_url(REDIS_URL)
    try:
        items = [(f"sess:1:{i:x}", f"v{i}".encode()) for i in range(10)]
        await broker.cache_set_many(items, 90)
        assert [await broker.cache_get(key) for key, _ in items] == [value for _, value in items]
        ttl = await admin.pttl(f"{redis_prefix}cache:sess:1:0")
        assert 85_000 < ttl <= 90_000
        await admin.script_flush()  # NOSCRIPT: loaded again, nothing lost
        await broker.cache_set_many([("sess:1:0", b"new")], 0.2)
        assert await broker.cache_get("sess:1:0") == b"new"
        await asyncio.sleep(0.3)
        assert await broker.cache_get("sess:1:0") is None and await broker.cache_get("sess:1:1") == b"v1"
        await broker.cache_set_many([], 5)  # nothing to write: no command
    finally:
        await admin.aclose()
        await broker.close()


async def test_cache_set_many_on_a_redis_that_is_gone_is_broker_unavailable(unused_tcp_port: int) -> None:
    broker = RedisBroker(f"redis://127.0.0.1:{unused_tcp_port}/0", "x:", connect_timeout_s=1)
    try:
        with pytest.raises(BrokerUnavailable):
            await broker.cache_set_many([("sess:1:1", b"v")], 5)
    finally:
        await broker.close()

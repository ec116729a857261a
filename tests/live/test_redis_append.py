"""RedisBroker.append: one script call per chunk of payloads, ids in order, and it survives a script cache flush."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.conftest import REDIS_URL
from trail.live import redis_broker
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


async def test_append_after_the_script_cache_is_flushed(redis_prefix: str) -> None:
    broker = RedisBroker(REDIS_URL, redis_prefix)
    admin = aioredis.from_url(REDIS_URL)
    try:
        first = await broker.append([b"a"])
        await admin.script_flush()  # as after a Redis restart: EVALSHA answers NOSCRIPT, the broker loads it again
        second = await broker.append([b"b", b"c"])
        assert parse_id(first[0]) < parse_id(second[0]) < parse_id(second[1])
        assert [e.data for e in await broker.range_since(0)] == [b"a", b"b", b"c"]
    finally:
        await admin.aclose()
        await broker.close()

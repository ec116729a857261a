"""The broker's own Redis connections (trail/live/redis_wire.py) against the real Redis: replies in order, error
replies raised without harm to the connection, and a connection that cannot be trusted closed for good."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.conftest import REDIS_URL
from trail.live.redis_wire import WireConnection, pack


@pytest.fixture
async def wire():  # type: ignore[no-untyped-def]
    client = aioredis.from_url(REDIS_URL)
    conn = await WireConnection.open(client.connection_pool)
    yield conn
    conn.close()
    await client.aclose()


async def test_replies_come_back_in_order_and_error_replies_leave_the_connection_usable(wire: WireConnection,
                                                                                        redis_prefix: str) -> None:
    key = f"{redis_prefix}wire".encode()
    assert await wire.call(pack([b"SET", key, b"1"])) in (b"OK", "OK")
    with pytest.raises(ResponseError):
        await wire.call(pack([b"INCRBY", key, b"not-a-number"]))
    assert wire.idle
    assert await wire.call(pack([b"INCRBY", key, b"41"])) == 42
    assert await wire.call(pack([b"MGET", key, key + b"-none"])) == [b"42", None]


async def test_a_pipeline_answers_every_reply_in_order_and_raises_its_first_error_after_the_last(
        wire: WireConnection, redis_prefix: str) -> None:
    key = f"{redis_prefix}pipe".encode()
    commands = [pack([b"SET", key, b"1"]), pack([b"INCRBY", key, b"2"]), pack([b"INCRBY", key, b"x"]),
                pack([b"INCRBY", key, b"4"])]
    with pytest.raises(ResponseError):
        await wire.call_many(b"".join(commands), 4)
    assert wire.idle  # all four replies were read: the next command gets its own
    assert await wire.call(pack([b"GET", key])) == b"7"  # the commands around the failed one took effect
    replies = await wire.call_many(b"".join(pack([b"INCRBY", key, b"%d" % n]) for n in (1, 2, 3)), 3)
    assert replies == [8, 10, 13]
    got = await asyncio.gather(wire.call_many(pack([b"PING"]) * 2, 2), wire.call(pack([b"GET", key])))
    assert got[1] == b"13" and len(got[0]) == 2  # waiters of several replies and of one, answered in turn
    with pytest.raises(ValueError):
        await wire.call_many(b"", 0)
    assert wire.idle


async def test_a_caller_that_stops_waiting_closes_the_connection(wire: WireConnection, redis_prefix: str) -> None:
    with pytest.raises(TimeoutError):  # its reply would otherwise be taken for the next command's
        await asyncio.wait_for(wire.call(pack([b"BLPOP", f"{redis_prefix}empty".encode(), b"1"])), 0.05)
    assert wire.closed and not wire.idle
    with pytest.raises(RedisConnectionError):
        await wire.call(pack([b"PING"]))


async def test_the_connection_outlives_the_redis_py_object_that_made_it(wire: WireConnection) -> None:
    import gc

    gc.collect()  # redis-py's Connection.__del__ closes its writer: it must hold none once the wire took over
    await asyncio.sleep(0.05)
    assert wire.idle and await wire.call(pack([b"PING"])) in (b"PONG", "PONG")


async def test_a_reply_nobody_asked_for_closes_the_connection(wire: WireConnection) -> None:
    wire.data_received(b"+OK\r\n")
    assert wire.closed


async def test_a_connection_the_server_closes_fails_its_command(wire: WireConnection) -> None:
    admin = aioredis.from_url(REDIS_URL)
    try:
        host, port = wire.transport.get_extra_info("sockname")[:2]
        pending = asyncio.ensure_future(wire.call(pack([b"BLPOP", b"trail-test:wire:never", b"5"])))
        await asyncio.sleep(0.05)
        await admin.client_kill_filter(addr=f"{host}:{port}")
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(pending, 2)
        assert wire.closed
    finally:
        await admin.aclose()


async def test_error_replies_redis_py_files_as_connection_errors_are_raised(wire: WireConnection) -> None:
    from redis.exceptions import BusyLoadingError

    waiting = asyncio.ensure_future(wire.call(pack([b"PING"])))
    await asyncio.sleep(0.05)  # PONG is back; now answer the next command as a Redis loading its data would
    assert await waiting in (b"PONG", "PONG")
    loading = asyncio.ensure_future(wire.call(b""))  # nothing sent: the reply below is fed by hand
    await asyncio.sleep(0)
    wire.data_received(b"-LOADING Redis is loading the dataset in memory\r\n")
    with pytest.raises(BusyLoadingError):  # raised, not returned as a value
        await loading


async def test_push_messages_are_not_taken_for_replies_and_false_is_a_reply(wire: WireConnection) -> None:
    first = asyncio.ensure_future(wire.call(b""))
    second = asyncio.ensure_future(wire.call(b""))
    await asyncio.sleep(0)
    wire.data_received(b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n#f\r\n")  # a RESP3 push, then the reply false
    assert await first is False
    wire.data_received(b":7\r\n")
    assert await second == 7 and wire.idle

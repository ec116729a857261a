"""The production broker: a Redis stream with consumer groups, Redis pub/sub and a PX-expiring key cache."""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from trail.live.broker import Broker, BrokerUnavailable, Entry
from trail.live.redis_wire import WireConnection
from trail.live.redis_wire import pack as _pack

FIELD = b"e"
_PAGE = 1000
# KEYS: cache keys; ARGV: their values, then the TTL in ms
_CACHE_SET_LUA = """
local ttl = ARGV[#ARGV]
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i], 'PX', ttl)
end
return #KEYS
"""
_APPEND_CHUNK = 5000  # payloads per append pipeline (keys per MGET or SET script call): bounded writes and replies
_OWN_IDLE = 8  # idle connections of the broker's own kept open (two appends in flight, the live tail, a turn's
# session read and write, the writer's blocking read and its acks, and room to spare: each one missing costs a TCP
# connect and handshake)


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def _stream_of(reply: Any) -> list[Any]:
    """The entries of the one stream in an XREAD/XREADGROUP reply read on the wire: RESP3 answers {key: entries},
    RESP2 [[key, entries]]; entries are [[id, [field, value, ...]], ...], the fields nil for a deleted entry."""
    if not reply:
        return []
    return next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]  # type: ignore[no-any-return]


def _wire_entries(raw: list[Any]) -> list[Entry]:
    """Stream entries as read on the wire ([[id, [field, value, ...]], ...]) to entries; deleted ones (nil fields,
    or a nil in place of the entry, as older Redis answers XCLAIM) are left out."""
    out = []
    for item in raw:
        if not item:
            continue
        entry_id, fields = item
        if fields:
            for i in range(0, len(fields) - 1, 2):
                if fields[i] == FIELD:
                    out.append(Entry(entry_id.decode(), fields[i + 1]))
                    break
    return out


def _id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Messages:
    """The async iterator of one Redis subscription: message payloads, subscribe notices skipped."""

    def __init__(self, pubsub: PubSub, broker: "RedisBroker") -> None:
        self._pubsub = pubsub
        self._broker = broker

    def __aiter__(self) -> "_Messages":
        return self

    async def __anext__(self) -> bytes:
        while True:
            with self._broker._guard():
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None and message.get("type") == "message":
                return message["data"]


class RedisBroker(Broker):
    """Stream key `<prefix>events` (payload in field "e"); channels and cache keys under the same prefix.

    `block_ms <= 0` never waits (Redis BLOCK 0 would wait forever). Unknown groups raise LookupError.
    """

    def __init__(self, url: str, prefix: str = "trail:", *, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.prefix = prefix
        self.key = f"{prefix}events"
        self._key_bytes = self.key.encode()
        self._client = aioredis.from_url(url, decode_responses=False, socket_connect_timeout=connect_timeout_s)
        # every XADD of an append up to its payload: `*5 XADD <key> * e` in the Redis protocol
        self._xadd_head = _pack([b"XADD", self._key_bytes, b"*", FIELD, b""])[:-len(b"$0\r\n\r\n")]
        self._cache_set_sha = hashlib.sha1(_CACHE_SET_LUA.encode()).hexdigest().encode()
        self._own_idle: list[Any] = []  # connections of the hot paths' own (see _call_own)
        self._closed = False

    async def start(self) -> None:
        """Nothing to open: connections are made on first use (ping() tells whether Redis answers)."""

    async def close(self) -> None:
        self._closed = True  # a call still in flight closes its connection when it ends
        idle, self._own_idle = self._own_idle, []
        for conn in idle:
            conn.close()
        await self._client.aclose()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"Redis at {_masked(self.url)} is unavailable: {exc}") from exc
        except ResponseError as exc:
            text = str(exc)
            if text.startswith("NOGROUP") or "no such key" in text:
                raise LookupError(f"no consumer group on stream {self.key}: {text}") from exc
            raise

    async def ping(self) -> None:
        with self._guard():
            await self._client.ping()

    # -- the event stream ---------------------------------------------------------
    async def append(self, payloads: Sequence[bytes]) -> list[str]:
        """One pipeline of XADDs per chunk of payloads, sent as one write on a connection of the broker's own: the
        appends of a group commit cost one round trip, and Redis runs plain XADDs (~1.5 µs each, against ~4-8 in a
        Lua script, which also held Redis for the whole batch: docs/BENCHMARKS.md, session 8). The ids of one append
        increase, and other instances' entries may fall between them (no reader needs them contiguous). As with a
        script, an append that fails part way leaves the XADDs before the failure in the stream; the caller answers
        503."""
        if not payloads:
            return []
        ids: list[str] = []
        head = self._xadd_head
        with self._guard():
            for start in range(0, len(payloads), _APPEND_CHUNK):
                chunk = payloads[start:start + _APPEND_CHUNK]
                parts: list[bytes] = []
                for payload in chunk:
                    parts += (head, b"$%d\r\n" % len(payload), payload, b"\r\n")
                replies = await self._call_own(b"".join(parts), len(chunk))
                ids += [entry_id.decode() for entry_id in replies]
        return ids

    async def _eval(self, script: str, sha: bytes, keys: Sequence[bytes], args: Sequence[bytes]) -> Any:
        """EVALSHA on a connection of the broker's own; NOSCRIPT (a restarted or flushed Redis) loads the script
        and sends again."""
        command = _pack([b"EVALSHA", sha, b"%d" % len(keys), *keys, *args])
        try:
            return await self._call_own(command)
        except NoScriptError:
            await self._call_own(_pack([b"SCRIPT", b"LOAD", script.encode()]))
            return await self._call_own(command)

    async def _call_own(self, command: bytes, count: int = 0) -> Any:
        """Send a packed command on a connection of the broker's own (`trail.live.redis_wire`) and return its reply;
        with `count`, `command` is that many pipelined commands and the answer their replies.

        For the hot paths (each append, each read of the live tail, a turn's session reads and writes): redis-py's
        own path packs arguments in Python, takes a pooled connection through its lock and connection-count
        bookkeeping, wraps each send in a task and each read in timeout contexts (an append of 46 events: 168-177 µs
        of CPU that way in session 6, 81-102 on redis-py's connection objects, ~55 µs for a small one on the wire
        protocol). An error reply leaves the connection as good as it was; a connection that failed or was
        interrupted mid-reply is closed, never reused, and the command is not resent: the reply may be what was
        lost, and a resent append would store its events twice (the callers answer 503; clients retry). Redis
        having gone away, the other idle connections are dropped too."""
        conn = await self._own_connection()
        try:
            reply = await (conn.call_many(command, count) if count else conn.call(command))
        except ResponseError:
            self._keep(conn)
            raise
        except BaseException as exc:
            conn.close()
            if isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError)):
                stale, self._own_idle = self._own_idle, []
                for other in stale:
                    other.close()
            raise
        self._keep(conn)
        return reply

    async def _own_connection(self) -> WireConnection:
        """An idle connection of the broker's own that is still open, else a new one. One that Redis closed while it
        was idle (a restart, its `timeout`) was marked closed by the event loop, and is dropped here before anything
        is sent on it."""
        while self._own_idle:
            conn = self._own_idle.pop()
            if conn.idle:
                return conn
            conn.close()
        return await WireConnection.open(self._client.connection_pool)

    def _keep(self, conn: WireConnection) -> None:
        if len(self._own_idle) < _OWN_IDLE and not self._closed and conn.idle:
            self._own_idle.append(conn)
        else:
            conn.close()

    async def ensure_group(self, group: str) -> None:
        with self._guard():
            try:
                await self._client.xgroup_create(self.key, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _read_group(self, group: str, consumer: str, start: str, count: int, block_ms: int) -> list[Any]:
        """XREADGROUP on a connection of the broker's own (the writer reads every event this way): the raw entries."""
        args = [b"XREADGROUP", b"GROUP", group.encode(), consumer.encode(), b"COUNT", b"%d" % count]
        if block_ms > 0:
            args += [b"BLOCK", b"%d" % block_ms]
        with self._guard():
            return _stream_of(await self._call_own(_pack([*args, b"STREAMS", self._key_bytes, start.encode()])))

    async def read_group(self, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        return _wire_entries(await self._read_group(group, consumer, ">", count, block_ms))

    async def read_pending(self, group: str, consumer: str, count: int) -> list[Entry]:
        raw = await self._read_group(group, consumer, "0", count, 0)
        ghosts = [entry_id.decode() for entry_id, fields in raw if not fields]
        if ghosts:  # trimmed while pending: nothing left to deliver, so take them off the pending list
            await self.ack(group, ghosts)
        return _wire_entries(raw)

    async def _stale_ids(self, group: str, owner: bytes, min_idle_ms: int) -> list[bytes]:
        ids: list[bytes] = []
        start = "-"
        while True:
            rows = await self._client.xpending_range(self.key, group, min=start, max="+", count=_PAGE,
                                                     consumername=owner, idle=min_idle_ms)
            ids.extend(row["message_id"] for row in rows)
            if len(rows) < _PAGE:
                return ids
            start = "(" + _id(rows[-1]["message_id"])

    async def claim_stale(self, group: str, consumer: str, min_idle_ms: int) -> list[list[Entry]]:
        batches = []
        with self._guard():
            consumers = await self._client.xinfo_consumers(self.key, group)
            for info in consumers:
                owner = info["name"]
                if _id(owner) == consumer or not info["pending"]:
                    continue
                ids = await self._stale_ids(group, owner, min_idle_ms)
                if not ids:
                    continue
                # XCLAIM re-checks the idle time, so two claimers never both take an entry
                claimed = _wire_entries(await self._call_own(_pack(
                    [b"XCLAIM", self._key_bytes, group.encode(), consumer.encode(), b"%d" % min_idle_ms, *ids])))
                claimed.sort(key=lambda e: tuple(int(p) for p in e.id.split("-")))
                if claimed:
                    batches.append(claimed)
        return batches

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        """XACK on a connection of the broker's own, in chunks (the writer acknowledges every event)."""
        with self._guard():
            for start in range(0, len(ids), _APPEND_CHUNK):
                chunk = ids[start:start + _APPEND_CHUNK]
                await self._call_own(_pack([b"XACK", self._key_bytes, group.encode(), *(i.encode() for i in chunk)]))

    async def _group_info(self, group: str) -> dict[str, Any]:
        with self._guard():
            groups = await self._client.xinfo_groups(self.key)
        for info in groups:
            if _id(info["name"]) == group:
                return info
        raise LookupError(f"no consumer group {group!r} on stream {self.key}")

    async def lag(self, group: str) -> int:
        info = await self._group_info(group)
        undelivered = info.get("lag")
        if undelivered is None:  # Redis < 7, or a lag Redis cannot compute (entries deleted mid-stream)
            undelivered = await self._count_after(_id(info["last-delivered-id"]))
        return int(info["pending"]) + int(undelivered)

    async def _count_after(self, last: str) -> int:
        total, start = 0, "(" + last
        with self._guard():
            while True:
                rows = await self._client.xrange(self.key, start, "+", count=10 * _PAGE)
                total += len(rows)
                if len(rows) < 10 * _PAGE:
                    return total
                start = "(" + _id(rows[-1][0])

    async def oldest_unacked(self, group: str) -> str | None:
        with self._guard():
            summary = await self._client.xpending(self.key, group)
        if summary["pending"]:
            return _id(summary["min"])
        info = await self._group_info(group)
        with self._guard():
            rows = await self._client.xrange(self.key, "(" + _id(info["last-delivered-id"]), "+", count=1)
        return _id(rows[0][0]) if rows else None

    async def length(self) -> int:
        with self._guard():
            return int(await self._client.xlen(self.key))

    async def tail(self, after_id: str, count: int, block_ms: int) -> list[Entry]:
        args = [b"XREAD", b"COUNT", b"%d" % count]
        if block_ms > 0:
            args += [b"BLOCK", b"%d" % block_ms]
        with self._guard():
            reply = await self._call_own(_pack([*args, b"STREAMS", self._key_bytes, after_id.encode()]))
        return _wire_entries(_stream_of(reply))

    async def range_since(self, since_ms: int, count: int | None = None) -> list[Entry]:
        args = [b"XRANGE", self._key_bytes, b"%d-0" % since_ms, b"+"]
        if count is not None:
            args += [b"COUNT", b"%d" % count]
        with self._guard():
            return _wire_entries(await self._call_own(_pack(args)))

    async def trim(self, min_id: str) -> int:
        with self._guard():
            return int(await self._client.xtrim(self.key, minid=min_id, approximate=False))

    # -- pub/sub ------------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        with self._guard():
            await self._client.publish(self.prefix + channel, message)

    @asynccontextmanager
    async def subscription(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        pubsub = self._client.pubsub()
        try:
            with self._guard():
                await pubsub.subscribe(self.prefix + channel)
                await self._confirmed(pubsub)
            yield _Messages(pubsub, self)
        finally:
            await pubsub.aclose()

    async def _confirmed(self, pubsub: PubSub, timeout_s: float = 10.0) -> None:
        """Wait for Redis to confirm SUBSCRIBE: from then on, every PUBLISH reaches this connection."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            message = await pubsub.get_message(timeout=max(deadline - loop.time(), 0.01))
            if message is not None and message.get("type") == "subscribe":
                return
        raise BrokerUnavailable(f"Redis at {_masked(self.url)} did not confirm a subscription")

    async def subscribe(self, channel: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        async with self.subscription(channel) as messages:
            async for message in messages:
                yield message

    # -- cache --------------------------------------------------------------------
    def _cache_key(self, key: str) -> str:
        return f"{self.prefix}cache:{key}"

    async def cache_get(self, key: str) -> bytes | None:
        with self._guard():
            return await self._client.get(self._cache_key(key))

    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None:
        with self._guard():
            await self._client.set(self._cache_key(key), value, px=max(1, int(ttl_s * 1000)))

    async def cache_get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """One MGET per chunk of keys, on a connection of the broker's own (the session reads of a turn)."""
        values: list[bytes | None] = []
        with self._guard():
            for start in range(0, len(keys), _APPEND_CHUNK):
                chunk = keys[start:start + _APPEND_CHUNK]
                values.extend(await self._call_own(_pack([b"MGET", *(self._cache_key(k).encode() for k in chunk)])))
        return values

    async def cache_set_many(self, items: Sequence[tuple[str, bytes]], ttl_s: float) -> None:
        """Every pair SET with the TTL by one script call per chunk (the sessions of a turn: one round trip)."""
        ttl = b"%d" % max(1, int(ttl_s * 1000))
        with self._guard():
            for start in range(0, len(items), _APPEND_CHUNK):
                chunk = items[start:start + _APPEND_CHUNK]
                await self._eval(_CACHE_SET_LUA, self._cache_set_sha,
                                 [self._cache_key(key).encode() for key, _ in chunk], [*(v for _, v in chunk), ttl])

    async def cache_delete(self, key: str) -> None:
        with self._guard():
            await self._client.delete(self._cache_key(key))

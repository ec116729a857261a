"""A Redis connection for the broker's hot paths: packed commands out, hiredis-parsed replies in, nothing between.

redis-py makes and hands over the connection (address, TLS, AUTH, HELLO, SELECT: everything its URL says), then this
protocol takes over the transport. Per command (or pipeline of commands) it writes one bytes object and waits on one
future: no `wait_for` task per send, no stream-reader futures, no timeout contexts. Each command cost the worker ~90 µs
of CPU through redis-py's connection layer, ~55 through this (docs/BENCHMARKS.md, session 7); the broker sends one
pipeline per group commit, and one command per read of the live tail, per turn's session reads and writes, and per
read and acknowledgement of the writer.

Replies come back in the order the commands went out. A connection that breaks, receives what nobody asked for, or
whose caller stopped waiting for a reply is closed for good, and every command waiting on it fails with
`redis.exceptions.ConnectionError`: a command is never sent twice from here (callers decide; appends answer 503).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse


def pack(args: list[bytes]) -> bytes:
    """A command in the Redis protocol, as one bytes object."""
    parts = [b"*%d\r\n" % len(args)]
    parts += [b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args]
    return b"".join(parts)


_INCOMPLETE = object()  # what the hiredis reader answers while a reply is not complete (False is a RESP3 reply)
_PUSH = hiredis.PushNotification


class _Waiter:
    """A caller waiting for `count` replies, in order."""

    __slots__ = ("future", "count", "replies")

    def __init__(self, future: asyncio.Future[Any], count: int) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []


class WireConnection(asyncio.Protocol):
    """One connection: `await conn.call(packed)` is the reply (error replies raise redis-py's exceptions);
    `await conn.call_many(packed, n)` the n replies of n pipelined commands."""

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.closed = False
        self._reader = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error,
                                      notEnoughData=_INCOMPLETE)
        self._waiting: deque[_Waiter] = deque()
        self._stream_writer: Any = None  # see open()

    @classmethod
    async def open(cls, pool: Any) -> "WireConnection":
        """A new connection made and set up by redis-py's pool settings (the client's URL), then taken over."""
        conn = pool.make_connection()
        await conn.connect()
        writer = conn._writer  # redis-py 8: the StreamWriter of its asyncio connection
        wire = cls(writer.transport)
        writer.transport.set_protocol(wire)
        # Both redis-py's connection and the StreamWriter close the transport when they are collected: the former is
        # told it has none, the latter lives as long as the wire.
        conn._writer = conn._reader = None
        wire._stream_writer = writer
        return wire

    async def call(self, command: bytes) -> Any:
        """Send `command` (packed) and return its reply. Cancelled or failed while waiting: the connection closes."""
        reply = (await self._send(command, 1))[0]
        if isinstance(reply, Exception):  # an error reply, as redis-py files it: ResponseError, or LOADING, NOAUTH,
            raise reply  # "max number of clients" as its ConnectionError kinds
        return reply

    async def call_many(self, commands: bytes, count: int) -> list[Any]:
        """Send `count` packed commands (one bytes object) and return their replies once all of them came. An error
        reply among them is raised, the first one, after the last reply, so the connection stays in step; the
        commands before and after it took effect (as in a MULTI-less pipeline)."""
        if count < 1:  # a waiter of no reply would take the next command's
            raise ValueError("call_many needs at least one command")
        replies = await self._send(commands, count)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _send(self, data: bytes, count: int) -> list[Any]:
        if self.closed:
            raise RedisConnectionError("Connection closed.")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiter(future, count))
        try:
            self.transport.write(data)
            return await future
        except BaseException:
            self.close()  # the replies (or what is left of them) would be taken for the next command's
            raise

    @property
    def idle(self) -> bool:
        """Open, with no command waiting for its reply."""
        return not self.closed and not self._waiting

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()
        self._fail(RedisConnectionError("Connection closed."))

    # -- asyncio.Protocol ----------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        gets = self._reader.gets
        waiting = self._waiting
        while True:
            try:
                reply = gets()
            except Exception as exc:  # not the Redis protocol: nothing more on this connection can be trusted
                self._broken(exc)
                return
            if reply is _INCOMPLETE:
                return
            if reply.__class__ is _PUSH:  # RESP3 out-of-band (e.g. a managed Redis's maintenance notices): not the
                continue  # reply to any command
            if not waiting:  # a reply nobody asked for
                self._broken(InvalidResponse("unexpected reply from Redis"))
                return
            waiter = waiting[0]
            replies = waiter.replies
            replies.append(reply)
            if len(replies) == waiter.count:
                waiting.popleft()
                if not waiter.future.done():
                    waiter.future.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(RedisConnectionError(f"Connection closed by server{f': {exc}' if exc else '.'}"))

    def _broken(self, exc: Exception) -> None:
        self.closed = True
        self.transport.close()
        self._fail(RedisConnectionError(f"Redis connection broken: {exc}"))

    def _fail(self, exc: Exception) -> None:
        while self._waiting:
            future = self._waiting.popleft().future
            if not future.done():
                future.set_exception(exc)

"""Visitor id (keyed hash of daily salt, site, IP, UA) and sessions (new after 30 minutes of inactivity)."""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from collections import OrderedDict
from datetime import date, datetime, timedelta
from hashlib import blake2b
from typing import Awaitable, Callable, Iterable, Sequence

log = logging.getLogger(__name__)

SESSION_TIMEOUT_MS = 30 * 60 * 1000
# The shared cache's last-seen may lag the truth by up to this much: it saves a cache write per event for busy
# visitors (one write per visitor per interval instead of one per event). The TTL covers the lag.
WRITE_INTERVAL_MS = 30 * 1000
CACHE_TTL_S = (SESSION_TIMEOUT_MS + 2 * WRITE_INTERVAL_MS) / 1000
_PACK = struct.Struct(">QQ")

CacheGetMany = Callable[[Sequence[str]], Awaitable[Sequence[bytes | None]]]  # values in the keys' order
CacheSetMany = Callable[[Sequence[tuple[str, bytes]], float], Awaitable[None]]  # (key, value) pairs, one TTL


def visitor_id(salt: bytes, site_id: int, ip: str, user_agent: str) -> int:
    """UInt64 keyed BLAKE2b of (site, IP, UA) under the day's salt: stable within the day, unlinkable across days."""
    keyed = _KEYED.get(salt)
    if keyed is None:  # a copy of a keyed state costs 0.58 µs, keying a new one 0.82
        if len(_KEYED) >= 4:  # today's and yesterday's salts, and some slack
            _KEYED.clear()
        keyed = _KEYED[salt] = blake2b(digest_size=8, key=salt[:64])
    h = keyed.copy()
    h.update(f"{site_id}\x00{ip}\x00{user_agent}".encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest(), "big")


_KEYED: dict[bytes, "blake2b"] = {}  # salt -> a BLAKE2b state keyed with it, nothing hashed yet


def utc_day(ts: datetime) -> date:
    return ts.date()


def new_session_id() -> int:
    return random.getrandbits(64) or 1


class _Entry:
    __slots__ = ("session_id", "last_seen", "written")

    def __init__(self, session_id: int, last_seen: int, written: int) -> None:
        self.session_id = session_id
        self.last_seen = last_seen
        self.written = written  # last_seen value the shared cache holds


class Sessions:
    """Session ids per (site, visitor): an in-process LRU in front of the shared TTL cache, written behind.

    A hit in the LRU within the timeout is certain (no other instance can have started a newer session since
    then), so it costs no cache read; anything else reads the shared cache once, and the reads asked for in one
    turn of the event loop go out together in one `cache_get_many` call (the first event of each visit needs one:
    a round trip per turn, not per event). Writes to the shared cache (a
    visitor's session and last-seen, at most once per WRITE_INTERVAL_MS of activity) wait for nothing: the entries
    due in one turn of the event loop go out together in one `cache_set_many` call from a task of their own,
    started in that turn, so they usually reach Redis ahead of the turn's append and its 202s; not always: while an
    earlier write is still waiting for its reply, the next one waits for it. Another instance sees a visitor's
    session within a round trip or two, far under the seconds between a visitor's events. A failed write is logged
    and made again with the visitor's next event on this instance (meanwhile another instance that gets the visitor
    finds no session and starts one: Redis failing shows as split visits, the events still answered 503 while
    appends fail too).
    """

    def __init__(self, cache_get_many: CacheGetMany, cache_set_many: CacheSetMany, capacity: int = 100_000,
                 prefix: str = "sess:") -> None:
        self.cache_get_many = cache_get_many
        self.cache_set_many = cache_set_many
        self.capacity = capacity
        self.prefix = prefix
        self._lru: OrderedDict[tuple[int, int], _Entry] = OrderedDict()
        self._due: dict[tuple[int, int], _Entry] = {}  # entries to write to the shared cache
        self._writing: asyncio.Task[None] | None = None
        self._wanted: dict[str, list[asyncio.Future[bytes | None]]] = {}  # cache keys to read, and who waits
        self._reading: asyncio.Task[None] | None = None

    async def find(self, site_id: int, visitor: int, ts_ms: int) -> int | None:
        """The live session of this visitor at ts_ms, without changing anything (for the midnight lookback)."""
        entry = await self._entry(site_id, visitor)
        if entry is not None and abs(ts_ms - entry.last_seen) <= SESSION_TIMEOUT_MS:
            return entry.session_id
        return None

    def touch_cached(self, site_id: int, visitor: int, ts_ms: int) -> int | None:
        """`touch` when it needs no read of the shared cache (this instance saw the visitor's last event under 30
        minutes ago, and not after ts_ms): the session id; else None, and nothing changed."""
        key = (site_id, visitor)
        entry = self._lru.get(key)
        if entry is None or not 0 <= ts_ms - entry.last_seen <= SESSION_TIMEOUT_MS:
            return None
        self._lru.move_to_end(key)
        entry.last_seen = ts_ms
        if ts_ms - entry.written >= WRITE_INTERVAL_MS or entry.written < 0:
            self._write_behind(key, entry)
        return entry.session_id

    async def touch(self, site_id: int, visitor: int, ts_ms: int) -> int:
        """The session id for an event at ts_ms, starting a new session after 30 minutes of inactivity."""
        key = (site_id, visitor)
        entry = self._lru.get(key)
        if entry is not None and 0 <= ts_ms - entry.last_seen <= SESSION_TIMEOUT_MS:
            self._lru.move_to_end(key)
        else:
            entry = await self._entry(site_id, visitor)
            if entry is None or abs(ts_ms - entry.last_seen) > SESSION_TIMEOUT_MS:
                entry = _Entry(new_session_id(), ts_ms, -1)
                self._remember(key, entry)
        if ts_ms > entry.last_seen:
            entry.last_seen = ts_ms
        if entry.last_seen - entry.written >= WRITE_INTERVAL_MS or entry.written < 0:
            self._write_behind(key, entry)
        return entry.session_id

    def _write_behind(self, key: tuple[int, int], entry: _Entry) -> None:
        """Queue `entry` for the shared cache; the first entry of a turn starts the task that writes them."""
        entry.written = entry.last_seen
        self._due[key] = entry
        if self._writing is None or self._writing.done():  # done: cancelled before it ran, say (a shutdown)
            self._writing = asyncio.get_running_loop().create_task(self._write_due())

    async def _write_due(self) -> None:
        while self._due:
            due, self._due = self._due, {}
            items = [(self._key(site_id, visitor), _PACK.pack(entry.session_id, entry.last_seen))
                     for (site_id, visitor), entry in due.items()]
            try:
                await self.cache_set_many(items, CACHE_TTL_S)
            except BaseException as exc:  # Redis away (or a shutdown): the visitors' next events write again
                for entry in due.values():
                    entry.written = -1
                if not isinstance(exc, Exception):
                    raise
                log.warning("sessions: writing %d to the shared cache failed: %r", len(items), exc)

    async def flush(self) -> None:
        """Wait until every session write queued so far is done (shutdown, tests)."""
        while self._writing is not None and not self._writing.done():
            await asyncio.gather(self._writing, return_exceptions=True)

    async def _entry(self, site_id: int, visitor: int) -> _Entry | None:
        key = (site_id, visitor)
        raw = await self._read(self._key(site_id, visitor))
        shared = None
        if raw is not None and len(raw) == _PACK.size:
            session_id, last_seen = _PACK.unpack(raw)
            shared = _Entry(session_id, last_seen, last_seen)
        local = self._lru.get(key)
        if local is not None and (shared is None or local.last_seen >= shared.last_seen):
            self._lru.move_to_end(key)
            return local
        if shared is not None:
            self._remember(key, shared)
        return shared

    def _read(self, key: str) -> asyncio.Future[bytes | None]:
        """The shared cache's value of `key`, read together with the other keys asked for in this turn. Each caller
        gets a future of its own, so one that is cancelled cancels no other."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        self._wanted.setdefault(key, []).append(future)
        if self._reading is None or self._reading.done():
            self._reading = loop.create_task(self._read_wanted())
            self._reading.add_done_callback(self._read_cancelled)
        return future

    def _read_cancelled(self, task: asyncio.Task[None]) -> None:
        """A read task cancelled before it ran (a shutdown) answers the events that waited for it (mid-read, it
        answers them itself)."""
        if task.cancelled():
            wanted, self._wanted = self._wanted, {}
            _fail(wanted.values(), RuntimeError("session read cancelled"))

    async def _read_wanted(self) -> None:
        while self._wanted:
            wanted, self._wanted = self._wanted, {}
            try:
                values = await self.cache_get_many(list(wanted))
                if len(values) != len(wanted):
                    raise RuntimeError(f"the cache answered {len(values)} values for {len(wanted)} keys")
            except BaseException as exc:  # each waiting event fails as a single read would have (the caller: 503)
                cancelled = not isinstance(exc, Exception)
                waiting = list(wanted.values())
                if cancelled:  # a shutdown: no more reads, so the ones queued meanwhile are answered too
                    waiting += self._wanted.values()
                    self._wanted = {}
                _fail(waiting, RuntimeError("session read cancelled") if cancelled else exc)
                if cancelled:
                    raise
                continue
            for futures, value in zip(wanted.values(), values):
                for future in futures:
                    if not future.done():
                        future.set_result(value)

    def _remember(self, key: tuple[int, int], entry: _Entry) -> None:
        self._lru[key] = entry
        self._lru.move_to_end(key)
        if len(self._lru) > self.capacity:
            self._lru.popitem(last=False)

    def _key(self, site_id: int, visitor: int) -> str:
        return f"{self.prefix}{site_id}:{visitor:x}"


def yesterday(day: date) -> date:
    return day - timedelta(days=1)


def _fail(waiting: Iterable[list[asyncio.Future[bytes | None]]], error: BaseException) -> None:
    """Fail every future of `waiting` (the callers of keys that will not be read) that is still waiting."""
    for futures in waiting:
        for future in futures:
            if not future.done():
                future.set_exception(error)

"""The embedded broker: Redis-stream semantics in-process, durable in an fsynced, group-committed on-disk spool."""

from __future__ import annotations

import asyncio
import bisect
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from itertools import repeat
from pathlib import Path
from typing import AsyncIterator, Sequence

from trail.live.broker import Broker, BrokerUnavailable, Entry
from trail.live.groups import ACK, CLAIM, DELIVER, Group, now, rec_group, rec_ids, rec_trim, replay, snapshot
from trail.live.spool import (
    AppendFile,
    DirLock,
    GroupCommitter,
    IdKey,
    SegmentLog,
    encode_batch,
    format_id,
    fsync_dir,
    parse_id,
    read_log,
    write_all,
)

ACK_LOG = "acks.log"
_new_entry = tuple.__new__  # _new_entry(Entry, (id, data)) is Entry(id, data) without the Python-level __new__


def _normal_ids(ids: set[str]) -> list[str]:
    """ids as the broker writes them ("<ms>-<seq>"); ids that are not stream ids are left out."""
    normal = []
    for entry_id in ids:
        try:
            normal.append(format_id(parse_id(entry_id)))
        except ValueError:
            continue
    return normal


class _Messages:
    """The async iterator of one in-memory subscription; ends when the broker closes."""

    def __init__(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queue = queue

    def __aiter__(self) -> "_Messages":
        return self

    async def __anext__(self) -> bytes:
        message = await self._queue.get()
        if message is None:
            raise StopAsyncIteration
        return message


class MemoryBroker(Broker):
    """One process owns the spool dir (flock). Entries are visible to readers only once fsynced.

    `block_ms <= 0` never waits (unlike Redis BLOCK 0, which waits forever); RedisBroker does the same.
    """

    def __init__(self, spool_dir: str | Path, *, segment_bytes: int = 64 << 20, ack_log_bytes: int = 4 << 20,
                 subscriber_queue: int = 10_000, commit_spacing_ms: float = 0.0) -> None:
        self.directory = Path(spool_dir)
        self._commit_spacing = commit_spacing_ms / 1000
        self._lock = DirLock(self.directory)
        self._segments = SegmentLog(self.directory, segment_bytes)
        self._ack_log_bytes = ack_log_bytes
        self._subscriber_queue = subscriber_queue
        # The stream: entry ids ("<ms>-<seq>", made once at append and handed out as they are) and payloads. The
        # ids are in ascending (ms, seq) order, searched with bisect keyed by parse_id (a few calls per search).
        self._ids: list[str] = []
        self._data: list[bytes] = []
        self._last_id: IdKey = (0, 0)
        self._trim_point: IdKey = (0, 0)
        self._groups: dict[str, Group] = {}
        self._channels: dict[str, set[asyncio.Queue[bytes | None]]] = {}
        self._cache: dict[str, tuple[bytes, float]] = {}
        self._cache_sets = 0
        self._acks: AppendFile | None = None
        self._ack_written = 0
        self._compacting = False
        self._executor: ThreadPoolExecutor | None = None
        self._open = False
        self._arrived = asyncio.Event()

    # -- life cycle ---------------------------------------------------------------
    async def start(self) -> None:
        if self._open:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="trail-spool")
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._recover)
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._entry_log = GroupCommitter(self._executor, self._segments.write, self._commit_spacing)
        self._ack_commit = GroupCommitter(self._executor, self._write_acks)
        self._arrived = asyncio.Event()
        self._open = True

    def _recover(self) -> None:
        self._lock.acquire()
        try:
            entries, last = self._segments.recover()
            path = self.directory / ACK_LOG
            bodies = read_log(path) if path.exists() else []
            self._trim_point = replay(bodies, self._groups)
            self._acks = AppendFile(path)
            fsync_dir(self.directory)
        except BaseException:
            self._segments.close()
            self._lock.release()
            raise
        start = bisect.bisect_left([k for k, _ in entries], self._trim_point)
        self._ids = [format_id(k) for k, _ in entries[start:]]
        self._data = [d for _, d in entries[start:]]
        self._last_id = max([last, *(g.last for g in self._groups.values())])

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._wake()
        for queues in self._channels.values():
            for queue in queues:
                self._offer(queue, None)
        await self._entry_log.drain()
        await self._ack_commit.drain()
        assert self._executor is not None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._shutdown_disk)
        self._executor.shutdown(wait=True)

    def _shutdown_disk(self) -> None:
        self._segments.close()
        if self._acks is not None:
            self._acks.close()
        self._lock.release()

    async def ping(self) -> None:
        if not self._open:
            raise BrokerUnavailable(f"the embedded broker on {self.directory} is not running")

    def _check(self) -> None:
        if not self._open:
            raise BrokerUnavailable(f"the embedded broker on {self.directory} is not running")

    # -- the event stream ---------------------------------------------------------
    def _next_ids(self, count: int) -> tuple[int, int]:
        """(ms, first seq) of count new consecutive ids (ms, first), (ms, first + 1), ...: ms is now, or the last
        id's if the clock has not passed it (the same ms and rising seqs, as Redis does)."""
        ms, seq = self._last_id
        clock = time.time_ns() // 1_000_000
        first = 0 if clock > ms else seq + 1
        ms = max(ms, clock)
        self._last_id = (ms, first + count - 1)
        return ms, first

    async def append(self, payloads: Sequence[bytes]) -> list[str]:
        self._check()
        if not payloads:
            return []
        ms, first = self._next_ids(len(payloads))
        ids = list(map(f"{ms}-".__add__, map(str, range(first, first + len(payloads)))))
        chunk = encode_batch(ms, first, payloads)

        def visible() -> None:
            self._ids.extend(ids)
            # An exact-size copy of each payload: these stay in RAM for the stream retention (40 min), and
            # orjson.dumps returns bytes whose allocation is far larger than their length (orjson 3.13: 4 KB for
            # a 24-byte result, ~16 KB for an event payload), so keeping its objects cost ~11-16 KB per event.
            self._data.extend(bytes(memoryview(p)) for p in payloads)
            self._wake()

        await self._entry_log.commit(chunk, visible, len(ids))
        return ids

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()

    async def _wait(self, deadline: float) -> bool:
        """Wait for new entries until deadline (loop time); False on timeout or close."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0 or not self._open:
            return False
        try:
            await asyncio.wait_for(self._arrived.wait(), remaining)
        except TimeoutError:
            return False
        return self._open

    def _deadline(self, block_ms: int) -> float:
        return asyncio.get_running_loop().time() + max(block_ms, 0) / 1000

    def _group(self, name: str) -> Group:
        try:
            return self._groups[name]
        except KeyError:
            raise LookupError(f"no consumer group {name!r} on the embedded stream") from None

    def _after(self, key: IdKey) -> int:
        """The index of the first entry with an id above key."""
        return bisect.bisect_right(self._ids, key, key=parse_id)

    def _from(self, key: IdKey) -> int:
        """The index of the first entry with an id at or above key."""
        return bisect.bisect_left(self._ids, key, key=parse_id)

    def _slice(self, start: int, count: int | None) -> list[Entry]:
        stop = len(self._ids) if count is None else min(len(self._ids), start + count)
        # Entry tuples made by tuple.__new__ in C: no Python-level call per entry
        return list(map(_new_entry, repeat(Entry), zip(self._ids[start:stop], self._data[start:stop])))

    async def _log_acks(self, record: bytes) -> None:
        await self._ack_commit.commit(record)
        self._ack_written += len(record)
        if self._ack_written >= self._ack_log_bytes:
            await self._compact()

    def _write_acks(self, chunks: list[bytes]) -> None:
        assert self._acks is not None
        self._acks.append(chunks)

    async def ensure_group(self, group: str) -> None:
        self._check()
        if group not in self._groups:
            self._groups[group] = Group()
            await self._log_acks(rec_group(group, (0, 0)))

    async def read_group(self, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        self._check()
        state = self._group(group)
        deadline = self._deadline(block_ms)
        while True:
            start = self._after(state.last)
            if start < len(self._ids):
                entries = self._slice(start, count)
                ids = self._ids[start:start + len(entries)]
                state.deliver(consumer, ids, now(), parse_id(ids[-1]))
                await self._log_acks(rec_ids(DELIVER, group, ids, consumer))
                return entries
            if not await self._wait(deadline):
                return []

    def _present(self, state: Group, ids: list[str]) -> tuple[list[Entry], list[str]]:
        """The entries of ids (ascending) still in the stream, and the trimmed ids (dropped from the pending list).

        A pending list is mostly runs of consecutive entries, so each id is first looked for right after the last
        one found, and searched for only when it is not there."""
        entries, gone = [], []
        stream, i = self._ids, 0
        for entry_id in ids:
            if i >= len(stream) or stream[i] != entry_id:
                i = self._from(parse_id(entry_id))
            if i < len(stream) and stream[i] == entry_id:
                entries.append(_new_entry(Entry, (entry_id, self._data[i])))
                i += 1
            else:
                gone.append(entry_id)
        if gone:
            state.ack(gone)
        return entries, gone

    async def read_pending(self, group: str, consumer: str, count: int) -> list[Entry]:
        self._check()
        state = self._group(group)
        entries, gone = self._present(state, state.pending_of(consumer))
        if gone:
            await self._log_acks(rec_ids(ACK, group, gone))
        return entries[:count]

    async def claim_stale(self, group: str, consumer: str, min_idle_ms: int) -> list[list[Entry]]:
        self._check()
        state = self._group(group)
        moment, records, batches = now(), [], []
        for other in state.consumers():
            if other == consumer:
                continue
            stale = [i for i in state.pending_of(other) if (moment - state.pending[i][1]) * 1000 >= min_idle_ms]
            if not stale:
                continue
            entries, gone = self._present(state, stale)
            if gone:
                records.append(rec_ids(ACK, group, gone))
            if entries:
                ids = [e.id for e in entries]
                state.deliver(consumer, ids, moment, parse_id(ids[-1]))
                records.append(rec_ids(CLAIM, group, ids, consumer))
                batches.append(entries)
        if records:
            await self._log_acks(b"".join(records))
        return batches

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        self._check()
        state = self._groups.get(group)
        if state is None or not ids:
            return
        done = state.ack(ids)
        if len(done) < len(ids):  # ids written otherwise than the broker writes them ("5" for "5-0")?
            done += state.ack(_normal_ids(set(ids) - set(done)))
        if done:
            await self._log_acks(rec_ids(ACK, group, done))

    async def lag(self, group: str) -> int:
        self._check()
        state = self._group(group)
        return len(state.pending) + len(self._ids) - self._after(state.last)

    async def oldest_unacked(self, group: str) -> str | None:
        self._check()
        state = self._group(group)
        if state.pending:
            return min(state.pending, key=parse_id)
        start = self._after(state.last)
        return self._ids[start] if start < len(self._ids) else None

    async def length(self) -> int:
        self._check()
        return len(self._ids)

    async def tail(self, after_id: str, count: int, block_ms: int) -> list[Entry]:
        self._check()
        if after_id == "$":
            after = parse_id(self._ids[-1]) if self._ids else (0, 0)
        else:
            after = parse_id(after_id)
        deadline = self._deadline(block_ms)
        while True:
            start = self._after(after)
            if start < len(self._ids):
                return self._slice(start, count)
            if not await self._wait(deadline):
                return []

    async def range_since(self, since_ms: int, count: int | None = None) -> list[Entry]:
        self._check()
        return self._slice(self._from((since_ms, 0)), count)

    async def trim(self, min_id: str) -> int:
        self._check()
        # a min_id beyond every id handed out so far must not swallow entries appended later
        key = min(parse_id(min_id), (self._last_id[0], self._last_id[1] + 1))
        dropped = self._from(key)
        del self._ids[:dropped]
        del self._data[:dropped]
        if key > self._trim_point:
            self._trim_point = key
            await self._log_acks(rec_trim(key))
            assert self._executor is not None
            await asyncio.get_running_loop().run_in_executor(self._executor, self._segments.drop_before, key)
        return dropped

    async def _compact(self) -> None:
        """Replace the ack log by a snapshot of the group state (records after it replay idempotently)."""
        if self._compacting:
            return
        self._compacting = True
        try:
            image = snapshot(self._groups, self._trim_point)
            self._ack_written = 0
            assert self._executor is not None
            await asyncio.get_running_loop().run_in_executor(self._executor, self._swap_ack_log, image)
        finally:
            self._compacting = False

    def _swap_ack_log(self, image: bytes) -> None:
        path, temp = self.directory / ACK_LOG, self.directory / (ACK_LOG + ".tmp")
        with open(temp, "wb") as handle:
            write_all(handle.fileno(), image)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
        fsync_dir(self.directory)
        if self._acks is not None:
            self._acks.close()
        self._acks = AppendFile(path)

    # -- pub/sub ------------------------------------------------------------------
    def _offer(self, queue: asyncio.Queue[bytes | None], message: bytes | None) -> None:
        if queue.full():  # a slow subscriber loses its oldest message rather than growing without bound
            queue.get_nowait()
        queue.put_nowait(message)

    async def publish(self, channel: str, message: bytes) -> None:
        self._check()
        for queue in list(self._channels.get(channel, ())):
            self._offer(queue, bytes(message))

    @asynccontextmanager
    async def subscription(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        self._check()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self._subscriber_queue)
        self._channels.setdefault(channel, set()).add(queue)
        try:
            yield _Messages(queue)
        finally:
            queues = self._channels.get(channel)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._channels[channel]

    async def subscribe(self, channel: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        async with self.subscription(channel) as messages:
            async for message in messages:
                yield message

    # -- cache --------------------------------------------------------------------
    async def cache_get(self, key: str) -> bytes | None:
        self._check()
        hit = self._cache.get(key)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            del self._cache[key]
            return None
        return hit[0]

    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._check()
        moment = time.monotonic()
        self._cache[key] = (bytes(value), moment + ttl_s)
        self._cache_sets += 1
        if self._cache_sets % 1000 == 0:
            for k in [k for k, (_, expiry) in self._cache.items() if expiry <= moment]:
                del self._cache[k]

    async def cache_delete(self, key: str) -> None:
        self._check()
        self._cache.pop(key, None)

"""The writer: moves events from the broker stream into ClickHouse, exactly once in query results.

One batch is in flight per writer. A batch is read by size or time, inserted in one INSERT whose
deduplication token is derived from the batch's entry ids, and acknowledged only after ClickHouse
accepted it. After a crash the same entries come back as the same batch (own pending entries, or a
dead consumer's whole pending list), so a repeated INSERT carries the same token and counts once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
from typing import Any, Callable, Mapping, Sequence

from trail import metrics
from trail.live.broker import Broker, Entry
from trail.store.events import EventStore, EventStoreError, EventStoreUnavailable, JsonRowFormat, JsonRows

log = logging.getLogger("trail.writer")

GROUP = "writer"
STALE_CONSUMER_MS = 60_000  # a consumer whose pending entries are idle this long is presumed dead
TRIM_EVERY_S = 10.0
ACCUMULATE_S = 0.1  # pause after a short read while a batch fills, so reads come in tens per second, not thousands


def batch_token(entries: Sequence[Entry]) -> str:
    """The insert deduplication token of a batch: a digest of its entry ids, in order."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry.id.encode())
        digest.update(b",")
    return digest.hexdigest()


def default_consumer_name() -> str:
    return f"writer-{socket.gethostname()}-{os.getpid()}"


class Writer:
    """Consumer-group reader that batches stream entries into ClickHouse INSERTs and acks after success."""

    def __init__(
        self,
        broker: Broker,
        store: EventStore,
        decode: Callable[[bytes], Mapping[str, Any]] | JsonRowFormat,
        *,
        table: str = "events",
        max_batch: int = 5000,
        flush_interval_ms: int = 1000,
        retention_minutes: int = 40,
        consumer: str | None = None,
        claim_idle_ms: int = STALE_CONSUMER_MS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.broker = broker
        self.store = store
        # With a JsonRowFormat the payloads are rows as they are: a store that reads JSON inserts them unchanged
        self.json_format = decode if isinstance(decode, JsonRowFormat) else None
        self.decode = decode.decode if isinstance(decode, JsonRowFormat) else decode
        self.table = table
        self.max_batch = max_batch
        self.flush_interval = flush_interval_ms / 1000
        self.retention_ms = retention_minutes * 60_000
        self.consumer = consumer or default_consumer_name()
        self.claim_idle_ms = claim_idle_ms
        self.clock = clock
        self._stopping = asyncio.Event()
        self._last_trim = 0.0
        self.written = 0  # events inserted by this writer (after dedup by the server, possibly fewer)

    # -- lifecycle ---------------------------------------------------------
    async def run(self) -> None:
        """Write until stop() is called; then flush what was read and return."""
        await self.broker.ensure_group(GROUP)
        await self.recover()
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self.step()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:  # broker hiccup: keep the loop alive, entries stay pending
                log.exception("writer step failed; retrying in %.1fs", backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def stop(self) -> None:
        self._stopping.set()

    # -- the work ----------------------------------------------------------
    async def recover(self) -> None:
        """Re-insert this consumer's own pending batch, then any dead consumer's, each exactly as it was."""
        own = await self.broker.read_pending(GROUP, self.consumer, 10 * self.max_batch)
        if own:
            log.info("re-inserting %d pending events of %s", len(own), self.consumer)
            await self.write_batch(own)
        await self.claim_dead()

    async def claim_dead(self) -> None:
        for batch in await self.broker.claim_stale(GROUP, self.consumer, self.claim_idle_ms):
            if batch:
                log.info("took over %d pending events of a dead writer", len(batch))
                await self.write_batch(batch)

    async def step(self) -> int:
        """Read one batch (by size or time), write it, ack it; trim and report. Returns events written."""
        batch = await self.read_batch()
        if batch:
            await self.write_batch(batch)
        now = self.clock()
        if now - self._last_trim >= TRIM_EVERY_S:
            self._last_trim = now
            await self.claim_dead()
            await self.trim()
        await self.report()
        return len(batch)

    async def read_batch(self) -> list[Entry]:
        batch: list[Entry] = []
        deadline = time.monotonic() + self.flush_interval
        while len(batch) < self.max_batch and not self._stopping.is_set():
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            wanted = self.max_batch - len(batch)
            got = await self.broker.read_group(GROUP, self.consumer, wanted, block_ms=min(remaining_ms, 250))
            batch.extend(got)
            if got and len(got) < wanted:
                # a trickle: let it pool for a moment instead of one read (and delivery record) per few events
                await self._sleep(min(ACCUMULATE_S, max(0.0, deadline - time.monotonic())))
        return batch

    async def write_batch(self, batch: Sequence[Entry]) -> None:
        """Insert the batch (retrying with the same token until ClickHouse accepts it), then ack."""
        rows: Sequence[Mapping[str, Any]]
        if self.json_format is not None:
            check = self.json_format.check
            kept = [entry for entry in batch if check(entry.data)]
            if len(kept) < len(batch):
                _log_dropped([entry.id for entry in batch if not check(entry.data)])
            rows = JsonRows([entry.data for entry in kept], self.json_format)
        else:
            rows = self._decoded([entry.data for entry in batch], [entry.id for entry in batch])
        token = batch_token(batch)
        backoff = 0.25
        while rows:
            started = time.perf_counter()
            try:
                await self.store.insert(self.table, rows, dedup_token=token)
            except EventStoreError as exc:
                if isinstance(rows, JsonRows) and not isinstance(exc, EventStoreUnavailable):
                    # refused as JSON (a payload the check let through but ClickHouse cannot read): insert the rows
                    # that decode, under the same token; nothing of the refused INSERT was written
                    log.warning("insert of %d JSON rows failed (%s); inserting them decoded", len(rows), exc)
                    rows = self._decoded(list(rows.lines), [entry.id for entry in kept])
                    continue
                metrics.INSERT_FAILURES.inc()
                if self._stopping.is_set():
                    log.warning("stopping with %d events unwritten; they stay pending for the next start", len(rows))
                    return
                log.warning("insert of %d events failed (%s); retrying in %.2fs", len(rows), exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            metrics.INSERT_LATENCY.observe(time.perf_counter() - started)
            metrics.INSERT_BATCH_SIZE.observe(len(rows))
            self.written += len(rows)
            break
        await self.broker.ack(GROUP, [entry.id for entry in batch])

    def _decoded(self, payloads: Sequence[bytes], ids: Sequence[str]) -> list[Mapping[str, Any]]:
        """The payloads as rows; the ones that do not decode are dropped (and logged)."""
        rows, bad = [], []
        for entry_id, data in zip(ids, payloads):
            try:
                rows.append(self.decode(data))
            except Exception:
                bad.append(entry_id)
        if bad:
            _log_dropped(bad)
        return rows

    async def trim(self) -> None:
        """Trim the stream to the retention window, never past the oldest unacknowledged entry."""
        cutoff_ms = int(self.clock() * 1000) - self.retention_ms
        min_id = f"{cutoff_ms}-0"
        oldest = await self.broker.oldest_unacked(GROUP)
        if oldest is not None and _id_key(oldest) < _id_key(min_id):
            min_id = oldest
        await self.broker.trim(min_id)

    async def report(self) -> None:
        metrics.CONSUMER_LAG.set(await self.broker.lag(GROUP))
        metrics.BUFFER_DEPTH.set(await self.broker.length())

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass


def _log_dropped(ids: Sequence[str]) -> None:
    log.error("dropping %d undecodable stream entries (first %s)", len(ids), ids[0])


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)

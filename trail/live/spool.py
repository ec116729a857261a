"""On-disk pieces of the embedded broker: checksummed records, group-committed append logs, the spool dir lock."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import zlib
from concurrent.futures import Executor
from pathlib import Path
from typing import Callable, Iterator, Sequence

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")  # body length, crc32(body)
MAX_RECORD = 64 * 1024 * 1024

IdKey = tuple[int, int]


class SpoolLocked(RuntimeError):
    """Another process owns the spool directory."""


class SpoolCorrupt(RuntimeError):
    """A spool file holds a record that cannot be read (outside a torn tail)."""


# -- ids --------------------------------------------------------------------
def parse_id(value: str | bytes) -> IdKey:
    """'<ms>-<seq>' (or '<ms>') to a comparable (ms, seq) tuple."""
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(key: IdKey) -> str:
    return f"{key[0]}-{key[1]}"


# -- records ----------------------------------------------------------------
def encode_record(body: bytes) -> bytes:
    """One framed record: length and CRC32 of the body, then the body."""
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def scan_records(blob: bytes) -> tuple[list[bytes], int]:
    """The bodies of the intact records at the start of blob, and the byte length they cover.

    Scanning stops at the first record that is short (a torn write) or fails its checksum.
    """
    bodies: list[bytes] = []
    pos, size = 0, len(blob)
    view = memoryview(blob)
    while pos + _HEADER.size <= size:
        length, crc = _HEADER.unpack_from(blob, pos)
        end = pos + _HEADER.size + length
        if length > MAX_RECORD or end > size:
            break
        body = bytes(view[pos + _HEADER.size:end])
        if zlib.crc32(body) != crc:
            break
        bodies.append(body)
        pos = end
    return bodies, pos


def read_log(path: Path, truncate: bool = True) -> list[bytes]:
    """Read every intact record of a log file; cut a torn or corrupt tail off the file (with fsync)."""
    blob = path.read_bytes()
    bodies, good = scan_records(blob)
    if good < len(blob):
        log.warning("spool: %s has %d bytes of torn or corrupt tail after %d records; truncating",
                    path, len(blob) - good, len(bodies))
        if truncate:
            with open(path, "r+b") as handle:
                handle.truncate(good)
                os.fsync(handle.fileno())
    return bodies


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# -- the lock ---------------------------------------------------------------
class DirLock:
    """An exclusive flock on <dir>/LOCK, held for the life of the owner; the file names the holder's pid."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "LOCK"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SpoolLocked(
                f"the spool directory {self.directory} is in use by another process (pid {holder}): "
                f"it holds the exclusive lock {self.path}. Only one Trail process may use an embedded "
                "spool; stop the other one, or set TRAIL_REDIS_URL to share a Redis broker."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


# -- group commit -------------------------------------------------------------
DELAY_MIN_RECORDS = 8  # records delayed batches must gather on average for the commit delay to be used
DELAY_PROBE_S = 1.0  # while it is not used, seconds between tries
_AVERAGE_WEIGHT = 0.25  # of the newest delayed batch in the moving average


class GroupCommitter:
    """Batches concurrent commits: while one write+fsync runs, later callers queue up for the next single one.

    `write` runs in the (single-thread) executor with the list of byte chunks of one batch; callbacks given
    to commit() run on the event loop, in commit order, once their batch is durable.

    `spacing_s` > 0 is a commit delay (as PostgreSQL's `commit_delay`): a batch starts no sooner than that after
    the previous one, so that later callers join it. Every batch costs the event loop about 50 µs (the hand-off
    to the disk thread, the wake-up when it is done, the batch's futures) whatever its size, and an fsync takes
    only 0.2-0.5 ms here, so under load the delay cuts that cost per event several times. It is used only where
    it pays: never after a batch of one record (one client sending one record at a time), and while delayed
    batches gather fewer than `DELAY_MIN_RECORDS` records on average (a moving average: a few clients, each waiting
    for its answer before sending again, or slow traffic), only once per `DELAY_PROBE_S`, until the average is back
    above it. A commit after a quiet spell starts at once. C clients that each wait for their answer get at most C
    records per delay through; from 8 of them on, the delay stays in use.
    """

    def __init__(self, executor: Executor, write: Callable[[list[bytes]], None], spacing_s: float = 0.0) -> None:
        self._executor = executor
        self._write = write
        self._spacing = spacing_s
        self._started = float("-inf")  # loop time the last batch started
        self._count = 0  # records in the batch being gathered
        self._last_count = 0  # records in the last batch
        self._gathered = 2.0 * DELAY_MIN_RECORDS  # moving average of the records a delayed batch gathered
        self._hold_off = float("-inf")  # loop time until which the delay is not used (it did not pay)
        self._chunks: list[bytes] = []
        self._callbacks: list[Callable[[], None]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    async def commit(self, chunk: bytes, on_durable: Callable[[], None] | None = None, records: int = 1) -> None:
        """Return once chunk (holding that many records) is written and fsynced (raise if that failed)."""
        loop = asyncio.get_running_loop()
        self._chunks.append(chunk)
        self._count += records
        if on_durable is not None:
            self._callbacks.append(on_durable)
        if self._waiter is None:
            self._waiter = loop.create_future()
        waiter = self._waiter
        if self._task is None:
            self._task = loop.create_task(self._flush())
        await asyncio.shield(waiter)

    async def drain(self) -> None:
        """Wait for the batches in flight."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._chunks:
                delayed = False
                if self._spacing and self._last_count > 1:
                    now = loop.time()
                    delay = self._started + self._spacing - now
                    if delay > 1e-4 and now >= self._hold_off:  # (uvloop's clock has whole milliseconds)
                        await asyncio.sleep(delay)  # later callers join this batch meanwhile
                        delayed = True
                self._started = loop.time()
                if delayed:
                    self._gathered += (self._count - self._gathered) * _AVERAGE_WEIGHT
                    if self._gathered < DELAY_MIN_RECORDS:
                        self._hold_off = self._started + DELAY_PROBE_S
                chunks, callbacks, waiter = self._chunks, self._callbacks, self._waiter
                self._chunks, self._callbacks, self._waiter = [], [], None
                self._last_count, self._count = self._count, 0
                assert waiter is not None
                try:
                    await loop.run_in_executor(self._executor, self._write, chunks)
                except Exception as exc:  # the batch failed: every caller of it gets the error
                    waiter.set_exception(exc)
                    continue
                self.batches += 1
                for callback in callbacks:
                    callback()
                waiter.set_result(None)
        finally:
            self._task = None


class AppendFile:
    """An append-only file written by one executor thread, undone (truncated) on failure.

    Opened with O_DSYNC: a write returns once its data is durable, as write + fdatasync did, in one system call
    instead of two. The disk thread takes the GIL back once less per commit, and each time it does it holds up the
    event loop (events/s +3%, measured side by side)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_DSYNC, 0o644)
        self.size = os.fstat(self.fd).st_size

    def append(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        try:
            write_all(self.fd, data)
        except OSError:
            os.ftruncate(self.fd, self.size)  # never leave half a batch behind a failed commit
            raise
        self.size += len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1


def iter_files(directory: Path, prefix: str, suffix: str) -> Iterator[tuple[IdKey, Path]]:
    """Files named <prefix><ms>-<seq><suffix>, sorted by that id."""
    found = []
    for path in directory.glob(f"{prefix}*{suffix}"):
        try:
            found.append((parse_id(path.name[len(prefix):-len(suffix)]), path))
        except ValueError:
            continue
    return iter(sorted(found))


# -- the segmented entry log ----------------------------------------------------
# A record of the entry log holds one append: consecutive ids (ms, first), (ms, first + 1), ... and their payloads,
# under one header and one CRC (framing each entry cost the event loop ~1 µs an entry; this, ~0.2).
_BATCH = struct.Struct("<QQQI")  # the marker, ms, first seq, count; then count u32 payload lengths, then the payloads
_BATCH_MARK = 2**64 - 1  # where an entry record has its ms: never a real time
BATCH_BYTES = 8 << 20  # payload bytes per record at most (an append of more is split); far below MAX_RECORD
# Spools written before session 12 hold a record per entry: ms, seq, then the payload. They are still read.
_ENTRY = struct.Struct("<QQ")


def encode_batch(ms: int, first_seq: int, payloads: Sequence[bytes]) -> bytes:
    """The records of the entries (ms, first_seq), (ms, first_seq + 1), ... holding payloads, in order."""
    lengths = list(map(len, payloads))
    if sum(lengths) > BATCH_BYTES and len(payloads) > 1:
        records, start, size = [], 0, 0
        for i, length in enumerate(lengths):
            if size + length > BATCH_BYTES and i > start:
                records.append(encode_batch(ms, first_seq + start, payloads[start:i]))
                start, size = i, 0
            size += length
        records.append(encode_batch(ms, first_seq + start, payloads[start:]))
        return b"".join(records)
    if lengths and max(lengths) > MAX_RECORD - 1024:
        raise ValueError(f"a stream payload of {max(lengths)} bytes is over the spool's record size")
    count = len(payloads)
    head = _BATCH.pack(_BATCH_MARK, ms, first_seq, count) + struct.pack(f"<{count}I", *lengths)
    return encode_record(head + b"".join(payloads))


def decode_entries(body: bytes) -> list[tuple[IdKey, bytes]]:
    """The entries of one record of the entry log (a batch record, or an entry record of an older spool)."""
    ms, seq = _ENTRY.unpack_from(body)
    if ms != _BATCH_MARK:
        return [((ms, seq), body[_ENTRY.size:])]
    _, ms, first, count = _BATCH.unpack_from(body)
    lengths = struct.unpack_from(f"<{count}I", body, _BATCH.size)
    view, pos, entries = memoryview(body), _BATCH.size + 4 * count, []
    for i, length in enumerate(lengths):
        entries.append(((ms, first + i), bytes(view[pos:pos + length])))
        pos += length
    if pos != len(body):
        raise SpoolCorrupt(f"a batch record of {count} entries holds {len(body) - pos} bytes more than they")
    return entries


def _first_key(record: bytes) -> IdKey:
    """The id of the first entry of a batch record as encode_batch makes it (the only records written)."""
    _, ms, first, _ = _BATCH.unpack_from(record, _HEADER.size)
    return ms, first


class SegmentLog:
    """Entries in segment files seg-<first id>.log; the newest one is appended to, old ones are deleted whole.

    Every method but the constructor runs in the broker's single disk thread.
    """

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.segments: list[tuple[IdKey, Path]] = []
        self.active: AppendFile | None = None

    def recover(self) -> tuple[list[tuple[IdKey, bytes]], IdKey]:
        """Read every segment (cutting a torn tail off); return the entries and the highest id ever used."""
        entries: list[tuple[IdKey, bytes]] = []
        last: IdKey = (0, 0)
        self.segments = list(iter_files(self.directory, "seg-", ".log"))
        for first, path in self.segments:
            last = max(last, first)
            for body in read_log(path):
                for key, data in decode_entries(body):
                    if entries and key <= entries[-1][0]:
                        raise SpoolCorrupt(f"{path}: id {format_id(key)} is not above its predecessor")
                    entries.append((key, data))
        if entries:
            last = max(last, entries[-1][0])
        if self.segments:
            self.active = AppendFile(self.segments[-1][1])
        return entries, last

    def write(self, chunks: list[bytes]) -> None:
        if self.active is None or self.active.size >= self.segment_bytes:
            first = _first_key(chunks[0])
            path = self.directory / f"seg-{format_id(first)}.log"
            if self.active is not None:
                self.active.close()
            self.active = AppendFile(path)
            fsync_dir(self.directory)
            self.segments.append((first, path))
        self.active.append(chunks)

    def drop_before(self, min_id: IdKey) -> int:
        """Delete the segments that hold only ids below min_id (never the active one); return how many."""
        doomed = 0
        while doomed + 1 < len(self.segments) and self.segments[doomed + 1][0] <= min_id:
            doomed += 1
        for _, path in self.segments[:doomed]:
            path.unlink(missing_ok=True)
        if doomed:
            del self.segments[:doomed]
            fsync_dir(self.directory)
        return doomed

    def close(self) -> None:
        if self.active is not None:
            self.active.close()
            self.active = None

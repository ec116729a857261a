"""The embedded spool survives SIGKILL, torn writes and restarts; group commit batches; one owner per dir."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import AsyncIterator

import pytest

import trail.live.spool as spool_module
from trail.live.groups import rec_group
from trail.live.memory_broker import MemoryBroker
from trail.live.spool import DELAY_MIN_RECORDS, GroupCommitter, SpoolLocked

CHILD = Path(__file__).with_name("_spool_child.py")


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, str(CHILD), *args,
                                                stdout=asyncio.subprocess.PIPE)


async def kill(proc: asyncio.subprocess.Process) -> bytes:
    """SIGKILL the child; return what it had printed but we had not read yet."""
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.stdout is not None
    rest = await proc.stdout.read()
    await proc.wait()
    return rest


async def opened(spool: Path, **options: int) -> MemoryBroker:
    broker = MemoryBroker(spool, **options)
    await broker.start()
    return broker


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Path]:
    yield tmp_path / "spool"


async def test_every_acknowledged_append_survives_sigkill(spool: Path) -> None:
    proc = await spawn("burst", str(spool), "20")
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
    lines: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(lines) < 3000 and time.monotonic() < deadline:  # kill it mid-burst, appends in flight
        lines.append(await asyncio.wait_for(proc.stdout.readline(), 30))
    tail = await kill(proc)
    assert proc.returncode == -signal.SIGKILL
    printed = b"".join(lines) + tail
    complete = printed[: printed.rfind(b"\n") + 1].decode().splitlines()
    acked = dict(line.split(" ", 1) for line in complete)
    assert len(acked) == len(complete) >= 3000  # ids are unique

    broker = await opened(spool)
    try:
        stored = await broker.range_since(0)
        ids = [e.id for e in stored]
        assert len(ids) == len(set(ids))
        assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
        data = {e.id: e.data.decode() for e in stored}
        missing = [i for i in acked if i not in data]
        assert not missing, f"{len(missing)} acknowledged appends lost, e.g. {missing[:3]}"
        assert all(data[i] == payload for i, payload in acked.items())
        assert len(list(spool.glob("seg-*.log"))) > 1  # the burst rotated segments
        # appending continues after the recovered ids
        new = await broker.append([b"after"])
        assert tuple(map(int, new[0].split("-"))) > tuple(map(int, ids[-1].split("-")))
    finally:
        await broker.close()


async def test_acked_entries_are_not_redelivered_after_sigkill(spool: Path) -> None:
    proc = await spawn("consume", str(spool))
    assert proc.stdout is not None
    ids = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    await kill(proc)

    broker = await opened(spool)
    try:
        assert [e.id for e in await broker.read_pending("g", "c1", 100)] == ids[3:6]
        assert [e.id for e in await broker.read_pending("g", "c2", 100)] == ids[6:8]
        assert await broker.lag("g") == 7
        assert await broker.oldest_unacked("g") == ids[3]
        # a new writer takes over each dead consumer's batch exactly, then gets only the undelivered rest
        batches = await broker.claim_stale("g", "heir", 60_000)
        assert sorted([e.id for e in batch] for batch in batches) == [ids[3:6], ids[6:8]]
        assert [e.id for e in await broker.read_group("g", "heir", 100, 0)] == ids[8:]
        await broker.ack("g", ids)
        assert await broker.lag("g") == 0
    finally:
        await broker.close()
    broker = await opened(spool)  # and the acks themselves were durable
    try:
        assert await broker.lag("g") == 0
        assert await broker.read_group("g", "x", 100, 0) == []
        assert await broker.read_pending("g", "heir", 100) == []
    finally:
        await broker.close()


def _binary_ids_record(kind: bytes, group: str, consumer: str, ids: list[str]) -> bytes:
    """A DELIVER/CLAIM/ACK record as spools written before session 12 held it: the ids as pairs of u64."""
    flat = [int(part) for entry_id in ids for part in entry_id.split("-")]
    body = kind + b"".join(struct.pack("<H", len(s)) + s for s in (group.encode(), consumer.encode()))
    return spool_module.encode_record(body + struct.pack(f"<I{len(flat)}Q", len(ids), *flat))


async def test_an_ack_log_of_the_earlier_binary_format_replays(spool: Path) -> None:
    """Records with binary ids (kinds P, C, A) in an existing spool's ack log still count after an upgrade."""
    broker = await opened(spool)
    ids = await broker.append([f"e{i}".encode() for i in range(8)])
    await broker.close()
    group = rec_group("g", (0, 0))
    records = [_binary_ids_record(b"P", "g", "c1", ids[:5]), _binary_ids_record(b"A", "g", "", ids[:2]),
               _binary_ids_record(b"C", "g", "c2", ids[4:5]), _binary_ids_record(b"P", "g", "c2", ids[5:6])]
    (spool / "acks.log").write_bytes(group + b"".join(records))
    broker = await opened(spool)
    try:
        assert [e.id for e in await broker.read_pending("g", "c1", 100)] == ids[2:4]
        assert [e.id for e in await broker.read_pending("g", "c2", 100)] == ids[4:6]
        assert [e.id for e in await broker.read_group("g", "c3", 100, 0)] == ids[6:]  # delivered up to ids[5]
        await broker.ack("g", ids[2:5])
        assert await broker.lag("g") == 3
    finally:
        await broker.close()
    broker = await opened(spool)  # the new records written after the old ones replay with them
    try:
        assert [e.id for e in await broker.read_pending("g", "c2", 100)] == ids[5:6]
        assert await broker.lag("g") == 3
    finally:
        await broker.close()


async def test_torn_and_corrupt_tails_are_cut_off(spool: Path) -> None:
    broker = await opened(spool)
    ids = [(await broker.append([f"r{i}".encode()]))[0] for i in range(4)]
    ids += await broker.append([b"r4", b"r5"])  # one append, one record: kept or cut off whole
    await broker.close()
    (segment,) = spool.glob("seg-*.log")
    good = segment.stat().st_size
    record = spool_module.encode_batch(99999999999999, 0, [b"torn" * 10])
    with open(segment, "ab") as handle:
        handle.write(record[: len(record) // 2])  # a write torn by the crash

    broker = await opened(spool)
    assert [e.id for e in await broker.range_since(0)] == ids
    assert segment.stat().st_size == good
    await broker.close()

    blob = bytearray(segment.read_bytes())
    blob[-1] ^= 0xFF  # the last record's body (the last append's) no longer matches its checksum
    segment.write_bytes(bytes(blob))
    broker = await opened(spool)
    try:
        assert [e.id for e in await broker.range_since(0)] == ids[:4]
        more = await broker.append([b"next"])
    finally:
        await broker.close()
    broker = await opened(spool)
    try:
        assert [e.id for e in await broker.range_since(0)] == ids[:4] + more
    finally:
        await broker.close()


def encode_entry(key: tuple[int, int], data: bytes) -> bytes:
    """A record of one entry, as spools written before session 12 held them: ms, seq, then the payload."""
    return spool_module.encode_record(struct.pack("<QQ", *key) + data)


async def test_entry_records_of_an_older_spool_and_batch_records_recover_together(spool: Path) -> None:
    """A segment written before session 12 (a record per entry) goes on with batch records after an upgrade."""
    spool.mkdir(parents=True)
    old = [(1_700_000_000_000, 0), (1_700_000_000_000, 1), (1_700_000_000_001, 0)]
    segment = spool / "seg-1700000000000-0.log"
    segment.write_bytes(b"".join(encode_entry(key, f"old{i}".encode()) for i, key in enumerate(old)))
    broker = await opened(spool)
    try:
        new = await broker.append([b"new0", b"new1"])
        assert [e.data for e in await broker.range_since(0)] == [b"old0", b"old1", b"old2", b"new0", b"new1"]
    finally:
        await broker.close()
    broker = await opened(spool)
    try:
        entries = await broker.range_since(0)
        assert [e.id for e in entries] == ["1700000000000-0", "1700000000000-1", "1700000000001-0", *new]
        assert [e.data for e in entries] == [b"old0", b"old1", b"old2", b"new0", b"new1"]
        assert list(spool.glob("seg-*.log")) == [segment]  # appended to the same segment
    finally:
        await broker.close()


async def test_a_large_append_is_split_into_records_and_recovers_whole(spool: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "BATCH_BYTES", 100)
    payloads = [bytes([65 + i]) * (30 + i) for i in range(10)]  # 345 bytes: 5 records of at most 100 bytes
    broker = await opened(spool, segment_bytes=150)  # and a segment rollover between records of one append
    try:
        ids = await broker.append(payloads)
        ids += await broker.append([b"z" * 500])  # one payload over the bound still goes, in a record of its own
        payloads.append(b"z" * 500)
    finally:
        await broker.close()
    segments = sorted(spool.glob("seg-*.log"))  # a rollover happens between commits, not inside one
    assert [len(spool_module.scan_records(p.read_bytes())[0]) for p in segments] == [5, 1]
    assert [p.name for p in segments] == [f"seg-{ids[0]}.log", f"seg-{ids[-1]}.log"]
    broker = await opened(spool, segment_bytes=150)
    try:
        entries = await broker.range_since(0)
        assert [e.id for e in entries] == ids
        assert [e.data for e in entries] == payloads
        more = await broker.append([b"after"])  # the next commit starts a segment named by its first id
        assert [p.name for p in sorted(spool.glob("seg-*.log"))][-1] == f"seg-{more[0]}.log"
    finally:
        await broker.close()


async def test_a_spool_held_by_another_process_is_refused_clearly(spool: Path) -> None:
    proc = await spawn("hold", str(spool))
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
    try:
        with pytest.raises(SpoolLocked) as info:
            await opened(spool)
        message = str(info.value)
        assert str(spool / "LOCK") in message and f"pid {proc.pid}" in message
    finally:
        await kill(proc)
    broker = await opened(spool)  # the kernel dropped the dead holder's lock
    await broker.close()


async def test_trim_deletes_old_segments_and_survives_restart(spool: Path) -> None:
    broker = await opened(spool, segment_bytes=256)
    ids = []
    for i in range(40):
        ids += await broker.append([f"{i:04d}".encode() * 8])
    segments = len(list(spool.glob("seg-*.log")))
    assert segments > 5
    assert await broker.trim(ids[30]) == 30
    assert len(list(spool.glob("seg-*.log"))) < segments / 2
    await broker.close()
    broker = await opened(spool, segment_bytes=256)
    try:
        assert [e.id for e in await broker.range_since(0)] == ids[30:]
        assert await broker.trim("99999999999999-0") == 10  # past the end: drops all, but not later appends
        later = await broker.append([b"later"])
    finally:
        await broker.close()
    broker = await opened(spool)
    try:
        assert [e.id for e in await broker.range_since(0)] == later
    finally:
        await broker.close()


async def test_ack_log_is_compacted(spool: Path) -> None:
    broker = await opened(spool, ack_log_bytes=2048)
    await broker.ensure_group("g")
    for round_ in range(100):
        await broker.append([b"x"] * 5)
        got = await broker.read_group("g", "c", 5, 0)
        await broker.ack("g", [e.id for e in got[:4]])  # one of each five stays pending
    assert (spool / "acks.log").stat().st_size < 2048 + 1024
    pending = [e.id for e in await broker.read_pending("g", "c", 1000)]
    assert len(pending) == 100
    await broker.close()
    broker = await opened(spool)
    try:
        assert [e.id for e in await broker.read_pending("g", "c", 1000)] == pending
        assert await broker.lag("g") == 100
    finally:
        await broker.close()


async def test_group_commit_batches_concurrent_appenders(spool: Path) -> None:
    """50 concurrent appenders share fsyncs; prints the measured rate (see docs/ARCHITECTURE.md)."""
    broker = await opened(spool)
    try:
        per_writer, writers = 100, 50

        async def writer(w: int) -> None:
            for n in range(per_writer):
                await broker.append([f"{w}:{n}".encode()])

        started = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(writers)))
        elapsed = time.perf_counter() - started
        total = per_writer * writers
        batches = broker._entry_log.batches
        print(f"\n{total} appends by {writers} concurrent appenders: {total / elapsed:,.0f}/s, "
              f"{batches} fsyncs ({total / batches:.1f} appends per group commit)")
        assert await broker.length() == total
        assert batches < total / 5
    finally:
        await broker.close()


async def test_commit_delay_is_used_only_where_it_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    """With spacing, a batch starts no sooner than `spacing` after the previous one and later callers join it;
    not after a batch of one record, nor (but once per DELAY_PROBE_S) while delayed batches gather fewer than
    DELAY_MIN_RECORDS records on average; a commit after a quiet spell starts at once."""
    monkeypatch.setattr(spool_module, "DELAY_PROBE_S", 0.6)
    spacing, soon = 0.2, 0.15  # soon: well under the spacing, for "at once"
    loop = asyncio.get_running_loop()
    starts: list[float] = []  # loop time each batch started: set before the hand-off, so the gaps are exact
    written: list[list[bytes]] = []

    def write(chunks: list[bytes]) -> None:
        starts.append(committer._started)
        written.append(chunks)

    async def several(n: int) -> None:
        await asyncio.gather(*(committer.commit(b"x") for _ in range(n)))

    def gap() -> float:
        return starts[-1] - starts[-2]

    with ThreadPoolExecutor(1) as executor:
        committer = GroupCommitter(executor, write, spacing)
        for record in (b"a", b"b", b"c"):  # one caller, one record at a time: never held back
            asked = loop.time()
            await committer.commit(record)
            assert starts[-1] - asked < soon

        await several(DELAY_MIN_RECORDS)  # after a batch of one: at once
        assert gap() < soon and written[-1] == [b"x"] * DELAY_MIN_RECORDS
        await several(DELAY_MIN_RECORDS)  # a busy spell: the next batch keeps its distance
        assert gap() >= spacing * 0.99

        early = asyncio.gather(committer.commit(b"p"), committer.commit(b"q"))
        await asyncio.sleep(spacing / 2)
        await asyncio.gather(early, committer.commit(b"r"))  # came while the batch waited: it joined
        assert written[-1] == [b"p", b"q", b"r"] and gap() >= spacing * 0.99

        delayed = 0
        for _ in range(10):  # a few clients: delayed batches of 2 pull the average down ...
            await several(2)
            if gap() < soon:
                break
            delayed += 1
        assert delayed >= 1 and committer._gathered < DELAY_MIN_RECORDS
        held_off = committer._hold_off
        assert held_off > loop.time()
        while True:  # ... so no delay for DELAY_PROBE_S; then the delay is tried again
            await several(2)
            if gap() >= spacing * 0.99:
                break
            assert loop.time() < held_off + 0.5, "the delay was not tried again"
            await asyncio.sleep(spacing / 4)  # (a delay would have waited the rest of the spacing)
        assert starts[-1] >= held_off
        assert committer._hold_off > loop.time()  # the try gathered too few: held off again
        await several(2)
        assert gap() < soon

    starts.clear()
    with ThreadPoolExecutor(1) as executor:
        committer = GroupCommitter(executor, write, spacing)
        await several(DELAY_MIN_RECORDS)
        await several(DELAY_MIN_RECORDS)
        assert gap() >= spacing * 0.99 and committer._gathered >= DELAY_MIN_RECORDS  # the delay is in use ...
        await asyncio.sleep(spacing * 1.5)
        asked = loop.time()
        await several(DELAY_MIN_RECORDS)  # ... but a commit after a quiet spell starts at once
        assert starts[-1] - asked < soon and committer._hold_off < asked

    with ThreadPoolExecutor(1) as executor:
        committer = GroupCommitter(executor, write)  # no spacing: a batch follows the last one at once
        await several(DELAY_MIN_RECORDS)
        asked = loop.time()
        await several(DELAY_MIN_RECORDS)
        assert starts[-1] - asked < soon


async def test_appends_under_the_commit_delay_are_grouped_and_survive_a_close(spool: Path) -> None:
    """Through the embedded broker with a commit delay: clients that each wait for their answer share delayed
    fsyncs, and appends waiting in a delayed batch when the broker closes are written before close returns."""
    broker = await opened(spool, commit_spacing_ms=100)
    try:
        async def client(c: int) -> None:
            for n in range(10):
                await broker.append([f"{c}:{n}".encode()])

        await asyncio.gather(*(client(c) for c in range(16)))
        assert await broker.length() == 160
        assert broker._entry_log.batches <= 20  # ~16 per delayed fsync
        late = [asyncio.ensure_future(broker.append([b"late-%d" % i for i in range(n)])) for n in (1, 2)]
        await asyncio.sleep(0.02)
        assert len(broker._entry_log._chunks) == 2  # both in the next batch, which waits out the delay
    finally:
        await broker.close()
    assert [len(ids) for ids in await asyncio.gather(*late)] == [1, 2]
    reopened = await opened(spool)
    try:
        assert [e.data for e in await reopened.range_since(0)][-3:] == [b"late-0", b"late-0", b"late-1"]
        assert await reopened.length() == 163
    finally:
        await reopened.close()


async def test_retained_payloads_cost_their_length_not_orjsons_allocation(spool: Path) -> None:
    """orjson.dumps returns bytes allocated far larger than their length (3.13: ~4 KB for a few bytes); the broker
    keeps entries for the whole retention window, so it must keep exact-size copies (was ~11 KB per event)."""
    import gc
    import tracemalloc

    import orjson

    broker = await opened(spool)
    try:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            payloads = [orjson.dumps({"n": n, "path": f"/p{n}"}) for n in range(1000)]
            await broker.append(payloads)
            del payloads
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert await broker.length() == 1000
        assert [orjson.loads(e.data)["n"] for e in await broker.range_since(0, 3)] == [0, 1, 2]
        assert retained < 1_000_000, f"{retained} bytes retained for 1,000 small payloads"
    finally:
        await broker.close()


def test_a_batch_record_that_disagrees_with_its_lengths_is_corrupt() -> None:
    """A record whose checksum holds but whose payload lengths do not add up is refused, not read as entries."""
    record = spool_module.encode_batch(1_700_000_000_000, 0, [b"one", b"two"])
    body = spool_module.scan_records(record)[0][0]
    assert spool_module.decode_entries(body) == [((1_700_000_000_000, 0), b"one"), ((1_700_000_000_000, 1), b"two")]
    with pytest.raises(spool_module.SpoolCorrupt):
        spool_module.decode_entries(body + b"extra")


def test_spool_files_are_written_durably(tmp_path: Path) -> None:
    """The append files are opened O_DSYNC (a write returns once its data is on disk: no fdatasync after it)."""
    import fcntl

    log_file = spool_module.AppendFile(tmp_path / "x.log")
    try:
        assert fcntl.fcntl(log_file.fd, fcntl.F_GETFL) & os.O_DSYNC == os.O_DSYNC
        log_file.append([b"one", b"two"])
        assert (tmp_path / "x.log").read_bytes() == b"onetwo" and log_file.size == 6
    finally:
        log_file.close()

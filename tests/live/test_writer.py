"""The writer moves stream entries into ClickHouse exactly once: failed inserts, crashes between insert
and ack, dead consumers, trimming; on chDB (the app's schema) with both brokers, and through a real
ClickHouse 18.16 server outage."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Mapping, Sequence

import orjson
import pytest

from tests.conftest import REDIS_URL
from trail.live.broker import Broker
from trail.live.memory_broker import MemoryBroker
from trail.live.redis_broker import RedisBroker
from trail.live.writer import GROUP, Writer, batch_token
from trail.store.ch_migrations import migrate_events
from trail.store.chdb_store import ChdbEventStore
from trail.store.events import EventStore, EventStoreUnavailable

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def payload(i: int) -> bytes:
    return orjson.dumps({"event_id": str(uuid.UUID(int=i + 1)), "i": i})


def decode(data: bytes) -> dict[str, Any]:
    """A minimal events row (the app's real decoder is tested with ingestion)."""
    raw = orjson.loads(data)
    return {
        "event_id": uuid.UUID(raw["event_id"]), "site_id": 1, "ts": T0, "name": "pageview",
        "visitor_id": raw["i"], "session_id": raw["i"], "hostname": "example.com", "pathname": f"/p{raw['i']}",
        "referrer": "", "source": "", "utm_source": "", "utm_medium": "", "utm_campaign": "", "utm_term": "",
        "utm_content": "", "click_id_param": "", "country": "DE", "region": "", "city": "", "browser": "Chrome",
        "browser_version": "131", "os": "Linux", "os_version": "", "device": "Desktop", "screen": "Desktop",
        "language": "en", "props": {}, "revenue_amount": None, "revenue_currency": "", "interactive": 1,
        "scroll_depth": 0, "engagement_ms": 0,
    }


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the writer catches it."""


class FlakyStore(EventStore):
    """Wraps a real store: the first `fail` inserts raise Unavailable; `crash_after_insert` dies after one."""

    def __init__(self, real: EventStore, fail: int = 0, crash_after_insert: bool = False) -> None:
        self.real, self.fail, self.crash_after_insert = real, fail, crash_after_insert
        self.database = real.database
        self.attempts: list[str | None] = []

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        await self.real.execute(sql, params)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        return await self.real.query(sql, params)

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]], dedup_token: str | None = None) -> None:
        self.attempts.append(dedup_token)
        if self.fail > 0:
            self.fail -= 1
            raise EventStoreUnavailable("ClickHouse is down (on purpose)")
        await self.real.insert(table, rows, dedup_token=dedup_token)
        if self.crash_after_insert:
            raise Crash()


@pytest.fixture
async def store(chdb_dir: Path, unique_name: str) -> AsyncIterator[EventStore]:
    real = ChdbEventStore(f"chdb://{chdb_dir}?database={unique_name}")
    await real.start()
    await migrate_events(real)
    yield real
    await real.execute(f"DROP DATABASE IF EXISTS {unique_name}")
    await real.close()


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str) -> AsyncIterator[Broker]:
    made: Broker
    made = MemoryBroker(tmp_path / "spool") if request.param == "memory" else RedisBroker(REDIS_URL, redis_prefix)
    await made.start()
    await made.ensure_group(GROUP)
    yield made
    await made.close()


async def count(store: EventStore) -> tuple[int, int]:
    _, rows = await store.query("SELECT count(), uniqExact(event_id) FROM events")
    return int(rows[0][0]), int(rows[0][1])


def writer(broker: Broker, store: EventStore, **kw: Any) -> Writer:
    kw.setdefault("consumer", "w1")
    return Writer(broker, store, decode, max_batch=100, flush_interval_ms=50, **kw)


async def drain(w: Writer) -> None:
    """Run steps until the group has nothing left (a test's explicit flush)."""
    await w.broker.ensure_group(GROUP)
    for _ in range(200):
        await w.step()
        if await w.broker.lag(GROUP) == 0:
            return
    raise AssertionError("writer did not drain")


async def test_batches_are_written_and_acked(broker: Broker, store: EventStore) -> None:
    await broker.append([payload(i) for i in range(250)])
    w = writer(broker, store)
    await drain(w)
    assert await count(store) == (250, 250)
    assert await broker.lag(GROUP) == 0 and w.written == 250


async def test_failed_inserts_are_retried_with_the_same_token_and_count_once(broker: Broker, store: EventStore) -> None:
    await broker.append([payload(i) for i in range(60)])
    flaky = FlakyStore(store, fail=3)
    await drain(writer(broker, flaky))
    assert await count(store) == (60, 60)
    assert len(flaky.attempts) == 4 and len(set(flaky.attempts)) == 1  # one batch, retried 3 times


async def test_crash_between_insert_and_ack_leaves_no_duplicate(broker: Broker, store: EventStore) -> None:
    await broker.append([payload(i) for i in range(80)])
    dying = writer(broker, FlakyStore(store, crash_after_insert=True))
    with pytest.raises(Crash):
        await dying.step()
    assert await count(store) == (80, 80) and await broker.lag(GROUP) == 80  # inserted, never acked
    restarted = writer(broker, store)  # same consumer name: recovers its own pending batch
    await restarted.recover()
    await drain(restarted)
    assert await count(store) == (80, 80)
    assert await broker.lag(GROUP) == 0


async def test_dead_consumers_batch_is_taken_over_exactly_once(broker: Broker, store: EventStore) -> None:
    await broker.append([payload(i) for i in range(100, 150)])
    with pytest.raises(Crash):
        await writer(broker, FlakyStore(store, crash_after_insert=True), consumer="dead").step()
    await broker.append([payload(i) for i in range(150, 170)])
    other = writer(broker, store, consumer="alive", claim_idle_ms=0)
    await other.recover()
    await drain(other)
    assert await count(store) == (70, 70)


async def test_token_depends_on_the_batch_entries() -> None:
    from trail.live.broker import Entry

    a = [Entry("1-0", b"x"), Entry("1-1", b"y")]
    assert batch_token(a) == batch_token(list(a))
    assert batch_token(a) != batch_token(a[:1]) != batch_token(list(reversed(a)))


async def test_trim_keeps_retention_and_never_passes_unacked(broker: Broker, store: EventStore) -> None:
    ids = await broker.append([payload(i) for i in range(10)])
    w = writer(broker, store, retention_minutes=35)
    # pretend it is an hour later: everything is past retention, but nothing is written yet
    w.clock = lambda: (int(ids[-1].split("-")[0]) / 1000) + 3600
    await w.trim()
    assert await broker.length() == 10
    await drain(w)
    await w.trim()
    assert await broker.length() == 0
    await broker.append([payload(i) for i in range(10, 13)])
    newest = await broker.range_since(0)
    w.clock = lambda: int(newest[-1].id.split("-")[0]) / 1000 + 60  # a minute after the newest entry
    await drain(w)
    await w.trim()
    assert await broker.length() == 13 - 10  # within retention: kept for the live window


async def test_stop_during_an_outage_keeps_events_pending(broker: Broker, store: EventStore) -> None:
    await broker.append([payload(i) for i in range(5)])
    flaky = FlakyStore(store, fail=10_000)
    w = writer(broker, flaky)
    task = asyncio.create_task(w.run())
    while len(flaky.attempts) < 2:
        await asyncio.sleep(0.05)
    await w.stop()
    await asyncio.wait_for(task, timeout=10)
    assert await count(store) == (0, 0) and await broker.lag(GROUP) == 5
    later = writer(broker, store)
    await later.recover()
    assert await count(store) == (5, 5)


@pytest.mark.clickhouse_server
async def test_writer_survives_a_real_clickhouse_outage(tmp_path: Path, unique_name: str) -> None:
    """ClickHouse 18.16 over asynch: stop the server mid-stream, restart it; every event arrives."""
    from tests.store.chserver import ThrowawayClickHouse
    from trail.store.asynch_store import AsynchEventStore

    server = ThrowawayClickHouse(tmp_path / "ch.env")
    url = server.start()
    base = url.rsplit("/", 1)[0]
    store = AsynchEventStore(f"{base}/{unique_name}")
    broker = MemoryBroker(tmp_path / "spool")
    await broker.start()
    try:
        await store.start()
        await store.execute("CREATE TABLE wire_events (event_id String, d Date, n UInt64) "
                            "ENGINE = MergeTree ORDER BY event_id")

        def decode18(data: bytes) -> dict[str, Any]:
            raw = orjson.loads(data)
            return {"event_id": raw["event_id"], "d": T0.date(), "n": raw["i"]}

        w = Writer(broker, store, decode18, table="wire_events", max_batch=50, flush_interval_ms=50, consumer="w")
        await broker.ensure_group(GROUP)
        task = asyncio.create_task(w.run())
        await broker.append([payload(i) for i in range(100)])
        while await broker.lag(GROUP):
            await asyncio.sleep(0.05)
        server.halt()
        await broker.append([payload(i) for i in range(100, 300)])
        await asyncio.sleep(1.5)  # the writer fails and retries meanwhile
        assert await broker.lag(GROUP) == 200
        server.resume()
        for _ in range(300):
            if await broker.lag(GROUP) == 0:
                break
            await asyncio.sleep(0.1)
        await w.stop()
        await asyncio.wait_for(task, timeout=10)
        _, rows = await store.query("SELECT count(), uniqExact(event_id) FROM wire_events")
        assert (int(rows[0][0]), int(rows[0][1])) == (300, 300)
    finally:
        await broker.close()
        await store.close()
        server.stop()

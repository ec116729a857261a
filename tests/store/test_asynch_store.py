"""AsynchEventStore against the real ClickHouse server (Debian 18.16): pool, inserts, errors, outages, restarts."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import date, datetime, timezone
from typing import AsyncIterator, Iterator

import pytest
from chserver import ThrowawayClickHouse

from trail.store.asynch_store import AsynchEventStore
from trail.store.events import EventStoreError, EventStoreUnavailable

pytestmark = pytest.mark.clickhouse_server

TABLE = ("CREATE TABLE {name} (d Date, ts DateTime, s String, n UInt64) "
         "ENGINE = MergeTree() PARTITION BY toYYYYMM(d) ORDER BY (d, n)")


@pytest.fixture(scope="session")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayClickHouse]:
    """A throwaway server this test run controls (stop/start for outage tests). Fails, never skips, if it can't."""
    server = ThrowawayClickHouse(tmp_path_factory.mktemp("clickhouse-state") / "clickhouse.env")
    server.start()  # raises ClickHouseServerError with the script's output: the test fails with the reason
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server_url(request: pytest.FixtureRequest) -> str:
    """TRAIL_TEST_CLICKHOUSE_URL when set (make test starts one), otherwise our own throwaway server."""
    url = os.environ.get("TRAIL_TEST_CLICKHOUSE_URL", "")
    if url:
        return url
    return request.getfixturevalue("own_server").url


def with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
async def store(server_url: str, unique_name: str) -> AsyncIterator[AsynchEventStore]:
    s = AsynchEventStore(with_database(server_url, unique_name), pool_size=3)
    await s.start()
    yield s
    await s.execute(f"DROP DATABASE IF EXISTS {unique_name}")
    await s.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_start_creates_database_and_pool_is_bounded(store: AsynchEventStore, unique_name: str) -> None:
    _, rows = await store.query("SELECT currentDatabase()")
    assert rows == [(unique_name,)]
    assert store.server_version is not None
    results = await asyncio.gather(*[store.query("SELECT {i:UInt32}, sleep(0.05)", {"i": i}) for i in range(12)])
    assert [r[1][0][0] for r in results] == list(range(12))
    assert len(store._idle) <= 3


async def test_batch_insert_of_10k_rows_and_select(store: AsynchEventStore) -> None:
    await store.execute(TABLE.format(name="hits"))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    rows = [{"d": date(2026, 1, 2), "ts": when, "s": f"'; DROP TABLE hits; -- {i} ü\\", "n": 2**63 + i}
            for i in range(10_000)]
    started = time.monotonic()
    await store.insert("hits", rows, dedup_token="batch-1")  # 18.16 has no dedup tokens: the store leaves it out
    assert time.monotonic() - started < 30
    columns, result = await store.query("SELECT count(), min(n), max(n), uniqExact(s) FROM hits")
    assert columns == ["count()", "min(n)", "max(n)", "uniqExact(s)"]
    assert result == [(10_000, 2**63, 2**63 + 9_999, 10_000)]
    _, result = await store.query("SELECT d, ts, s FROM hits WHERE n = {n:UInt64}", {"n": 2**63 + 7})
    assert result == [(date(2026, 1, 2), when, "'; DROP TABLE hits; -- 7 ü\\")]
    _, result = await store.query("SELECT count() FROM hits WHERE ts >= {t:DateTime} AND d = {d:Date}",
                                  {"t": when, "d": date(2026, 1, 2)})
    assert result == [(10_000,)]


async def test_server_error_becomes_event_store_error(store: AsynchEventStore) -> None:
    with pytest.raises(EventStoreError, match="nope_column") as info:
        await store.query("SELECT nope_column")
    assert not isinstance(info.value, EventStoreUnavailable)
    assert "ClickHouse error 47" in str(info.value)
    with pytest.raises(EventStoreError, match="(?i)table .*doesn't exist|UNKNOWN_TABLE|does not exist"):
        await store.insert("missing", [{"a": 1}])
    _, rows = await store.query("SELECT 1")  # the connection survived the server's exception
    assert rows == [(1,)]


async def test_unreachable_server_is_unavailable_quickly() -> None:
    store = AsynchEventStore(f"clickhouse://default@127.0.0.1:{free_port()}/default", connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(EventStoreUnavailable, match="unreachable"):
        await store.start()
    with pytest.raises(EventStoreUnavailable):
        await store.query("SELECT 1")
    assert time.monotonic() - started < 5
    await store.close()


@pytest.mark.slow
async def test_outage_then_restart_same_store_recovers(own_server: ThrowawayClickHouse, unique_name: str) -> None:
    store = AsynchEventStore(with_database(own_server.url, unique_name), pool_size=2, connect_timeout=2)
    await store.start()
    try:
        await store.execute(TABLE.format(name="t"))
        await store.insert("t", [{"d": date(2026, 1, 1), "ts": datetime(2026, 1, 1), "s": "a", "n": 1}])
        _, rows = await store.query("SELECT count() FROM t")
        assert rows == [(1,)]
        assert store._idle, "a connection should be pooled before the outage"

        own_server.halt()
        try:
            started = time.monotonic()
            with pytest.raises(EventStoreUnavailable):
                await store.query("SELECT count() FROM t")
            with pytest.raises(EventStoreUnavailable):
                await store.insert("t", [{"d": date(2026, 1, 1), "ts": datetime(2026, 1, 1), "s": "b", "n": 2}])
            with pytest.raises(EventStoreUnavailable):
                await store.ping()
            assert time.monotonic() - started < 10, "an outage must fail fast, not hang"
        finally:
            own_server.resume()

        # The same store object works again: dead connections are dropped, fresh ones opened.
        await store.insert("t", [{"d": date(2026, 1, 1), "ts": datetime(2026, 1, 1), "s": "c", "n": 3}])
        _, rows = await store.query("SELECT groupArray(s) FROM (SELECT s FROM t ORDER BY n)")
        assert rows == [(["a", "c"],)]
    finally:
        await store.execute(f"DROP DATABASE IF EXISTS {unique_name}")
        await store.close()


@pytest.mark.slow
async def test_pooled_connection_survives_a_quick_restart(own_server: ThrowawayClickHouse, unique_name: str) -> None:
    """A restart between two reads: the stale pooled connection is discarded and the read succeeds."""
    store = AsynchEventStore(with_database(own_server.url, unique_name), pool_size=1, connect_timeout=2)
    await store.start()
    try:
        _, rows = await store.query("SELECT 1")
        assert rows == [(1,)] and len(store._idle) == 1
        own_server.halt()
        own_server.resume()
        _, rows = await store.query("SELECT 2")
        assert rows == [(2,)]
    finally:
        await store.close()


def test_url_parsing() -> None:
    s = AsynchEventStore("clickhouse://u%40x:p%3Aw@db.internal:9001/trail?pool_size=7&connect_timeout=1.5")
    assert (s.user, s.password, s.host, s.port, s.database) == ("u@x", "p:w", "db.internal", 9001, "trail")
    assert (s.pool_size, s.connect_timeout) == (7, 1.5)
    assert AsynchEventStore("clickhouse://h").database == "default"
    with pytest.raises(EventStoreError):
        AsynchEventStore("http://h:8123/")

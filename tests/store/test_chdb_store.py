"""ChdbEventStore: types, inserts, errors, database isolation, the one-dir-per-process rule and the lock message."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from trail.store.asynch_store import AsynchEventStore
from trail.store.chdb_store import ChdbEventStore, parse_chdb_url
from trail.store.events import EventStoreError, open_event_store
from trail.store.sqlquote import MissingParamError

ROOT = Path(__file__).resolve().parents[2]


def test_parse_chdb_url() -> None:
    assert parse_chdb_url("chdb:///var/lib/trail/clickhouse") == ("/var/lib/trail/clickhouse", "trail")
    assert parse_chdb_url("chdb:///x/y?database=other") == ("/x/y", "other")
    with pytest.raises(EventStoreError, match="absolute path"):
        parse_chdb_url("chdb://relative/path")


def test_open_event_store_by_scheme(tmp_path: Path) -> None:
    assert isinstance(open_event_store(f"chdb://{tmp_path}"), ChdbEventStore)
    assert isinstance(open_event_store("clickhouse://default@127.0.0.1:9000/trail"), AsynchEventStore)
    with pytest.raises(EventStoreError, match="unsupported event store URL"):
        open_event_store("postgres://x/y")


async def test_start_creates_the_database(store: ChdbEventStore, unique_name: str) -> None:
    _, rows = await store.query("SELECT currentDatabase(), {d:String} IN (SELECT name FROM system.databases)",
                                {"d": unique_name})
    assert rows == [(unique_name, 1)]


async def test_query_returns_python_types(store: ChdbEventStore) -> None:
    columns, rows = await store.query(
        "SELECT toUInt64(18446744073709551615) AS u64, toInt64(-5) AS i64, toUInt8(7) AS u8, 0.5 AS f, "
        "toDecimal64('12.345', 3) AS dec, toDate('2026-01-02') AS d, "
        "toDateTime64('2026-01-02 03:04:05.678', 3, 'UTC') AS ts, "
        "toDateTime('2026-01-02 03:04:05', 'Asia/Tokyo') AS tk, "
        "toUUID('12345678-1234-5678-1234-567812345678') AS id, map('a', 'b') AS m, [1, 2] AS arr, "
        "CAST(NULL AS Nullable(Decimal(18, 3))) AS n, 'ü' AS s, "
        "toInt128('-170141183460469231731687303715884105728') AS i128")
    assert columns == ["u64", "i64", "u8", "f", "dec", "d", "ts", "tk", "id", "m", "arr", "n", "s", "i128"]
    (row,) = rows
    assert row[0] == 2**64 - 1 and type(row[0]) is int
    assert row[1:4] == (-5, 7, 0.5)
    assert row[4] == Decimal("12.345") and isinstance(row[4], Decimal)
    assert row[5] == date(2026, 1, 2)
    assert row[6] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    assert row[7] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=9)))  # the column's zone kept
    assert str(row[7].tzinfo) == "Asia/Tokyo"
    assert row[8] == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert row[9:13] == ({"a": "b"}, [1, 2], None, "ü")
    assert row[13] == -(2**127)


async def test_statements_without_rows(store: ChdbEventStore) -> None:
    await store.execute("CREATE TABLE t (a UInt8) ENGINE = Memory")
    assert await store.query("INSERT INTO t VALUES (1)") == ([], [])
    assert await store.query("SELECT a FROM t WHERE a > 5") == (["a"], [])


async def test_insert_python_objects(store: ChdbEventStore) -> None:
    await store.execute(
        "CREATE TABLE e (id UUID, ts DateTime64(3, 'UTC'), dt DateTime, n UInt64, props Map(String, String), "
        "amount Nullable(Decimal(18, 3)), s String, d Date) ENGINE = MergeTree ORDER BY ts")
    first, second = uuid.uuid4(), uuid.uuid4()
    aware = datetime(2026, 5, 6, 9, 8, 7, 654000, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 5, 6, 7, 8, 9, 123000)
    await store.insert("e", [
        {"id": first, "ts": aware, "dt": aware, "n": 2**64 - 1, "props": {"plan": "pro", "q'": "\\"},
         "amount": Decimal("9.500"), "s": "'; DROP TABLE e; --", "d": date(2026, 5, 6)},
        {"id": str(second), "ts": naive, "dt": naive, "n": 0, "props": {}, "amount": None, "s": "ü\0",
         "d": "2026-05-07"},
    ])
    _, rows = await store.query("SELECT id, ts, dt, n, props, amount, s, d FROM e ORDER BY n DESC")
    assert rows == [
        (first, datetime(2026, 5, 6, 7, 8, 7, 654000, tzinfo=timezone.utc),
         datetime(2026, 5, 6, 7, 8, 7, tzinfo=timezone.utc), 2**64 - 1, {"plan": "pro", "q'": "\\"},
         Decimal("9.5"), "'; DROP TABLE e; --", date(2026, 5, 6)),
        (second, naive.replace(tzinfo=timezone.utc), naive.replace(microsecond=0, tzinfo=timezone.utc), 0, {}, None,
         "ü\0", date(2026, 5, 7)),
    ]


async def test_insert_dedup_token(store: ChdbEventStore) -> None:
    await store.execute("CREATE TABLE t (a UInt32) ENGINE = MergeTree ORDER BY a "
                        "SETTINGS non_replicated_deduplication_window = 100")
    rows = [{"a": i} for i in range(10)]
    await store.insert("t", rows, dedup_token="batch-1")
    await store.insert("t", rows, dedup_token="batch-1")  # a retried batch
    await store.insert("t", rows, dedup_token="batch-2")
    await store.insert("t", [])
    _, result = await store.query("SELECT count() FROM t")
    assert result == [(20,)]


async def test_errors_carry_clickhouse_message(store: ChdbEventStore) -> None:
    with pytest.raises(EventStoreError, match="nope_column"):
        await store.query("SELECT nope_column")
    with pytest.raises(EventStoreError, match="UNKNOWN_TABLE|does not exist"):
        await store.insert("missing_table", [{"a": 1}])
    with pytest.raises(MissingParamError, match="site"):
        await store.query("SELECT {site:UInt32}")
    _, rows = await store.query("SELECT 1")  # still usable
    assert rows == [(1,)]


async def test_databases_are_isolated_and_the_engine_shared(chdb_dir: Path, store: ChdbEventStore) -> None:
    other_name = f"{store.database}_b"
    other = ChdbEventStore(f"chdb://{chdb_dir}?database={other_name}")
    await other.start()
    try:
        assert other._engine is store._engine
        await store.execute("CREATE TABLE only_here (a UInt8) ENGINE = Memory")
        _, rows = await other.query("SELECT count() FROM system.tables WHERE database = currentDatabase()")
        assert rows == [(0,)]
        results = await asyncio.gather(*[
            (store if i % 2 else other).query("SELECT currentDatabase(), {i:UInt32}", {"i": i}) for i in range(40)])
        assert [r[1][0] for r in results] == [
            (store.database if i % 2 else other_name, i) for i in range(40)]
    finally:
        await other.execute(f"DROP DATABASE IF EXISTS {other_name}")
        await other.close()


async def test_second_data_dir_in_one_process_is_refused(store: ChdbEventStore, tmp_path: Path) -> None:
    elsewhere = ChdbEventStore(f"chdb://{tmp_path / 'other'}")
    with pytest.raises(EventStoreError, match="one data dir per process"):
        await elsewhere.start()


async def test_a_second_process_gets_the_lock_message(store: ChdbEventStore, chdb_dir: Path) -> None:
    """This pytest process holds chdb_dir; another process (like `migrate` beside `serve`) must be told so."""
    code = (
        "import asyncio, sys\n"
        "from trail.store.chdb_store import ChdbEventStore\n"
        "from trail.store.events import EventStoreError\n"
        "try:\n"
        f"    asyncio.run(ChdbEventStore({f'chdb://{chdb_dir}'!r}).start())\n"
        "except EventStoreError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                                   text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    message = proc.stdout
    assert "Cannot lock file" in message
    assert str(chdb_dir) in message
    assert "another Trail process" in message and "serve" in message


async def test_ping(store: ChdbEventStore) -> None:
    await store.ping()

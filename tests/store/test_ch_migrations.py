"""ClickHouse migrations on chDB: applied once, in order, and the events schema takes deduplicated inserts."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from trail.store.ch_migrations import migrate_events, migration_files, split_statements
from trail.store.chdb_store import ChdbEventStore
from trail.store.events import EventStoreError


def event(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "event_id": uuid.uuid4(), "site_id": 1, "ts": datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc),
        "name": "pageview", "visitor_id": 2**64 - 1, "session_id": 42, "hostname": "example.com",
        "pathname": "/pricing", "referrer": "https://news.ycombinator.com/", "source": "Hacker News",
        "utm_source": "hn", "utm_medium": "", "utm_campaign": "", "utm_term": "", "utm_content": "",
        "click_id_param": "", "country": "DE", "region": "DE-BE", "city": "Berlin", "browser": "Firefox",
        "browser_version": "140", "os": "Linux", "os_version": "", "device": "Desktop", "screen": "Desktop",
        "language": "de", "props": {"plan": "pro"}, "revenue_amount": Decimal("9.500"), "revenue_currency": "EUR",
        "interactive": 1, "scroll_depth": 0, "engagement_ms": 0,
    }
    row.update(overrides)
    return row


def test_split_statements() -> None:
    text = ("-- leading comment\nCREATE TABLE a (x UInt8) -- inline\nENGINE = Memory;\n\n"
            "-- only a comment;\n"
            "INSERT INTO a SELECT ';' ; -- trailing comment\nSELECT 1;   \n-- the end\n")
    assert split_statements(text) == [
        "-- leading comment\nCREATE TABLE a (x UInt8) -- inline\nENGINE = Memory",
        "-- only a comment;\nINSERT INTO a SELECT ';'",
        "SELECT 1",
    ]


def test_migration_files_are_ordered() -> None:
    names = [p.name for p in migration_files()]
    assert names[0] == "0001_events.sql"
    assert names == sorted(names)


async def test_fresh_database_then_idempotent(store: ChdbEventStore) -> None:
    expected = [p.stem for p in migration_files()]
    assert expected[:2] == ["0001_events", "0002_rollups"]
    assert await migrate_events(store) == expected
    assert await migrate_events(store) == []
    _, rows = await store.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert rows == [(name[:4], name) for name in expected]
    _, rows = await store.query("EXISTS TABLE events")
    assert rows == [(1,)]


async def test_events_table_takes_the_schema_and_dedups(store: ChdbEventStore) -> None:
    await migrate_events(store)
    batch = [event(), event(name="signup", revenue_amount=None, props={}, pathname="/x'\\"), event(site_id=2)]
    await store.insert("events", batch, dedup_token="writer:1-0:3")
    await store.insert("events", batch, dedup_token="writer:1-0:3")  # the writer retried after a lost ack
    _, rows = await store.query("SELECT count() FROM events")
    assert rows == [(3,)]
    await store.insert("events", [event()], dedup_token="writer:1-3:1")
    _, rows = await store.query(
        "SELECT count(), sum(revenue_amount), uniqExact(event_id) FROM events WHERE site_id = {site:UInt32}",
        {"site": 1})
    assert rows == [(3, Decimal("19"), 3)]
    _, rows = await store.query("SELECT ts, visitor_id, props FROM events WHERE name = 'signup'")
    assert rows == [(datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc), 2**64 - 1, {})]


async def test_custom_directory_in_order(store: ChdbEventStore, tmp_path: Path) -> None:
    (tmp_path / "0002_more.sql").write_text("INSERT INTO a VALUES (2);\n")
    (tmp_path / "0001_first.sql").write_text("-- makes a\nCREATE TABLE a (x UInt8)\nENGINE = MergeTree ORDER BY x;\n"
                                             "INSERT INTO a VALUES (1);\n")
    (tmp_path / "README.md").write_text("not a migration;\n")
    assert await migrate_events(store, tmp_path) == ["0001_first", "0002_more"]
    (tmp_path / "0003_broken.sql").write_text("SELECT nope_column;\n")
    with pytest.raises(EventStoreError, match="0003_broken.sql.*nope_column"):
        await migrate_events(store, tmp_path)
    _, rows = await store.query("SELECT groupArray(x) FROM (SELECT x FROM a ORDER BY x)")
    assert rows == [([1, 2],)]
    _, rows = await store.query("SELECT count() FROM schema_migrations")
    assert rows == [(2,)]  # the failed one is not recorded, so it is retried next time

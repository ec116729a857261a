"""session_parts on chDB: a deduplicated retry changes nothing, the 0002 backfill equals the view, and site
deletion reaches every table."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.conftest import RUN_ID
from tests.stats.gen import generate
from tests.stats.parts import PROPOSED, migrate_with_parts
from trail.sites import Goal, SiteInfo
from trail.stats import sources
from trail.stats.query import parse_query
from trail.stats.runner import run
from trail.stats.storage import WITH_SESSION_PARTS, delete_site_events
from trail.store.ch_migrations import MIGRATIONS_DIR, migrate_events, split_statements
from trail.store.events import EventStore, open_event_store

UTC = timezone.utc
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SITE = SiteInfo(id=7, domain="parts.test", team_id=1, timezone="Europe/Berlin",
                goals=(Goal(1, "Signup", "Signup", None, "EUR"),))
PARTS = ("SELECT site_id, hour, session_id, any(visitor_id), min(start), max(end), sum(pageviews), sum(events), "
         "sum(interactions), argMinIfMerge(entry_page), argMinIfMerge(source), argMinIfMerge(country), "
         "argMinIfMerge(device), argMaxIfMerge(exit_page) FROM session_parts "
         "GROUP BY site_id, hour, session_id ORDER BY site_id, hour, session_id")
DASHBOARD = [
    {"metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]},
    {"metrics": ["visitors", "visits"], "dimensions": ["time:day"]},
    {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["visit:entry_page"]},
    {"metrics": ["visitors", "visits"], "dimensions": ["visit:exit_page"]},
    {"metrics": ["visitors", "visit_duration"], "dimensions": ["visit:source"]},
    {"metrics": ["visitors", "bounce_rate"], "dimensions": ["event:page"],
     "filters": [["is", "visit:country", ["DE"]]]},
]


def rows(seed: int, site_id: int = SITE.id) -> list[dict[str, Any]]:
    return [r.as_insert(site_id) for r in generate(seed, datetime(2026, 3, 10, tzinfo=UTC), 10, visits_per_day=12)]


@pytest.fixture
async def store(chdb_dir: Path, unique_name: str) -> AsyncIterator[EventStore]:
    name = unique_name
    s = open_event_store(f"chdb://{chdb_dir}?database={name}")
    await s.start()  # creates the database
    await migrate_with_parts(s)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sources, "PARTS_ENABLED", True)
        yield s
    await s.execute(f"DROP DATABASE IF EXISTS {name}")


async def snapshot(store: EventStore) -> list[Any]:
    out: list[Any] = [await store.query("SELECT count() FROM events"), await store.query(PARTS)]
    for body in DASHBOARD:
        query = parse_query({"site_id": SITE.domain, "date_range": "30d", **body}, SITE.timezone, NOW)
        out.append(await run(store, query, SITE))
    return out


async def test_deduplicated_retry_changes_no_table_and_no_result(store: EventStore) -> None:
    batch = rows(1)
    await store.insert("events", batch, dedup_token="batch-1")
    first = await snapshot(store)
    assert first[0][1][0][0] == len(batch) and first[1][1]
    await store.insert("events", batch, dedup_token="batch-1")  # the writer's retry: same rows, same token
    await store.insert("events", batch[:1], dedup_token="batch-1")  # even a different body with that token
    assert await snapshot(store) == first
    await store.insert("events", rows(2), dedup_token="batch-2")  # a new batch does count
    assert (await snapshot(store))[0] != first[0]


async def test_every_query_is_the_same_from_session_parts_and_from_events(store: EventStore,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    await store.insert("events", rows(3), dedup_token="a")
    await store.insert("events", rows(4), dedup_token="b")  # two parts per hour: merged at query time
    planned = await snapshot(store)
    monkeypatch.setattr(sources, "session_source", lambda rng: sources.EVENTS)
    assert await snapshot(store) == planned


async def test_migration_backfills_existing_events_like_the_view(store: EventStore, chdb_dir: Path,
                                                                 tmp_path: Path) -> None:
    await store.insert("events", rows(5), dedup_token="v")
    via_view = await store.query(PARTS)
    only_first = tmp_path / "migrations"
    only_first.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_events.sql", only_first)
    name = f"t{RUN_ID}_upgrade"
    old = open_event_store(f"chdb://{chdb_dir}?database={name}")
    await old.start()
    try:
        assert await migrate_events(old, only_first) == ["0001_events"]
        await old.insert("events", rows(5), dedup_token="v")  # an install from before 0002
        for statement in split_statements(PROPOSED.read_text()):  # the upgrade
            await old.execute(statement)
        assert await old.query(PARTS) == via_view
        for statement in split_statements(PROPOSED.read_text()):
            await old.execute(statement)  # an interrupted, re-run migration backfills once
        assert await old.query(PARTS) == via_view
    finally:
        await old.execute(f"DROP DATABASE IF EXISTS {name}")


async def test_delete_site_events_clears_every_table(store: EventStore) -> None:
    await store.insert("events", rows(6), dedup_token="x")
    await store.insert("events", rows(7, site_id=8), dedup_token="y")
    await delete_site_events(store, SITE.id)
    for table in WITH_SESSION_PARTS:
        _, got = await store.query(f"SELECT site_id, count() FROM {table} GROUP BY site_id ORDER BY site_id")
        assert [r[0] for r in got] == [8], table

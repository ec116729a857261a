"""Housekeeping deletes salts older than yesterday and day-old outbox rows, on both metadata backends."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from trail.jobs.housekeeping import housekeep
from trail.store.meta import repo
from trail.store.meta.db import MetaStore
from trail.store.meta.migrate import migrate_meta
from trail.store.meta.models import AccessEvent


@pytest.fixture(params=["sqlite", "mysql"])
def meta_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"
    return request.getfixturevalue("mysql_url")


async def test_old_salts_and_outbox_rows_go_recent_ones_stay(meta_url: str) -> None:
    await migrate_meta(meta_url)
    now = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    today = now.date()
    async with MetaStore(meta_url) as meta:
        async with meta.session() as db:
            for back in range(4):
                await repo.get_or_create_salt(db, today - timedelta(days=back))
            await repo.record_access_event(db, "site_added", {"site_id": 1})
            await repo.record_access_event(db, "site_added", {"site_id": 2})
            await db.commit()
            old = (await db.execute(sa.select(AccessEvent).order_by(AccessEvent.id))).scalars().first()
            old.created_at = (now - timedelta(days=2)).replace(tzinfo=None)
            recent = (await db.execute(sa.select(AccessEvent).order_by(AccessEvent.id.desc()))).scalars().first()
            recent.created_at = (now - timedelta(hours=1)).replace(tzinfo=None)
            await db.commit()
        assert await housekeep(meta, now) == (2, 1)
        async with meta.session() as db:
            kept = [today - timedelta(days=back) for back in range(4)
                    if await repo.get_salt(db, today - timedelta(days=back)) is not None]
            subjects = [e.subject for e in await repo.access_events_after(db, 0)]
        assert kept == [today, today - timedelta(days=1)]
        assert subjects == [{"site_id": 2}]
        assert await housekeep(meta, now) == (0, 0)


async def test_pipeline_forgets_salts_older_than_yesterday() -> None:
    from trail.ingest.pipeline import Pipeline

    calls: list[date] = []

    async def salt_for(day: date) -> bytes:
        calls.append(day)
        return day.isoformat().encode() * 4

    pipeline = Pipeline.__new__(Pipeline)
    pipeline.salt_for, pipeline._salts = salt_for, {}
    d0 = date(2026, 11, 1)
    for offset in range(5):
        await pipeline.salt(d0 + timedelta(days=offset))
    assert sorted(pipeline._salts) == [d0 + timedelta(days=3), d0 + timedelta(days=4)]

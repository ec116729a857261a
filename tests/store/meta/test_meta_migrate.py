"""Tests of the metadata migrations: idempotent, concurrent-safe, and identical to the models on both backends."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from trail.store.meta import MetaStore, migrate_meta
from trail.store.meta.migrate import current_revision, head_revision
from trail.store.meta.models import Base


async def test_migrate_is_idempotent(meta_backend_url: str) -> None:
    assert await current_revision(meta_backend_url) is None
    assert await migrate_meta(meta_backend_url) == ["0001"]
    assert await migrate_meta(meta_backend_url) == []
    assert await current_revision(meta_backend_url) == head_revision() == "0001"


async def test_concurrent_migrations_apply_once(meta_backend_url: str) -> None:
    results = await asyncio.gather(*(migrate_meta(meta_backend_url) for _ in range(3)))
    assert sorted(results) == [[], [], ["0001"]]


async def test_migration_matches_models(store: MetaStore) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with store.engine.connect() as conn:
        assert await conn.run_sync(diff) == []

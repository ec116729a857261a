"""Test helper: apply the proposed session_parts migration (not yet in sql/clickhouse/) and enable its planner."""

from __future__ import annotations

from trail.store.ch_migrations import MIGRATIONS_DIR, migrate_events, split_statements
from trail.store.events import EventStore

PROPOSED = MIGRATIONS_DIR / "proposed" / "0002_session_parts.sql"


async def migrate_with_parts(store: EventStore) -> None:
    await migrate_events(store)
    for statement in split_statements(PROPOSED.read_text(encoding="utf-8")):
        await store.execute(statement)

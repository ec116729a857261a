"""`python -m trail migrate`: apply the metadata and ClickHouse migrations."""

from __future__ import annotations

import asyncio
import logging
import sys

from trail.config import Settings

log = logging.getLogger("trail.migrate")


async def migrate_all(settings: Settings) -> tuple[list[str], list[str]]:
    """Apply pending metadata and event-store migrations; return the names applied to each."""
    from trail.store.ch_migrations import migrate_events
    from trail.store.events import open_event_store
    from trail.store.meta.migrate import migrate_meta

    meta_applied = await migrate_meta(settings.database_url)
    store = open_event_store(settings.clickhouse_url)
    await store.start()
    try:
        events_applied = await migrate_events(store)
    finally:
        await store.close()
    return meta_applied, events_applied


def main(settings: Settings) -> int:
    from trail.store.events import EventStoreError

    try:
        meta_applied, events_applied = asyncio.run(migrate_all(settings))
    except EventStoreError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    for label, applied in (("metadata", meta_applied), ("events", events_applied)):
        print(f"{label}: {len(applied)} migration(s) applied" + (f" ({', '.join(applied)})" if applied else ""))
    return 0

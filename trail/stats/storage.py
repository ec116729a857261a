"""Every ClickHouse table that holds a site's stats data, and deleting a site from all of them.

`events` is the source of truth; `session_parts` (migration 0002) is derived from it by a materialized view.
A mutation on `events` does not reach a view's target table, so site deletion must delete from each table.
"""

from __future__ import annotations

from trail.store.events import EventStore

# Tables holding per-site rows, the source first (keep in step with sql/clickhouse/0002+).
SITE_TABLES = ("events",)
# with sql/clickhouse/proposed/0002_session_parts.sql applied (trail.stats.sources.PARTS_ENABLED):
WITH_SESSION_PARTS = ("events", "session_parts")

_DELETE = "ALTER TABLE {table} DELETE WHERE site_id = {{id:UInt32}} SETTINGS mutations_sync = 1"


async def delete_site_events(store: EventStore, site_id: int, tables: tuple[str, ...] | None = None) -> None:
    """Delete every row of `site_id` from every stats table (synchronous mutations: done when this returns).
    Derived tables go first, so an interrupted run leaves no derived rows without their source (a retry redoes
    the rest)."""
    for table in reversed(tables or _tables()):
        await store.execute(_DELETE.format(table=table), {"id": int(site_id)})


def _tables() -> tuple[str, ...]:
    from trail.stats import sources

    return WITH_SESSION_PARTS if sources.PARTS_ENABLED else SITE_TABLES

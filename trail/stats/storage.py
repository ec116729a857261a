"""Every ClickHouse table that holds a site's stats data, and deleting a site from all of them.

`events` is the source of truth; `rollup_daily` and `rollup_days` (migration 0002) are computed from it by the
rollup job (trail/stats/rollup_job.py). A mutation on `events` does not reach them, so site deletion deletes from
each table.
"""

from __future__ import annotations

from trail.store.events import EventStore

# Tables holding per-site rows, the source first (keep in step with sql/clickhouse/0002+).
SITE_TABLES = ("events", "rollup_daily", "rollup_days")

_DELETE = "ALTER TABLE {table} DELETE WHERE site_id = {{id:UInt32}} SETTINGS mutations_sync = 1"


async def delete_site_events(store: EventStore, site_id: int, tables: tuple[str, ...] | None = None) -> None:
    """Delete every row of `site_id` from every stats table (synchronous mutations: done when this returns).
    Derived tables go first, so an interrupted run leaves no derived rows without their source (a retry redoes
    the rest). The rollup_days rows go before rollup_daily, so readers never point at deleted rows."""
    for table in reversed(tables or SITE_TABLES):
        await store.execute(_DELETE.format(table=table), {"id": int(site_id)})
    from trail.stats import rollup_coverage

    rollup_coverage.invalidate(int(site_id))


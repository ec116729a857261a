"""Deleting a site's events from ClickHouse after the site was deleted, then purging the site's row."""

from __future__ import annotations

import logging

from trail.jobs import spawn
from trail.services import Services

log = logging.getLogger("trail.jobs")

DELETE_SQL = "ALTER TABLE events DELETE WHERE site_id = {id:UInt32} SETTINGS mutations_sync = 1"  # wait: then purge


async def delete_site_events(services: Services, site_id: int) -> None:
    """Run the ClickHouse mutation for the site's events, then remove the (soft-deleted) site row so its
    domain can be added again. A failed mutation keeps the row, so the deletion can be retried."""
    if services.events is None:
        log.warning("site %s: no event store on this instance; its events were not deleted", site_id)
        return
    await services.events.execute(DELETE_SQL, {"id": site_id})
    from trail.store.meta import repo

    async with services.meta.session() as db:
        await repo.purge_site(db, site_id)
        await db.commit()
    log.info("site %s: events deleted", site_id)


def schedule_site_events_deletion(services: Services, site_id: int) -> None:
    """Start the deletion in the background (it can take a while on a big table)."""
    spawn(delete_site_events(services, site_id), name=f"delete-site-events-{site_id}")

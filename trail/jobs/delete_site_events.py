"""Deleting a site's events from ClickHouse after the site was deleted, then purging the site's row."""

from __future__ import annotations

import logging

from trail.jobs import spawn
from trail.services import Services

log = logging.getLogger("trail.jobs")


async def delete_site_events(services: Services, site_id: int) -> None:
    """Run the ClickHouse mutation for the site's events, then remove the (soft-deleted) site row so its
    domain can be added again. A failed mutation keeps the row, so the deletion can be retried."""
    if services.events is None:
        log.warning("site %s: no event store on this instance; its events were not deleted", site_id)
        return
    from trail.stats.storage import delete_site_events as delete_from_every_table
    from trail.store.meta import repo

    await delete_from_every_table(services.events, site_id)  # synchronous mutations: done when it returns
    async with services.meta.session() as db:
        await repo.purge_site(db, site_id)
        await db.commit()
    log.info("site %s: events deleted", site_id)


def schedule_site_events_deletion(services: Services, site_id: int) -> None:
    """Start the deletion in the background (it can take a while on a big table)."""
    spawn(delete_site_events(services, site_id), name=f"delete-site-events-{site_id}")

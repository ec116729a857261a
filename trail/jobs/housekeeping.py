"""Hourly housekeeping: delete salts older than yesterday (ids unlinkable across days) and old outbox rows."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

log = logging.getLogger("trail.jobs")

INTERVAL_S = 3600.0
OUTBOX_KEEP = timedelta(days=1)  # instances read the outbox every 0.5 s; a day is ample for one that was down


async def housekeep(meta: Any, now: datetime) -> tuple[int, int]:
    """Delete salts before yesterday (UTC) and access events older than a day; return (salts, events) deleted."""
    from trail.store.meta import repo

    today: date = now.astimezone(timezone.utc).date()
    async with meta.session() as db:
        salts = await repo.delete_salts_before(db, today - timedelta(days=1))
        events = await repo.delete_access_events_before(db, now.replace(tzinfo=None) - OUTBOX_KEEP)
        await db.commit()
    if salts or events:
        log.info("housekeeping: deleted %d old salt(s) and %d old access event(s)", salts, events)
    return salts, events


class Housekeeper:
    """Runs `housekeep` at start and then every `interval_s` seconds until stopped."""

    def __init__(self, meta: Any, interval_s: float = INTERVAL_S,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.meta, self.interval_s, self.clock = meta, interval_s, clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> "Housekeeper":
        self._task = asyncio.create_task(self._run(), name="housekeeping")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await housekeep(self.meta, self.clock())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("housekeeping failed; retrying in an hour", exc_info=True)
            await asyncio.sleep(self.interval_s)

"""Builds the real Ingestor from the app's Services: metadata store, broker cache/stream and settings."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date
from typing import TYPE_CHECKING, Any, Callable

from trail.ingest.handler import CanSee, Ingestor

if TYPE_CHECKING:
    from trail.services import Services

log = logging.getLogger(__name__)

BACKPRESSURE_REFRESH_S = 1.0
KEY_CACHE_TTL_S = 5.0


class LagMonitor:
    """`backpressure()` for the Ingestor: True while the writer group's lag is past settings.max_lag.

    Sync and cheap: it answers from the last reading and refreshes it in the background at most once a second.
    """

    def __init__(self, broker: Any, max_lag: int, group: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.broker = broker
        self.max_lag = max_lag
        self.group = group
        self.clock = clock
        self.lag = 0
        self._checked = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def __call__(self) -> bool:
        if self.clock() - self._checked >= BACKPRESSURE_REFRESH_S and (self._task is None or self._task.done()):
            self._checked = self.clock()
            try:
                self._task = asyncio.get_running_loop().create_task(self._refresh())
            except RuntimeError:
                pass
        return self.lag > self.max_lag

    async def _refresh(self) -> None:
        try:
            self.lag = int(await self.broker.lag(self.group))
        except Exception as exc:  # broker down: appends will fail and say so; keep the last reading
            log.debug("lag check failed: %r", exc)


def build_ingestor(services: "Services") -> Ingestor:
    """The Ingestor with real dependencies: sites via the SiteDirectory (extras["sites"]), salts and API keys from
    the metadata store (trail.store.meta.repo), the broker's TTL cache and durable stream, and lag backpressure."""
    from trail.live.writer import GROUP
    from trail.sites import SiteDirectory
    from trail.store.meta import repo

    settings, meta, broker = services.settings, services.meta, services.broker
    sites = services.extras.get("sites")
    if sites is None:
        sites = services.extras["sites"] = SiteDirectory(meta)

    async def salt_for(day: date) -> bytes:
        async with meta.session() as db:
            salt = await repo.get_or_create_salt(db, day)
            await db.commit()
        return salt

    keys: dict[str, tuple[float, tuple[int, CanSee] | None]] = {}

    async def key_lookup(token: str) -> tuple[int, CanSee] | None:
        now = time.monotonic()
        hit = keys.get(token)
        if hit is not None and now - hit[0] < KEY_CACHE_TTL_S:
            return hit[1]
        async with meta.session() as db:
            found = await repo.lookup_api_key(db, token)
            await db.commit()
        result: tuple[int, CanSee] | None = None
        if found is not None:
            team_id = found[0].team_id

            async def can_see(domain: str) -> bool:
                site = await sites.get(domain)
                return site is not None and site.team_id == team_id

            result = (team_id, can_see)
        if len(keys) > 10_000:
            keys.clear()
        keys[token] = (now, result)
        return result

    return Ingestor(
        settings, site_lookup=sites.lookup, salt_for=salt_for, cache_get_many=broker.cache_get_many,
        cache_set_many=broker.cache_set_many,
        append=broker.append, backpressure=LagMonitor(broker, int(settings.max_lag), GROUP), key_lookup=key_lookup,
    )

"""Site lookups for hot paths: a short-lived cache of site facts by domain, dropped on access changes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from trail.services import current_services


@dataclass(frozen=True)
class Goal:
    """A conversion goal: a custom event name or a page path pattern (with * wildcards)."""

    id: int
    display_name: str
    event_name: str | None
    page_path: str | None
    currency: str | None


@dataclass(frozen=True)
class SiteInfo:
    """What ingestion, stats and live views need to know about a site."""

    id: int
    domain: str
    team_id: int
    timezone: str
    exclude_ips: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    exclude_hosts: tuple[str, ...] = ()
    respect_dnt: bool = False
    goals: tuple[Goal, ...] = field(default_factory=tuple)


def site_info_from_row(site: Any, goals: list[Any]) -> SiteInfo:
    return SiteInfo(
        id=site.id, domain=site.domain, team_id=site.team_id, timezone=site.timezone,
        exclude_ips=tuple(site.exclude_ips or ()), exclude_paths=tuple(site.exclude_paths or ()),
        exclude_hosts=tuple(site.exclude_hosts or ()), respect_dnt=bool(site.respect_dnt),
        goals=tuple(Goal(g.id, g.display_name, g.event_name, g.page_path, g.currency) for g in goals),
    )


class SiteDirectory:
    """Site facts by domain, cached for `ttl` seconds (misses too) and cleared by access-change events."""

    def __init__(self, meta: Any, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.meta = meta
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, SiteInfo | None]] = {}
        self._loading: dict[str, asyncio.Future[SiteInfo | None]] = {}
        self._generation = 0

    def lookup(self, domain: str) -> "SiteInfo | None | Awaitable[SiteInfo | None]":
        """The cached answer when there is a fresh one, else an awaitable of `get(domain)` (not started: whoever
        awaits it runs it). The ingest pipeline takes the common case without a coroutine."""
        hit = self._cache.get(domain)
        if hit is not None and self.clock() - hit[0] < self.ttl:
            return hit[1]
        return self.get(domain)

    async def get(self, domain: str) -> SiteInfo | None:
        domain = domain.strip().lower()
        hit = self._cache.get(domain)
        now = self.clock()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        # One load per domain at a time: when an entry expires under load, the concurrent requests share it.
        loading = self._loading.get(domain)
        if loading is None:
            loading = self._loading[domain] = asyncio.ensure_future(self._load(domain))
            loading.add_done_callback(lambda _f: self._loading.pop(domain, None))
            generation = self._generation
            info = await asyncio.shield(loading)
            if len(self._cache) > 50_000:
                self._cache.clear()
            if generation == self._generation:  # not invalidated while loading
                self._cache[domain] = (now, info)
            return info
        return await asyncio.shield(loading)

    async def _load(self, domain: str) -> SiteInfo | None:
        from trail.store.meta import repo

        async with self.meta.session() as db:
            site = await repo.get_site_by_domain(db, domain)
            if site is None:
                return None
            goals = await repo.goals_of_site(db, site.id)
        return site_info_from_row(site, goals)

    def invalidate(self, domain: str | None = None) -> None:
        self._generation += 1
        if domain is None:
            self._cache.clear()
        else:
            self._cache.pop(domain.strip().lower(), None)


def site_directory() -> SiteDirectory:
    """The current app's SiteDirectory."""
    return current_services().extras["sites"]  # type: ignore[no-any-return]

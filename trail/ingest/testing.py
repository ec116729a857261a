"""In-memory edges for tests and benchmarks: a site table, a TTL cache, a list as the buffer, fixed salts, a clock."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Awaitable, Sequence

from trail.ingest.geo import Geo
from trail.ingest.handler import CanSee, Ingestor
from trail.sites import SiteInfo

_GEO: Geo | None = None


def shared_geo() -> Geo:
    """One Geo per process, so tests do not reload the database for each Ingestor."""
    global _GEO
    if _GEO is None:
        _GEO = Geo()
    return _GEO


@dataclass
class Clock:
    """A settable UTC clock: `now()` for the Ingestor, `mono()` for rate limits."""

    at: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.at += timedelta(**delta)


class MemoryCache:
    """cache_get / cache_set with TTLs against the real monotonic time, counting calls."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, float]] = {}
        self.gets = 0
        self.sets = 0
        self.writes = 0
        self.reads = 0
        self.fail = False  # get_many and set_many raise while True

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        hit = self.data.get(key)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self.sets += 1
        self.data[key] = (value, time.monotonic() + ttl_s)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The broker's `cache_get_many`: counts each key as a get, and the call in `reads`."""
        if self.fail:
            raise ConnectionError("cache down")
        self.reads += 1
        return [await self.get(key) for key in keys]

    async def set_many(self, items: Sequence[tuple[str, bytes]], ttl_s: float) -> None:
        """The broker's `cache_set_many`: counts each key as a set, and the call in `writes`."""
        if self.fail:
            raise ConnectionError("cache down")
        self.writes += 1
        for key, value in items:
            await self.set(key, value, ttl_s)


class ListBuffer:
    """The durable buffer: a list of payloads; `fail` makes the next appends raise."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.calls = 0
        self.fail = False

    async def append(self, payloads: Sequence[bytes]) -> list[str]:
        self.calls += 1
        if self.fail:
            raise ConnectionError("buffer down")
        start = len(self.payloads)
        self.payloads.extend(payloads)
        return [f"{i}-0" for i in range(start, len(self.payloads))]


@dataclass
class Fakes:
    """Everything an Ingestor built by `build_test_ingestor` talks to."""

    sites: dict[str, SiteInfo] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)  # bearer -> team id
    cache: MemoryCache = field(default_factory=MemoryCache)
    buffer: ListBuffer = field(default_factory=ListBuffer)
    clock: Clock = field(default_factory=Clock)
    full: bool = False  # backpressure
    salt_calls: int = 0
    cached_sites: bool = False  # site_lookup answers at once (as SiteDirectory.lookup on a hit), not awaitably

    def site_lookup(self, domain: str) -> SiteInfo | None | Awaitable[SiteInfo | None]:
        if self.cached_sites:
            return self.sites.get(domain)
        return self._site_later(domain)

    async def _site_later(self, domain: str) -> SiteInfo | None:
        await asyncio.sleep(0)  # a real lookup waits for the database
        return self.sites.get(domain)

    async def salt_for(self, day: date) -> bytes:
        self.salt_calls += 1
        return hashlib.sha256(f"salt-{day.isoformat()}".encode()).digest()

    async def key_lookup(self, token: str) -> tuple[int, CanSee] | None:
        team = self.keys.get(token)
        if team is None:
            return None

        def can_see(domain: str) -> bool:
            site = self.sites.get(domain)
            return site is not None and site.team_id == team

        return team, can_see

    def add_site(self, domain: str, site_id: int, team_id: int = 1, **kw: Any) -> SiteInfo:
        site = SiteInfo(id=site_id, domain=domain, team_id=team_id, timezone="UTC", **kw)
        self.sites[domain] = site
        return site


def build_test_ingestor(settings: Any, fakes: Fakes | None = None) -> tuple[Ingestor, Fakes]:
    fakes = fakes or Fakes()
    ingestor = Ingestor(
        settings, site_lookup=fakes.site_lookup, salt_for=fakes.salt_for, cache_get_many=fakes.cache.get_many,
        cache_set_many=fakes.cache.set_many, append=fakes.buffer.append, backpressure=lambda: fakes.full,
        key_lookup=fakes.key_lookup, now=fakes.clock.now, geo=shared_geo(),
    )
    return ingestor, fakes

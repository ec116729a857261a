"""The rollup days of a site (rollup_days, newest computation per day), cached briefly per store and site.

The cache TTL is well below the rollup job's interval: the job deletes superseded generations only on its next
run, so a reader holding a generation from the cache still finds its rows.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Any

from trail.stats.rollup_planner import Coverage, DayInfo
from trail.store.events import EventStore, EventStoreError

TTL_S = 10.0
_cache: dict[tuple[int, str, int], tuple[float, Coverage]] = {}
EMPTY = Coverage({}, None)

SQL = ("SELECT day, tz, gen, events, first_day, toUnixTimestamp64Milli(until) FROM rollup_days FINAL "
       "WHERE site_id = {s:UInt32} ORDER BY day")


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def as_watermark(millis: Any) -> datetime | None:
    """rollup_days.until (ms since the epoch) -> the provisional day's watermark, None for a closed day (0)."""
    ms = int(millis or 0)
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms > 0 else None


async def load(store: EventStore, site_id: int) -> Coverage:
    """Read a site's coverage (no cache); a store without the rollup tables has none."""
    try:
        _, rows = await store.query(SQL, {"s": int(site_id)})
    except EventStoreError:
        return EMPTY
    days = {as_date(r[0]): DayInfo(str(r[1]), int(r[2]), int(r[3]), as_watermark(r[5])) for r in rows}
    first = max((as_date(r[4]) for r in rows), default=None)
    return Coverage(days, first)


async def coverage(store: EventStore, site_id: int) -> Coverage:
    """The site's coverage, at most TTL_S old."""
    key = (id(store), getattr(store, "database", ""), int(site_id))
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < TTL_S:
        return hit[1]
    found = await load(store, site_id)
    _cache[key] = (now, found)
    return found


def invalidate(site_id: int | None = None) -> None:
    """Forget cached coverage (of one site, or all): the job calls it after computing in this process."""
    for key in [k for k in _cache if site_id is None or k[2] == site_id]:
        _cache.pop(key, None)

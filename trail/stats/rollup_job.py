"""The rollup job: every TRAIL_ROLLUP_INTERVAL_S, (re)compute each site's daily rollups from raw events.

Per site and run: drop generations superseded on an earlier run; if the site's timezone changed, drop all its
rollups; then compute the closed local days (ended more than CLOSE_AFTER ago) that are not rolled up, whose event
count changed since (late events, deletions) and the day after each of those (its overlap with the day before,
visitors_prev, may change with it), and always the last RECOMPUTE_DAYS closed days (the batch API takes events up
to 24 h old, and a visit's events after midnight change the numbers of the day it started on). Computing days =
INSERT ... SELECT a new generation into rollup_daily, then one rollup_days row per day pointing at it (readers
switch there), the old generation is deleted on the next run. Idempotent: computing a day twice leaves the same
numbers. Backfill of existing data is the same path, newest days first, at most MAX_DAYS_PER_RUN days per site and
run.

Then, every run, the days not closed yet (today, and yesterday in the hour after midnight) are rolled up as
provisional rows from the events before a watermark (now - WATERMARK_LAG, so events still on their way to the
store are left to the readers), as one new generation whose rollup_days rows carry the watermark (`until`).
Readers take only the events from the watermark on from raw events (trail.stats.rollup_planner). A provisional day
is computed again every run and as a closed day once it closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Sequence

from trail.stats import rollup_coverage, rollup_planner, sampling
from trail.stats.dates import zone
from trail.stats.rollups import COLUMNS, compute_sql, day_bounds
from trail.stats.sql_filters import Params
from trail.store.events import EventStore

log = logging.getLogger(__name__)

CLOSE_AFTER = timedelta(hours=1)
WATERMARK_LAG = timedelta(minutes=2)  # > the writer's flush delay: events before it are in the store
RECOMPUTE_DAYS = 2
MAX_DAYS_PER_RUN = 400
CHUNK_DAYS = 10
FIRST_RUN_DELAY_S = 30.0
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # rollup_days.until of a closed day
SiteList = Callable[[], Awaitable[Sequence[tuple[int, str]]]]
_last_gen = 0


def _new_gen() -> int:
    global _last_gen
    _last_gen = max(_last_gen + 1, time.time_ns() // 1000)
    return _last_gen


def last_closed_day(tz: str, now: datetime) -> date:
    """The newest local day that ended at least CLOSE_AFTER before `now`."""
    today = now.astimezone(zone(tz)).date()
    start_today, _ = day_bounds(today, today, tz)
    return today - timedelta(days=1 if start_today + CLOSE_AFTER <= now else 2)


def chunks(days: Sequence[date], size: int = CHUNK_DAYS) -> list[tuple[date, date]]:
    """Contiguous runs of `days` (any order) as (first, last), at most `size` days each, newest first."""
    out: list[tuple[date, date]] = []
    for day in sorted(set(days), reverse=True):
        if out and out[-1][0] - timedelta(days=1) == day and (out[-1][1] - day).days < size:
            out[-1] = (day, out[-1][1])
        else:
            out.append((day, day))
    return out


async def _scalar(store: EventStore, sql: str, params: dict[str, Any]) -> int:
    _, rows = await store.query(sql, params)
    return int(rows[0][0]) if rows else 0


async def _cleanup(store: EventStore, site_id: int, tz: str) -> None:
    s = {"s": int(site_id), "tz": tz}
    if await _scalar(store, "SELECT count() FROM rollup_days FINAL WHERE site_id = {s:UInt32} AND tz != {tz:String}",
                     s):
        log.info("site %s: timezone changed to %s, dropping its rollups", site_id, tz)
        await store.execute("DELETE FROM rollup_daily WHERE site_id = {s:UInt32}", s)
        await store.execute("DELETE FROM rollup_days WHERE site_id = {s:UInt32}", s)
        return
    stale = ("site_id = {s:UInt32} AND (day, gen) NOT IN "
             "(SELECT day, gen FROM rollup_days FINAL WHERE site_id = {s:UInt32})")
    if await _scalar(store, f"SELECT count() FROM rollup_daily WHERE {stale}", s):
        await store.execute(f"DELETE FROM rollup_daily WHERE {stale}", s)


async def _day_counts(store: EventStore, site_id: int, tz: str, end: datetime) -> dict[date, int]:
    """Events per local day before `end`."""
    _, rows = await store.query("SELECT toDate(ts, {tz:String}) AS d, count() FROM events WHERE site_id = {s:UInt32} "
                                "AND ts < {e:DateTime64(3, 'UTC')} GROUP BY d", {"s": int(site_id), "tz": tz, "e": end})
    return {rollup_coverage.as_date(r[0]): int(r[1]) for r in rows}


async def compute_days(store: EventStore, site_id: int, tz: str, first: date, last: date,
                       counts: dict[date, int], first_day: date, until: datetime | None = None) -> None:
    """Compute local days first..last of a site as a new generation and point rollup_days at it (`until`: the
    provisional days' watermark: only events before it)."""
    gen = _new_gen()
    params = Params()
    select = compute_sql(params, site_id, tz, first, last, until=until)
    cols = ", ".join(COLUMNS)
    sql = (f"INSERT INTO rollup_daily (site_id, day, dim, value, gen, {cols}) "
           f"SELECT {params.add(int(site_id), 'UInt32')}, day, dim, value, {params.add(gen, 'UInt64')}, {cols} "
           f"FROM ({select})")
    await store.execute(sql, params.values)
    computed_at = datetime.fromtimestamp(gen / 1e6, timezone.utc)
    rows = []
    day = first
    while day <= last:
        rows.append({"site_id": int(site_id), "day": day.isoformat(), "tz": tz, "gen": gen,
                     "events": counts.get(day, 0), "first_day": first_day.isoformat(), "computed_at": computed_at,
                     "until": until or EPOCH})
        day += timedelta(days=1)
    await store.insert("rollup_days", rows)


async def roll_up_site(store: EventStore, site_id: int, tz: str, now: datetime | None = None,
                       max_days: int = MAX_DAYS_PER_RUN) -> list[date]:
    """One run for one site; returns the closed local days computed (the open ones are computed provisionally)."""
    now = now or datetime.now(timezone.utc)
    await _cleanup(store, site_id, tz)
    last = last_closed_day(tz, now)
    watermark = now - WATERMARK_LAG
    counts = await _day_counts(store, site_id, tz, watermark)
    if not counts:
        return []
    first_day = min(counts)
    have = {d: i for d, i in (await rollup_coverage.load(store, site_id)).days.items() if i.tz == tz}
    need = {last - timedelta(days=i) for i in range(RECOMPUTE_DAYS)}
    day = first_day
    while day <= last:
        if day in have and have[day].events != counts.get(day, 0) and day + timedelta(days=1) in have:
            need.add(day + timedelta(days=1))  # its visitors_prev counts the ids it shares with the changed day
        if day not in have or have[day].events != counts.get(day, 0) or have[day].until is not None:
            need.add(day)
        day += timedelta(days=1)
    todo = sorted((d for d in need if first_day <= d <= last), reverse=True)[:max_days]
    for a, b in chunks(todo):
        await compute_days(store, site_id, tz, a, b, counts, first_day)
    today = now.astimezone(zone(tz)).date()
    first_open = max(last + timedelta(days=1), first_day)
    if first_open <= today:
        await compute_days(store, site_id, tz, first_open, today, counts, first_day, until=watermark)
    rollup_coverage.invalidate(site_id)
    return todo


class RollupJob:
    """Runs roll_up_site for every site every `interval_s` seconds until stopped."""

    def __init__(self, store: EventStore, sites: SiteList, interval_s: float,
                 first_delay_s: float = FIRST_RUN_DELAY_S) -> None:
        self.store, self.sites, self.interval_s, self.first_delay_s = store, sites, interval_s, first_delay_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: datetime | None = None) -> dict[int, list[date]]:
        done: dict[int, list[date]] = {}
        for site_id, tz in await self.sites():
            try:
                done[site_id] = await roll_up_site(self.store, site_id, tz, now)
            except Exception:  # one site's failure must not stop the others; retried next run
                log.exception("rollup of site %s failed", site_id)
        return done

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay_s)
        while True:
            t = time.perf_counter()
            done = await self.run_once()
            log.info("rollup run: %d days over %d sites in %.1f s", sum(map(len, done.values())), len(done),
                     time.perf_counter() - t)
            await asyncio.sleep(self.interval_s)

    def start(self) -> "RollupJob":
        if self.interval_s > 0:
            self._task = asyncio.create_task(self._loop(), name="rollups")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None


def meta_sites(meta: Any) -> SiteList:
    """Every live site's (id, timezone) from the metadata store."""
    async def load() -> list[tuple[int, str]]:
        import sqlalchemy as sa

        from trail.store.meta.models import Site

        async with meta.session() as db:
            rows = await db.execute(sa.select(Site.id, Site.timezone).where(Site.deleted_at.is_(None)))
            return [(int(r[0]), str(r[1])) for r in rows]

    return load


def configure(settings: Any) -> None:
    """Apply the stats settings every role needs (the planner's size threshold, the sampling threshold)."""
    rollup_planner.MIN_EVENTS = int(settings.rollup_min_events)
    sampling.SAMPLE_EVENTS = int(settings.sample_events)


def start_rollup_job(settings: Any, meta: Any, store: EventStore) -> RollupJob:
    """The writer roles' background job (not started when TRAIL_ROLLUP_INTERVAL_S is 0)."""
    return RollupJob(store, meta_sites(meta), float(settings.rollup_interval_s)).start()

"""Sampling of raw-event queries on very large sites (as Plausible does): read a share of the visitors, scale up.

A query the daily rollups cannot answer (a props filter, several values, `contains`, negations, several filters...)
reads raw events. On a range holding more than SAMPLE_EVENTS events, it reads only the visitors whose id falls
below a bound (builder.sample_bound): about SAMPLE_EVENTS events. Visitor ids are keyed 64-bit hashes, so the
visitors below the bound are a uniform random share, and a visit (one visitor id) is kept or dropped whole. Counts
are divided by the share; ratios (bounce rate, duration, conversion rate, percentages...) are taken as measured.
The response says so: `meta.sample_percent`. How large the error is: docs/ARCHITECTURE.md, "Sampling".
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, Iterator

from trail.stats.dates import zone
from trail.stats.query import Query
from trail.stats.rollup_planner import Coverage

SAMPLE_EVENTS = 1_000_000  # TRAIL_SAMPLE_EVENTS (0: never sample): set by trail.stats.rollup_job.configure
# Additive metrics: estimated from a sample as the sample's value divided by its share.
SCALED = frozenset({"visitors", "visits", "pageviews", "events", "total_revenue"})
_EXACT: ContextVar[bool] = ContextVar("trail_stats_exact", default=False)
_LAST = timedelta(milliseconds=1)
_DAY = timedelta(days=1)


@contextmanager
def exact() -> Iterator[None]:
    """Queries run within (and the tasks they start) never sample: the CSV export's numbers are exact, however long
    they take to compute."""
    token = _EXACT.set(True)
    try:
        yield
    finally:
        _EXACT.reset(token)


def estimated_events(cover: Coverage, query: Query) -> int:
    """The site's events in the query's range, from the rollup job's per-day counts (days not rolled up yet count as
    empty: the estimate only decides whether a range is large). A range shorter than a day (realtime, a few hours)
    counts its share of its days' events, as if they were spread evenly."""
    if not cover.days:
        return 0
    tz = zone(query.timezone)
    start, end = query.date_range.start, query.date_range.end
    first, last = start.astimezone(tz).date(), (end - _LAST).astimezone(tz).date()
    events = sum(info.events for day, info in cover.days.items() if first <= day <= last)
    if end - start < _DAY:
        return int(events * ((end - start) / (((last - first).days + 1) * _DAY)))
    return events


def share(cover: Coverage, query: Query, limit: int | None = None) -> float:
    """The share of visitors to read: 1.0 (everything) up to `limit` events, else about limit / events, rounded
    down to two significant digits so that labels stay readable (20 %, 7.3 %)."""
    limit = SAMPLE_EVENTS if limit is None else limit
    if _EXACT.get():
        return 1.0
    events = estimated_events(cover, query)
    if limit <= 0 or events <= limit:
        return 1.0
    return _two_digits_down(limit / events)


def _two_digits_down(value: float) -> float:
    """`value` (0 < value < 1) rounded down to two significant digits: 0.2739 -> 0.27, 0.0734 -> 0.073."""
    factor = 1
    while value * factor < 10 and factor < 10**6:
        factor *= 10
    return max(int(value * factor + 1e-9) / factor, 1e-6)


def scale(metric: str, value: Any, sample: float) -> Any:
    """A metric's raw value from a sample, estimated for all visitors."""
    if sample >= 1.0 or value is None or metric not in SCALED:
        return value
    return float(value) / sample


def meta(sample: float) -> dict[str, Any]:
    """What a sampled response says about itself (nothing for an unsampled one)."""
    if sample >= 1.0:
        return {}
    return {"approximate": True, "source": "sample", "sample_percent": round(sample * 100, 4)}

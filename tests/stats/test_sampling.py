"""Sampling decisions, without a database: when a query samples, how much, what is scaled, what meta says."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from trail.stats import sampling
from trail.stats.query import parse_query
from trail.stats.rollup_planner import Coverage, DayInfo

NOW = datetime(2026, 4, 1, 10, 0, tzinfo=timezone.utc)
TZ = "Europe/Berlin"


def cover(per_day: int, days: int = 60) -> Coverage:
    last = date(2026, 4, 1)
    return Coverage({last - timedelta(days=i): DayInfo(TZ, 1, per_day) for i in range(days)}, last - timedelta(59))


def query(date_range: object = "30d") -> object:
    return parse_query({"site_id": "a.test", "metrics": ["visitors"], "date_range": date_range}, TZ, NOW)


def test_events_are_counted_over_the_range_days_only() -> None:
    assert sampling.estimated_events(cover(1000), query("30d")) == 30 * 1000
    assert sampling.estimated_events(cover(1000), query("7d")) == 7 * 1000
    assert sampling.estimated_events(cover(1000), query(["2026-01-01", "2026-01-31"])) == 0  # before the data
    assert sampling.estimated_events(Coverage({}, None), query()) == 0
    # a range shorter than its days counts its share: the last 30 minutes of a day of 48,000 events
    assert sampling.estimated_events(cover(48_000), query("realtime")) == 1000
    assert sampling.share(cover(48_000_000), query("realtime"), 2_000_000) == 1.0


@pytest.mark.parametrize("per_day, limit, want", [
    (1000, 30_000, 1.0),        # at the limit: everything
    (1000, 0, 1.0),             # 0 never samples
    (1000, 15_000, 0.5),
    (333_333, 2_000_000, 0.2),  # 10M events in 30 days
    (365_000, 2_000_000, 0.18),  # 0.1826... rounded down to two digits
    (10_000_000, 2_000_000, 0.0066),
])
def test_share_of_visitors(per_day: int, limit: int, want: float) -> None:
    assert sampling.share(cover(per_day), query("30d"), limit) == want


def test_default_limit_is_the_setting() -> None:
    saved = sampling.SAMPLE_EVENTS
    try:
        sampling.SAMPLE_EVENTS = 60_000
        assert sampling.share(cover(4000), query("30d")) == 0.5
    finally:
        sampling.SAMPLE_EVENTS = saved


def test_only_additive_metrics_are_scaled() -> None:
    for metric in ("visitors", "visits", "pageviews", "events", "total_revenue"):
        assert sampling.scale(metric, 21, 0.25) == 84.0
    for metric in ("bounce_rate", "visit_duration", "views_per_visit", "scroll_depth", "average_revenue"):
        assert sampling.scale(metric, 21, 0.25) == 21
    assert sampling.scale("visitors", None, 0.25) is None
    assert sampling.scale("visitors", 21, 1.0) == 21


def test_meta_labels_a_sample() -> None:
    assert sampling.meta(1.0) == {}
    assert sampling.meta(0.18) == {"approximate": True, "source": "sample", "sample_percent": 18.0}


def test_nothing_samples_within_exact() -> None:
    big = cover(10_000_000)
    assert sampling.share(big, query("30d"), 2_000_000) < 1.0
    with sampling.exact():
        assert sampling.share(big, query("30d"), 2_000_000) == 1.0
    assert sampling.share(big, query("30d"), 2_000_000) < 1.0

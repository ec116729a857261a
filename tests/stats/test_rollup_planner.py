"""The rollup planner (pure, no database): every rule that sends a query to rollups or to raw events."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from trail.sites import SiteInfo
from trail.stats.query import Filter, parse_query
from trail.stats.rollup_planner import Coverage, DayInfo, decide, precheck, shape
from trail.stats.rollup_query import plan_rollups

TZ = "Europe/Berlin"
NOW = datetime(2026, 4, 1, 10, 0, tzinfo=timezone.utc)  # local today: 2026-04-01
TODAY = date(2026, 4, 1)
SITE = SiteInfo(id=5, domain="p.test", team_id=1, timezone=TZ)


def q(**body: Any) -> Any:
    return parse_query({"site_id": "p.test", "metrics": ["visitors"], "date_range": "30d", **body}, TZ, NOW)


def cover(first: date, last: date, tz: str = TZ, events: int = 100_000, first_day: date | None = None) -> Coverage:
    days = {}
    d = first
    while d <= last:
        days[d] = DayInfo(tz, 7, events)
        d += timedelta(days=1)
    return Coverage(days, first_day)


FULL = cover(TODAY - timedelta(days=60), TODAY - timedelta(days=1))


def test_served_from_rollups_with_today_as_tail() -> None:
    d = decide(q(), FULL, 1_000_000)
    assert d.reason == "rollups" and d.plan is not None
    assert d.plan.tail == (TODAY,) and len(d.plan.days) == 29 and d.plan.dim == ""
    assert d.plan.events == 29 * 100_000


def test_small_sites_stay_raw_and_big_sites_use_rollups_for_any_range() -> None:
    assert decide(q(), FULL, 6_000_001).reason == "small"  # 60 rolled-up days of 100k events
    assert decide(q(date_range="7d"), FULL, 6_000_000).reason == "rollups"  # 6 rolled-up days: 600k events


def test_goal_breakdowns_map_to_event_names_only_for_custom_event_goals() -> None:
    from trail.sites import Goal
    from trail.stats.rollup_planner import goals_as_names

    events = (Goal(1, "Sign-ups", "Signup", None, "EUR"), Goal(2, "Download", "Download", None, None))
    body: dict[str, Any] = {"metrics": ["visitors", "conversion_rate", "total_revenue"], "dimensions": ["event:goal"]}
    mapped = goals_as_names(q(**body), events)
    assert mapped is not None and mapped.query.dimensions == ("event:name",)
    assert mapped.labels == ("Sign-ups", "Download") and mapped.revenue == ("Signup",)
    assert decide(mapped.query, FULL, 0).reason == "rollups"
    assert decide(q(**body), FULL, 0).reason == "shape"  # event:goal itself is no rollup dimension
    assert goals_as_names(q(**body), events + (Goal(3, "Pricing", None, "/pricing", None),)) is None
    assert goals_as_names(q(**body, filters=[["is", "event:goal", ["Download"]]]), events) is None
    assert goals_as_names(q(**{**body, "metrics": ["visitors", "percentage"]}), events) is None


@pytest.mark.parametrize("metric", ["visitors", "visits", "pageviews", "events", "views_per_visit", "bounce_rate",
                                    "visit_duration", "percentage"])
def test_supported_metrics(metric: str) -> None:
    assert decide(q(metrics=[metric], dimensions=["visit:source"]), FULL, 0).reason == "rollups"


@pytest.mark.parametrize("spec", ["realtime", "all", ["2026-03-20T10:00:00", "2026-03-25T10:00:00"]])
def test_ranges_that_are_not_whole_local_days(spec: Any) -> None:
    assert precheck(q(date_range=spec)) in ("range", "partial days")
    assert decide(q(date_range=spec), FULL, 0).plan is None


@pytest.mark.parametrize("dims, filters, want", [
    ([], [], ("", (), None, "")),
    (["time:day"], [], ("", (), "time:day", "")),
    (["time:week"], [], ("", (), "time:week", "")),
    (["time:month"], [], ("", (), "time:month", "")),
    (["visit:source"], [], ("visit:source", (), None, "")),
    (["event:page"], [], ("event:page", (), None, "")),
    (["event:name"], [], ("event:name", (), None, "")),
    (["time:day"], [["is", "visit:country", ["DE"]]], ("visit:country", ("DE",), "time:day", "")),
    (["visit:country"], [["is", "visit:country", ["DE"]]], ("visit:country", ("DE",), None, "")),
    ([], [["is", "event:page", ["/a"]]], ("event:page", ("/a",), None, "")),
    (["event:page"], [["is", "event:page", ["/a", "/b"]]], ("event:page", ("/a", "/b"), None, "")),
    # a filter on another dimension: its filter x breakdown pair
    (["visit:source"], [["is", "visit:country", ["DE"]]], ("visit:country>visit:source", (), None, "DE\x1f")),
    (["event:page"], [["is", "visit:country", ["DE"]]], ("visit:country>event:page", (), None, "DE\x1f")),
    (["visit:device"], [["is", "event:page", ["/a"]]], ("event:page>visit:device", (), None, "/a\x1f")),
    (["event:name"], [["is", "event:page", ["/a"]]], ("event:page>event:name", (), None, "/a\x1f")),
])
def test_shapes_served(dims: list[str], filters: list[Any], want: Any) -> None:
    assert shape(q(dimensions=dims, filters=filters)) == want


@pytest.mark.parametrize("dims, filters", [
    (["time:hour"], []),
    (["visit:browser_version"], []),
    (["event:goal"], []),
    (["event:props:plan"], []),
    (["visit:source", "visit:country"], []),
    (["visit:source"], [["is", "visit:country", ["DE", "FR"]]]),  # a pair with several filter values
    (["visit:city"], [["is", "visit:country", ["DE"]]]),  # a breakdown without pairs
    (["visit:source"], [["is", "visit:browser_version", ["1"]]]),  # a filter that is not rolled up
    ([], [["is", "visit:country", ["DE", "FR"]]]),  # a union of values: sums would count a visitor twice
    ([], [["is_not", "visit:country", ["DE"]]]),
    ([], [["contains", "visit:country", ["D"]]]),
    ([], [["is", "visit:country", ["de"], {"case_sensitive": False}]]),
    ([], [["is", "visit:country", ["DE"]], ["is", "visit:source", ["Google"]]]),
    ([], [["or", [["is", "visit:country", ["DE"]]]]]),
    ([], [["is", "event:goal", ["Signup"]]]),
    ([], [["is", "event:page", ["/a", "/b"]]]),  # a visit can hold both pages
])
def test_shapes_not_served(dims: list[str], filters: list[Any]) -> None:
    assert shape(q(dimensions=dims, filters=filters)) is None
    assert decide(q(dimensions=dims, filters=filters), FULL, 0).reason in ("shape", "metric")


def test_a_missing_day_inside_the_range_sends_it_raw() -> None:
    days = dict(FULL.days)
    del days[TODAY - timedelta(days=10)]
    assert decide(q(), Coverage(days), 0).reason == "coverage"


def test_a_short_uncovered_suffix_is_the_tail_a_long_one_is_raw() -> None:
    two = cover(TODAY - timedelta(days=60), TODAY - timedelta(days=2))
    plan = decide(q(), two, 0).plan
    assert plan is not None and plan.tail == (TODAY - timedelta(days=1), TODAY)
    three = cover(TODAY - timedelta(days=60), TODAY - timedelta(days=3))
    assert decide(q(), three, 0).reason == "coverage"


def test_days_in_another_timezone_are_not_coverage() -> None:
    assert decide(q(), cover(TODAY - timedelta(days=60), TODAY - timedelta(days=1), tz="UTC"), 0).reason == \
        "coverage"


def test_days_before_the_first_event_and_future_days_are_empty() -> None:
    young = cover(TODAY - timedelta(days=9), TODAY - timedelta(days=1), first_day=TODAY - timedelta(days=9))
    plan = decide(q(), young, 0).plan
    assert plan is not None and len(plan.days) == 9 and plan.tail == (TODAY,)
    assert decide(q(), cover(TODAY - timedelta(days=9), TODAY - timedelta(days=1)), 0).reason == "coverage"
    past = cover(TODAY - timedelta(days=60), TODAY - timedelta(days=1))
    plan = decide(q(date_range=["2026-03-25", "2026-04-20"]), past, 0).plan
    assert plan is not None and plan.tail == (TODAY,)


def test_plan_builds_every_role_or_none() -> None:
    built = plan_rollups(q(metrics=["visitors", "percentage"], dimensions=["visit:source"],
                           include={"total_rows": True}), SITE, FULL, min_events=0)
    assert built is not None and set(built) == {"main", "total_rows", "total_visitors"}
    assert "FROM rollup_daily" in built["main"].sql and "sum(visitors_day)" in built["main"].sql
    assert "FROM events" in built["main"].sql  # today's tail
    assert plan_rollups(q(), SITE, FULL, min_events=10**12) is None
    past = plan_rollups(q(date_range=["2026-03-01", "2026-03-10"]), SITE, FULL, min_events=0)
    assert past is not None and "FROM events" not in past["main"].sql


WATERMARK = NOW - timedelta(minutes=7)


def provisional(base: Coverage, *days: date, until: datetime = WATERMARK) -> Coverage:
    out = dict(base.days)
    for d in days:
        out[d] = DayInfo(TZ, 8, 50_000, until)
    return Coverage(out, base.first_day)


def test_provisional_today_is_read_from_rollups_and_only_events_after_the_watermark_are_raw() -> None:
    plan = decide(q(), provisional(FULL, TODAY), 0).plan
    assert plan is not None and plan.days[-1] == TODAY and len(plan.days) == 30
    assert plan.tail == (TODAY,) and plan.since == WATERMARK
    assert plan.events == 29 * 100_000 + 50_000


def test_provisional_yesterday_and_today_share_the_watermark() -> None:
    base = cover(TODAY - timedelta(days=60), TODAY - timedelta(days=2))
    plan = decide(q(), provisional(base, TODAY - timedelta(days=1), TODAY), 0).plan
    assert plan is not None and len(plan.days) == 30 and plan.since == WATERMARK
    assert plan.tail == (TODAY,)  # the watermark is today: yesterday is whole in its provisional rows
    early = datetime(2026, 3, 31, 21, 30, tzinfo=timezone.utc)  # 23:30 in Berlin, the day before
    plan = decide(q(), provisional(base, TODAY - timedelta(days=1), TODAY, until=early), 0).plan
    assert plan is not None and plan.since == early and plan.tail == (TODAY - timedelta(days=1), TODAY)


def test_a_missing_day_after_a_provisional_one_is_covered_from_the_watermark() -> None:
    base = cover(TODAY - timedelta(days=60), TODAY - timedelta(days=2))
    old = datetime(2026, 3, 31, 20, 0, tzinfo=timezone.utc)
    plan = decide(q(), provisional(base, TODAY - timedelta(days=1), until=old), 0).plan
    assert plan is not None and plan.since == old and plan.days[-1] == TODAY - timedelta(days=1)
    assert plan.tail == (TODAY - timedelta(days=1), TODAY)


def test_inconsistent_provisional_days_are_computed_whole() -> None:
    base = cover(TODAY - timedelta(days=60), TODAY - timedelta(days=2))
    mixed = provisional(provisional(base, TODAY - timedelta(days=1)), TODAY, until=WATERMARK + timedelta(minutes=5))
    plan = decide(q(), mixed, 0).plan
    assert plan is not None and plan.since is None and plan.tail == (TODAY - timedelta(days=1), TODAY)
    assert len(plan.days) == 28 and plan.events == 28 * 100_000


def test_a_range_ending_before_today_needs_no_raw_part() -> None:
    plan = decide(q(date_range=["2026-03-01", "2026-03-31"]), provisional(FULL, TODAY), 0).plan
    assert plan is not None and plan.tail == () and plan.since is None


def test_raw_part_after_the_watermark_in_sql() -> None:
    built = plan_rollups(q(metrics=["visitors", "visits"]), SITE, provisional(FULL, TODAY), min_events=0)
    assert built is not None and "FROM events" in built["main"].sql and "v_start >=" in built["main"].sql
    assert WATERMARK in built["main"].params.values()
    only = plan_rollups(q(), SITE, provisional(FULL, TODAY), min_events=0)  # visitors: no visit sums to compute
    assert only is not None and "FROM events" in only["main"].sql and "v_start >=" not in only["main"].sql


@pytest.mark.parametrize("dim, metrics, parts", [
    ("visit:source", ["visitors"], {"visitors"}),
    ("visit:source", ["visitors", "bounce_rate"], {"visitors", "visit"}),
    ("visit:source", ["pageviews"], {"visit"}),
    ("event:page", ["visitors", "pageviews"], {"visitors", "event"}),
    ("event:page", ["visits"], {"visit", "event"}),  # the page's rows exist by its events
    ("event:page", ["visitors", "scroll_depth"], {"visitors", "engagement"}),
    ("visit:country>event:page", ["visitors", "bounce_rate"], {"visitors", "visit"}),
])
def test_a_tail_computes_only_the_parts_its_metrics_read(dim: str, metrics: list[str], parts: set[str]) -> None:
    from trail.stats.rollups import needed_parts

    assert needed_parts(dim, metrics) == parts


def test_top_n_orders_over_every_value() -> None:
    """Visitors are sums (no sketch to merge), so a top-N reads every value of the range: no candidate set."""
    query = q(dimensions=["event:page"], pagination={"limit": 9})
    sql = plan_rollups(query, SITE, FULL, min_events=0)
    assert sql is not None and "value IN" not in sql["main"].sql and "ORDER BY m_visitors DESC" in sql["main"].sql


PAGES = ["visitors", "pageviews", "scroll_depth", "time_on_page"]


@pytest.mark.parametrize("body, served", [
    ({"metrics": PAGES, "dimensions": ["event:page"], "pagination": {"limit": 9}}, True),  # the pages widget
    ({"metrics": PAGES, "dimensions": ["event:page"], "filters": [["is", "visit:country", ["DE"]]]}, True),
    ({"metrics": PAGES, "dimensions": ["event:page"], "order_by": [["scroll_depth", "desc"]]}, True),
    ({"metrics": ["scroll_depth", "time_on_page"], "filters": [["is", "event:page", ["/a"]]]}, True),
    ({"metrics": PAGES, "dimensions": ["event:page"], "filters": [["is", "event:name", ["Signup"]]]}, False),
    ({"metrics": PAGES, "dimensions": ["visit:source"], "filters": [["is", "event:page", ["/a"]]]}, False),
    ({"metrics": PAGES, "dimensions": ["event:page"], "filters": [["is", "visit:city", ["Berlin"]]]}, True),
    ({"metrics": PAGES, "dimensions": ["event:page"], "filters": [["is", "visit:os_version", ["1"]]]}, False),
])
def test_engagement_metrics_only_over_page_rows(body: dict[str, Any], served: bool) -> None:
    assert (decide(q(**body), FULL, 0).reason == "rollups") is served


def test_a_custom_event_goal_filter_maps_to_its_event_name() -> None:
    from trail.sites import Goal
    from trail.stats.rollup_planner import goals_as_names

    goals = (Goal(1, "Sign-ups", "Signup", None, "EUR"), Goal(2, "Pricing", None, "/pricing", None))
    mapped = goals_as_names(q(dimensions=["visit:source"], filters=[["is", "event:goal", ["Sign-ups"]]]), goals)
    assert mapped is not None and mapped.all_revenue and not mapped.names
    assert mapped.query.filters == (Filter("is", "event:name", ("Signup",)),)
    assert decide(mapped.query, FULL, 0).plan.prefix == "Signup\x1f"  # type: ignore[union-attr]
    assert goals_as_names(q(filters=[["is", "event:goal", ["Pricing"]]]), goals) is None  # a page goal
    assert goals_as_names(q(filters=[["is", "event:goal", ["Sign-ups", "Pricing"]]]), goals) is None

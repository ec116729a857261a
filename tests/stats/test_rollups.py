"""Rollups on chDB: the job (compute, late events, idempotent, timezone change, site deletion) and the rollup
path against the exact raw path on a mid-size generated data set (tolerance: docs/ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.conftest import RUN_ID
from tests.stats.gen import Row, generate
from trail.sites import Goal, SiteInfo
from trail.stats import rollup_coverage, rollup_job, rollup_planner
from trail.stats.query import parse_query
from trail.stats.rollup_job import last_closed_day, roll_up_site
from trail.stats.runner import run
from trail.stats.storage import delete_site_events
from trail.store.ch_migrations import migrate_events
from trail.store.events import EventStore, open_event_store

UTC = timezone.utc
TZ = "Europe/Berlin"
NOW = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
BIG = SiteInfo(id=61, domain="big.test", team_id=1, timezone=TZ)
JOB = SiteInfo(id=62, domain="job.test", team_id=1, timezone=TZ)
METRICS = ["visitors", "visits", "pageviews", "events", "views_per_visit", "bounce_rate", "visit_duration"]


@pytest.fixture(scope="module")
async def store(chdb_dir: Path) -> AsyncIterator[EventStore]:
    s = open_event_store(f"chdb://{chdb_dir}?database=t{RUN_ID}_rollups")
    await s.start()
    await migrate_events(s)
    yield s
    await s.execute(f"DROP DATABASE IF EXISTS t{RUN_ID}_rollups")
    await s.close()


@pytest.fixture(scope="module")
async def big(store: EventStore) -> list[Row]:
    """~35k events over 32 days, rolled up once. 300 visits a day is the smallest size at which every compared row
    (a day, a source, a country, a page) holds >= 200 visits, so the 1 % tolerances bind, not the absolute 2."""
    rows = [r for r in generate(11, datetime(2026, 2, 28, tzinfo=UTC), 32, visits_per_day=300) if r.ts < NOW]
    for i in range(0, len(rows), 50_000):
        await store.insert("events", [r.as_insert(BIG.id) for r in rows[i:i + 50_000]])
    await roll_up_site(store, BIG.id, TZ, NOW)
    return rows


async def ask(store: EventStore, site: SiteInfo, min_events: int, **body: Any) -> dict[str, Any]:
    saved = rollup_planner.MIN_EVENTS
    rollup_planner.MIN_EVENTS = min_events
    rollup_coverage.invalidate()
    try:
        return await run(store, parse_query({"site_id": site.domain, **body}, TZ, NOW), site)
    finally:
        rollup_planner.MIN_EVENTS = saved


def by_key(result: dict[str, Any]) -> dict[Any, list[Any]]:
    return {tuple(r["dimensions"]): r["metrics"] for r in result["results"]}


def close(a: Any, b: Any, rel: float, absolute: float = 0.0) -> bool:
    return abs(a - b) <= max(rel * abs(b), absolute)


# Documented tolerances: visitors = HLL error (+ the visits cut differently at the range's first midnight),
# the visit numbers only differ by visits crossing the range's edges (whole vs cut).
TOL = {"visitors": 0.02, "visits": 0.01, "pageviews": 0.01, "events": 0.01, "views_per_visit": 0.01,
       "bounce_rate": 0.02, "visit_duration": 0.02, "percentage": 0.03}


@pytest.mark.parametrize("body", [
    {"date_range": "30d"},
    {"date_range": ["2026-03-05", "2026-03-25"]},
    {"date_range": "30d", "dimensions": ["time:day"]},
    {"date_range": "30d", "dimensions": ["time:week"]},
    {"date_range": "30d", "dimensions": ["visit:source"], "metrics": METRICS + ["percentage"]},
    {"date_range": "30d", "dimensions": ["visit:entry_page"]},
    {"date_range": "30d", "dimensions": ["visit:exit_page"]},
    {"date_range": "30d", "dimensions": ["visit:country"], "include": {"comparisons": {"mode": "previous_period"}}},
    {"date_range": "30d", "dimensions": ["visit:device"], "filters": [["is", "visit:device", ["Mobile"]]]},
    {"date_range": "30d", "filters": [["is", "visit:country", ["DE"]]]},
    {"date_range": "30d", "dimensions": ["event:page"],
     "metrics": ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]},
    {"date_range": "30d", "filters": [["is", "event:page", ["/pricing"]]], "metrics": ["visitors", "pageviews"]},
    {"date_range": "30d", "dimensions": ["event:name"], "metrics": ["visitors", "events"]},
    {"date_range": "day"},  # today: provisional rows + raw events after the watermark
    {"date_range": "day", "dimensions": ["event:page"], "metrics": ["visitors", "pageviews", "events"]},
    {"date_range": "day", "dimensions": ["visit:source"]},
    # a tail computing only what its metrics read (rollups.needed_parts)
    {"date_range": "day", "dimensions": ["visit:source"], "metrics": ["visitors"]},
    {"date_range": "day", "dimensions": ["event:page"], "metrics": ["visitors", "pageviews"]},
    {"date_range": "day", "dimensions": ["event:page"], "metrics": ["visits"]},
    # filter x breakdown pairs (a filtered dashboard's widgets)
    {"date_range": "30d", "dimensions": ["visit:source"], "filters": [["is", "visit:country", ["DE"]]]},
    {"date_range": "30d", "dimensions": ["visit:entry_page"], "filters": [["is", "visit:device", ["Mobile"]]]},
    {"date_range": "30d", "dimensions": ["event:page"], "filters": [["is", "visit:country", ["DE"]]],
     "metrics": ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]},
    {"date_range": "30d", "dimensions": ["visit:country"], "filters": [["is", "event:page", ["/pricing"]]]},
    {"date_range": "30d", "dimensions": ["event:name"], "filters": [["is", "event:page", ["/pricing"]]],
     "metrics": ["visitors", "events"]},
    {"date_range": "30d", "dimensions": ["event:page"], "filters": [["is", "event:name", ["Signup"]]],
     "metrics": ["visitors", "visits", "events"]},
    {"date_range": "day", "dimensions": ["visit:source"], "filters": [["is", "visit:country", ["DE"]]]},
    {"date_range": "day", "dimensions": ["visit:device"], "filters": [["is", "event:page", ["/pricing"]]]},
])
async def test_rollups_agree_with_raw_events(store: EventStore, big: list[Row], body: dict[str, Any]) -> None:
    body = {"metrics": METRICS, **body}
    approx = await ask(store, BIG, 0, **body)
    exact = await ask(store, BIG, 10**15, **body)
    assert approx["meta"].get("approximate") is True and "approximate" not in exact["meta"]
    got, want = by_key(approx), by_key(exact)
    assert set(got) == set(want)
    for key, values in want.items():
        for metric, a, b in zip(body["metrics"], got[key], values):
            assert close(a, b, TOL[metric], absolute=2), (key, metric, a, b)
    if "comparisons" in body.get("include", {}):
        for r in approx["results"]:
            assert r["comparison"]["metrics"] == [0] * len(body["metrics"]) or r["comparison"]["metrics"]


async def test_small_sites_stay_exact_on_raw_events(store: EventStore, big: list[Row]) -> None:
    result = await ask(store, BIG, rollup_planner.MIN_EVENTS, metrics=METRICS, date_range="30d")
    assert "approximate" not in result["meta"]  # ~35k events < the default 1,000,000


async def _generations(store: EventStore, site_id: int) -> int:
    """(day, generation) pairs stored for a site."""
    _, rows = await store.query("SELECT uniqExact(day, gen) FROM rollup_daily WHERE site_id = {s:UInt32}",
                                {"s": site_id})
    return int(rows[0][0])


async def test_job_computes_recomputes_and_is_idempotent(store: EventStore) -> None:
    rows = [r for r in generate(12, datetime(2026, 3, 20, tzinfo=UTC), 13, visits_per_day=40) if r.ts < NOW]
    await store.insert("events", [r.as_insert(JOB.id) for r in rows])
    last = last_closed_day(TZ, NOW)
    assert last == date(2026, 3, 31)
    first = await roll_up_site(store, JOB.id, TZ, NOW)
    assert min(first) == date(2026, 3, 20) and max(first) == last and len(first) == 12
    body: dict[str, Any] = {"metrics": METRICS, "date_range": ["2026-03-21", "2026-03-31"],
                            "dimensions": ["time:day"]}
    once = await ask(store, JOB, 0, **body)
    assert await _generations(store, JOB.id) == 13  # 12 closed days + today's provisional rows

    again = await roll_up_site(store, JOB.id, TZ, NOW)
    assert sorted(again) == [last - timedelta(days=1), last]  # only the last two closed days
    assert await ask(store, JOB, 0, **body) == once
    assert await _generations(store, JOB.id) == 16  # the superseded ones (2 closed, today) wait for the next run
    await roll_up_site(store, JOB.id, TZ, NOW)  # drops them (and supersedes the newest ones)
    assert await _generations(store, JOB.id) == 16

    late = [r for r in generate(13, datetime(2026, 3, 25, 8, tzinfo=UTC), 1, visits_per_day=5)]
    await store.insert("events", [r.as_insert(JOB.id) for r in late])
    redo = await roll_up_site(store, JOB.id, TZ, NOW)
    assert date(2026, 3, 25) in redo
    after = by_key(await ask(store, JOB, 0, **body))
    exact = by_key(await ask(store, JOB, 10**15, **body))
    added = sum(1 for r in late if r.name == "pageview")
    assert sum(m[2] for m in after.values()) == sum(m[2] for m in by_key(once).values()) + added
    assert after == exact  # visitors are exact sums; no visit crosses these midnights here


async def test_a_late_event_recomputes_the_next_day_too(store: EventStore) -> None:
    """X's id (UTC day 03-25) is first seen on local day 03-26 (23:10 UTC); a late event puts it on 03-25 as well:
    the job recomputes 03-25 (its count changed) and 03-26 (its overlap with 03-25, visitors_prev), so a range over
    both days still counts X once, as raw events do. Both days are older than the always-recomputed last two."""
    site = SiteInfo(id=67, domain="late.test", team_id=1, timezone=TZ)
    t = datetime(2026, 3, 25, tzinfo=UTC)
    await store.insert("events", [_pv(t + timedelta(hours=12), 2, 201, "/a").as_insert(site.id),
                                  _pv(t + timedelta(hours=23, minutes=10), 1, 101, "/a").as_insert(site.id)])
    await roll_up_site(store, site.id, TZ, NOW)
    await store.insert("events", [_pv(t + timedelta(hours=21, minutes=50), 1, 100, "/a").as_insert(site.id)])
    redone = await roll_up_site(store, site.id, TZ, NOW)
    assert {date(2026, 3, 25), date(2026, 3, 26)} <= set(redone)
    for dims in ([], ["event:page"], ["time:day"]):
        await _same_answers(store, site, NOW, {"site_id": site.domain, "metrics": ["visitors", "visits"],
                                               "date_range": ["2026-03-25", "2026-03-26"], "dimensions": dims})


async def test_timezone_change_recomputes_and_site_deletion_clears(store: EventStore) -> None:
    site = SiteInfo(id=63, domain="tz.test", team_id=1, timezone=TZ)
    rows = [r for r in generate(14, datetime(2026, 3, 25, tzinfo=UTC), 6, visits_per_day=20) if r.ts < NOW]
    await store.insert("events", [r.as_insert(site.id) for r in rows])
    await roll_up_site(store, site.id, TZ, NOW)
    await roll_up_site(store, site.id, "America/New_York", NOW)
    cover = await rollup_coverage.load(store, site.id)
    assert cover.days and {d.tz for d in cover.days.values()} == {"America/New_York"}
    result = await ask(store, site, 0, metrics=["visitors"], date_range="7d")
    assert "approximate" not in result["meta"]  # Berlin days are not rolled up any more
    await delete_site_events(store, site.id)
    for table in ("events", "rollup_daily", "rollup_days"):
        _, got = await store.query(f"SELECT count() FROM {table} WHERE site_id = {site.id}")
        assert got[0][0] == 0, table


async def test_provisional_today_plus_events_after_the_watermark(store: EventStore) -> None:
    site = SiteInfo(id=64, domain="today.test", team_id=1, timezone=TZ)
    rows = [r for r in generate(15, datetime(2026, 3, 28, tzinfo=UTC), 5, visits_per_day=60) if r.ts < NOW]
    await store.insert("events", [r.as_insert(site.id) for r in rows])
    await roll_up_site(store, site.id, TZ, NOW)
    cover = await rollup_coverage.load(store, site.id)
    today = date(2026, 4, 1)
    assert cover.days[today].until == NOW - rollup_job.WATERMARK_LAG
    assert cover.days[date(2026, 3, 31)].until is None
    # events after the job's run (after its watermark): read from raw events by the next query
    later = NOW + timedelta(minutes=30)
    extra = [r for r in generate(16, later - timedelta(minutes=20), 1, visits_per_day=2000) if r.ts < later]
    await store.insert("events", [r.as_insert(site.id) for r in extra])
    body: dict[str, Any] = {"metrics": METRICS, "date_range": "7d"}
    for dims in ([], ["visit:source"], ["event:page"]):
        query = parse_query({"site_id": site.domain, **body, "dimensions": dims}, TZ, later)
        saved, rollup_planner.MIN_EVENTS = rollup_planner.MIN_EVENTS, 0
        rollup_coverage.invalidate()
        try:
            approx = await run(store, query, site)
            rollup_planner.MIN_EVENTS = 10**15
            exact = await run(store, query, site)
        finally:
            rollup_planner.MIN_EVENTS = saved
        assert approx["meta"].get("approximate") is True
        got, want = by_key(approx), by_key(exact)
        assert set(got) == set(want)
        for key, values in want.items():
            for metric, a, b in zip(METRICS, got[key], values):
                assert close(a, b, TOL[metric], absolute=2), (dims, key, metric, a, b)
    # the next run makes today provisional again at its own watermark; yesterday stays closed
    await roll_up_site(store, site.id, TZ, later)
    again = await rollup_coverage.load(store, site.id)
    assert again.days[today].until == later - rollup_job.WATERMARK_LAG and again.days[today].gen > cover.days[today].gen


@pytest.mark.parametrize("dim", ["event:page", "visit:entry_page", "visit:source"])
async def test_top_n_is_the_head_of_the_full_list(store: EventStore, big: list[Row], dim: str) -> None:
    """A short top-N list is the head of the full list (same order, same numbers), and close to the raw numbers."""
    body: dict[str, Any] = {"metrics": ["visitors", "pageviews"], "date_range": "30d", "dimensions": [dim]}
    full = await ask(store, BIG, 0, **body)
    top = await ask(store, BIG, 0, **body, pagination={"limit": 3})
    assert top["meta"].get("approximate") is True and top["results"] == full["results"][:3]
    exact = by_key(await ask(store, BIG, 10**15, **body))
    for key, (visitors, pageviews) in by_key(top).items():
        assert close(visitors, exact[key][0], TOL["visitors"], 2) and close(pageviews, exact[key][1], 0.01, 2)


def _pv(ts: datetime, visitor: int, session: int, path: str, source: str = "") -> Row:
    return Row(ts=ts, name="pageview", visitor_id=visitor, session_id=session, pathname=path, source=source,
               referrer="", utm_source="", utm_medium="", utm_campaign="", country="DE", region="", city="",
               device="Desktop", browser="Chrome", os="Linux", screen="Desktop", props={}, revenue_amount=None,
               revenue_currency="", interactive=1, scroll_depth=0, engagement_ms=0)


async def test_visitors_are_exact_across_local_midnight_and_the_watermark(store: EventStore) -> None:
    """Visitor ids live one UTC day, so an id can be a member on two local days (Berlin midnight is 23:00 UTC in
    March): the rollups subtract it once (visitors_prev), and the raw tail after the watermark counts only ids not
    seen before it on their day. Every answer equals the raw one exactly."""
    site = SiteInfo(id=65, domain="exact.test", team_id=1, timezone=TZ)
    t = datetime(2026, 3, 10, tzinfo=UTC)
    rows = [
        _pv(t + timedelta(hours=22, minutes=30), 1, 101, "/a"),           # A: local 10th 23:30 ...
        _pv(t + timedelta(hours=23, minutes=20), 1, 101, "/a"),           # ... same visit, local 11th 00:20
        _pv(t + timedelta(hours=23, minutes=58), 1, 102, "/b", "Google"),  # A again: a visit starting on the 11th
        _pv(t + timedelta(hours=12), 3, 301, "/b"),                        # C: the 10th
        _pv(t + timedelta(days=1, hours=8), 4, 401, "/a", "Google"),       # D: the 11th, before the watermark
    ]
    tail = [
        _pv(t + timedelta(days=1, hours=10), 2, 201, "/a"),                # B: after the watermark
        _pv(t + timedelta(days=1, hours=10, minutes=10), 4, 402, "/a", "Google"),  # D again: a new visit
        _pv(t + timedelta(days=1, hours=10, minutes=12), 5, 501, "/b"),    # E: new after the watermark
    ]
    await store.insert("events", [r.as_insert(site.id) for r in rows])
    job_time = t + timedelta(days=1, hours=9)  # the 11th is provisional, watermark 08:58 UTC
    await roll_up_site(store, site.id, TZ, job_time)
    await store.insert("events", [r.as_insert(site.id) for r in tail])
    later = t + timedelta(days=1, hours=10, minutes=30)
    pairs: list[tuple[list[str], list[Any]]] = [
        ([], []), (["time:day"], []), (["event:page"], []), (["visit:source"], []), (["visit:entry_page"], []),
        (["event:page"], [["is", "visit:source", ["Google"]]]), (["visit:source"], [["is", "event:page", ["/a"]]])]
    for dims, filters in pairs:
        for metrics in (["visitors", "visits", "pageviews"], ["visitors"]):
            await _same_answers(store, site, later, {
                "site_id": site.domain, "metrics": metrics, "date_range": ["2026-03-10", "2026-03-11"],
                "dimensions": dims, "filters": filters})
    top = await ask_at(store, site, later, metrics=["visitors"], date_range=["2026-03-10", "2026-03-11"])
    assert top["results"][0]["metrics"] == [5]  # A, B, C, D, E


async def _same_answers(store: EventStore, site: SiteInfo, now: datetime, body: dict[str, Any]) -> None:
    """The rollups' answer (tail included) equals the raw engine's exactly."""
    answers = []
    for min_events in (0, 10**15):
        saved, rollup_planner.MIN_EVENTS = rollup_planner.MIN_EVENTS, min_events
        rollup_coverage.invalidate()
        try:
            answers.append(await run(store, parse_query(body, TZ, now), site))
        finally:
            rollup_planner.MIN_EVENTS = saved
    approx, exact = answers
    assert approx["meta"].get("approximate") is True and "approximate" not in exact["meta"]
    assert by_key(approx) == by_key(exact), body


async def ask_at(store: EventStore, site: SiteInfo, now: datetime, **body: Any) -> dict[str, Any]:
    saved, rollup_planner.MIN_EVENTS = rollup_planner.MIN_EVENTS, 0
    rollup_coverage.invalidate()
    try:
        return await run(store, parse_query({"site_id": site.domain, **body}, TZ, now), site)
    finally:
        rollup_planner.MIN_EVENTS = saved


GOALS = (Goal(1, "Signup", "Signup", None, "EUR"), Goal(2, "Downloads", "Download", None, None))
GOAL_METRICS = ["visitors", "events", "conversion_rate", "total_revenue", "average_revenue"]


@pytest.mark.parametrize("goals, rolled_up", [
    (GOALS, True),
    (GOALS + (Goal(3, "Pricing", None, "/pricing", None),), False),  # a page goal: the breakdown stays raw
])
async def test_goals_breakdown_from_event_name_rollups(store: EventStore, big: list[Row], goals: tuple[Goal, ...],
                                                       rolled_up: bool) -> None:
    """The goals widget: custom-event goals come from the event:name rows under their display names, with
    conversion rate over the site's visitors and revenue for revenue goals only; revenue is exact."""
    site = replace(BIG, goals=goals)
    body: dict[str, Any] = {"metrics": GOAL_METRICS, "date_range": "30d", "dimensions": ["event:goal"]}
    approx = await ask(store, site, 0, **body)
    exact = await ask(store, site, 10**15, **body)
    assert (approx["meta"].get("approximate") is True) is rolled_up and "approximate" not in exact["meta"]
    got, want = by_key(approx), by_key(exact)
    assert set(got) == set(want) and ("Downloads",) in got, (got, want)
    for key, values in want.items():
        assert got[key][3] == values[3] and got[key][4] == values[4], key  # revenue: exact sums
        for metric, a, b in zip(GOAL_METRICS[:3], got[key], values):
            assert close(a, b, TOL.get(metric, 0.02), absolute=2), (key, metric, a, b)


@pytest.mark.parametrize("body", [
    {"metrics": ["visitors", "events", "total_revenue", "average_revenue"]},
    {"metrics": ["visitors", "visits", "pageviews"], "dimensions": ["time:day"]},
    {"metrics": ["visitors", "events", "conversion_rate"], "dimensions": ["visit:source"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"]},
    {"metrics": ["visitors", "percentage"], "dimensions": ["visit:device"]},
])
async def test_a_custom_event_goal_filter_reads_its_event_name_rows(store: EventStore, big: list[Row],
                                                                    body: dict[str, Any]) -> None:
    """A dashboard filtered on a custom-event goal: the event-name rows (pairs for breakdowns), as raw."""
    site = replace(BIG, goals=GOALS)
    body = {**body, "date_range": "30d", "filters": [["is", "event:goal", ["Signup"]]]}
    approx = await ask(store, site, 0, **body)
    exact = await ask(store, site, 10**15, **body)
    assert approx["meta"].get("approximate") is True and "approximate" not in exact["meta"]
    got, want = by_key(approx), by_key(exact)
    assert set(got) == set(want) and want
    for key, values in want.items():
        for metric, a, b in zip(body["metrics"], got[key], values):
            if metric in ("total_revenue", "average_revenue"):
                assert a == b, (key, metric)
            else:
                assert close(a, b, TOL.get(metric, 0.02), absolute=2), (key, metric, a, b)


PAGES = ["visitors", "pageviews", "scroll_depth", "time_on_page"]


@pytest.mark.parametrize("body", [
    {"date_range": "30d", "pagination": {"limit": 9}},  # the pages widget
    {"date_range": "30d", "include": {"total_rows": True, "comparisons": {"mode": "previous_period"}}},
    {"date_range": "day"},  # provisional today
    {"date_range": "30d", "filters": [["is", "event:page", ["/pricing", "/"]]]},
    {"date_range": "30d", "filters": [["is", "visit:country", ["DE"]]]},  # a pair broken down by page
])
async def test_pages_with_engagement_from_rollups(store: EventStore, big: list[Row], body: dict[str, Any]) -> None:
    """The pages widget wholly from rollups: visitors/pageviews and the per-(page, visit) engagement sums, within
    the tolerance of the raw engine (a (page, visit) group crossing midnight counts on its first day)."""
    body = {"metrics": PAGES, "dimensions": ["event:page"], **body}
    approx = await ask(store, BIG, 0, **body)
    exact = await ask(store, BIG, 10**15, **body)
    assert approx["meta"].get("approximate") is True and "approximate" not in exact["meta"]
    got, want = by_key(approx), by_key(exact)
    assert got and set(got) <= set(want)
    if "pagination" not in body:
        assert set(got) == set(want)
        assert approx["meta"].get("total_rows", 0) == exact["meta"].get("total_rows", 0)
    for key, (visitors, pageviews, scroll, top) in got.items():
        assert close(visitors, want[key][0], TOL["visitors"], 2) and close(pageviews, want[key][1], 0.01, 2)
        for a, b in zip([scroll, top], want[key][2:]):
            assert (a is None) == (b is None) and (a is None or close(a, b, 0.02, 1)), (key, a, b)
    assert any(m[2] is not None for m in got.values())  # the data set has engagement
    if "comparisons" in body.get("include", {}):
        cmp_got = {tuple(r["dimensions"]): r["comparison"]["metrics"] for r in approx["results"]}
        cmp_want = {tuple(r["dimensions"]): r["comparison"]["metrics"] for r in exact["results"]}
        assert cmp_got.keys() == cmp_want.keys()


async def test_pages_with_engagement_stay_exact_on_raw_for_small_sites(store: EventStore, big: list[Row]) -> None:
    body: dict[str, Any] = {"metrics": PAGES, "dimensions": ["event:page"], "date_range": "30d",
                            "pagination": {"limit": 9}}
    default = await ask(store, BIG, rollup_planner.MIN_EVENTS, **body)  # ~35k events < the default 1,000,000
    assert "approximate" not in default["meta"]
    assert default == await ask(store, BIG, 10**15, **body)

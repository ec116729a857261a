"""The stats runner on chDB against answers computed in Python from seeded generated visits (nothing typed in)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.conftest import RUN_ID
from tests.stats import oracle
from tests.stats.gen import Row, generate
from trail.sites import Goal, SiteInfo
from trail.stats import dates
from trail.stats.query import parse_query
from trail.stats.runner import fmt_metric, realtime_visitors, run
from trail.store.ch_migrations import migrate_events
from trail.store.events import EventStore, open_event_store

UTC = timezone.utc
TZ = "Europe/Berlin"
NOW = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
GOALS = (Goal(1, "Signup", "Signup", None, "EUR"), Goal(2, "Visit pricing", None, "/pricing", None),
         Goal(3, "Blog", None, "/blog*", None), Goal(4, "Download", "Download", None, None))
SITE = SiteInfo(id=42, domain="oracle.test", team_id=1, timezone=TZ, goals=GOALS)
OTHER = SiteInfo(id=43, domain="other.test", team_id=1, timezone=TZ)


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    # 18 days ending on "now" (crossing the Berlin DST change of 2026-03-29), plus a burst in the last 5 minutes.
    data = generate(7, datetime(2026, 3, 15, tzinfo=UTC), 17, visits_per_day=30)
    burst = generate(8, NOW, 1, visits_per_day=6)
    starts: dict[int, datetime] = {}
    for r in burst:  # move each burst visit to start within the last 4 minutes
        first = starts.setdefault(r.session_id, r.ts)
        r.ts = NOW - timedelta(minutes=4) + timedelta(seconds=10 * (r.session_id % 6)) + (r.ts - first) / 100
    return [r for r in data + burst if r.ts < NOW]


@pytest.fixture(scope="module")
async def store(chdb_dir: Path, rows: list[Row]) -> AsyncIterator[EventStore]:
    s = open_event_store(f"chdb://{chdb_dir}?database=t{RUN_ID}_oracle")
    await s.start()
    await migrate_events(s)
    await s.insert("events", [r.as_insert(SITE.id) for r in rows])
    await s.insert("events", [r.as_insert(OTHER.id) for r in rows[:50]])  # another site: never counted
    yield s
    await s.execute(f"DROP DATABASE IF EXISTS t{RUN_ID}_oracle")
    await s.close()


async def ask(store: EventStore, **body: Any) -> dict[str, Any]:
    return await run(store, parse_query({"site_id": SITE.domain, **body}, TZ, NOW), SITE)


def window(spec: Any) -> tuple[datetime, datetime]:
    rng = dates.resolve(spec, TZ, NOW)
    return rng.start, rng.end


def as_map(result: dict[str, Any]) -> dict[Any, list[Any]]:
    return {tuple(r["dimensions"]) if len(r["dimensions"]) != 1 else r["dimensions"][0]: r["metrics"]
            for r in result["results"]}


async def test_every_visit_metric(store: EventStore, rows: list[Row]) -> None:
    metrics = ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit"]
    for spec in ("7d", "30d", "day", ["2026-03-20", "2026-03-29"]):
        vs = oracle.visits(oracle.in_range(rows, *window(spec)))
        want = oracle.visit_metrics(list(vs.values()))
        got = await ask(store, metrics=metrics, date_range=spec)
        assert got["results"][0]["metrics"] == [want[m] for m in metrics], spec


async def test_visit_dimensions_with_percentage(store: EventStore, rows: list[Row]) -> None:
    vs = oracle.visits(oracle.in_range(rows, *window("30d")))
    total = len({v.visitor for v in vs.values()})
    for dim in ("visit:source", "visit:country", "visit:device", "visit:entry_page", "visit:exit_page",
                "visit:utm_campaign", "visit:browser", "visit:os", "visit:screen", "visit:city"):
        groups: dict[str, list[oracle.Visit]] = defaultdict(list)
        for v in vs.values():
            groups[v.attr(dim)].append(v)
        got = as_map(await ask(store, metrics=["visitors", "visits", "bounce_rate", "visit_duration", "percentage"],
                               date_range="30d", dimensions=[dim], include={"total_rows": True}))
        want = {}
        for key, group in groups.items():
            m = oracle.visit_metrics(group)
            want[key] = [m["visitors"], m["visits"], m["bounce_rate"], m["visit_duration"],
                         fmt_metric("percentage", m["visitors"] / total * 100)]
        assert got == want, dim


async def test_pages_with_visit_filter_and_engagement_metrics(store: EventStore, rows: list[Row]) -> None:
    in_rng = oracle.in_range(rows, *window("7d"))
    vs = oracle.visits(in_rng)
    want = oracle.event_breakdown(in_rng, vs, key=lambda r: r.pathname,
                                  keep=lambda r, v: v.attr("visit:country") in ("DE", "US"),
                                  entry_scope=lambda page, v: v.attr("visit:entry_page") == page)
    metrics = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "scroll_depth", "time_on_page"]
    got = as_map(await ask(store, metrics=metrics, date_range="7d", dimensions=["event:page"],
                           filters=[["is", "visit:country", ["DE", "US"]]]))
    assert got == {k: [m[x] for x in metrics] for k, m in want.items()}


async def test_pages_unfiltered_whole_data(store: EventStore, rows: list[Row]) -> None:
    spec = ["2026-03-14", "2026-04-02"]
    in_rng = oracle.in_range(rows, *window(spec))
    vs = oracle.visits(in_rng)
    want = oracle.event_breakdown(in_rng, vs, key=lambda r: r.pathname)
    metrics = ["visitors", "pageviews", "events", "scroll_depth", "time_on_page"]
    got = as_map(await ask(store, metrics=metrics, date_range=spec, dimensions=["event:page"]))
    assert got == {k: [m[x] for x in metrics] for k, m in want.items()}


async def test_goals_conversion_rate_and_revenue(store: EventStore, rows: list[Row]) -> None:
    in_rng = oracle.in_range(rows, *window("30d"))
    vs = oracle.visits(in_rng)
    total = len({v.visitor for v in vs.values()})
    got = as_map(await ask(store, metrics=["visitors", "events", "conversion_rate", "total_revenue",
                                           "average_revenue"], date_range="30d", dimensions=["event:goal"]))
    checks = {"Signup": lambda r: r.name == "Signup", "Download": lambda r: r.name == "Download",
              "Visit pricing": lambda r: r.name == "pageview" and r.pathname == "/pricing",
              "Blog": lambda r: r.name == "pageview" and r.pathname.startswith("/blog")}
    for goal, pred in checks.items():
        hits = [r for r in in_rng if pred(r) and r.session_id in vs]
        visitors = len({r.visitor_id for r in hits})
        revenue = [r.revenue_amount for r in hits if r.revenue_amount is not None]
        want = [visitors, len(hits), fmt_metric("conversion_rate", visitors / total * 100)]
        if goal == "Signup":
            want += [fmt_metric("total_revenue", sum(revenue)),
                     fmt_metric("average_revenue", sum(revenue) / len(revenue))]
        else:
            want += [None, None]
        assert got[goal] == want, goal


async def test_goal_filter_by_country(store: EventStore, rows: list[Row]) -> None:
    in_rng = oracle.in_range(rows, *window("30d"))
    vs = oracle.visits(in_rng)
    total = len({v.visitor for v in vs.values()})
    got = as_map(await ask(store, metrics=["visitors", "conversion_rate"], date_range="30d",
                           dimensions=["visit:country"], filters=[["is", "event:goal", ["Signup"]]]))
    per: dict[str, set[int]] = defaultdict(set)
    for r in in_rng:
        if r.name == "Signup" and r.session_id in vs:
            per[vs[r.session_id].attr("visit:country")].add(r.visitor_id)
    assert got == {k: [len(v), fmt_metric("conversion_rate", len(v) / total * 100)] for k, v in per.items()}


async def test_time_series_in_site_timezone_filled(store: EventStore, rows: list[Row]) -> None:
    spec = ["2026-03-10", "2026-03-31"]  # starts before the data: empty days are zeros
    vs = oracle.visits(oracle.in_range(rows, *window(spec)))
    per_day: dict[str, list[oracle.Visit]] = defaultdict(list)
    for v in vs.values():
        per_day[v.start.astimezone(dates.zone(TZ)).date().isoformat()].append(v)
    got = await ask(store, metrics=["visitors", "visits", "pageviews", "bounce_rate"], date_range=spec,
                    dimensions=["time:day"], include={"time_labels": True})
    labels = [f"2026-03-{d:02d}" for d in range(10, 32)]
    assert [r["dimensions"][0] for r in got["results"]] == labels == got["meta"]["time_labels"]
    for r in got["results"]:
        m = oracle.visit_metrics(per_day.get(r["dimensions"][0], []))
        assert r["metrics"] == [m["visitors"], m["visits"], m["pageviews"], m["bounce_rate"]]


async def test_hourly_series_with_event_filter(store: EventStore, rows: list[Row]) -> None:
    spec = ["2026-03-29", "2026-03-29"]  # a 23-hour day in Berlin
    in_rng = oracle.in_range(rows, *window(spec))
    vs = oracle.visits(in_rng)
    tz = dates.zone(TZ)
    want = oracle.event_breakdown(
        in_rng, vs, key=lambda r: r.ts.astimezone(tz).replace(minute=0, second=0, microsecond=0).isoformat(),
        keep=lambda r, v: "blog" in r.pathname)
    got = await ask(store, metrics=["visitors", "pageviews"], date_range=spec, dimensions=["time:hour"],
                    filters=[["contains", "event:page", ["blog"]]])
    assert len(got["results"]) == 23
    assert got["results"][0]["dimensions"] == ["2026-03-29T00:00:00+01:00"]
    assert got["results"][-1]["dimensions"] == ["2026-03-29T23:00:00+02:00"]
    for r in got["results"]:
        m = want.get(r["dimensions"][0], {"visitors": 0, "pageviews": 0})
        assert r["metrics"] == [m["visitors"], m["pageviews"]], r


async def test_nested_filters_and_props(store: EventStore, rows: list[Row]) -> None:
    in_rng = oracle.in_range(rows, *window("30d"))
    vs = oracle.visits(in_rng)

    def keep(r: Row, v: oracle.Visit) -> bool:
        return r.name in ("Download", "Outbound Link: Click") and (
            r.pathname.startswith("/doc") or v.attr("visit:device") != "Mobile")

    want = oracle.event_breakdown(in_rng, vs, key=lambda r: r.props.get("method", "(none)"), keep=keep)
    got = as_map(await ask(store, metrics=["visitors", "events"], date_range="30d",
                           dimensions=["event:props:method"],
                           filters=[["is", "event:name", ["Download", "Outbound Link: Click"]],
                                    ["or", [["matches", "event:page", ["^/doc"]],
                                            ["not", ["is", "visit:device", ["Mobile"]]]]]]))
    assert got == {k: [m["visitors"], m["events"]] for k, m in want.items()}


async def test_page_filter_bounce_rate_counts_entries(store: EventStore, rows: list[Row]) -> None:
    in_rng = oracle.in_range(rows, *window("30d"))
    vs = oracle.visits(in_rng)
    want = oracle.event_breakdown(in_rng, vs, key=lambda r: "all", keep=lambda r, v: r.pathname == "/pricing",
                                  entry_scope=lambda k, v: v.attr("visit:entry_page") == "/pricing")["all"]
    got = await ask(store, metrics=["visitors", "visits", "bounce_rate"], date_range="30d",
                    filters=[["is", "event:page", ["/pricing"]]])
    assert got["results"][0]["metrics"] == [want["visitors"], want["visits"], want["bounce_rate"]]


async def test_comparison_previous_period(store: EventStore, rows: list[Row]) -> None:
    got = await ask(store, metrics=["visitors", "bounce_rate"], date_range="7d", dimensions=["visit:source"],
                    include={"comparisons": {"mode": "previous_period"}})
    prev = oracle.visits(oracle.in_range(rows, *window(["2026-03-19", "2026-03-25"])))
    groups: dict[str, list[oracle.Visit]] = defaultdict(list)
    for v in prev.values():
        groups[v.attr("visit:source")].append(v)
    assert got["results"]
    for r in got["results"]:
        m = oracle.visit_metrics(groups[r["dimensions"][0]])
        cmp = r["comparison"]
        assert cmp["dimensions"] == r["dimensions"]
        assert cmp["metrics"] == [m["visitors"], m["bounce_rate"]]
        old, new = m["visitors"], r["metrics"][0]
        assert cmp["change"][0] == (100 if old == 0 else int(fmt_metric("visitors", (new - old) / old * 100)))
        assert cmp["change"][1] == r["metrics"][1] - m["bounce_rate"]


async def test_comparison_year_over_year_time_series(store: EventStore) -> None:
    got = await ask(store, metrics=["visitors"], date_range="7d", dimensions=["time:day"],
                    include={"comparisons": {"mode": "year_over_year"}})
    assert [r["comparison"]["dimensions"][0] for r in got["results"]] == [f"2025-03-{d}" for d in range(26, 32)] + [
        "2025-04-01"]
    assert all(r["comparison"]["metrics"] == [0] for r in got["results"])
    assert all(r["comparison"]["change"] == [100 if r["metrics"][0] else 0] for r in got["results"])


async def test_pagination_and_total_rows(store: EventStore) -> None:
    full = await ask(store, metrics=["visitors"], date_range="30d", dimensions=["event:page"],
                     include={"total_rows": True})
    page = await ask(store, metrics=["visitors"], date_range="30d", dimensions=["event:page"],
                     include={"total_rows": True}, pagination={"limit": 3, "offset": 2})
    assert page["results"] == full["results"][2:5]
    assert page["meta"]["total_rows"] == full["meta"]["total_rows"] == len(full["results"])
    values = [r["metrics"][0] for r in full["results"]]
    assert values == sorted(values, reverse=True)


async def test_all_range_starts_at_first_event(store: EventStore, rows: list[Row]) -> None:
    got = await ask(store, metrics=["visitors", "pageviews"], date_range="all")
    vs = oracle.visits(rows)
    want = oracle.visit_metrics(list(vs.values()))
    assert got["results"][0]["metrics"] == [want["visitors"], want["pageviews"]]
    assert got["query"]["date_range"][0].startswith("2026-03-15")


async def test_realtime_visitors(store: EventStore, rows: list[Row]) -> None:
    want = len({r.visitor_id for r in rows if NOW - timedelta(minutes=5) <= r.ts <= NOW and r.name != "engagement"})
    assert want > 0
    assert await realtime_visitors(store, SITE, NOW) == want


async def test_random_valid_queries_execute(store: EventStore) -> None:
    """Random combinations of every metric, dimension and operator run on chDB (SQL valid on ClickHouse 26)."""
    import random

    from trail.stats.query import EVENT_DIMENSIONS, METRICS, OPERATORS, TIME_DIMENSIONS, VISIT_DIMENSIONS, QueryError

    rnd = random.Random(5)
    dims = EVENT_DIMENSIONS + VISIT_DIMENSIONS + TIME_DIMENSIONS + ("event:props:plan",)
    ran = 0
    for _ in range(300):
        body: dict[str, Any] = {
            "metrics": rnd.sample(METRICS, rnd.randint(1, 4)),
            "date_range": rnd.choice(["day", "7d", "30d", "month", "all", "realtime", ["2026-03-28", "2026-03-30"]]),
            "dimensions": rnd.sample(dims, rnd.randint(0, 2)),
            "filters": [[rnd.choice(OPERATORS), rnd.choice(dims[:-6] + ("event:props:plan",)),
                         [rnd.choice(["/", "DE", "Signup", "blog", "pro", "Mobile", "^/b"])]]
                        for _ in range(rnd.randint(0, 2))],
            "include": {"total_rows": rnd.random() < 0.5,
                        "comparisons": rnd.choice([None, {"mode": "previous_period"}, {"mode": "year_over_year"}])},
            "pagination": {"limit": rnd.randint(1, 50), "offset": rnd.randint(0, 3)},
        }
        try:
            query = parse_query({"site_id": SITE.domain, **body}, TZ, NOW)
        except QueryError:
            continue
        result = await run(store, query, SITE)
        assert all(len(r["metrics"]) == len(query.metrics) for r in result["results"])
        ran += 1
    assert ran > 60


async def test_sampled_answer_is_the_sample_scaled_up(store: EventStore, rows: list[Row],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A sampled query reads exactly the visitors below the bound and scales counts (not ratios) by 1/share."""
    from trail.stats import sampling
    from trail.stats.builder import sample_bound

    share = 2.0 ** -17  # the generator's visitor ids are 48-bit: this bound (2**47) keeps about half of them
    monkeypatch.setattr(sampling, "share", lambda cover, query, limit=None: share)
    bound = sample_bound(share)
    in_rng = oracle.in_range(rows, *window("30d"))
    kept = {sid: v for sid, v in oracle.visits(in_rng).items() if v.visitor < bound}
    assert 0 < len(kept) < len(oracle.visits(in_rng))
    metrics = ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit"]
    by_source: dict[str, list[oracle.Visit]] = defaultdict(list)
    for v in kept.values():
        by_source[v.attr("visit:source")].append(v)
    got = await ask(store, metrics=metrics, date_range="30d", dimensions=["visit:source"],
                    filters=[["is_not", "visit:country", ["FR"]]])
    assert got["meta"]["sample_percent"] == round(share * 100, 4) and got["meta"]["approximate"] is True
    want = {}
    for key, group in by_source.items():
        group = [v for v in group if v.attr("visit:country") != "FR"]
        if group:
            m = oracle.visit_metrics(group)
            want[key] = [fmt_metric(k, m[k] / share) if k in sampling.SCALED else m[k] for k in metrics]
    assert as_map(got) == want


async def test_visits_selected_by_events_match_the_join_shape(store: EventStore,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-GROUP-BY shape (visits selected by their events) answers exactly what the events-join-visits shape
    answers, over random visit metrics, visit dimensions and event/visit filters."""
    import random

    from trail.stats import builder
    from trail.stats.query import QueryError

    rnd = random.Random(11)
    metrics = ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit",
               "percentage", "conversion_rate"]
    event_filters = [["is", "event:page", ["/pricing", "/"]], ["contains", "event:page", ["blog"]],
                     ["is_not", "event:page", ["/"]], ["is", "event:goal", ["Signup"]],
                     ["is", "event:props:plan", ["pro"]], ["matches", "event:name", ["^Down"]],
                     ["or", [["is", "event:name", ["Download"]], ["contains", "event:page", ["doc"]]]]]
    visit_filters = [["is", "visit:country", ["DE", "US"]], ["is_not", "visit:device", ["Mobile"]],
                     ["contains", "visit:source", ["o"]]]
    checked = 0
    for _ in range(40):
        body: dict[str, Any] = {
            "metrics": rnd.sample(metrics, rnd.randint(1, 4)), "date_range": rnd.choice(["7d", "30d", "day"]),
            "dimensions": rnd.sample(["visit:source", "visit:country", "visit:entry_page", "visit:device"],
                                     rnd.randint(0, 1)),
            "filters": rnd.sample(event_filters, rnd.randint(1, 2)) + rnd.sample(visit_filters, rnd.randint(0, 1)),
        }
        try:
            query = parse_query({"site_id": SITE.domain, **body}, TZ, NOW)
        except QueryError:  # conversion_rate without a goal filter
            continue
        if not builder.visits_by_events(query):
            continue
        fast = await run(store, query, SITE)
        with monkeypatch.context() as m:
            m.setattr(builder, "visits_by_events", lambda q: False)
            joined = await run(store, query, SITE)
        assert fast == joined, body
        checked += 1
    assert checked > 20


async def test_gathered_visit_queries_match_one_by_one(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dashboard's visit-level widgets asked together are answered by one GROUPING SETS query per set of visits,
    with exactly the answers (rows, order, pages, totals, percentages, comparisons) each gives on its own."""
    import asyncio

    from trail.stats import visit_batch

    widgets = [
        {"metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"],
         "include": {"comparisons": {"mode": "previous_period"}}},
        {"metrics": ["visitors", "bounce_rate"], "dimensions": ["visit:source"], "pagination": {"limit": 3}},
        {"metrics": ["visitors", "percentage"], "dimensions": ["visit:country"], "include": {"total_rows": True}},
        {"metrics": ["visitors", "visit_duration"], "dimensions": ["visit:device"],
         "order_by": [["visit_duration", "asc"]]},
        {"metrics": ["visitors", "visits"], "dimensions": ["visit:entry_page"], "pagination": {"limit": 4, "offset": 2},
         "include": {"total_rows": True}},
        {"metrics": ["pageviews", "events"], "dimensions": ["visit:browser"], "order_by": [["visit:browser", "desc"]]},
        # under a page filter, a source whose visits never entered on a matching page has no bounce rate (NaN)
        {"metrics": ["visitors", "bounce_rate"], "dimensions": ["visit:source"], "order_by": [["bounce_rate", "desc"]]},
    ]
    for filters, time_series in (([], True), ([["is", "visit:country", ["DE", "US"]]], True),
                                 ([["is_not", "visit:device", ["Mobile"]]], True),
                                 ([["contains", "event:page", ["blog"]], ["is_not", "visit:source", ["Google"]]],
                                  False),
                                 ([["is", "event:goal", ["Signup"]]], False)):
        bodies = widgets + ([{"metrics": ["visitors", "visits"], "dimensions": ["time:day"]}] if time_series else [])
        queries = [parse_query({"site_id": SITE.domain, "date_range": "30d", "filters": filters, **b}, TZ, NOW)
                   for b in bodies]
        one_by_one = [await run(store, q, SITE) for q in queries]
        with monkeypatch.context() as m:
            m.setattr(visit_batch, "worth_it", lambda events, sample: True)
            before = visit_batch.runs
            together = await asyncio.gather(*(run(store, q, SITE) for q in queries))
            made = visit_batch.runs - before
        assert list(together) == one_by_one, filters
        assert any(r["results"] for r in together)
        # the main queries and their totals: one SQL; the comparison periods (top stats) and the restricted
        # comparison rows are more sets of visits
        assert 1 <= made <= 3, made


async def test_a_sampled_comparison_period_is_labelled(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """When only the comparison period is large enough to be sampled, the response still says its numbers are
    estimates."""
    from trail.stats import sampling

    main_start = dates.resolve("7d", TZ, NOW).start
    monkeypatch.setattr(sampling, "share",
                        lambda cover, query, limit=None: 0.5 if query.date_range.start < main_start else 1.0)
    got = await ask(store, metrics=["visitors", "bounce_rate"], date_range="7d",
                    filters=[["is_not", "visit:country", ["FR"]]], include={"comparisons": {"mode": "previous_period"}})
    assert "sample_percent" not in got["meta"]
    assert got["meta"]["comparison_sample_percent"] == 50.0 and got["meta"]["approximate"] is True

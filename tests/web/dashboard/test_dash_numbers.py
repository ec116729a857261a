"""Each widget partial over HTTP shows the stats oracle's numbers for a seeded data set (not only that it renders)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.stats import oracle
from tests.stats.gen import generate
from tests.web.dashboard.htmlparse import num, parse
from trail.stats import dates
from trail.stats.runner import fmt_metric
from trail.store.meta import repo

TZ = "Europe/Berlin"
DOMAIN = "dash.test"


@pytest.fixture
async def seeded(app_factory: Any) -> AsyncIterator[dict[str, Any]]:
    """A site with goals and ~8 days of generated visits; a signed-in client; the custom range covering 6 days."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = generate(11, today - timedelta(days=12), 9, visits_per_day=25)
    first, last = (today - timedelta(days=10)).date().isoformat(), (today - timedelta(days=5)).date().isoformat()
    async with app_factory() as (app, client):
        services = app.extensions["trail"]
        async with services.meta.session() as db:
            owner = await repo.create_user(db, "owner@dash.test", "password123")
            site = await repo.add_site(db, owner, DOMAIN, timezone=TZ)
            await repo.add_goal(db, site, event_name="Signup", currency="EUR")
            await repo.add_goal(db, site, page_path="/pricing")
            share_token = await repo.create_share_token(db, site)
            user_id, epoch, site_id = owner.id, owner.session_epoch, site.id
            await db.commit()
        await services.events.insert("events", [r.as_insert(site_id) for r in rows])
        async with client.session_transaction() as session:
            session["uid"], session["epoch"] = user_id, epoch
        rng = dates.resolve([first, last], TZ, datetime.now(timezone.utc))
        in_rng = oracle.in_range(rows, rng.start, rng.end)
        yield {"client": client, "rows": rows, "in_rng": in_rng, "visits": oracle.visits(in_rng),
               "view": {"period": "custom", "from": first, "to": last}, "share": share_token, "app": app}


async def get(client: Any, path: str, **params: Any) -> str:
    res = await client.get(path + "?" + urlencode(params, doseq=True))
    assert res.status_code == 200, (path, res.status_code, await res.get_data(as_text=True))
    return await res.get_data(as_text=True)


def groups(visits: dict[int, oracle.Visit], dim: str) -> dict[str, list[oracle.Visit]]:
    out: dict[str, list[oracle.Visit]] = defaultdict(list)
    for v in visits.values():
        out[v.attr(dim)].append(v)
    return out


async def test_top_stats_and_chart_match_the_oracle(seeded: dict[str, Any]) -> None:
    client, view, vs = seeded["client"], seeded["view"], seeded["visits"]
    want = oracle.visit_metrics(list(vs.values()))
    page = parse(await get(client, f"/{DOMAIN}/widgets/top-stats", **view))
    for metric in ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"):
        assert num(page.stats[metric]) == want[metric], metric
    assert want["visitors"] > 20
    # the chart: one bucket per day of the range, each the visitors of the visits that started that day
    tz = dates.zone(TZ)
    per_day: dict[str, list[oracle.Visit]] = defaultdict(list)
    for v in vs.values():
        per_day[v.start.astimezone(tz).date().isoformat()].append(v)
    chart = parse(await get(client, f"/{DOMAIN}/widgets/chart", **view))
    days = sorted(per_day)
    assert [num(x) for x in chart.chart] == [oracle.visit_metrics(per_day[d])["visitors"] for d in days]
    chart = parse(await get(client, f"/{DOMAIN}/widgets/chart", **view, metric="pageviews"))
    assert [num(x) for x in chart.chart] == [oracle.visit_metrics(per_day[d])["pageviews"] for d in days]


async def test_list_widgets_match_the_oracle(seeded: dict[str, Any]) -> None:
    client, view, vs, in_rng = seeded["client"], seeded["view"], seeded["visits"], seeded["in_rng"]
    total = len({v.visitor for v in vs.values()})
    pages = oracle.event_breakdown(in_rng, vs, key=lambda r: r.pathname,
                                   entry_scope=lambda page, v: v.attr("visit:entry_page") == page)
    got = parse(await get(client, f"/{DOMAIN}/widgets/pages", **view))
    assert got.row_order and len(got.row_order) <= 9
    for page in got.row_order:
        for metric in ("visitors", "pageviews", "scroll_depth", "time_on_page"):
            assert num(got.rows[page][metric]) == pages[page][metric], (page, metric)
    visitors = [num(got.rows[p]["visitors"]) for p in got.row_order]
    assert visitors == sorted(visitors, reverse=True)
    checks = [("pages", "entry", "visit:entry_page", ("visitors", "visits", "bounce_rate")),
              ("pages", "exit", "visit:exit_page", ("visitors", "visits")),
              ("sources", "source", "visit:source", ("visitors", "bounce_rate", "visit_duration")),
              ("sources", "utm_campaign", "visit:utm_campaign", ("visitors",)),
              ("locations", "countries", "visit:country", ("visitors", "percentage")),
              ("locations", "cities", "visit:city", ("visitors",)),
              ("devices", "browser", "visit:browser", ("visitors", "percentage")),
              ("devices", "os", "visit:os", ("visitors",)),
              ("devices", "screen", "visit:screen", ("visitors",))]
    for widget, tab, dim, metrics in checks:
        want = {k: oracle.visit_metrics(g) for k, g in groups(vs, dim).items()}
        short = parse(await get(client, f"/{DOMAIN}/widgets/{widget}", **view, tab=tab))
        full = parse(await get(client, f"/{DOMAIN}/details/{widget}", **view, tab=tab))
        assert len(short.row_order) == min(9, len(want)) and short.row_order == full.row_order[:9], (widget, tab)
        assert set(full.row_order) == set(want), (widget, tab)
        for got, shown in ((short, [m for m in metrics if m != "percentage"]), (full, metrics)):
            for key in got.row_order:
                for metric in shown:
                    expected = fmt_metric("percentage", want[key]["visitors"] / total * 100) \
                        if metric == "percentage" else want[key][metric]
                    assert num(got.rows[key][metric]) == expected, (widget, tab, key, metric)
    # the map tab shades the same countries it lists
    html = await get(client, f"/{DOMAIN}/widgets/locations", **view)
    assert 'data-country="DE"' in html and 'data-country="US"' in html


async def test_goals_events_and_props_match_the_oracle(seeded: dict[str, Any]) -> None:
    client, view, vs, in_rng = seeded["client"], seeded["view"], seeded["visits"], seeded["in_rng"]
    total = len({v.visitor for v in vs.values()})
    got = parse(await get(client, f"/{DOMAIN}/widgets/goals", **view))
    checks = {"Signup": lambda r: r.name == "Signup", "Visit /pricing": lambda r: r.name == "pageview"
              and r.pathname == "/pricing"}
    for goal, pred in checks.items():
        hits = [r for r in in_rng if pred(r) and r.session_id in vs]
        visitors = len({r.visitor_id for r in hits})
        assert num(got.rows[goal]["visitors"]) == visitors, goal
        assert num(got.rows[goal]["events"]) == len(hits), goal
        assert num(got.rows[goal]["conversion_rate"]) == fmt_metric("conversion_rate", visitors / total * 100)
        revenue = [r.revenue_amount for r in hits if r.revenue_amount is not None]
        want_revenue = fmt_metric("total_revenue", sum(revenue)) if goal == "Signup" else None
        assert num(got.rows[goal]["total_revenue"]) == want_revenue, goal
    events = parse(await get(client, f"/{DOMAIN}/widgets/goals", **view, tab="events"))
    want_events = oracle.event_breakdown(in_rng, vs, key=lambda r: r.name if r.name not in (
        "pageview", "engagement") else None)
    assert set(events.row_order) == set(want_events)
    for name in events.row_order:
        assert num(events.rows[name]["visitors"]) == want_events[name]["visitors"]
        assert num(events.rows[name]["events"]) == want_events[name]["events"]
    props = parse(await get(client, f"/{DOMAIN}/widgets/goals", **view, tab="props", prop="method"))
    want_props = oracle.event_breakdown(in_rng, vs, key=lambda r: r.props.get("method") if r.name not in (
        "pageview", "engagement") else None)
    assert set(props.row_order) >= set(want_props)
    for value, m in want_props.items():
        assert num(props.rows[value]["visitors"]) == m["visitors"], value


async def test_a_row_filters_every_widget(seeded: dict[str, Any]) -> None:
    client, view, vs, in_rng = seeded["client"], seeded["view"], seeded["visits"], seeded["in_rng"]
    got = parse(await get(client, f"/{DOMAIN}/widgets/sources", **view))
    link = got.links["Google"]
    qs = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == f"/{DOMAIN}" and qs["f"] == ["visit:source=Google"] and qs["period"] == ["custom"]
    google = {sid: v for sid, v in vs.items() if v.attr("visit:source") == "Google"}
    want = oracle.visit_metrics(list(google.values()))
    stats = parse(await get(client, f"/{DOMAIN}/widgets/top-stats", **qs))
    assert num(stats.stats["visitors"]) == want["visitors"] < len({v.visitor for v in vs.values()})
    countries = parse(await get(client, f"/{DOMAIN}/widgets/locations", **qs, tab="countries"))
    for code, group in groups(google, "visit:country").items():
        assert num(countries.rows[code]["visitors"]) == oracle.visit_metrics(group)["visitors"]
    pages = parse(await get(client, f"/{DOMAIN}/widgets/pages", **qs))
    want_pages = oracle.event_breakdown(in_rng, vs, key=lambda r: r.pathname,
                                        keep=lambda r, v: v.attr("visit:source") == "Google")
    for page in pages.row_order:
        assert num(pages.rows[page]["visitors"]) == want_pages[page]["visitors"]
    # the page shows the filter as a removable chip whose link drops it again
    html = await get(client, f"/{DOMAIN}", **qs)
    assert "Source is <b>Google</b>" in html
    assert 'aria-label="Remove filter Source is Google"' in html


async def test_comparison_details_csv_share_and_access(seeded: dict[str, Any]) -> None:
    client, view, vs, rows = seeded["client"], seeded["view"], seeded["visits"], seeded["rows"]
    # previous period: the 6 days before the range
    first = datetime.fromisoformat(view["from"]).date()
    prev = dates.resolve([(first - timedelta(days=6)).isoformat(), (first - timedelta(days=1)).isoformat()], TZ,
                         datetime.now(timezone.utc))
    old = oracle.visit_metrics(list(oracle.visits(oracle.in_range(rows, prev.start, prev.end)).values()))
    new = oracle.visit_metrics(list(vs.values()))
    stats = parse(await get(client, f"/{DOMAIN}/widgets/top-stats", **view, compare="previous_period"))
    change = round((new["visitors"] - old["visitors"]) / old["visitors"] * 100)
    assert num(stats.changes["visitors"]) == change
    assert num(stats.changes["bounce_rate"]) == new["bounce_rate"] - old["bounce_rate"]
    # details: all rows, searchable, and the CSV has the same numbers
    pages = oracle.event_breakdown(seeded["in_rng"], vs, key=lambda r: r.pathname)
    details = parse(await get(client, f"/{DOMAIN}/details/pages", **view))
    assert set(details.row_order) == set(pages)
    found = parse(await get(client, f"/{DOMAIN}/details/pages", **view, search="BLOG"))
    assert set(found.row_order) == {p for p in pages if "blog" in p}
    res = await client.get(f"/{DOMAIN}/details/pages.csv?" + urlencode(view))
    assert res.status_code == 200 and res.headers["Content-Type"].startswith("text/csv")
    lines = (await res.get_data(as_text=True)).strip().splitlines()
    assert lines[0].startswith("Page,visitors,pageviews")
    assert {line.split(",")[0]: int(line.split(",")[1]) for line in lines[1:]} == {
        p: m["visitors"] for p, m in pages.items()}
    # the shared view: same numbers, no settings links, signed out
    anon = seeded["app"].test_client()
    html = await get(anon, f"/share/{seeded['share']}", **view)
    assert "public dashboard" in html and "/settings" not in html
    shared = parse(await get(anon, f"/share/{seeded['share']}/widgets/top-stats", **view))
    assert num(shared.stats["visitors"]) == new["visitors"]
    goals = await get(anon, f"/share/{seeded['share']}/widgets/goals", **view)
    assert "/settings" not in goals
    assert (await anon.get(f"/share/{seeded['share']}x")).status_code == 404
    assert (await anon.get(f"/share/{seeded['share']}x/widgets/top-stats")).status_code == 404
    assert (await anon.get(f"/{DOMAIN}/widgets/top-stats", headers={"HX-Request": "true"})).status_code == 401
    assert (await anon.get(f"/{DOMAIN}")).status_code == 302
    assert (await client.get("/nothere.test")).status_code == 404
    assert (await client.get(f"/{DOMAIN}/widgets/nope")).status_code == 404


def test_chart_does_not_draw_future_buckets_as_zeros() -> None:
    from datetime import datetime, timezone

    from trail.web.widgets.chart import is_future

    now = datetime(2026, 11, 30, 10, 30, tzinfo=timezone.utc)
    assert not is_future("2026-11-30T11:00:00+01:00", now, "Europe/Berlin")  # 10:00 UTC: the current hour
    assert is_future("2026-11-30T12:00:00+01:00", now, "Europe/Berlin")
    assert not is_future("2026-11-30", now, "Europe/Berlin") and is_future("2026-12-01", now, "Europe/Berlin")
    assert not is_future("not a date", now, "UTC")


async def test_sampled_widgets_say_so(seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A view the engine answers from a sample of the visitors says so on each widget; an exact one says nothing."""
    from trail.stats import sampling

    client, view = seeded["client"], seeded["view"]
    filtered = {**view, "f": ["visit:country=DE", "visit:device=Desktop"]}  # two filters: never from rollups
    for widget in ("top-stats", "sources"):
        assert "data-sampled" not in await get(client, f"/{DOMAIN}/widgets/{widget}", **filtered)
    monkeypatch.setattr(sampling, "share", lambda cover, query, limit=None: 0.25)
    for widget in ("top-stats", "sources"):
        html = await get(client, f"/{DOMAIN}/widgets/{widget}", **filtered)
        assert "data-sampled" in html and "Estimated from 25&nbsp;% of visitors" in html, widget


async def test_the_page_prefetches_its_widgets_queries(seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Serving the page starts every widget's queries; each widget request then takes its answer (once) instead of
    asking again, and shows exactly what it shows when it asks itself."""
    import asyncio

    from trail.web.widgets import base, prefetch

    client, view = seeded["client"], seeded["view"]
    own = {w: await get(client, f"/{DOMAIN}/widgets/{w}", **view) for w in ("top-stats", "sources", "chart")}
    asked: list[Any] = []
    real_run = base.run

    async def counting(store: Any, query: Any, site: Any) -> Any:
        asked.append(query)
        return await real_run(store, query, site)

    monkeypatch.setattr(base, "run", counting)
    await get(client, f"/{DOMAIN}", **view)
    await asyncio.gather(*list(prefetch._tasks))
    prefetched = len(asked)
    assert prefetched >= 7  # every widget but the live counter, some with several queries
    for widget, html in own.items():
        assert await get(client, f"/{DOMAIN}/widgets/{widget}", **view) == html, widget
    assert len(asked) == prefetched  # all three answered from the prefetch
    await get(client, f"/{DOMAIN}/widgets/sources", **view)
    assert len(asked) > prefetched  # an answer is taken once: a refresh asks again

"""The live snapshot agrees with the stats engine over the same data (realtime range, realtime visitors endpoint),
and a restarted instance warms its window from the stream instead of showing zeros."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime
from typing import Any

from tests.live.helpers import event
from trail.live.writer import GROUP
from trail.services import Services
from trail.store.meta import repo

SOURCES = ["Google", "", "Hacker News", "Twitter", "GitHub"]
COUNTRIES = ["DE", "FR", "US", "SE", ""]
DEVICES = ["Desktop", "Mobile", "Tablet"]
PAGES = ["/", "/pricing", "/blog/a", "/blog/b", "/docs", "/about"]


def dataset(site_id: int, now_ms: int, seed: int = 7) -> list[Any]:
    """Visits of the last 25 minutes: pageviews, custom events and engagement events; a visit's later events carry
    no source (internal navigation); nothing within 20 s of the 5-minute edge of "current visitors"."""
    rng = random.Random(seed)
    out = []
    for visitor in range(1, 61):
        country, device = rng.choice(COUNTRIES), rng.choice(DEVICES)
        for visit in range(rng.choice([1, 1, 2])):
            start = now_ms - rng.randint(20, 25 * 60) * 1000
            session = visitor * 10 + visit
            source = rng.choice(SOURCES)
            ts = start
            for i in range(rng.randint(1, 4)):
                if abs(ts - (now_ms - 5 * 60_000)) > 20_000 and ts < now_ms - 5_000:
                    kw = dict(visitor=visitor, session=session, country=country, device=device,
                              path=rng.choice(PAGES), source=source if i == 0 else "")
                    out.append(event(site_id, ts, **kw))
                    if rng.random() < 0.3:
                        out.append(event(site_id, ts + 500, name="signup", **kw))
                    out.append(event(site_id, ts + 900, name="engagement", **kw))
                ts += rng.randint(10, 90) * 1000
    return out


async def setup_site(services: Services, domain: str) -> tuple[int, str]:
    async with services.meta.session() as db:
        owner = await repo.create_user(db, f"owner@{domain}", "password123")
        site = await repo.add_site(db, owner, domain)
        _, key = await repo.create_api_key(db, owner)
        await db.commit()
        return site.id, key


async def written(services: Services, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while await services.broker.lag(GROUP) > 0:
        assert time.monotonic() < deadline, "the writer did not catch up"
        await asyncio.sleep(0.05)


def by_name(results: list[dict[str, Any]]) -> dict[str, int]:
    return {r["dimensions"][0]: r["metrics"][0] for r in results}


async def test_live_numbers_agree_with_the_stats_engine(app_factory: Any) -> None:
    async with app_factory() as (app, client):
        services: Services = app.extensions["trail"]
        site_id, key = await setup_site(services, "agree.test")
        now_ms = int(time.time() * 1000)
        events = dataset(site_id, now_ms)
        await services.broker.append([e.to_payload() for e in events])
        await written(services)
        auth = {"Authorization": f"Bearer {key}"}
        async with client.websocket("/api/v2/live?site_id=agree.test", headers=auth) as ws:
            import orjson

            snap = orjson.loads(await asyncio.wait_for(ws.receive(), 3))
            while snap["pageviews_last_30m"] < sum(e.name == "pageview" for e in events):
                snap = orjson.loads(await asyncio.wait_for(ws.receive(), 3))

        async def query(**body: Any) -> list[dict[str, Any]]:
            res = await client.post("/api/v2/query", headers=auth, json={
                "site_id": "agree.test", "date_range": "realtime", "metrics": ["visitors"], **body})
            assert res.status_code == 200, await res.get_data()
            return (await res.get_json())["results"]  # type: ignore[no-any-return]

        totals = (await query(metrics=["visitors", "pageviews"]))[0]["metrics"]
        assert [snap["visitors_last_30m"], snap["pageviews_last_30m"]] == totals
        realtime = await client.get("/api/v1/stats/realtime/visitors?site_id=agree.test", headers=auth)
        assert snap["current_visitors"] == await realtime.get_json() > 0
        for live_key, dimension in (("top_pages", "event:page"), ("top_sources", "visit:source"),
                                    ("top_countries", "visit:country")):
            expected = by_name(await query(dimensions=[dimension]))
            assert dict(map(tuple, snap[live_key])) == expected, dimension
        # per minute: the stats engine's time buckets put a visit's pageviews in the minute the visit began (as
        # Plausible's graphs); the live chart shows them in the minute they happened. Same data, by event time:
        _, rows = await services.events.query(
            "SELECT toUnixTimestamp(toStartOfMinute(ts)) AS m, countIf(name = 'pageview'), "
            "uniqExactIf(visitor_id, name != 'engagement') FROM events WHERE site_id = {s:UInt32} GROUP BY m",
            {"s": site_id})
        by_event_time = {int(m): [pv, v] for m, pv, v in rows if pv or v}
        live_minutes = {int(datetime.fromisoformat(m[0].replace("Z", "+00:00")).timestamp()): [m[1], m[2]]
                        for m in snap["per_minute"] if m[1] or m[2]}
        assert live_minutes == by_event_time


async def test_a_restarted_instance_warms_its_window_from_the_stream(app_factory: Any) -> None:
    async with app_factory() as (app, _):
        services: Services = app.extensions["trail"]
        site_id, _ = await setup_site(services, "warm.test")
        now_ms = int(time.time() * 1000)
        events = dataset(site_id, now_ms, seed=3)
        await services.broker.append([e.to_payload() for e in events])
        engine = services.extras["live"]
        await engine.wake()  # no client yet: an instance's engine sleeps until one comes (TRAIL_LIVE_IDLE_SECONDS)
        for _ in range(100):
            if engine.snapshot(site_id).pageviews_last_30m == sum(e.name == "pageview" for e in events):
                break
            await asyncio.sleep(0.02)
        before = engine.snapshot(site_id)
    async with app_factory() as (app, _):  # a new process would do the same: same data dir, same stream
        engine = app.extensions["trail"].extras["live"]
        assert not engine.awake
        await engine.wake()
        after = engine.snapshot(site_id)  # no event arrived since the start: all of it comes from the warm-up
        assert after.pageviews_last_30m == before.pageviews_last_30m > 0
        assert (after.visitors_last_30m, after.current_visitors, after.top_pages, after.top_sources) == (
            before.visitors_last_30m, before.current_visitors, before.top_pages, before.top_sources)

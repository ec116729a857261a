"""`python -m trail demo`: realistic traffic through the batch API of a real app reaches ClickHouse."""

from __future__ import annotations

import argparse
import asyncio
import io
import time

import httpx

from trail.demo import Traffic, ensure_key, main, run_demo
from trail.store.meta import repo
from trail.store.meta.db import MetaStore


def test_traffic_is_varied() -> None:
    items = Traffic("shop.example", seed=7, pool_size=50).take(3000)
    names = {i["name"] for i in items}
    assert {"pageview", "engagement", "Signup", "Purchase"} <= names
    assert len({i["ip"] for i in items}) > 200 and len({i["user_agent"] for i in items}) >= 8
    assert any("utm_campaign=" in i["url"] for i in items)
    purchase = next(i for i in items if i["name"] == "Purchase")
    assert purchase["revenue"]["currency"] in ("EUR", "USD") and purchase["props"]["plan"]
    engagement = next(i for i in items if i["name"] == "engagement")
    assert 0 <= engagement["sd"] <= 100 and engagement["e"] > 0


async def test_demo_reaches_clickhouse(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with app_factory(TRAIL_FLUSH_INTERVAL_MS="100") as (app, _client):
        settings = app.config["TRAIL_SETTINGS"]
        services = app.extensions["trail"]
        async with MetaStore(settings.database_url) as meta, meta.session() as db:
            owner = await repo.create_user(db, "demo-owner@example.com", "correct horse battery")
            site = await repo.add_site(db, owner, "demo.example")
            await db.commit()
            site_id = site.id
        key = await ensure_key(settings, "demo.example")
        out = io.StringIO()
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport) as client:
            totals = await run_demo("http://trail.test", key, "demo.example", rate=200, duration=3.0,
                                    client=client, out=out, seed=3)
        assert totals.sent >= 400 and not totals.failed, out.getvalue()
        assert totals.accepted == totals.sent and totals.rejected == 0, out.getvalue()
        assert "accepted" in out.getvalue() and "done in" in out.getvalue()

        deadline = time.monotonic() + 20
        while True:
            _, rows = await services.events.query(
                "SELECT count(), uniqExact(country), uniqExact(source), uniqExact(device), "
                "countIf(name NOT IN ('pageview', 'engagement')), countIf(name = 'engagement'), "
                "uniqExact(utm_campaign) FROM events WHERE site_id = {site:UInt32}", {"site": site_id})
            count, countries, sources, devices, custom, engagement, campaigns = rows[0]
            if count >= totals.accepted or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert count == totals.accepted
        assert countries >= 8 and sources >= 4 and devices == 3 and custom > 0 and engagement > 0
        assert campaigns >= 2  # '' and at least one campaign


def test_demo_without_site_says_how_to_add_it(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    args = argparse.Namespace(domain="nowhere.example", url="http://127.0.0.1:9", rate=5.0, duration=1.0, key=None)
    assert main(settings, args) == 1
    err = capsys.readouterr().err
    assert "site add nowhere.example" in err

"""POST /api/v2/query served from rollups: meta.approximate when the site's range is large enough (threshold
lowered through TRAIL_ROLLUP_MIN_EVENTS), exact raw answers (no meta.approximate) otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.stats.gen import generate
from trail.services import Services
from trail.stats import rollup_planner
from trail.stats.rollup_job import roll_up_site
from trail.store.meta import repo


async def test_query_answered_from_rollups_says_approximate(app_factory: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollup_planner, "MIN_EVENTS", rollup_planner.MIN_EVENTS)  # restored after the app set it
    async with app_factory(TRAIL_ROLLUP_MIN_EVENTS="1", TRAIL_ROLLUP_INTERVAL_S="0") as (app, client):
        assert rollup_planner.MIN_EVENTS == 1
        services: Services = app.extensions["trail"]
        async with services.meta.session() as db:
            owner = await repo.create_user(db, "owner@rollup.test", "password123")
            site = await repo.add_site(db, owner, "rollup.test", timezone="Europe/Berlin")
            _, key = await repo.create_api_key(db, owner)
            site_id = site.id
            await db.commit()
        now = datetime.now(timezone.utc)
        rows = [r for r in generate(21, now - timedelta(days=5), 5, visits_per_day=15) if r.ts < now]
        assert services.events is not None
        await services.events.insert("events", [r.as_insert(site_id) for r in rows])
        assert await roll_up_site(services.events, site_id, "Europe/Berlin", now)
        auth = {"Authorization": f"Bearer {key}"}
        body = {"site_id": "rollup.test", "metrics": ["visitors", "visits", "pageviews", "bounce_rate"],
                "date_range": "7d", "dimensions": ["visit:source"]}
        res = await client.post("/api/v2/query", json=body, headers=auth)
        assert res.status_code == 200
        got = await res.get_json()
        assert got["meta"]["approximate"] is True and got["results"]
        raw = await client.post("/api/v2/query", json={**body, "filters": [["is_not", "visit:country", ["XX"]]]},
                                headers=auth)
        exact = await raw.get_json()
        assert "approximate" not in exact["meta"]
        assert {r["dimensions"][0] for r in exact["results"]} == {r["dimensions"][0] for r in got["results"]}

"""The Stats API over HTTP: auth (401/404), 400 naming the bad part, no 500 on any body, realtime, export zip."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.conftest import RUN_ID, make_settings
from tests.stats.gen import generate
from trail.services import Services
from trail.store.meta import repo

BODY = {"site_id": "stats.test", "metrics": ["visitors", "pageviews"], "date_range": "7d"}


@pytest.fixture(scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory,
              chdb_dir: Path) -> AsyncIterator[tuple[Any, dict[str, str], int]]:
    """One migrated app with its data for the whole module: every test here only reads (queries, exports)."""
    from trail.app import create_app
    from trail.migrate import migrate_all

    settings = make_settings(tmp_path_factory.mktemp("stats_api"),
                             TRAIL_CLICKHOUSE_URL=f"chdb://{chdb_dir}?database=t{RUN_ID}_stats_api")
    await migrate_all(settings)
    app = create_app(settings, role="all")
    async with app.test_app() as test_app:
        client = test_app.test_client()
        services: Services = app.extensions["trail"]
        async with services.meta.session() as db:
            owner = await repo.create_user(db, "owner@stats.test", "password123")
            site = await repo.add_site(db, owner, "stats.test", timezone="Europe/Berlin")
            await repo.add_site(db, await repo.create_user(db, "x@other.test", "password123"), "hidden.test")
            _, key = await repo.create_api_key(db, owner)
            site_id = site.id
            await db.commit()
        now = datetime.now(timezone.utc)
        rows = generate(3, now - timedelta(days=3), 3, visits_per_day=10)
        assert services.events is not None
        await services.events.insert("events", [r.as_insert(site_id) for r in rows if r.ts < now])
        yield client, {"Authorization": f"Bearer {key}"}, len({r.visitor_id for r in rows if r.ts < now})


async def test_query_answers(api: Any) -> None:
    client, auth, _ = api
    res = await client.post("/api/v2/query", json={**BODY, "dimensions": ["visit:country"],
                                                    "include": {"total_rows": True}}, headers=auth)
    assert res.status_code == 200
    body = await res.get_json()
    assert body["results"] and all(len(r["metrics"]) == 2 for r in body["results"])
    assert body["meta"]["total_rows"] == len(body["results"])
    assert body["query"]["site_id"] == "stats.test"


async def test_auth(api: Any) -> None:
    client, auth, _ = api
    assert (await client.post("/api/v2/query", json=BODY)).status_code == 401
    assert (await client.post("/api/v2/query", json=BODY, headers={"Authorization": "Bearer nope"})).status_code == 401
    for domain in ("hidden.test", "missing.test"):
        res = await client.post("/api/v2/query", json={**BODY, "site_id": domain}, headers=auth)
        assert res.status_code == 404
    res = await client.get("/api/v1/stats/realtime/visitors?site_id=hidden.test", headers=auth)
    assert res.status_code == 404


@pytest.mark.parametrize("body, needle", [
    ({**BODY, "metrics": ["nope"]}, "nope"),
    ({**BODY, "date_range": "8y"}, "date_range"),
    ({**BODY, "dimensions": ["event:name"], "metrics": ["bounce_rate"]}, "event:name"),
    ({**BODY, "filters": [["is", "visit:country"]]}, "filters"),
    ({**BODY, "metrics": ["conversion_rate"]}, "event:goal"),
    ({k: v for k, v in BODY.items() if k != "metrics"}, "metrics"),
])
async def test_bad_queries_are_400_naming_the_part(api: Any, body: dict[str, Any], needle: str) -> None:
    client, auth, _ = api
    res = await client.post("/api/v2/query", json=body, headers=auth)
    assert res.status_code == 400
    assert needle in (await res.get_json())["error"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'"x"', b'{"site_id": 5}',
                                 b'{"site_id": "stats.test", "metrics": "visitors", "date_range": "7d"}'])
async def test_never_a_500(api: Any, raw: bytes) -> None:
    client, auth, _ = api
    res = await client.post("/api/v2/query", data=raw, headers={**auth, "Content-Type": "application/json"})
    assert res.status_code in (400, 404)


async def test_realtime_visitors(api: Any) -> None:
    client, auth, _ = api
    res = await client.get("/api/v1/stats/realtime/visitors?site_id=stats.test", headers=auth)
    assert res.status_code == 200
    assert isinstance(await res.get_json(), int)


async def test_export_zip(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from trail.stats import sampling

    asked: list[float] = []
    share = sampling.share
    monkeypatch.setattr(sampling, "SAMPLE_EVENTS", 1)
    monkeypatch.setattr(sampling, "estimated_events", lambda cover, query: 10**9)  # as if the site were huge

    def spy(cover: Any, query: Any, limit: Any = None) -> float:
        asked.append(share(cover, query, limit))
        return asked[-1]

    monkeypatch.setattr(sampling, "share", spy)
    client, auth, _ = api
    res = await client.get("/api/v2/export?site_id=stats.test&date_range=7d", headers=auth)
    assert res.status_code == 200
    assert res.headers["Content-Type"] == "application/zip"
    data = await res.get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        assert {"visitors.csv", "pages.csv", "sources.csv", "countries.csv", "custom_events.csv"} <= set(names)
        visitors = z.read("visitors.csv").decode().splitlines()
        assert visitors[0] == "date,visitors,pageviews,visits,views_per_visit,bounce_rate,visit_duration"
        assert len(visitors) == 8
    assert asked and set(asked) == {1.0}  # an export never samples, however large the site
    bad = await client.get("/api/v2/export?site_id=stats.test&date_range=zzz", headers=auth)
    assert bad.status_code == 400

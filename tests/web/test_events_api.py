"""The Quart adapter of the Events API, through Quart's test client on a tiny app with fake services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from quart import Quart

from trail.config import Settings
from trail.ingest.event import EnrichedEvent
from trail.ingest.testing import Fakes, build_test_ingestor
from trail.services import Services
from trail.web.events_api import events_api

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Quart, Fakes]:
    settings = Settings.load(environ={"TRAIL_DATA_DIR": str(tmp_path), "TRAIL_SECRET_KEY": "k" * 40,
                                      "TRAIL_BODY_LIMIT_BYTES": "2048", "TRAIL_TRUSTED_PROXIES": "127.0.0.1/32"},
                             env_file=None, prepare_data_dir=False)
    ingestor, fakes = build_test_ingestor(settings)
    fakes.add_site("example.com", 1, team_id=1)
    fakes.add_site("foreign.net", 2, team_id=2)
    fakes.keys["key-1"] = 1
    app = Quart(__name__)
    app.register_blueprint(events_api)
    services: Any = Services(settings=settings, meta=None, broker=None, events=None)  # type: ignore[arg-type]
    services.extras["ingestor"] = ingestor
    app.extensions["trail"] = services
    return app, fakes


EVENT = {"n": "pageview", "u": "https://example.com/pricing?utm_source=hn", "d": "example.com", "w": 1280}


async def test_event_text_plain_and_json(setup: tuple[Quart, Fakes]) -> None:
    app, fakes = setup
    client = app.test_client()
    for ctype in ("text/plain", "application/json"):
        res = await client.post("/api/event", data=orjson.dumps(EVENT),
                                headers={"Content-Type": ctype, "User-Agent": UA, "Origin": "https://example.com",
                                         "X-Forwarded-For": "81.2.69.142"},
                                scope_base={"client": ("127.0.0.1", 50000)})
        assert res.status_code == 202
        assert await res.get_data() == b"ok"
        assert res.headers["Access-Control-Allow-Origin"] == "*"
    events = [EnrichedEvent.from_payload(p) for p in fakes.buffer.payloads]
    assert [e.pathname for e in events] == ["/pricing", "/pricing"]
    assert events[0].country == "GB"  # the peer 127.0.0.1 is a trusted proxy here


async def test_preflight(setup: tuple[Quart, Fakes]) -> None:
    app, _ = setup
    res = await app.test_client().options("/api/event", headers={"Origin": "https://site.example",
                                                                 "Access-Control-Request-Method": "POST"})
    assert res.status_code == 204
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in res.headers["Access-Control-Allow-Methods"]


async def test_dropped_header_and_400_and_413(setup: tuple[Quart, Fakes]) -> None:
    app, _ = setup
    client = app.test_client()
    res = await client.post("/api/event", data=orjson.dumps(EVENT), headers={"User-Agent": "Googlebot/2.1"})
    assert res.status_code == 202 and res.headers["X-Trail-Dropped"] == "bot"
    res = await client.post("/api/event", data=b'{"n": "pageview"}', headers={"User-Agent": UA})
    assert res.status_code == 400 and "url" in (await res.get_json())["error"]
    res = await client.post("/api/event", data=b"x" * 5000, headers={"User-Agent": UA})
    assert res.status_code == 413


async def test_batch(setup: tuple[Quart, Fakes]) -> None:
    app, fakes = setup
    client = app.test_client()
    items = [dict(EVENT, user_agent=UA, ip="8.8.8.8"), {"n": "pageview"}]
    res = await client.post("/api/events", data=orjson.dumps(items), headers={"Authorization": "Bearer key-1"})
    assert res.status_code == 202
    body = await res.get_json()
    assert body["accepted"] == 1 and body["rejected"][0]["index"] == 1
    assert (await client.post("/api/events", data=b"[]")).status_code == 401
    res = await client.post("/api/events", data=orjson.dumps([dict(EVENT, d="foreign.net")]),
                            headers={"Authorization": "Bearer key-1"})
    assert res.status_code == 404
    assert len(fakes.buffer.payloads) == 1

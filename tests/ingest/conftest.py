"""Fixtures of the ingestion tests: an Ingestor wired to in-memory fakes, and a helper that posts one event."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson
import pytest

from trail.config import Settings
from trail.ingest.event import EnrichedEvent
from trail.ingest.handler import Ingestor, Response
from trail.ingest.testing import Fakes, build_test_ingestor

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")


def ingest_settings(tmp_path: Path, **env: str) -> Settings:
    base = {"TRAIL_DATA_DIR": str(tmp_path), "TRAIL_SECRET_KEY": "k" * 40, "TRAIL_RATE_LIMIT_PER_IP": "1000000"}
    base.update(env)
    return Settings.load(environ=base, env_file=None, prepare_data_dir=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return ingest_settings(tmp_path)


@pytest.fixture(params=["awaited-sites", "cached-sites"])
def fakes(request: pytest.FixtureRequest) -> Fakes:
    """Every ingest test runs twice: with a site lookup that has to be awaited (a cache miss) and with one that
    answers at once (SiteDirectory.lookup on a hit), so both of the pipeline's paths give the same results."""
    f = Fakes(cached_sites=request.param == "cached-sites")
    f.add_site("example.com", 1, team_id=1)
    f.add_site("other.org", 2, team_id=1)
    f.add_site("foreign.net", 3, team_id=2)
    f.keys["key-team-1"] = 1
    return f


@pytest.fixture
def ingestor(settings: Settings, fakes: Fakes) -> Ingestor:
    return build_test_ingestor(settings, fakes)[0]


Send = Callable[..., Awaitable[tuple[Response, list[EnrichedEvent]]]]


@pytest.fixture
def send(ingestor: Ingestor, fakes: Fakes) -> Send:
    """send(body, headers=..., ip=...) -> (response, the events it appended)."""

    async def _send(body: Any, headers: dict[str, str] | None = None, ip: str = "8.8.8.8",
                    ua: str = CHROME) -> tuple[Response, list[EnrichedEvent]]:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        hdrs = {"user-agent": ua, "content-type": "text/plain"}
        hdrs.update(headers or {})
        before = len(fakes.buffer.payloads)
        res = await ingestor.single(raw, hdrs, ip)
        return res, [EnrichedEvent.from_payload(p) for p in fakes.buffer.payloads[before:]]

    return _send


@pytest.fixture
def send_batch(ingestor: Ingestor, fakes: Fakes) -> Send:
    async def _send(items: Any, key: str | None = "key-team-1", headers: dict[str, str] | None = None,
                    ip: str = "10.0.0.1") -> tuple[Response, list[EnrichedEvent]]:
        raw = items if isinstance(items, bytes) else orjson.dumps(items)
        hdrs = {"content-type": "application/json", "user-agent": CHROME}
        if key:
            hdrs["authorization"] = f"Bearer {key}"
        hdrs.update(headers or {})
        before = len(fakes.buffer.payloads)
        res = await ingestor.batch(raw, hdrs, ip)
        return res, [EnrichedEvent.from_payload(p) for p in fakes.buffer.payloads[before:]]

    return _send


def pageview(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "pageview", "url": "https://example.com/", "domain": "example.com"}
    body.update(kw)
    return body

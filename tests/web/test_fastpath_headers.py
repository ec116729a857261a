"""The fast path decodes only the request headers the Ingestor reads: each of them must still reach it."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from trail.ingest.event import EnrichedEvent
from trail.store.meta import repo
from trail.store.meta.db import MetaStore
from trail.store.meta.models import Site
from trail.web.fastpath import WANTED, IngestFastPath

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
EVENT = {"n": "pageview", "u": "https://hdr.example/a", "d": "hdr.example"}


async def _add_site(app: Any, respect_dnt: bool) -> None:
    import sqlalchemy as sa

    settings = app.config["TRAIL_SETTINGS"]
    async with MetaStore(settings.database_url) as meta, meta.session() as db:
        owner = await repo.create_user(db, "hdr@example.com", "correct horse battery")
        await repo.add_site(db, owner, "hdr.example")
        site = (await db.execute(sa.select(Site).where(Site.domain == "hdr.example"))).scalar_one()
        site.respect_dnt = respect_dnt
        await db.commit()


def _client(asgi: Any, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi, client=(ip, 40000)), base_url="http://trail.test")


def test_wanted_names_are_lower_case() -> None:
    assert all(name == name.lower() for name in WANTED)


async def test_headers_the_ingestor_reads_reach_it(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with app_factory(TRAIL_TRUSTED_PROXIES="10.0.0.0/8") as (app, _):
        await _add_site(app, respect_dnt=True)
        broker = app.extensions["trail"].broker
        async with _client(IngestFastPath(app), "10.1.2.3") as client:
            base = {"User-Agent": UA, "Content-Type": "text/plain", "X-Forwarded-For": "81.2.69.142",
                    "Accept-Language": "de-DE,de;q=0.9", "Cookie": "ignored=1", "Sec-Ch-Ua": "ignored"}
            res = await client.post("/api/event", content=orjson.dumps(EVENT), headers=base)
            assert res.status_code == 202 and "x-trail-dropped" not in res.headers
            for name in ("DNT", "Sec-GPC"):  # mixed case on the wire: the fast path still finds them
                res = await client.post("/api/event", content=orjson.dumps(EVENT), headers={**base, name: "1"})
                assert res.headers.get("x-trail-dropped") == "dnt", name
        entries = await broker.range_since(0)
        events = [EnrichedEvent.from_payload(e.data) for e in entries]
        assert len(events) == 1
        assert events[0].language == "de-DE"  # accept-language
        assert events[0].browser == "Chrome"  # user-agent
        assert events[0].country == "GB"  # x-forwarded-for from a trusted proxy: 81.2.69.142 is in GB

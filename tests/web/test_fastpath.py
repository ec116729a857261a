"""The raw-ASGI fast path of `POST /api/event`: the contract's status codes, and the same answers as the Quart route."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from trail.store.meta import repo
from trail.store.meta.db import MetaStore
from trail.web.fastpath import IngestFastPath

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
EVENT = {"n": "pageview", "u": "https://fast.example/pricing?utm_source=hn", "d": "fast.example", "w": 1280}
CONTRACT_HEADERS = ("content-type", "x-trail-dropped", "access-control-allow-origin", "access-control-allow-methods",
                    "access-control-allow-headers", "access-control-max-age")

# (name, method, body, extra headers): inputs whose answers must be identical on both paths
CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("ok", "POST", orjson.dumps(EVENT), {}),
    ("ok json", "POST", orjson.dumps(EVENT), {"content-type": "application/json"}),
    ("bot", "POST", orjson.dumps(EVENT), {"user-agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}),
    ("unknown site", "POST", orjson.dumps(dict(EVENT, d="nobody.example")), {}),
    ("bad json", "POST", b"{nope", {}),
    ("no url", "POST", b'{"n": "pageview", "d": "fast.example"}', {}),
    ("bad revenue", "POST", orjson.dumps(dict(EVENT, n="Purchase", revenue={"currency": "XXQ", "amount": 1})), {}),
    ("too large", "POST", b"x" * 5000, {}),
    ("preflight", "OPTIONS", b"", {"origin": "https://fast.example", "access-control-request-method": "POST"}),
]


async def _setup(app_factory: Any):  # type: ignore[no-untyped-def]
    return app_factory(TRAIL_BODY_LIMIT_BYTES="2048", TRAIL_RATE_LIMIT_PER_IP="20")


async def _add_site(app: Any) -> None:
    settings = app.config["TRAIL_SETTINGS"]
    async with MetaStore(settings.database_url) as meta, meta.session() as db:
        owner = await repo.create_user(db, "fast@example.com", "correct horse battery")
        await repo.add_site(db, owner, "fast.example")
        await db.commit()


def _client(asgi: Any, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi, client=(ip, 40000)), base_url="http://trail.test")


async def _call(client: httpx.AsyncClient, method: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    base = {"user-agent": UA, "content-type": "text/plain", "origin": "https://fast.example"}
    return await client.request(method, "/api/event", content=body, headers={**base, **headers})


async def test_fast_path_contract(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with await _setup(app_factory) as (app, _):
        await _add_site(app)
        async with _client(IngestFastPath(app), "81.2.69.142") as client:
            res = await _call(client, "POST", orjson.dumps(EVENT), {})
            assert (res.status_code, res.text) == (202, "ok")
            assert res.headers["access-control-allow-origin"] == "*" and "x-trail-dropped" not in res.headers
            # methods, headers and max-age are read from the preflight's answer only: not sent with every event
            assert not {"access-control-allow-methods", "access-control-max-age"} & set(res.headers)

            res = await _call(client, "POST", orjson.dumps(EVENT), {"user-agent": "Googlebot/2.1"})
            assert res.status_code == 202 and res.headers["x-trail-dropped"] == "bot"
            res = await _call(client, "POST", orjson.dumps(dict(EVENT, d="nobody.example")), {})
            assert res.status_code == 202 and res.headers["x-trail-dropped"] == "unknown_site"

            res = await _call(client, "POST", b'{"n": "pageview", "d": "fast.example"}', {})
            assert res.status_code == 400 and res.json()["error"].startswith("url")
            res = await _call(client, "POST", orjson.dumps(dict(EVENT, w="wide")), {})
            assert res.status_code == 400 and "screen_width" in res.json()["error"]
            assert res.headers["access-control-allow-origin"] == "*"

            res = await _call(client, "POST", b"x" * 5000, {})
            assert res.status_code == 413 and "error" in res.json()

            async def chunks():  # type: ignore[no-untyped-def]
                for _ in range(5):
                    yield b"x" * 1000

            res = await client.post("/api/event", content=chunks(), headers={"user-agent": UA})
            assert res.status_code == 413  # no Content-Length: counted while reading

            res = await _call(client, "OPTIONS", b"", {"access-control-request-method": "POST"})
            assert res.status_code == 204 and res.content == b""
            assert res.headers["access-control-allow-origin"] == "*"
            assert "POST" in res.headers["access-control-allow-methods"]
            assert "Content-Type" in res.headers["access-control-allow-headers"]
            assert res.headers["access-control-max-age"] == "86400"

        async with _client(IngestFastPath(app), "198.51.100.7") as client:
            statuses = [(await _call(client, "POST", orjson.dumps(EVENT), {})).status_code for _ in range(40)]
            assert statuses.count(429) > 0 and statuses[0] == 202
            limited = await _call(client, "POST", orjson.dumps(EVENT), {})
            assert limited.status_code == 429 and "error" in limited.json()
            assert limited.headers["access-control-allow-origin"] == "*"

        async with _client(IngestFastPath(app), "81.2.69.142") as client:  # other paths fall through to Quart
            assert (await client.get("/healthz")).status_code == 200


async def test_fast_path_and_quart_route_answer_alike(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with await _setup(app_factory) as (app, _):
        await _add_site(app)
        async with _client(IngestFastPath(app), "81.2.69.10") as fast, _client(app, "81.2.69.11") as slow:
            for name, method, body, headers in CASES:
                a = await _call(fast, method, body, headers)
                b = await _call(slow, method, body, headers)
                assert a.status_code == b.status_code, name
                assert a.content == b.content, name
                for header in CONTRACT_HEADERS:
                    if header == "content-type" and a.status_code == 204:
                        continue  # no body; Quart labels even an empty 204 text/html
                    assert a.headers.get(header) == b.headers.get(header), (name, header)

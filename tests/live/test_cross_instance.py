"""Two real servers on one Redis and one MariaDB: an event accepted by A reaches B's /api/v2/live at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.conftest import REDIS_URL
from tests.live.servers import server_env
from tests.serverproc import Server
from trail.store.meta import repo
from trail.store.meta.db import MetaStore

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"


@pytest.mark.slow
async def test_an_event_posted_to_a_reaches_websockets_on_b(tmp_path: Path, mysql_url: str,
                                                            redis_prefix: str) -> None:
    shared = {"TRAIL_DATABASE_URL": mysql_url, "TRAIL_REDIS_URL": REDIS_URL, "TRAIL_REDIS_PREFIX": redis_prefix}
    a = Server(server_env(tmp_path / "a", TRAIL_CLICKHOUSE_URL=f"chdb://{tmp_path / 'a' / 'ch'}", **shared))
    b = Server(server_env(tmp_path / "b", TRAIL_CLICKHOUSE_URL=f"chdb://{tmp_path / 'b' / 'ch'}", **shared),
               role="web")
    await asyncio.to_thread(a.start)  # migrates the shared metadata database
    try:
        meta = MetaStore(mysql_url)
        async with meta.session() as db:
            owner = await repo.create_user(db, "owner@cross.test", "password123")
            await repo.add_site(db, owner, "cross.test")
            _, key = await repo.create_api_key(db, owner)
            await db.commit()
        await meta.close()
        await asyncio.to_thread(b.start)
        uri = f"ws://127.0.0.1:{b.port}/api/v2/live?site_id=cross.test"
        async with websockets.connect(uri, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            first = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["site_id"] == "cross.test" and first["pageviews_last_30m"] == 0
            async with httpx.AsyncClient() as http:
                started = time.monotonic()
                res = await http.post(f"{a.url}/api/event", headers={"User-Agent": UA},
                                      json={"name": "pageview", "url": "https://cross.test/from-a",
                                            "domain": "cross.test"})
                assert res.status_code == 202 and "X-Trail-Dropped" not in res.headers
                accepted = time.monotonic()
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 2))
            while frame["pageviews_last_30m"] == 0:  # a frame for a new minute may come first
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 2))
            after_post, after_202 = time.monotonic() - started, time.monotonic() - accepted
            assert frame["pageviews_last_30m"] == 1 and frame["top_pages"] == [["/from-a", 1]]
            assert after_202 < 0.3, after_202  # the bound of one instance: 250 ms after the event was accepted
            assert after_post < 3.0, after_post  # the first POST also creates the day's salt, sessions...
    finally:
        await asyncio.gather(asyncio.to_thread(b.stop), asyncio.to_thread(a.stop))

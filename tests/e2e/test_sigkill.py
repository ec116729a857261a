"""Durability end to end: every event answered 202 survives a SIGKILL of the server and is stored exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import REDIS_URL
from tests.e2e.serverproc import chdb_query, trail
from tests.serverproc import Server, clean_env

pytestmark = pytest.mark.slow

DOMAIN = "durable.example"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
SINGLES = 2000
BATCHES = 20
BATCH_SIZE = 100
CONCURRENCY = 50


def _event(path: str) -> dict[str, Any]:
    return {"n": "pageview", "u": f"https://{DOMAIN}{path}", "d": DOMAIN}


async def _burst(url: str, key: str, kill_after: int, kill: Any) -> set[str]:
    """Post singles and batches concurrently; SIGKILL the server once `kill_after` requests were answered.
    Returns the paths of every event answered 202 (and not dropped or rejected)."""
    accepted: set[str] = set()
    answered = 0
    killed = asyncio.Event()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def after_answer() -> None:
        nonlocal answered
        answered += 1
        if answered == kill_after and not killed.is_set():
            killed.set()
            await asyncio.to_thread(kill)

    async def single(client: httpx.AsyncClient, i: int) -> None:
        path = f"/single/{i}"
        async with gate:
            if killed.is_set():
                return
            try:
                res = await client.post(f"{url}/api/event", content=orjson.dumps(_event(path)),
                                        headers={"content-type": "text/plain", "user-agent": UA})
            except httpx.HTTPError:
                return
        if res.status_code == 202 and "x-trail-dropped" not in res.headers:
            accepted.add(path)
        await after_answer()

    async def batch(client: httpx.AsyncClient, j: int) -> None:
        paths = [f"/batch/{j}/{k}" for k in range(BATCH_SIZE)]
        items = [dict(_event(p), ip=f"81.2.69.{k}", user_agent=UA) for k, p in enumerate(paths)]
        async with gate:
            if killed.is_set():
                return
            try:
                res = await client.post(f"{url}/api/events", content=orjson.dumps(items),
                                        headers={"authorization": f"Bearer {key}",
                                                 "content-type": "application/json"})
            except httpx.HTTPError:
                return
        if res.status_code == 202:
            body = res.json()
            bad = {d["index"] for d in body["dropped"]} | {r["index"] for r in body["rejected"]}
            assert body["accepted"] == BATCH_SIZE - len(bad)
            accepted.update(p for k, p in enumerate(paths) if k not in bad)
        await after_answer()

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        jobs = [single(client, i) for i in range(SINGLES)]
        for j in range(BATCHES):  # batches spread through the burst
            jobs.insert((j + 1) * SINGLES // (BATCHES + 1), batch(client, j))
        await asyncio.gather(*jobs)
    return accepted


def _run(env: dict[str, str]) -> None:
    trail(env, "user", "add", "durable@example.com", "--password", "correct horse battery")
    trail(env, "site", "add", DOMAIN, "--owner", "durable@example.com")
    key = trail(env, "apikey", "add", "--owner", "durable@example.com", "--label", "e2e").strip().splitlines()[-1]

    server = Server(env).start()
    try:
        accepted = asyncio.run(_burst(server.url, key, kill_after=SINGLES + BATCHES - 60, kill=server.kill))
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
    assert server.proc is not None and server.proc.returncode == -9
    assert len(accepted) > SINGLES  # singles and some batches got through before the kill

    again = Server(env, port=server.port).start()  # a restart: same host and port
    try:
        again.wait_drained()
    finally:
        assert again.stop() == 0, again.log()
    rows = chdb_query(env, "SELECT pathname, count(), uniqExact(event_id) FROM events GROUP BY pathname")
    stored = {path: int(n) for path, n, _ in rows}
    missing = accepted - stored.keys()
    assert not missing, f"{len(missing)} accepted events lost, e.g. {sorted(missing)[:5]}"
    doubled = {p: n for p, n in stored.items() if n != 1}
    assert not doubled, f"{len(doubled)} events stored more than once, e.g. {list(doubled.items())[:5]}"
    assert all(int(ids) == 1 for _, _, ids in rows)  # one event id per path: no event was written twice


def test_sigkill_embedded_spool(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", TRAIL_RATE_LIMIT_PER_IP="100000")
    _run(env)


def test_sigkill_redis_stream(tmp_path: Path, mysql_url: str, redis_prefix: str) -> None:
    env = clean_env(tmp_path / "data", TRAIL_RATE_LIMIT_PER_IP="100000", TRAIL_REDIS_URL=REDIS_URL,
                    TRAIL_REDIS_PREFIX=redis_prefix, TRAIL_DATABASE_URL=mysql_url,
                    TRAIL_SECRET_KEY="e2e-secret-key-" + "s" * 40)
    _run(env)

"""A real `python -m trail serve` with a user, a site and realistic traffic seeded through the public batch API.

Used by the dashboard browser test and by scripts/screenshots.py. Everything goes through the public surface:
the CLI (user, site, goals, API key), `POST /api/events` (explicit timestamps, ip and user_agent, from the demo's
traffic generator), and `POST /api/v2/query` to wait until the writer has stored it all.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live.servers import server_env
from tests.serverproc import Server, run_trail
from trail.demo import Traffic

EMAIL = "owner@dash.example"
PASSWORD = "dashboard-password-1"
DOMAIN = "dash.example"
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 "
      "Safari/537.36")


@dataclass
class SeededSite:
    server: Server
    env: dict[str, str]
    key: str
    share_path: str
    events: int

    @property
    def url(self) -> str:
        return self.server.url

    def post(self, path: str, body: Any, auth: bool = True) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": UA,
                                              **({"Authorization": f"Bearer {self.key}"} if auth else {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def query(self, **body: Any) -> dict[str, Any]:
        status, answer = self.post("/api/v2/query", {"site_id": DOMAIN, **body})
        assert status == 200, answer
        return answer  # type: ignore[no-any-return]

    def count(self, date_range: Any = "30d", metric: str = "events") -> int:
        return int(self.query(metrics=[metric], date_range=date_range)["results"][0]["metrics"][0])

    def send(self, items: list[dict[str, Any]]) -> int:
        accepted = 0
        for i in range(0, len(items), 500):
            status, answer = self.post("/api/events", items[i:i + 500])
            assert status == 202 and not answer["dropped"] and not answer["rejected"], answer
            accepted += int(answer["accepted"])
        return accepted

    def wait_for(self, events: int, timeout: float = 30.0) -> None:
        """Until the stats engine counts `events` custom events + pageviews (the writer has stored them)."""
        deadline = time.monotonic() + timeout
        while (got := self.count()) < events:
            assert time.monotonic() < deadline, f"writer stored {got} of {events} events"
            time.sleep(0.2)


def traffic(n: int, *, hours: float, seed: int = 5, end_offset_s: float = 30.0) -> list[dict[str, Any]]:
    """n demo events spread evenly over the `hours` before now (minus end_offset_s), oldest first."""
    items = Traffic(DOMAIN, seed=seed, pool_size=40).take(n)
    now = time.time() - end_offset_s
    span = hours * 3600
    for i, item in enumerate(items):
        item["timestamp"] = round(now - span + span * i / max(n - 1, 1), 3)
    return items


def start_seeded(data_dir: Path, *, events: int = 1500, recent: int = 60) -> SeededSite:
    """Start a server in data_dir, create the owner, site, goals, key and share link, and seed traffic."""
    env = server_env(data_dir)
    server = Server(env).start()
    for args in (("user", "add", EMAIL, "--password", PASSWORD),
                 ("site", "add", DOMAIN, "--owner", EMAIL, "--timezone", "Etc/UTC"),
                 ("goal", "add", DOMAIN, "--event", "Signup"),
                 ("goal", "add", DOMAIN, "--event", "Purchase", "--currency", "EUR"),
                 ("goal", "add", DOMAIN, "--page", "/pricing")):
        result = run_trail(*args, env=env)
        assert result.returncode == 0, result.stderr
    result = run_trail("apikey", "add", "--owner", EMAIL, "--label", "seed", env=env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    share_path = _share_link(env)
    site = SeededSite(server, env, key, share_path, 0)
    items = traffic(events, hours=20) + traffic(recent, hours=0.3, seed=9, end_offset_s=5)
    site.send(items)
    site.events = sum(1 for i in items if i["name"] != "engagement")
    site.wait_for(site.events)
    return site


def _share_link(env: dict[str, str]) -> str:
    """A public link, made with the metadata functions the sharing settings page uses."""
    import asyncio

    from trail.store.meta import repo
    from trail.store.meta.db import MetaStore

    async def make() -> str:
        meta = MetaStore(f"sqlite+aiosqlite:///{Path(env['TRAIL_DATA_DIR']) / 'trail.db'}")
        try:
            async with meta.session() as db:
                site = await repo.get_site_by_domain(db, DOMAIN)
                token = await repo.create_share_token(db, site)
                await db.commit()
        finally:
            await meta.close()
        return f"/share/{token}"

    return asyncio.run(make())

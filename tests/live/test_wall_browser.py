"""The wall display in the real Debian Chromium against a real server: renders (screenshots at 1080p and 4K, dark
and light), updates within 2 s of a posted event, reconnects after a server restart, and stops on `wall revoke`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from tests.live.servers import server_env
from tests.serverproc import ROOT, Server, run_trail
from tests.test_tracker import CHROMIUM, CHROMIUM_ARGS, USER_AGENT
from trail.store.meta import repo
from trail.store.meta.db import MetaStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = ROOT / "test-output"
EMAIL = "owner@wall.test"


@pytest.fixture
async def wall(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    env = server_env(tmp_path / "data")
    server = await asyncio.to_thread(Server(env).start)
    try:
        meta = MetaStore(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'trail.db'}")
        async with meta.session() as db:
            owner = await repo.create_user(db, EMAIL, "password123")
            await repo.add_site(db, owner, "wall.test")
            await repo.add_site(db, owner, "second.test")
            _, token = await repo.create_wall(db, owner, ["wall.test"], label="tv")
            _, grid = await repo.create_wall(db, owner, ["wall.test", "second.test"], label="grid")
            await db.commit()
        await meta.close()
        yield {"server": server, "env": env, "token": token, "grid": grid}
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(user_agent=USER_AGENT, viewport={"width": 1920, "height": 1080})
        yield await context.new_page()
        await browser.close()


async def post(server: Server, path: str, n: int = 1, ip: int = 1) -> None:
    async with httpx.AsyncClient() as http:
        for i in range(n):
            res = await http.post(f"{server.url}/api/event", json={
                "name": "pageview", "url": f"https://wall.test{path}", "domain": "wall.test",
                "referrer": "https://news.ycombinator.com/"},
                headers={"User-Agent": USER_AGENT, "X-Forwarded-For": f"10.0.{ip}.{i + 1}"})
            assert res.status_code == 202


async def number(page: Page, metric: str) -> int:
    return int((await page.locator(f"[data-metric={metric}]").first.inner_text()).replace(",", ""))


async def wait_state(page: Page, state: str, timeout_ms: float = 10_000) -> None:
    await page.wait_for_function(f"document.body.dataset.state === {state!r}", timeout=timeout_ms)


async def test_the_wall_renders_updates_reconnects_and_stops_when_revoked(wall: dict[str, Any], page: Page) -> None:
    server: Server = wall["server"]
    OUT.mkdir(exist_ok=True)
    await page.goto(f"{server.url}/wall/{wall['token']}")
    await wait_state(page, "live")
    assert await number(page, "pageviews_last_30m") == 0
    # a posted event shows on screen within 2 s
    started = time.monotonic()
    await post(server, "/launch", n=3)
    await page.wait_for_function(
        "document.querySelector('[data-metric=pageviews_last_30m]').textContent.trim() === '3'", timeout=2000)
    assert time.monotonic() - started < 2.0
    assert await number(page, "current_visitors") >= 1
    assert "/launch" in await page.locator(".w-lists").inner_text()
    assert "Hacker News" in await page.locator(".w-lists").inner_text()
    await page.screenshot(path=str(OUT / "wall-1080p-dark.png"))
    await page.set_viewport_size({"width": 3840, "height": 2160})
    await page.screenshot(path=str(OUT / "wall-4k-dark.png"))
    # the layout fits the screen at both sizes (no scrolling on a TV)
    assert await page.evaluate("document.documentElement.scrollHeight <= innerHeight + 1")

    # server restart: the page shows it is stale, then reconnects by itself and updates again
    await asyncio.to_thread(server.stop)
    await wait_state(page, "stale", 5000)
    await asyncio.to_thread(server.start)
    await wait_state(page, "live", 15_000)
    assert await number(page, "pageviews_last_30m") == 3  # warmed from the stream after the restart
    await post(server, "/after-restart", n=2, ip=2)
    await page.wait_for_function(
        "document.querySelector('[data-metric=pageviews_last_30m]').textContent.trim() === '5'", timeout=2000)

    # `wall revoke` (CLI, another process) closes the page's socket; it does not reconnect
    result = await asyncio.to_thread(run_trail, "wall", "revoke", "tv", "--owner", EMAIL, env=wall["env"])
    assert result.returncode == 0, result.stderr
    started = time.monotonic()
    await wait_state(page, "revoked", 3000)
    assert time.monotonic() - started < 2.0
    assert await page.evaluate("document.body.dataset.closeCode") == "4403"
    assert (await page.goto(f"{server.url}/wall/{wall['token']}")).status == 404  # type: ignore[union-attr]


async def test_light_theme_and_a_grid_of_sites(wall: dict[str, Any], page: Page) -> None:
    server: Server = wall["server"]
    await post(server, "/", n=2)
    for size, name in (({"width": 1920, "height": 1080}, "1080p"), ({"width": 3840, "height": 2160}, "4k")):
        await page.set_viewport_size(size)
        await page.goto(f"{server.url}/wall/{wall['token']}?theme=light")
        await wait_state(page, "live")
        assert await page.evaluate("document.documentElement.dataset.theme") == "light"
        await page.screenshot(path=str(OUT / f"wall-{name}-light.png"))
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await page.goto(f"{server.url}/wall/{wall['grid']}")
    await wait_state(page, "live")
    assert await page.locator(".panel").count() == 2
    assert await page.evaluate("document.documentElement.scrollHeight <= innerHeight + 1")
    await page.screenshot(path=str(OUT / "wall-1080p-grid.png"))

"""The whole path in a real browser: a page loads /js/trail.js from a real Trail server, and the Stats API counts it."""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.e2e.serverproc import trail
from tests.serverproc import Server, clean_env

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/138.0.0.0 Safari/537.36")
HIDE_WEBDRIVER = "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false});"
DOMAIN = "shop.example"


def chromium_args() -> list[str]:
    # sendBeacon requests leave from the browser process with the launch UA, not the context's: set both.
    return ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP shop.example 127.0.0.1, MAP trail.test 127.0.0.1", f"--user-agent={USER_AGENT}"]


@pytest.fixture
def page_server() -> Iterator[dict[str, Any]]:
    """Serves one HTML page (any path, so SPA routes reload fine) that embeds the tracker from `state['tracker']`."""
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = (f'<!doctype html><html><head><meta charset=utf-8><title>shop</title><script defer '
                    f'data-domain="{DOMAIN}" src="{state["tracker"]}"></script></head><body>shop</body></html>')
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["port"] = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


async def _query(client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any]) -> dict[Any, int]:
    res = await client.post(f"{url}/api/v2/query", json={"site_id": DOMAIN, "date_range": "day", **body},
                            headers={"authorization": f"Bearer {key}"})
    assert res.status_code == 200, res.text
    return {tuple(r["dimensions"]): r["metrics"][0] for r in res.json()["results"]}


async def test_browser_events_reach_clickhouse(tmp_path: Path, page_server: dict[str, Any]) -> None:
    env = clean_env(tmp_path / "data", TRAIL_FLUSH_INTERVAL_MS="200")
    trail(env, "user", "add", "shop@example.com", "--password", "correct horse battery")
    trail(env, "site", "add", DOMAIN, "--owner", "shop@example.com")
    key = trail(env, "apikey", "add", "--owner", "shop@example.com").strip().splitlines()[-1]
    server = Server(env).start()
    try:
        page_server["tracker"] = f"http://trail.test:{server.port}/js/trail.js"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(), headless=True)
            try:
                context = await browser.new_context(user_agent=USER_AGENT, viewport={"width": 1440, "height": 900})
                await context.add_init_script(HIDE_WEBDRIVER)
                page = await context.new_page()
                await page.goto(f"http://{DOMAIN}:{page_server['port']}/shop/?utm_source=e2e")
                await page.wait_for_function("() => typeof window.trail === 'function'")
                await page.evaluate("() => history.pushState({}, '', '/app/settings')")
                await page.evaluate("() => new Promise(done => trail('Signup', {props: {plan: 'pro'}, "
                                    "callback: done}))")
                await context.close()  # pagehide: the engagement event goes out too
            finally:
                await browser.close()

        async with httpx.AsyncClient(timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                pages = await _query(client, server.url, key, {"metrics": ["pageviews"],
                                                               "dimensions": ["event:page"]})
                names = await _query(client, server.url, key, {"metrics": ["events"], "dimensions": ["event:name"]})
                if (pages.get(("/shop/",)) and pages.get(("/app/settings",)) and names.get(("Signup",))) \
                        or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert pages == {("/shop/",): 1, ("/app/settings",): 1}, (pages, server.log())
            assert names.get(("Signup",)) == 1 and names.get(("pageview",)) == 2, names
            plans = await _query(client, server.url, key, {"metrics": ["events"], "dimensions": ["event:props:plan"],
                                                           "filters": [["is", "event:name", ["Signup"]]]})
            assert plans == {("pro",): 1}
            sources = await _query(client, server.url, key, {"metrics": ["visitors"],
                                                             "dimensions": ["visit:utm_source"]})
            assert sources == {("e2e",): 1}
    finally:
        assert server.stop() == 0, server.log()

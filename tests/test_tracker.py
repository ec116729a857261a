"""The browser tracker static/trail.js: its size, and its behaviour in the real Debian Chromium.

static/trail.js is hand-minified: there is no build step, and the committed file is the source.
Legend of its names, so that it can be maintained:

    d document, n navigator, l location, E addEventListener (called unbound: it falls back to window),
    h undefined, s the <script> element, o its dataset, H(k) "data-<k> is set",
    U endpoint (data-api, else <script src origin>/api/event), M 1 in hash mode (data-hash / data-hash-mode),
    O tracking off: localhost/127.x/file: or navigator.webdriver (unless data-allow-localhost),
      DNT/GPC (only with data-respect-dnt); localStorage.trail_ignore=="true" is checked before each send,
    X(payload, callback) send: sendBeacon(string body = text/plain), else fetch(keepalive); the callback is
      called even when nothing is sent, as Plausible does,
    R(name, {props, revenue, interactive, callback}) the public trail() / plausible() function,
    P key of the current page (path, + hash in hash mode), L its full URL,
    T start of the running engaged span (0 when hidden or unfocused), C engaged ms not yet sent,
    S max scroll depth % of the current page,
    K(force) engagement tick (focus, blur, scroll, visibilitychange; it bubbles to window): folds the running
      span into C, restarts it only when visible, focused and not forced, updates S, and when the span stopped
      and C > 0 sends {n:"engagement",u:L,d,sd:S,e:C} and resets C. Forced by pagehide and before an SPA
      pageview (G restarts the span after). So pagehide and visibilitychange, in either order, send one event,
    G(spa) pageview: on SPA navigation (pushState / replaceState / popstate, which also covers hash changes)
      only when P changed; also on a bfcache restore (pageshow persisted),
    B(click) outbound links (data-outbound-links, links whose host is set and not the page's; mailto:/tel: have
      none; full href) and file downloads
      (data-file-downloads, common extensions, URL without query or fragment); left and middle clicks.

Choices: navigator.webdriver (automation) is ignored unless data-allow-localhost is set, like Plausible; these
tests hide webdriver with an init script to look like a real visitor, and one test covers each switch. Link
clicks are never delayed: a beacon (or keepalive fetch) outlives the navigation, which the outbound test proves.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

TRACKER = Path(__file__).resolve().parent.parent / "static" / "trail.js"
MAX_GZIP_BYTES = 1024

CHROMIUM = "/usr/bin/chromium"
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36"
)
# The context's user_agent does not reach keepalive requests (sendBeacon, fetch keepalive): Chromium sends those
# from the browser process with its own "HeadlessChrome" string, which a bot filter drops. --user-agent fixes it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP example.test 127.0.0.1, MAP trail.test 127.0.0.1",
    f"--user-agent={USER_AGENT}",
]
HIDE_WEBDRIVER = "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false});"
QUEUE_SNIPPET = "window.trail=window.trail||function(){(window.trail.q=window.trail.q||[]).push(arguments)};"
HIDE_PAGE = """() => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
  document.dispatchEvent(new Event('visibilitychange', {bubbles: true}));
}"""
SHOW_PAGE = """() => {
  delete document.visibilityState; delete document.hidden;
  document.dispatchEvent(new Event('visibilitychange', {bubbles: true}));
}"""


def test_tracker_size() -> None:
    raw = TRACKER.read_bytes()
    size = len(gzip.compress(raw, compresslevel=9))
    print(f"static/trail.js: {len(raw)} bytes, {size} bytes gzipped (level 9), limit {MAX_GZIP_BYTES}")
    assert size <= MAX_GZIP_BYTES


# --- the test site and fake collector ---------------------------------------------------------------------


class Site:
    """A tiny web server: test pages, the tracker at /js/trail.js and a collector at /api/event."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []
        self.preflights = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str, host: str = "example.test") -> str:
        return f"http://{host}:{self.port}{path}"

    def script(self, domain: str, *flags: str, **attrs: str) -> str:
        extra = "".join(f" data-{flag}" for flag in flags) + "".join(f' data-{k}="{v}"' for k, v in attrs.items())
        return f'<script defer data-domain="{domain}"{extra} src="{self.url("/js/trail.js", "trail.test")}"></script>'

    def add(self, path: str, script: str, body: str = "", head: str = "") -> str:
        """Serve a page at path (any host) and return its URL on example.test."""
        self.pages[path] = (
            f"<!doctype html><html><head><meta charset=utf-8><title>{path}</title>{head}{script}</head>"
            f"<body>{body}</body></html>"
        )
        return self.url(path)

    def bodies(self, domain: str, name: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            found = [e["body"] for e in self.events if e["body"].get("d") == domain]
        return [b for b in found if name is None or b.get("n") == name]

    async def wait_for(self, domain: str, name: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.bodies(domain, name)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {name!r} for {domain}, got {self.bodies(domain)}")
            await asyncio.sleep(0.02)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/js/trail.js":
                    self._send(200, TRACKER.read_bytes(), "application/javascript")
                elif path.startswith("/files/"):
                    self._send(204)  # a "download" that keeps the page where it is
                elif path in site.pages:
                    self._send(200, site.pages[path].encode(), "text/html; charset=utf-8")
                else:
                    self._send(200, b"<!doctype html><title>elsewhere</title>", "text/html")

            def do_OPTIONS(self) -> None:
                with site.lock:
                    site.preflights += 1
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.end_headers()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/api/event":
                    self._send(404)
                    return
                event = {
                    "body": json.loads(raw),
                    "content_type": self.headers.get("Content-Type"),
                    "origin": self.headers.get("Origin"),
                    "host": self.headers.get("Host"),
                    "user_agent": self.headers.get("User-Agent"),
                }
                with site.lock:
                    site.events.append(event)
                self._send(202, b"ok")

        return Handler


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    s = Site()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        await b.close()


async def new_context(browser: Browser, *init_scripts: str) -> BrowserContext:
    ctx = await browser.new_context(user_agent=USER_AGENT, viewport={"width": 1280, "height": 720})
    for script in init_scripts:
        await ctx.add_init_script(script)
    return ctx


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A visitor's browser: a desktop Chrome whose navigator.webdriver is false."""
    ctx = await new_context(browser, HIDE_WEBDRIVER)
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
def domain(request: pytest.FixtureRequest) -> str:
    return request.node.name.replace("_", "-") + ".example"


async def assert_nothing_sent(page: Page, site: Site, domain: str) -> None:
    """Nothing reaches the collector, although the tracker ran (its callback fires for ignored events too)."""
    await page.evaluate("() => new Promise(done => trail('Probe', {callback: done}))")
    await asyncio.sleep(0.4)
    assert site.bodies(domain) == []



# --- behaviour ---------------------------------------------------------------------------------------------


@pytest.mark.browser
async def test_pageview_on_load(page: Page, site: Site, domain: str) -> None:
    first = site.add("/load/", site.script(domain), body='<a id=next href="/load/next?x=1">next</a>')
    site.add("/load/next", site.script(domain))
    await page.goto(first)
    [view] = await site.wait_for(domain, "pageview")
    assert view == {"n": "pageview", "u": first, "d": domain, "r": None, "w": 1280}

    await page.click("#next")
    views = await site.wait_for(domain, "pageview", 2)
    assert views[1]["u"] == site.url("/load/next?x=1")
    assert views[1]["r"] == first
    with site.lock:
        sent = [e for e in site.events if e["body"].get("d") == domain]
    for event in sent:  # cross-origin like production, with no CORS preflight
        assert event["content_type"].startswith("text/plain")
        assert event["origin"] == site.url("").rstrip("/")
        assert event["host"] == f"trail.test:{site.port}"
        assert event["user_agent"] == USER_AGENT
    assert site.preflights == 0


@pytest.mark.browser
async def test_data_api_overrides_the_endpoint(page: Page, site: Site, domain: str) -> None:
    api = site.url("/api/event", "localhost")
    await page.goto(site.add("/api-attr/", site.script(domain, api=api)))
    await site.wait_for(domain, "pageview")
    with site.lock:
        [event] = [e for e in site.events if e["body"].get("d") == domain]
    assert event["host"] == f"localhost:{site.port}"


@pytest.mark.browser
async def test_fetch_keepalive_when_beacon_refused(browser: Browser, site: Site, domain: str) -> None:
    ctx = await new_context(browser, HIDE_WEBDRIVER, "Navigator.prototype.sendBeacon = () => false;")
    try:
        page = await ctx.new_page()
        await page.goto(site.add("/fetch/", site.script(domain)))
        [view] = await site.wait_for(domain, "pageview")
        assert view["u"] == site.url("/fetch/")
        with site.lock:
            [event] = [e for e in site.events if e["body"].get("d") == domain]
        assert event["content_type"].startswith("text/plain")
    finally:
        await ctx.close()


@pytest.mark.browser
async def test_spa_navigation(page: Page, site: Site, domain: str) -> None:
    await page.goto(site.add("/spa/", site.script(domain)))
    await site.wait_for(domain, "pageview")

    await page.evaluate("() => history.pushState({}, '', '/spa/pricing?plan=pro')")
    views = await site.wait_for(domain, "pageview", 2)
    assert views[1]["u"] == site.url("/spa/pricing?plan=pro")

    # same path: replaceState (query change) and a hash change are not new pageviews outside hash mode
    await page.evaluate("() => { history.replaceState({}, '', '/spa/pricing?plan=team'); location.hash = 'faq'; }")
    await page.evaluate("() => history.back()")  # back to /spa/pricing?plan=team: same path again
    await page.evaluate("() => history.back()")  # popstate back to /spa/
    views = await site.wait_for(domain, "pageview", 3)
    await asyncio.sleep(0.3)
    assert [v["u"] for v in site.bodies(domain, "pageview")] == [
        site.url("/spa/"),
        site.url("/spa/pricing?plan=pro"),
        site.url("/spa/"),
    ]


@pytest.mark.browser
async def test_hash_mode(page: Page, site: Site, domain: str) -> None:
    url = site.add("/hash/", site.script(domain, "hash"), body='<a id=three href="#/three">three</a>')
    await page.goto(url + "#/one")
    [view] = await site.wait_for(domain, "pageview")
    assert view["u"] == url + "#/one" and view["h"] == 1

    await page.evaluate("() => { location.hash = '#/two'; }")
    await page.click("#three")
    views = await site.wait_for(domain, "pageview", 3)
    assert [v["u"] for v in views] == [url + "#/one", url + "#/two", url + "#/three"]
    assert all(v["h"] == 1 for v in views)


@pytest.mark.browser
async def test_hash_mode_alias(page: Page, site: Site, domain: str) -> None:
    url = site.add("/hash-mode/", site.script(domain, "hash-mode"))
    await page.goto(url + "#/a")
    await site.wait_for(domain, "pageview")
    await page.evaluate("() => { location.hash = '#/b'; }")
    views = await site.wait_for(domain, "pageview", 2)
    assert views[1]["u"] == url + "#/b" and views[1]["h"] == 1


@pytest.mark.browser
async def test_queued_custom_events(page: Page, site: Site, domain: str) -> None:
    head = (
        "<script>" + QUEUE_SNIPPET
        + "trail('Signup', {props: {plan: 'pro'}, revenue: {amount: 9.5, currency: 'EUR'}});"
        + "trail('Ping', {interactive: false});"
        + "trail('Queued callback', {callback: () => { window.queuedDone = true; }});"
        + "window.plausible=window.plausible||function(){(window.plausible.q=window.plausible.q||[]).push(arguments)};"
        + "plausible('Legacy', {props: {via: 'plausible'}, interactive: true});"
        + "</script>"
    )
    await page.goto(site.add("/queue/", site.script(domain), head=head))
    [signup] = await site.wait_for(domain, "Signup")
    assert signup == {
        "n": "Signup", "u": site.url("/queue/"), "d": domain, "r": None, "w": 1280,
        "p": {"plan": "pro"}, "$": {"amount": 9.5, "currency": "EUR"},
    }
    [ping] = await site.wait_for(domain, "Ping")
    assert ping["i"] is False
    [legacy] = await site.wait_for(domain, "Legacy")
    assert legacy["p"] == {"via": "plausible"} and "i" not in legacy
    await site.wait_for(domain, "Queued callback")
    assert await page.evaluate("() => window.queuedDone") is True
    assert await page.evaluate("() => window.trail === window.plausible")

    await page.evaluate("() => new Promise(done => trail('Later', {props: {n: 1}, callback: done}))")
    [later] = await site.wait_for(domain, "Later")
    assert later["p"] == {"n": 1}
    assert len(site.bodies(domain, "pageview")) == 1


@pytest.mark.browser
async def test_outbound_links(page: Page, site: Site, domain: str) -> None:
    outbound = site.url("/landing?from=ex#top", "trail.test")
    body = (
        '<a id=internal href="#section">internal</a>'
        f'<a id=middle href="{site.url("/other", "trail.test")}">middle</a> <a id=out href="{outbound}"><b>go</b></a>'
    )
    await page.goto(site.add("/outbound/", site.script(domain, "outbound-links"), body=body))
    await site.wait_for(domain, "pageview")
    await page.click("#internal")
    await page.click("#middle", button="right")
    await page.click("#middle", button="middle")
    [middle] = await site.wait_for(domain, "Outbound Link: Click")
    assert middle["p"] == {"url": site.url("/other", "trail.test")}

    await page.click("#out b")  # a click inside the link; the page navigates away at once
    clicks = await site.wait_for(domain, "Outbound Link: Click", 2)
    assert clicks[1]["p"] == {"url": outbound}
    assert clicks[1]["u"] == site.url("/outbound/#section")
    await page.wait_for_url(outbound)
    await asyncio.sleep(0.2)
    assert len(site.bodies(domain, "Outbound Link: Click")) == 2
    assert site.bodies(domain, "File Download") == []


@pytest.mark.browser
async def test_file_downloads(page: Page, site: Site, domain: str) -> None:
    body = (
        '<a id=pdf href="/files/report.pdf?token=secret#p2">pdf</a> <a id=zip href="/files/Archive.ZIP">zip</a>'
        ' <a id=html href="/files/page.html">page</a>'
        f' <a id=out href="{site.url("/files/x.txt", "trail.test")}">other host</a>'
    )
    await page.goto(site.add("/downloads/", site.script(domain, "file-downloads"), body=body))
    await site.wait_for(domain, "pageview")
    for link in ("#pdf", "#zip", "#html", "#out"):
        await page.click(link)
    downloads = await site.wait_for(domain, "File Download", 3)
    assert [d["p"] for d in downloads] == [
        {"url": site.url("/files/report.pdf")},
        {"url": site.url("/files/Archive.ZIP")},
        {"url": site.url("/files/x.txt", "trail.test")},
    ]
    await asyncio.sleep(0.2)
    assert len(site.bodies(domain, "File Download")) == 3
    assert site.bodies(domain, "Outbound Link: Click") == []  # not enabled on this page


@pytest.mark.browser
async def test_no_link_tracking_by_default(page: Page, site: Site, domain: str) -> None:
    body = f'<a id=pdf href="/files/report.pdf">pdf</a> <a id=out href="{site.url("/x", "trail.test")}">out</a>'
    await page.goto(site.add("/plain-links/", site.script(domain), body=body))
    await site.wait_for(domain, "pageview")
    await page.click("#pdf")
    await page.click("#out")
    await page.wait_for_url(site.url("/x", "trail.test"))
    await asyncio.sleep(0.3)
    assert [b["n"] for b in site.bodies(domain) if b["n"] != "engagement"] == ["pageview"]


@pytest.mark.browser
async def test_engagement_on_visibility_hidden(page: Page, site: Site, domain: str) -> None:
    url = site.add("/engage/", site.script(domain), body='<div style="height:5000px">tall</div>')
    await page.goto(url)
    await site.wait_for(domain, "pageview")
    assert await page.evaluate("() => document.hasFocus() && !document.hidden")
    await asyncio.sleep(0.3)
    await page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    await page.wait_for_function("() => window.scrollY > 1000")
    await asyncio.sleep(0.05)
    await page.evaluate(HIDE_PAGE)
    [first] = await site.wait_for(domain, "engagement")
    assert set(first) == {"n", "u", "d", "sd", "e"}
    assert first["u"] == url and first["sd"] == 100
    assert 300 <= first["e"] < 5000

    # pagehide right after: no duplicate; time while hidden does not count
    await page.evaluate("() => window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    await asyncio.sleep(0.3)
    assert len(site.bodies(domain, "engagement")) == 1
    await asyncio.sleep(0.5)
    await page.evaluate(SHOW_PAGE)
    await asyncio.sleep(0.2)
    await page.evaluate(HIDE_PAGE)
    engagements = await site.wait_for(domain, "engagement", 2)
    assert 150 <= engagements[1]["e"] < 1000  # the 0.8 s hidden before does not count
    assert engagements[1]["sd"] == 100


@pytest.mark.browser
async def test_engagement_when_leaving(page: Page, site: Site, domain: str) -> None:
    tall = '<div style="height:2880px">tall</div>'
    url = site.add("/leave/", site.script(domain), body=tall, head="<style>body{margin:0}</style>")
    await page.goto(url)
    await site.wait_for(domain, "pageview")
    await asyncio.sleep(0.3)
    await page.goto(site.url("/elsewhere"))  # real pagehide / visibilitychange of the browser
    [engagement] = await site.wait_for(domain, "engagement")
    assert engagement["u"] == url
    assert engagement["sd"] == 25  # 720 px viewport of 2880 px, never scrolled
    assert engagement["e"] >= 300
    await asyncio.sleep(0.3)
    assert len(site.bodies(domain, "engagement")) == 1


@pytest.mark.browser
async def test_engagement_before_spa_navigation(page: Page, site: Site, domain: str) -> None:
    url = site.add("/spa-engage/", site.script(domain, "hash"))
    await page.goto(url)
    await site.wait_for(domain, "pageview")
    await asyncio.sleep(0.2)
    await page.evaluate("() => history.pushState({}, '', '/spa-engage/#/next')")
    [engagement] = await site.wait_for(domain, "engagement")
    assert engagement["u"] == url and engagement["h"] == 1 and engagement["e"] >= 200
    views = await site.wait_for(domain, "pageview", 2)
    assert views[1]["u"] == url + "#/next"


@pytest.mark.browser
async def test_respect_dnt_only_when_asked(browser: Browser, site: Site, domain: str) -> None:
    dnt = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});"
    ctx = await new_context(browser, HIDE_WEBDRIVER, dnt)
    try:
        page = await ctx.new_page()
        await page.goto(site.add("/dnt/on", site.script(domain, "respect-dnt")))
        await assert_nothing_sent(page, site, domain)
        await page.goto(site.add("/dnt/off", site.script(domain)))
        [view] = await site.wait_for(domain, "pageview")
        assert view["u"] == site.url("/dnt/off")
    finally:
        await ctx.close()


@pytest.mark.browser
async def test_respect_gpc(browser: Browser, site: Site, domain: str) -> None:
    gpc = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"
    ctx = await new_context(browser, HIDE_WEBDRIVER, gpc)
    try:
        page = await ctx.new_page()
        await page.goto(site.add("/gpc/", site.script(domain, "respect-dnt")))
        await assert_nothing_sent(page, site, domain)
    finally:
        await ctx.close()


@pytest.mark.browser
async def test_localhost_ignored_unless_allowed(page: Page, site: Site, domain: str) -> None:
    site.add("/local/off", site.script(domain))
    await page.goto(site.url("/local/off", "localhost"))
    await assert_nothing_sent(page, site, domain)

    site.add("/local/on", site.script(domain, "allow-localhost"))
    await page.goto(site.url("/local/on", "localhost"))
    [view] = await site.wait_for(domain, "pageview")
    assert view["u"] == site.url("/local/on", "localhost")


@pytest.mark.browser
async def test_webdriver_ignored_unless_allow_localhost(browser: Browser, site: Site, domain: str) -> None:
    ctx = await new_context(browser)  # playwright's navigator.webdriver is true
    try:
        page = await ctx.new_page()
        await page.goto(site.add("/webdriver/off", site.script(domain)))
        assert await page.evaluate("() => navigator.webdriver") is True
        await assert_nothing_sent(page, site, domain)
        await page.goto(site.add("/webdriver/on", site.script(domain, "allow-localhost")))
        [view] = await site.wait_for(domain, "pageview")
        assert view["u"] == site.url("/webdriver/on")
    finally:
        await ctx.close()


@pytest.mark.browser
async def test_trail_ignore_in_local_storage(page: Page, site: Site, domain: str) -> None:
    url = site.add("/ignore/", site.script(domain))
    await page.goto(url)
    await site.wait_for(domain, "pageview")
    await page.evaluate("() => localStorage.setItem('trail_ignore', 'true')")
    await page.reload()
    await page.evaluate("() => new Promise(done => trail('Probe', {callback: done}))")
    await asyncio.sleep(0.4)
    assert [b["n"] for b in site.bodies(domain)] == ["pageview"]

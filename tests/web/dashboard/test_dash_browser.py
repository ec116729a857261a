"""The dashboard in the real Debian Chromium against a real server: sign in, change the range, filter by a page row
(every widget changes) and remove the filter, see realtime numbers move on a posted event without a reload, open
the shared view signed out; screenshots at desktop (1440x900) and phone (390x844) sizes into test-output/."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from tests.test_tracker import CHROMIUM, CHROMIUM_ARGS, USER_AGENT
from tests.web.dashboard.seeded_server import DOMAIN, EMAIL, PASSWORD, SeededSite, start_seeded, traffic

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = Path(__file__).resolve().parents[3] / "test-output"
FILTERED = ("top-stats", "chart", "pages", "sources", "locations", "devices", "goals")
DESKTOP, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SeededSite]:
    seeded = await asyncio.to_thread(start_seeded, tmp_path_factory.mktemp("dash") / "data")
    try:
        yield seeded
    finally:
        await asyncio.to_thread(seeded.server.stop)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def loaded(page: Page) -> None:
    """Until every widget slot has been replaced by its partial and no htmx request is in flight."""
    await page.wait_for_function(
        "document.querySelectorAll('#dashboard .is-loading').length === 0"
        " && document.querySelectorAll('.htmx-request').length === 0"
        " && document.querySelectorAll('[id^=widget-]').length >= 8", timeout=20_000)


async def signed_in(browser: Browser, site: SeededSite,
                    on_page: Callable[[Page], object] | None = None) -> tuple[BrowserContext, Page]:
    """A desktop-sized context and page, signed in as the site's owner (on_page runs before the first request)."""
    context = await browser.new_context(user_agent=USER_AGENT, viewport=DESKTOP)
    page = await context.new_page()
    if on_page:
        on_page(page)
    await page.goto(f"{site.url}/login")
    await page.fill("input[name=email]", EMAIL)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/sites**")
    return context, page


async def stat(page: Page, metric: str) -> int:
    return int(await page.get_attribute(f"#widget-top-stats [data-metric={metric}] .stat-value", "data-value") or 0)


async def html_of(page: Page, names: tuple[str, ...]) -> dict[str, str]:
    return {n: await page.inner_html(f"#widget-{n}") for n in names}


async def test_sign_in_range_filter_and_unfilter(site: SeededSite, browser: Browser) -> None:
    OUT.mkdir(exist_ok=True)
    context, page = await signed_in(browser, site)
    await page.goto(f"{site.url}/{DOMAIN}")
    await loaded(page)
    assert await stat(page, "visitors") == site.count("30d", "visitors") > 0
    await page.evaluate("window.__noReload = 1")
    await page.screenshot(path=str(OUT / "dashboard-desktop.png"), full_page=True)

    # change the range: the menu is a list of links (keyboard: open the summary, follow a link)
    await page.click(".range-menu summary")
    await page.click(".range-menu a[data-period=realtime]")
    await page.wait_for_url("**period=realtime**")
    await loaded(page)
    assert await stat(page, "visitors") == site.count("realtime", "visitors")
    assert await page.evaluate("window.__noReload") == 1  # boosted: no full page load
    await page.click(".range-menu summary")
    await page.click(".range-menu a[data-period=day]")
    await page.wait_for_url("**period=day**")
    await loaded(page)
    assert await stat(page, "visitors") == site.count("day", "visitors")

    # click a page row: the URL gets the filter, a chip shows, and every widget changes
    before = await html_of(page, FILTERED)
    row = page.locator("#widget-pages tbody tr").nth(1)
    path = await row.get_attribute("data-value")
    await row.locator("a").click()
    await page.wait_for_url("**f=event**")
    await loaded(page)
    assert parse_qs(urlsplit(page.url).query)["f"] == [f"event:page={path}"]
    assert await page.locator(".chip").count() == 1
    after = await html_of(page, FILTERED)
    assert [n for n in FILTERED if before[n] == after[n]] == []
    want = site.query(metrics=["visitors"], date_range="day", filters=[["is", "event:page", [path]]])
    assert await stat(page, "visitors") == want["results"][0]["metrics"][0]
    # the filtered view survives a reload
    await page.reload()
    await loaded(page)
    assert await page.locator(".chip").count() == 1 and await stat(page, "visitors") == want["results"][0][
        "metrics"][0]
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(OUT / "dashboard-phone-filtered.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)

    # remove the filter with the keyboard: focus the chip's remove link, press Enter
    await page.focus(".chip-remove")
    await page.keyboard.press("Enter")
    await page.wait_for_function("!location.search.includes('f=')")
    await loaded(page)
    assert await page.locator(".chip").count() == 0
    assert await stat(page, "visitors") == site.count("day", "visitors")

    # a details view: more rows, search
    await page.click("#widget-pages .widget-foot a")
    await page.wait_for_url("**/details/pages**")
    await page.fill("#details-search", "doc")
    await page.press("#details-search", "Enter")
    await page.wait_for_url("**search=doc**")
    labels = await page.locator("#widget-pages tbody tr").evaluate_all("rows => rows.map(r => r.dataset.value)")
    assert labels and all("doc" in x.lower() for x in labels)
    await context.close()


async def test_realtime_updates_without_reload_and_shared_view(site: SeededSite, browser: Browser) -> None:
    sockets: list[Any] = []
    context, page = await signed_in(browser, site, on_page=lambda p: p.on("websocket", lambda ws: sockets.append(ws)))
    await page.goto(f"{site.url}/{DOMAIN}?period=realtime")
    await loaded(page)
    await page.wait_for_function("document.body.dataset.live === 'open'", timeout=10_000)
    await page.evaluate("window.__noReload = 1")
    visitors = await stat(page, "visitors")
    current = int(await page.get_attribute("[data-metric=current_visitors]", "data-value") or 0)
    await page.evaluate("window.__chart = document.querySelector('#widget-chart .chart-line').getAttribute('d')")
    # three new visitors arrive now
    items = traffic(3, hours=0.001, seed=77, end_offset_s=0)
    for i, item in enumerate(items):
        item.update(name="pageview", ip=f"203.0.113.{10 + i}", url=f"https://{DOMAIN}/live-now")
    await asyncio.to_thread(site.send, items)
    await page.wait_for_function(
        f"+document.querySelector('[data-metric=current_visitors]').dataset.value >= {current + 3}", timeout=10_000)
    await page.wait_for_function(
        f"+document.querySelector('#widget-top-stats [data-metric=visitors] .stat-value').dataset.value"
        f" >= {visitors + 3}", timeout=15_000)
    # the per-minute chart moved too (refreshed from the stats engine on the live frame, with the page's view)
    await page.wait_for_function("document.querySelector('#widget-chart .chart-line').getAttribute('d') !== "
                                 "window.__chart", timeout=15_000)
    assert await page.evaluate("window.__noReload") == 1
    assert len(sockets) == 1 and not sockets[0].is_closed()  # one websocket for the whole page
    await context.close()

    # the shared view, signed out: same widgets, no settings links
    anon = await browser.new_context(user_agent=USER_AGENT, viewport=PHONE)
    page = await anon.new_page()
    await page.goto(f"{site.url}{site.share_path}")
    await loaded(page)
    assert await stat(page, "visitors") == site.count("30d", "visitors")
    assert await page.locator("a[href*='/settings']").count() == 0
    assert "public dashboard" in await page.inner_text("h1")
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")  # no sideways scroll
    await page.screenshot(path=str(OUT / "dashboard-phone-shared.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"{site.url}{site.share_path}?period=realtime")
    await loaded(page)
    await page.wait_for_function("document.body.dataset.live === 'open'", timeout=10_000)
    await anon.close()


COUNT_REFRESH_ANSWERS = """
window.__probe = 0; window.__answers = 0;
document.body.addEventListener('htmx:afterRequest', e => {
  const cause = e.detail.requestConfig && e.detail.requestConfig.triggeringEvent;
  const probe = cause && cause.type === 'live-refresh' && cause.detail && cause.detail.probe;
  if (probe === window.__probe) window.__answers++;
});"""
MARK_WIDGETS = "document.querySelectorAll('[data-live-refresh]').forEach(el => { el.__mark = 1; })"


async def refreshed(page: Page) -> None:
    """Refresh every live widget now, as a live frame does, and wait until each has the answer to this refresh
    (not to one a live frame started earlier)."""
    await page.evaluate("window.__probe++; window.__answers = 0; document.querySelectorAll('[data-live-refresh]')"
                        ".forEach(el => htmx.trigger(el, 'live-refresh', {probe: window.__probe}))")
    await page.wait_for_function(
        "window.__answers >= document.querySelectorAll('[data-live-refresh]').length", timeout=15_000)


async def swapped(page: Page, widget: str) -> bool:
    return bool(await page.evaluate(f"document.getElementById('widget-{widget}').__mark !== 1"))


async def new_visitor(site: SeededSite, path: str, ip: str) -> None:
    """One pageview by a visitor not seen today, stored before this returns."""
    before = await asyncio.to_thread(site.count)
    item = traffic(1, hours=0.001, seed=78, end_offset_s=0)[0]
    item.update(name="pageview", ip=ip, url=f"https://{DOMAIN}{path}")
    await asyncio.to_thread(site.send, [item])
    await asyncio.to_thread(site.wait_for, before + 1)


async def center(page: Page, selector: str) -> None:
    await page.locator(selector).scroll_into_view_if_needed()
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


async def test_live_refresh_stays_out_of_the_way(site: SeededSite, browser: Browser) -> None:
    """A live refresh leaves unchanged widgets alone, waits while a pointer is pressed (a swap between press and
    release would swallow the click), and gives a changed widget's focused link its focus back."""
    context, page = await signed_in(browser, site)
    await page.goto(f"{site.url}/{DOMAIN}?period=day")
    await loaded(page)
    await page.wait_for_function("document.body.dataset.live === 'open'", timeout=10_000)
    await page.evaluate(COUNT_REFRESH_ANSWERS)

    # nothing new: every refresh answer equals what is shown, and no widget is replaced
    await page.evaluate(MARK_WIDGETS)
    await refreshed(page)
    assert [w for w in FILTERED if await swapped(page, w)] == []

    # a new visitor while a pointer is pressed: nothing is replaced until the release, then the numbers move
    # (pressed first: the visitor's own live frame must not refresh the widgets before the press)
    visitors = await stat(page, "visitors")
    await center(page, "#widget-pages h2")
    await page.evaluate(MARK_WIDGETS)
    await page.mouse.down()
    await new_visitor(site, "/pressed", "198.51.100.21")
    await refreshed(page)
    assert [w for w in FILTERED if await swapped(page, w)] == []
    await page.mouse.up()
    await page.wait_for_function(
        f"+document.querySelector('#widget-top-stats [data-metric=visitors] .stat-value').dataset.value"
        f" === {visitors + 1}", timeout=15_000)
    assert await swapped(page, "top-stats")

    # the focused row link of a widget that changes (one more visitor on its top page) has the focus back after
    # the swap
    top = await page.get_attribute("#widget-pages tbody tr", "data-value")
    assert top
    await page.evaluate(MARK_WIDGETS)
    await page.focus("#widget-pages tbody tr:first-child a")
    await new_visitor(site, top, "198.51.100.22")
    await refreshed(page)
    assert await swapped(page, "pages")
    assert await page.evaluate(
        "document.activeElement.matches('#widget-pages tbody tr:first-child a')"
        f" && document.activeElement.closest('tr').dataset.value === {top!r}")

    # a click whose press and release straddle a refresh that changes its widget still follows the link; the
    # refresh asked again on release answers while the (slowed) navigation is in flight, and must not swap out
    # the link that sent it (the navigation would then not push its URL)
    async def slow(route: Route) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()
    await page.route("**/details/pages**", slow)
    await center(page, "#widget-pages .widget-foot a")
    await page.evaluate(MARK_WIDGETS)
    await page.mouse.down()
    await new_visitor(site, top, "198.51.100.23")
    await refreshed(page)
    assert not await swapped(page, "pages")
    await page.mouse.up()
    await page.wait_for_url("**/details/pages**")
    assert await page.locator("#details-search").count() == 1
    await context.close()

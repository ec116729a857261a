"""The dashboard in the real Debian Chromium against a real server: sign in, change the range, filter by a page row
(every widget changes) and remove the filter, see realtime numbers move on a posted event without a reload, open
the shared view signed out; screenshots at desktop (1440x900) and phone (390x844) sizes into test-output/."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Page, async_playwright

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


async def stat(page: Page, metric: str) -> int:
    return int(await page.get_attribute(f"#widget-top-stats [data-metric={metric}] .stat-value", "data-value") or 0)


async def html_of(page: Page, names: tuple[str, ...]) -> dict[str, str]:
    return {n: await page.inner_html(f"#widget-{n}") for n in names}


async def test_sign_in_range_filter_and_unfilter(site: SeededSite, browser: Browser) -> None:
    OUT.mkdir(exist_ok=True)
    context = await browser.new_context(user_agent=USER_AGENT, viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(f"{site.url}/login")
    await page.fill("input[name=email]", EMAIL)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/sites**")
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
    context = await browser.new_context(user_agent=USER_AGENT, viewport=DESKTOP)
    sockets: list[Any] = []
    page = await context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws))
    await page.goto(f"{site.url}/login")
    await page.fill("input[name=email]", EMAIL)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/sites**")
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
    started = time.monotonic()
    await asyncio.to_thread(site.send, items)
    await page.wait_for_function(
        f"+document.querySelector('[data-metric=current_visitors]').dataset.value >= {current + 3}", timeout=10_000)
    await page.wait_for_function(
        f"+document.querySelector('#widget-top-stats [data-metric=visitors] .stat-value').dataset.value"
        f" >= {visitors + 3}", timeout=15_000)
    # the per-minute chart moved too (refreshed from the stats engine on the live frame, with the page's view)
    await page.wait_for_function("document.querySelector('#widget-chart .chart-line').getAttribute('d') !== "
                                 "window.__chart", timeout=15_000)
    elapsed = time.monotonic() - started
    assert await page.evaluate("window.__noReload") == 1
    assert len(sockets) == 1 and not sockets[0].is_closed()  # one websocket for the whole page
    assert elapsed < 15
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

"""Regenerate the README's dashboard screenshots into docs/screenshots/ (desktop 1440x900, phone 390x844).

Usage: .venv/bin/python scripts/screenshots.py
Starts a throwaway server, seeds it with the demo's realistic traffic through the public batch API (see
tests/web/dashboard/seeded_server.py), signs in in headless Chromium and saves the dashboard at both sizes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_tracker import CHROMIUM, CHROMIUM_ARGS, USER_AGENT  # noqa: E402
from tests.web.dashboard.seeded_server import DOMAIN, EMAIL, PASSWORD, start_seeded  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
DONE = ("document.querySelectorAll('#dashboard .is-loading').length === 0"
        " && document.querySelectorAll('.htmx-request').length === 0")


async def shoot(url: str) -> None:
    from playwright.async_api import async_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(user_agent=USER_AGENT, viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        await page.goto(f"{url}/login")
        await page.fill("input[name=email]", EMAIL)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/sites**")
        for name, size, query in (("dashboard-desktop", {"width": 1440, "height": 900}, "?period=day"),
                                  ("dashboard-phone", {"width": 390, "height": 844}, "?period=day")):
            await page.set_viewport_size(size)
            await page.goto(f"{url}/{DOMAIN}{query}")
            await page.wait_for_function(DONE, timeout=30_000)
            await page.screenshot(path=str(OUT / f"{name}.png"))
            print(f"saved {OUT / name}.png")
        await browser.close()


def main() -> None:
    site = start_seeded(Path(tempfile.mkdtemp(prefix="trail-shots-")) / "data", events=2500, recent=80)
    try:
        asyncio.run(shoot(site.url))
    finally:
        site.server.stop()


if __name__ == "__main__":
    main()

"""Dashboard paint time: a real server over N synthetic events, the full dashboard loaded in headless Chromium.

Usage: python bench/dashboard_paint.py [--events N] [--loads L] [--period 30d] [--keep DIR] [--filter DIM=VALUE ...]
Creates a user and the site `bench.test` with the CLI in a fresh data dir (--keep DIR: in DIR, kept, and reused
as is when it was prepared before), loads N events of the last 30 days into its chDB store with bench/queries.py's
loader (INSERT ... SELECT FROM numbers()), runs the rollup job once for the site (as the server's job would 30 s
after start: the dashboard is measured on rollups, as in production), serves it
(`python -m trail serve`), signs in in Chromium and opens `/bench.test` L times.
A load's paint time is performance.now() when every widget partial has been swapped in (no `.is-loading` slot
and no htmx request left): navigation + page + all widget partials through the stats runner, as a person sees it.
Prints each load and the p50 (the first load is a warm-up and is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live.servers import server_env  # noqa: E402
from tests.serverproc import Server, run_trail  # noqa: E402
from tests.test_tracker import CHROMIUM, CHROMIUM_ARGS, USER_AGENT  # noqa: E402

EMAIL, PASSWORD, DOMAIN = "bench@dash.test", "bench-password-1", "bench.test"
WIDGETS_DONE = ("document.querySelectorAll('#dashboard .is-loading').length === 0"
                " && document.querySelectorAll('.htmx-request').length === 0"
                " && document.querySelectorAll('[id^=widget-]').length >= 8")

LOADER = """
import asyncio, sys, time
from datetime import datetime, timedelta, timezone
sys.path.insert(0, {root!r})
import bench.queries as q
from trail.config import Settings
from trail.stats.rollup_job import roll_up_site
from trail.stats.storage import SITE_TABLES
from trail.store.events import open_event_store

async def main(n):
    q.START = datetime.now(timezone.utc) - timedelta(days=q.DAYS) + timedelta(minutes=5)
    store = open_event_store(Settings.load().clickhouse_url)
    await store.start()
    t = time.perf_counter()
    step = 2_000_000
    for offset in range(0, n, step):
        await store.execute(q.load_sql(min(step, n - offset), offset))
        print(f"  loaded {{min(n, offset + step):,}} / {{n:,}} events", flush=True)
    for table in SITE_TABLES:
        await store.execute(f"OPTIMIZE TABLE {{table}} FINAL")
    print(f"  load: {{time.perf_counter() - t:.1f}} s", flush=True)
    t = time.perf_counter()
    days = await roll_up_site(store, 1, "Europe/Berlin")
    print(f"  rollup job: {{len(days)}} closed days + today in {{time.perf_counter() - t:.1f}} s", flush=True)
    await store.close()

asyncio.run(main(int(sys.argv[1])))
"""


def prepare(data_dir: Path, events: int) -> dict[str, str]:
    env = server_env(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    for args in (("migrate",), ("user", "add", EMAIL, "--password", PASSWORD),
                 ("site", "add", DOMAIN, "--owner", EMAIL, "--timezone", "Europe/Berlin"),
                 ("goal", "add", DOMAIN, "--event", "Signup", "--currency", "EUR")):
        result = run_trail(*args, env=env)
        if result.returncode != 0:
            raise SystemExit(f"trail {' '.join(args)} failed: {result.stderr}")
    print(f"loading {events:,} events into {data_dir}", flush=True)
    subprocess.run([sys.executable, "-c", LOADER.format(root=str(ROOT)), str(events)], cwd=ROOT, env=env,
                   check=True, timeout=3600)
    return env


async def measure(url: str, loads: int, period: str, filters: list[str]) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await (await browser.new_context(user_agent=USER_AGENT,
                                                viewport={"width": 1440, "height": 900})).new_page()
        await page.goto(f"{url}/login")
        await page.fill("input[name=email]", EMAIL)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/sites**")
        times = []
        for i in range(loads + 1):
            view = urlencode([("period", period)] + [("f", f) for f in filters])
            await page.goto(f"{url}/{DOMAIN}?{view}", wait_until="commit")
            await page.wait_for_function(WIDGETS_DONE, timeout=120_000, polling=10)
            ms = await page.evaluate("performance.now()")
            print(f"  load {i}: {ms:,.0f} ms{' (warm-up)' if i == 0 else ''}", flush=True)
            if i:
                times.append(ms)
        await browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--period", default="30d")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="data dir to keep; reused without loading when a previous run prepared it")
    parser.add_argument("--filter", action="append", default=[], metavar="DIM=VALUE",
                        help="a dashboard filter, as a row click sets it (repeat: two filters read raw events, "
                             "sampled on a large site)")
    args = parser.parse_args()
    data_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="trail-bench-dash-")) / "data"
    marker = data_dir / ".bench-prepared"
    if marker.exists():
        print(f"reusing {data_dir} ({marker.read_text().strip()} events)", flush=True)
        env = server_env(data_dir)
    else:
        env = prepare(data_dir, args.events)
        marker.write_text(str(args.events))
    server = Server(env).start(timeout=300)
    try:
        started = time.perf_counter()
        times = asyncio.run(measure(server.url, args.loads, args.period, args.filter))
        shown = "".join(f", filter {f}" for f in args.filter)
        print(f"\ndashboard paint, {args.events:,} events, period={args.period}{shown}, {len(times)} loads: "
              f"p50 {statistics.median(times):,.0f} ms, min {min(times):,.0f} ms, max {max(times):,.0f} ms "
              f"({time.perf_counter() - started:.0f} s)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()

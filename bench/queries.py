"""Stats query latency: synthetic events in chDB (and a plain MariaDB events table), every dashboard query timed.

Usage: python -m bench.queries [--events N] [--runs R] [--no-mariadb] [--keep DIR] [--sample-events N] [--raw]
Loads N synthetic events of one site over 30 days into a chDB data dir of its own (INSERT ... SELECT FROM numbers),
runs the rollup job once (timed: the backfill of 31 days), times each dashboard widget query (p50/p95) and the whole
dashboard (widgets run concurrently, as the dashboard does) as planned (rollups for the unfiltered dashboard when the
range holds >= --min-events events; filters the rollups cannot answer read a sample of the visitors on ranges above
--sample-events events), the same on raw events only and exact (--raw), the rollups' and the samples' errors against
the exact raw answers, then the same reports as plain SQL on MariaDB (127.0.0.1:3306, root, database of its own)
and the ratio.
--keep DIR: use DIR as the chDB data dir and keep it; a later run with the same DIR and --events reuses the loaded
events (no reload) and only runs the rollup job again.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trail.sites import Goal, SiteInfo  # noqa: E402
from trail.stats import rollup_planner, sampling  # noqa: E402
from trail.stats.query import parse_query  # noqa: E402
from trail.stats.rollup_job import roll_up_site  # noqa: E402
from trail.stats.runner import run  # noqa: E402
from trail.store.ch_migrations import migrate_events  # noqa: E402
from trail.store.events import EventStore, open_event_store  # noqa: E402

DAYS = 30
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)
START = NOW - timedelta(days=DAYS)
SITE = SiteInfo(id=1, domain="bench.test", team_id=1, timezone="Europe/Berlin",
                goals=(Goal(1, "Signup", "Signup", None, "EUR"),))

PATHS = [f"/page/{i}" for i in range(200)] + ["/", "/pricing", "/blog", "/docs", "/signup"]
SOURCES = ["", "Google", "Hacker News", "Twitter", "Bing", "DuckDuckGo", "GitHub", "Reddit", "example.org"]
COUNTRIES = ["DE", "US", "FR", "GB", "EE", "IN", "BR", "JP", "", "NL", "SE", "PL"]
DEVICES = ["Desktop", "Mobile", "Tablet"]
BROWSERS = ["Chrome", "Safari", "Firefox", "Edge"]
OSES = ["Windows", "Mac", "iOS", "Android", "Linux"]


def _arr(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "") + "'" for v in values) + "]"


def load_sql(n: int, offset: int) -> str:
    """Synthetic rows: visits of ~4 events (3 pageviews/custom + engagement), ~6 visits per person over the month;
    a visitor id is a person's id of the UTC day the visit starts on, as ingestion makes them (daily salt)."""
    span_ms = DAYS * 86400 * 1000
    start_ms = int(START.timestamp()) * 1000
    visitors = max(1, n // 24)
    return f"""
INSERT INTO events (event_id, site_id, ts, name, visitor_id, session_id, hostname, pathname, referrer, source,
    utm_source, utm_medium, utm_campaign, country, region, city, browser, browser_version, os, os_version, device,
    screen, props, revenue_amount, revenue_currency, interactive, scroll_depth, engagement_ms)
SELECT generateUUIDv4(number), 1,
    toDateTime64({int(START.timestamp())}, 3, 'UTC') + toIntervalMillisecond(
        cityHash64(sess) % {span_ms} + (number % 4) * 40000),
    multiIf(number % 4 = 3, 'engagement', cityHash64(number, 7) % 20 = 0, 'Signup', 'pageview'),
    cityHash64(sess % {visitors}, intDiv({start_ms} + cityHash64(sess) % {span_ms}, 86400000)), sess, 'bench.test',
    {_arr(PATHS)}[1 + cityHash64(number, 1) % {len(PATHS)}], '',
    {_arr(SOURCES)}[1 + cityHash64(sess, 2) % {len(SOURCES)}],
    if(sess % 7 = 0, 'newsletter', ''), if(sess % 7 = 0, 'email', ''), '',
    {_arr(COUNTRIES)}[1 + cityHash64(sess, 3) % {len(COUNTRIES)}], '', '',
    {_arr(BROWSERS)}[1 + cityHash64(sess, 4) % {len(BROWSERS)}], '1',
    {_arr(OSES)}[1 + cityHash64(sess, 5) % {len(OSES)}], '1',
    {_arr(DEVICES)}[1 + cityHash64(sess, 6) % {len(DEVICES)}], 'Desktop',
    if(number % 11 = 0, map('plan', if(number % 2 = 0, 'pro', 'free')), map()),
    if(cityHash64(number, 7) % 20 = 0 AND number % 4 != 3, toDecimal64(number % 10000 / 100, 3), NULL),
    if(cityHash64(number, 7) % 20 = 0 AND number % 4 != 3, 'EUR', ''),
    1, if(number % 4 = 3, toUInt8(number % 101), 0), if(number % 4 = 3, toUInt32(number % 60000), 0)
FROM (SELECT number + {offset} AS number, intDiv(number + {offset}, 4) AS sess FROM numbers({n}))
"""


DASHBOARD: dict[str, dict[str, Any]] = {
    "top_stats": {"metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                              "visit_duration"], "include": {"comparisons": {"mode": "previous_period"}}},
    "timeseries": {"metrics": ["visitors"], "dimensions": ["time:day"]},
    "top_pages": {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"], "pagination": {"limit": 9}},
    "entry_pages": {"metrics": ["visitors", "visits"], "dimensions": ["visit:entry_page"],
                    "pagination": {"limit": 9}},
    "sources": {"metrics": ["visitors"], "dimensions": ["visit:source"], "pagination": {"limit": 9}},
    "countries": {"metrics": ["visitors"], "dimensions": ["visit:country"], "pagination": {"limit": 9}},
    "devices": {"metrics": ["visitors"], "dimensions": ["visit:device"], "pagination": {"limit": 9}},
}
FILTERS = {
    "country=DE": [["is", "visit:country", ["DE"]]],
    "page=/pricing": [["is", "event:page", ["/pricing"]]],
    "goal=Signup": [["is", "event:goal", ["Signup"]]],
    # filters the rollups cannot answer: raw events (a sample of the visitors at >= --sample-events events)
    "props plan=pro": [["is", "event:props:plan", ["pro"]]],
    "country DE|FR": [["is", "visit:country", ["DE", "FR"]]],
    "page ~ /page/1": [["contains", "event:page", ["/page/1"]]],
    "source != Google": [["is_not", "visit:source", ["Google"]]],
    "country DE & Google": [["is", "visit:country", ["DE"]], ["is", "visit:source", ["Google"]]],
}
RAW_FILTERS = ("props plan=pro", "country DE|FR", "page ~ /page/1", "source != Google", "country DE & Google")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    await fn()  # warm-up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def dashboard(store: EventStore, filters: list[Any] | None = None) -> None:
    queries = [parse_query({"site_id": SITE.domain, "date_range": "30d", **body,
                            **({"filters": filters} if filters else {})}, SITE.timezone, NOW)
               for body in DASHBOARD.values()]
    await asyncio.gather(*(run(store, q, SITE) for q in queries))


async def time_all(store: EventStore, events: int, runs: int, label: str) -> dict[str, float]:
    """p50/p95 of every widget, the whole dashboard and the filtered dashboards; returns p50 ms by name."""
    print(f"\nchDB, {events:,} events, 30d range, {runs} runs each, per-visit rows from {label}")
    print(f"{'query':<28}{'p50 ms':>10}{'p95 ms':>10}")
    summary: dict[str, float] = {}
    for name, body in DASHBOARD.items():
        q = parse_query({"site_id": SITE.domain, "date_range": "30d", **body}, SITE.timezone, NOW)
        ms = await timed(lambda q=q: run(store, q, SITE), runs)
        summary[name] = statistics.median(ms)
        print(f"{name:<28}{statistics.median(ms):>10.1f}{pct(ms, 95):>10.1f}", flush=True)
    ms = await timed(lambda: dashboard(store), runs)
    summary["dashboard"] = statistics.median(ms)
    print(f"{'WHOLE DASHBOARD':<28}{statistics.median(ms):>10.1f}{pct(ms, 95):>10.1f}")
    for label, f in FILTERS.items():
        ms = await timed(lambda f=f: dashboard(store, f), runs)
        summary[f"dashboard {label}"] = statistics.median(ms)
        print(f"{'dashboard ' + label:<28}{statistics.median(ms):>10.1f}{pct(ms, 95):>10.1f}", flush=True)
    return summary


async def accuracy(store: EventStore) -> None:
    """Every widget from rollups vs exact raw events: the largest relative error per metric."""
    worst: dict[str, float] = {}
    for name, body in DASHBOARD.items():
        q = parse_query({"site_id": SITE.domain, "date_range": "30d", **body}, SITE.timezone, NOW)
        approx = await run(store, q, SITE)
        saved = rollup_planner.MIN_EVENTS, sampling.SAMPLE_EVENTS
        rollup_planner.MIN_EVENTS, sampling.SAMPLE_EVENTS = 10**15, 0
        try:
            exact = await run(store, q, SITE)
        finally:
            rollup_planner.MIN_EVENTS, sampling.SAMPLE_EVENTS = saved
        if not approx["meta"].get("approximate"):
            print(f"\n{name}: answered from raw events (the site is below --min-events): no rollup error to measure")
            return
        rows = {tuple(r["dimensions"]): r["metrics"] for r in exact["results"]}
        for r in approx["results"]:
            want = rows.get(tuple(r["dimensions"]))
            if want is None:
                continue
            for metric, a, b in zip(q.metrics, r["metrics"], want):
                if isinstance(a, (int, float)) and b:
                    worst[metric] = max(worst.get(metric, 0.0), abs(a - b) / abs(b) * 100)
    print("\nrollups vs exact raw answers, largest relative error over the dashboard's rows (%):")
    for metric, err in sorted(worst.items()):
        print(f"  {metric:<18}{err:>8.3f}")


async def sampling_accuracy(store: EventStore) -> None:
    """Sampled vs exact answers of the filtered dashboards the rollups cannot answer: the relative error of visitors
    and pageviews on every row holding >= 1,000 visitors (median and largest), and bounce rate in points."""
    if sampling.SAMPLE_EVENTS <= 0:
        return
    errors: list[float] = []
    points: list[float] = []
    share = None
    for label in RAW_FILTERS:
        for name, body in DASHBOARD.items():
            q = parse_query({"site_id": SITE.domain, "date_range": "30d", **body, "filters": FILTERS[label]},
                            SITE.timezone, NOW)
            approx = await run(store, q, SITE)
            share = approx["meta"].get("sample_percent", share)
            saved, sampling.SAMPLE_EVENTS = sampling.SAMPLE_EVENTS, 0
            try:
                exact = await run(store, q, SITE)
            finally:
                sampling.SAMPLE_EVENTS = saved
            want = {tuple(r["dimensions"]): r["metrics"] for r in exact["results"]}
            for r in approx["results"]:
                ref = want.get(tuple(r["dimensions"]))
                if ref is None or not ref[q.metrics.index("visitors")] >= 1000:
                    continue
                for metric, a, b in zip(q.metrics, r["metrics"], ref):
                    if metric in ("visitors", "pageviews") and b:
                        errors.append(abs(a - b) / b * 100)
                    elif metric == "bounce_rate":
                        points.append(abs(a - b))
    if share is None:
        print("\nsampling: no dashboard read a sample (the range holds fewer events than --sample-events)")
        return
    print(f"\nsampled ({share} % of visitors) vs exact, filtered dashboards on raw events, rows >= 1,000 visitors:")
    print(f"  visitors/pageviews relative error: median {statistics.median(errors):.2f} %, "
          f"largest {max(errors):.2f} % over {len(errors)} values")
    if points:
        print(f"  bounce rate: largest difference {max(points):.0f} points")


async def load_events(store: EventStore, events: int) -> None:
    """Load `events` synthetic events unless the store already holds exactly that many (a kept dir)."""
    _, rows = await store.query("SELECT count() FROM events WHERE site_id = 1")
    have = int(rows[0][0]) if rows else 0
    if have == events:
        print(f"  reusing {have:,} loaded events", flush=True)
        return
    if have:
        await store.execute("TRUNCATE TABLE events")
    t = time.perf_counter()
    step = 2_000_000
    for offset in range(0, events, step):
        await store.execute(load_sql(min(step, events - offset), offset))
        print(f"  loaded {min(events, offset + step):,} / {events:,} events", flush=True)
    await store.execute("OPTIMIZE TABLE events FINAL")
    print(f"  load: {time.perf_counter() - t:.1f} s", flush=True)


async def bench_chdb(events: int, runs: int, raw: bool = False, keep: str | None = None) -> dict[str, float]:
    path = keep or tempfile.mkdtemp(prefix="trail-bench-chdb-")
    Path(path).mkdir(parents=True, exist_ok=True)
    store = open_event_store(f"chdb://{path}?database=bench")
    await store.start()
    await migrate_events(store)
    await load_events(store, events)
    for table in ("rollup_daily", "rollup_days"):  # the backfill is timed from scratch, kept dir or not
        await store.execute(f"TRUNCATE TABLE {table}")
    t = time.perf_counter()
    days = await roll_up_site(store, SITE.id, SITE.timezone, NOW)
    print(f"  rollup job, first run (backfill of {len(days)} days): {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    days = await roll_up_site(store, SITE.id, SITE.timezone, NOW)
    print(f"  rollup job, steady run (last {len(days)} closed days again): {time.perf_counter() - t:.1f} s",
          flush=True)
    await accuracy(store)
    await sampling_accuracy(store)
    summary = await time_all(store, events, runs, f"planned (rollups at >= {rollup_planner.MIN_EVENTS:,} events)")
    if raw:
        saved = rollup_planner.MIN_EVENTS, sampling.SAMPLE_EVENTS
        rollup_planner.MIN_EVENTS, sampling.SAMPLE_EVENTS = 10**15, 0
        try:
            exact = await time_all(store, events, runs, "raw events only, exact (no sampling)")
        finally:
            rollup_planner.MIN_EVENTS, sampling.SAMPLE_EVENTS = saved
        print(f"\n{'query':<28}{'planned':>10}{'raw':>10}{'speed-up':>10}")
        for name, ms in summary.items():
            print(f"{name:<28}{ms:>10.1f}{exact[name]:>10.1f}{exact[name] / max(ms, 0.001):>9.1f}x")
    if keep is None:
        await store.execute("DROP DATABASE IF EXISTS bench")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-mariadb", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="chDB worker sessions (default: the store's)")
    parser.add_argument("--raw", action="store_true", help="also time every query on raw events only")
    parser.add_argument("--min-events", type=int, default=rollup_planner.MIN_EVENTS,
                        help="TRAIL_ROLLUP_MIN_EVENTS for the run (default: the setting's default)")
    parser.add_argument("--sample-events", type=int, default=sampling.SAMPLE_EVENTS,
                        help="TRAIL_SAMPLE_EVENTS for the run (default: the setting's default; 0: never sample)")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="chDB data dir to keep (and reuse when it already holds --events events)")
    args = parser.parse_args()
    rollup_planner.MIN_EVENTS = args.min_events
    sampling.SAMPLE_EVENTS = args.sample_events
    if args.workers:
        from trail.store import chdb_store

        chdb_store.WORKERS = args.workers
    summary = asyncio.run(bench_chdb(args.events, args.runs, args.raw, args.keep))
    if not args.no_mariadb:
        from bench.queries_mariadb import bench_mariadb

        maria = bench_mariadb(args.events, args.runs)
        print(f"\n{'query':<28}{'chDB p50':>10}{'MariaDB p50':>13}{'ratio':>8}")
        for name, ms in maria.items():
            if name in summary:
                print(f"{name:<28}{summary[name]:>10.1f}{ms:>13.1f}{ms / max(summary[name], 0.001):>8.1f}x")


if __name__ == "__main__":
    main()

"""`python -m trail demo DOMAIN`: realistic simulated live traffic through the public batch Events API."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, TextIO

import httpx
import orjson

from trail.config import Settings

BATCH_MAX = 1000  # the batch API's limit per request
TICK_S = 0.25  # how often due events are generated and sent
MAX_INFLIGHT = 4  # concurrent batch requests
PROGRESS_EVERY_S = 0.5

# Public address ranges whose country geoip2fast's bundled database knows (checked when the list was made).
COUNTRY_RANGES: dict[str, tuple[str, ...]] = {
    "US": ("24.0.0.0/12", "73.0.0.0/10", "8.8.8.0/24"),
    "DE": ("84.128.0.0/10", "91.0.0.0/10", "81.169.128.0/17"),
    "GB": ("86.128.0.0/10", "2.96.0.0/13", "81.2.69.0/24"),
    "FR": ("86.192.0.0/11",),
    "IN": ("117.192.0.0/10", "59.88.0.0/13"),
    "JP": ("126.0.0.0/9", "60.64.0.0/11"),
    "BR": ("177.0.0.0/10", "189.0.0.0/11"),
    "CA": ("24.114.0.0/16", "70.24.0.0/13"),
    "NL": ("77.160.0.0/12",),
    "AU": ("1.128.0.0/11", "101.160.0.0/11"),
    "ES": ("83.32.0.0/11", "88.0.0.0/11"),
    "IT": ("79.0.0.0/10", "93.32.0.0/11"),
    "SE": ("83.248.0.0/13",),
    "PL": ("83.0.0.0/11",),
    "KR": ("211.36.0.0/14", "121.128.0.0/10"),
    "MX": ("187.128.0.0/10",),
    "ZA": ("41.0.0.0/11",),
    "CH": ("85.0.0.0/13",),
}
COUNTRY_WEIGHTS = {"US": 30, "DE": 12, "GB": 10, "FR": 7, "IN": 7, "JP": 5, "BR": 5, "CA": 4, "NL": 3, "AU": 3,
                   "ES": 3, "IT": 3, "SE": 2, "PL": 2, "KR": 2, "MX": 1, "ZA": 1, "CH": 1}

# (user agent, device, screen widths), weighted like a typical tech site's audience.
AGENTS: tuple[tuple[str, str, tuple[int, ...], int], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 "
     "Safari/537.36", "Desktop", (1920, 1536, 1366, 2560), 22),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 "
     "Safari/537.36", "Desktop", (1440, 1680, 1512), 12),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 "
     "Safari/605.1.15", "Desktop", (1440, 1512, 1728), 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0", "Desktop",
     (1920, 1366), 6),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "Desktop", (1920, 2560), 3),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
     "Desktop", (1920,), 2),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 "
     "Safari/537.36 Edg/138.0.0.0", "Desktop", (1920, 1366, 1536), 6),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.5 Mobile/15E148 Safari/604.1", "Mobile", (390, 393, 430), 16),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 "
     "Mobile Safari/537.36", "Mobile", (412, 384), 9),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36", "Mobile", (360, 384), 5),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
     "Mobile/15E148 Safari/604.1", "Tablet", (820, 1024), 5),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 "
     "Safari/537.36", "Tablet", (800, 962), 2),
)

# The site's page tree: page -> pages a visitor goes on to.
PAGES: dict[str, tuple[str, ...]] = {
    "/": ("/features", "/pricing", "/blog", "/docs", "/about", "/signup"),
    "/features": ("/features/realtime", "/features/privacy", "/pricing", "/signup"),
    "/features/realtime": ("/features/privacy", "/pricing", "/docs/getting-started"),
    "/features/privacy": ("/features/realtime", "/pricing", "/blog/why-no-cookies"),
    "/pricing": ("/signup", "/features", "/docs", "/checkout"),
    "/blog": ("/blog/why-no-cookies", "/blog/launch-week", "/blog/clickhouse-at-scale", "/"),
    "/blog/why-no-cookies": ("/blog", "/features/privacy", "/pricing"),
    "/blog/launch-week": ("/blog", "/pricing", "/signup"),
    "/blog/clickhouse-at-scale": ("/blog", "/docs", "/features/realtime"),
    "/docs": ("/docs/getting-started", "/docs/api", "/docs/tracker"),
    "/docs/getting-started": ("/docs/tracker", "/docs/api", "/signup"),
    "/docs/tracker": ("/docs/api", "/docs/getting-started"),
    "/docs/api": ("/docs/api/events", "/docs/api/stats"),
    "/docs/api/events": ("/docs/api/stats", "/docs/api"),
    "/docs/api/stats": ("/docs/api/events", "/pricing"),
    "/about": ("/", "/pricing"),
    "/signup": ("/docs/getting-started", "/pricing"),
    "/checkout": ("/checkout/success",),
    "/checkout/success": ("/docs/getting-started",),
}
ENTRY_PAGES = {"/": 35, "/blog/why-no-cookies": 12, "/blog/launch-week": 8, "/blog/clickhouse-at-scale": 6,
               "/pricing": 10, "/docs": 7, "/docs/getting-started": 6, "/features": 8, "/features/privacy": 4,
               "/docs/api/events": 4}

# (referrer, utm query, weight): the ways visitors arrive.
ARRIVALS: tuple[tuple[str, str, int], ...] = (
    ("", "", 25),  # direct
    ("https://www.google.com/", "", 28),
    ("https://duckduckgo.com/", "", 4),
    ("https://news.ycombinator.com/", "", 12),
    ("https://t.co/", "", 5),
    ("https://x.com/", "", 3),
    ("https://github.com/trail-analytics/trail", "", 7),
    ("https://www.reddit.com/r/selfhosted/", "", 4),
    ("", "utm_source=newsletter&utm_medium=email&utm_campaign=spring_launch", 5),
    ("https://t.co/", "utm_source=twitter&utm_medium=social&utm_campaign=launch_week", 3),
    ("https://www.google.com/", "utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=web+analytics", 4),
)
PLANS = {"free": 6, "pro": 3, "business": 1}
PRICES = {"pro": ("9.00", "19.00"), "business": ("49.00", "99.00")}


def _weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


@dataclass
class Visitor:
    """One simulated person: address, browser, and the events of one visit, produced lazily in order."""

    ip: str
    user_agent: str
    device: str
    width: int
    events: Iterator[dict[str, Any]] = field(default_factory=lambda: iter(()))


class Traffic:
    """Realistic event items for the batch API: visitors with sessions of pageviews, engagement and conversions."""

    def __init__(self, domain: str, seed: int | None = None, pool_size: int = 50) -> None:
        self.domain = domain
        self.rng = random.Random(seed)
        self.pool_size = max(1, pool_size)
        self._nets = {c: [ipaddress.ip_network(n) for n in nets] for c, nets in COUNTRY_RANGES.items()}
        self.pool: list[Visitor] = []

    def _ip(self) -> str:
        net = self.rng.choice(self._nets[_weighted(self.rng, COUNTRY_WEIGHTS)])
        return str(net[self.rng.randrange(1, net.num_addresses - 1)])

    def new_visitor(self) -> Visitor:
        ua, device, widths, _ = self.rng.choices(AGENTS, weights=[a[3] for a in AGENTS])[0]
        visitor = Visitor(ip=self._ip(), user_agent=ua, device=device, width=self.rng.choice(widths))
        visitor.events = self._visit(visitor)
        return visitor

    def _item(self, visitor: Visitor, name: str, path: str, **extra: Any) -> dict[str, Any]:
        item: dict[str, Any] = {"name": name, "url": f"https://{self.domain}{path}", "domain": self.domain,
                                "ip": visitor.ip, "user_agent": visitor.user_agent, "timestamp": time.time()}
        item.update(extra)
        return item

    def _visit(self, visitor: Visitor) -> Iterator[dict[str, Any]]:
        rng = self.rng
        referrer, utm, _ = rng.choices(ARRIVALS, weights=[a[2] for a in ARRIVALS])[0]
        path = _weighted(rng, ENTRY_PAGES)
        first = True
        plan = ""
        while True:
            query = f"?{utm}" if first and utm else ""
            extra: dict[str, Any] = {"screen_width": visitor.width}
            if first and referrer:
                extra["referrer"] = referrer
            elif not first:
                extra["referrer"] = f"https://{self.domain}/"
            yield self._item(visitor, "pageview", path + query, **extra)
            if path == "/signup" and rng.random() < 0.5:
                plan = _weighted(rng, PLANS)
                yield self._item(visitor, "Signup", path, props={"plan": plan})
            if path == "/checkout/success":
                tier = plan if plan in PRICES else rng.choice(list(PRICES))
                yield self._item(visitor, "Purchase", path, props={"plan": tier},
                                 revenue={"currency": rng.choice(("EUR", "USD")), "amount": rng.choice(PRICES[tier])})
            if path.startswith("/docs") and rng.random() < 0.08:
                yield self._item(visitor, "File Download", path,
                                 props={"url": f"https://{self.domain}/downloads/trail-guide.pdf"})
            if rng.random() < 0.85:
                yield self._item(visitor, "engagement", path + query, sd=rng.randint(10, 100),
                                 e=rng.randint(2_000, 180_000))
            first = False
            if rng.random() > (0.95 if path == "/checkout" else 0.62):
                return
            path = rng.choice(PAGES[path])

    def next_item(self) -> dict[str, Any]:
        """The next event of a random visitor of the pool; finished visitors are replaced by new arrivals."""
        while len(self.pool) < self.pool_size:
            self.pool.append(self.new_visitor())
        index = self.rng.randrange(len(self.pool))
        while True:
            item = next(self.pool[index].events, None)
            if item is not None:
                return item
            self.pool[index] = self.new_visitor()

    def take(self, count: int) -> list[dict[str, Any]]:
        return [self.next_item() for _ in range(count)]


@dataclass
class Totals:
    """What the server said so far."""

    sent: int = 0
    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    failed: int = 0  # events in requests that got no 202
    statuses: Counter[int] = field(default_factory=Counter)
    fatal: str = ""
    last_error: str = ""

    def line(self, elapsed: float) -> str:
        rate = self.sent / elapsed if elapsed > 0 else 0.0
        text = (f"demo: {self.sent} events sent ({rate:.0f}/s), accepted {self.accepted}, "
                f"dropped {sum(self.dropped.values())}, rejected {self.rejected}")
        if self.failed:
            text += f", failed {self.failed}"
        return text


class _Fatal(Exception):
    pass


async def _post(client: httpx.AsyncClient, endpoint: str, key: str, items: list[dict[str, Any]],
                totals: Totals) -> None:
    totals.sent += len(items)
    try:
        response = await client.post(endpoint, content=orjson.dumps(items),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        totals.failed += len(items)
        totals.last_error = f"{type(exc).__name__}: {exc}"
        return
    totals.statuses[response.status_code] += 1
    if response.status_code == 202:
        body = response.json()
        totals.accepted += int(body.get("accepted", 0))
        totals.rejected += len(body.get("rejected", ()))
        totals.dropped.update(d.get("reason", "?") for d in body.get("dropped", ()))
        return
    totals.failed += len(items)
    try:
        message = str(response.json().get("error", ""))
    except ValueError:
        message = response.text[:200]
    totals.last_error = f"HTTP {response.status_code}: {message}"
    if response.status_code in (401, 404):
        totals.fatal = totals.last_error


async def run_demo(url: str, key: str, domain: str, *, rate: float, duration: float,
                   client: httpx.AsyncClient | None = None, out: TextIO | None = None,
                   stop: asyncio.Event | None = None, seed: int | None = None) -> Totals:
    """Send `rate` events/s for `duration` seconds (or until `stop` is set); print progress on one line."""
    out = out or sys.stdout
    stop = stop or asyncio.Event()
    endpoint = url.rstrip("/") + "/api/events"
    traffic = Traffic(domain, seed=seed, pool_size=int(min(400, max(8, rate * 3))))
    totals = Totals()
    own_client = client is None
    if client is None:
        client = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
    inflight: set[asyncio.Task[None]] = set()
    tty = getattr(out, "isatty", lambda: False)()
    started = time.monotonic()
    last_progress = 0.0
    generated = 0
    try:
        while not stop.is_set() and not totals.fatal:
            elapsed = time.monotonic() - started
            if elapsed >= duration:
                break
            due = int(rate * elapsed) + 1 - generated
            while due > 0 and len(inflight) < MAX_INFLIGHT:
                items = traffic.take(min(due, BATCH_MAX))
                due -= len(items)
                generated += len(items)
                task = asyncio.create_task(_post(client, endpoint, key, items, totals))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            if elapsed - last_progress >= PROGRESS_EVERY_S:
                last_progress = elapsed
                out.write(("\r" if tty else "") + totals.line(elapsed) + ("\x1b[K" if tty else "\n"))
                out.flush()
            try:
                await asyncio.wait_for(stop.wait(), timeout=TICK_S)
            except asyncio.TimeoutError:
                pass
        if inflight:
            await asyncio.gather(*list(inflight), return_exceptions=True)
    finally:
        for task in inflight:
            task.cancel()
        if own_client:
            await client.aclose()
    elapsed = time.monotonic() - started
    if tty:
        out.write("\r" + totals.line(elapsed) + "\x1b[K\n")
    reasons = ", ".join(f"{r} {n}" for r, n in totals.dropped.most_common()) or "none"
    out.write(f"demo: done in {elapsed:.1f} s: {totals.sent} events sent to {endpoint} "
              f"({totals.sent / max(elapsed, 1e-9):.0f}/s); accepted {totals.accepted}, "
              f"dropped {sum(totals.dropped.values())} ({reasons}), rejected {totals.rejected}, "
              f"failed {totals.failed}\n")
    if totals.last_error:
        out.write(f"demo: last error: {totals.last_error}\n")
    out.flush()
    return totals


async def ensure_key(settings: Settings, domain: str) -> str:
    """A fresh API key of the site's team, made directly in the metadata store; LookupError when there is no site."""
    import sqlalchemy as sa

    from trail.store.meta import repo
    from trail.store.meta.db import MetaStore
    from trail.store.meta.migrate import migrate_meta
    from trail.store.meta.models import Membership, Team, User

    await migrate_meta(settings.database_url)
    store = MetaStore(settings.database_url)
    try:
        async with store.session() as session:
            site = await repo.get_site_by_domain(session, domain)
            if site is None:
                raise LookupError(f"no site {domain!r}; add it first with: python -m trail site add {domain} "
                                  "--owner EMAIL (and `python -m trail user add EMAIL --password PW` if needed)")
            team = await session.get(Team, site.team_id)
            owner = await session.scalar(
                sa.select(User).join(Membership, Membership.user_id == User.id)
                .where(Membership.team_id == site.team_id, Membership.role.in_(("owner", "admin")))
                .order_by(Membership.role.desc(), User.id).limit(1))
            if team is None or owner is None:
                raise LookupError(f"site {domain!r} has no team owner to make a key for; pass --key KEY")
            key, plaintext = await repo.create_api_key(session, owner, team_name=None if team.personal else team.name,
                                                       label=f"demo {time.strftime('%Y-%m-%d %H:%M:%S')}")
            key.team_id = site.team_id  # the site's team, whatever team the owner's name resolved to
            await session.commit()
        return plaintext
    finally:
        await store.close()


def _default_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


async def _main(settings: Settings, args: argparse.Namespace) -> int:
    key = args.key
    if not key:
        try:
            key = await ensure_key(settings, args.domain)
        except LookupError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        print(f"demo: created API key {key[:12]}… for {args.domain}'s team (revoke it with "
              f"`python -m trail apikey revoke {key[:12]} --owner EMAIL`)", flush=True)
    url = (args.url or _default_url(settings)).rstrip("/")
    print(f"demo: sending about {args.rate:g} events/s for {args.domain} to {url}/api/events for "
          f"{args.duration:g} s (Ctrl-C stops)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():
        loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        totals = await run_demo(url, key, args.domain, rate=args.rate, duration=args.duration, stop=stop)
    finally:
        if threading.current_thread() is threading.main_thread():
            loop.remove_signal_handler(signal.SIGINT)
    if totals.fatal:
        print(f"demo: stopped: {totals.fatal}", file=sys.stderr)
        return 1
    if totals.sent and not totals.accepted and totals.failed:
        print(f"demo: nothing was accepted by {url}; is the server running?", file=sys.stderr)
        return 1
    return 0


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Entry point of `python -m trail demo` (trail/cli.py passes the parsed arguments)."""
    if args.rate <= 0 or args.duration <= 0:
        print("demo: --rate and --duration must be positive", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(settings, args))
    except KeyboardInterrupt:
        return 130

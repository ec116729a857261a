"""A seeded generator of visits (pageviews, custom events, engagement events) with known attributes, as event rows."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

PAGES = ["/", "/pricing", "/blog", "/blog/a", "/blog/b", "/docs", "/docs/install", "/signup", "/about"]
SOURCES = [("", ""), ("Google", "https://www.google.com/"), ("Hacker News", "https://news.ycombinator.com/"),
           ("Twitter", "https://t.co/x"), ("example.org", "https://example.org/post")]
COUNTRIES = [("DE", "DE-BE", "Berlin"), ("US", "US-NY", "New York"), ("FR", "FR-75", "Paris"), ("", "", ""),
             ("EE", "EE-37", "Tallinn")]
DEVICES = [("Desktop", "Chrome", "Windows", "Desktop"), ("Mobile", "Safari", "iOS", "Mobile"),
           ("Tablet", "Firefox", "Android", "Tablet"), ("Desktop", "Firefox", "Linux", "Laptop")]
UTM = [("", "", ""), ("newsletter", "email", "spring"), ("twitter", "social", "launch")]
CUSTOM = ["Signup", "Download", "Outbound Link: Click"]


@dataclass
class Row:
    """One event row of the `events` table (the generator's ground truth)."""

    ts: datetime
    name: str
    visitor_id: int
    session_id: int
    pathname: str
    source: str
    referrer: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    country: str
    region: str
    city: str
    device: str
    browser: str
    os: str
    screen: str
    props: dict[str, str]
    revenue_amount: Decimal | None
    revenue_currency: str
    interactive: int
    scroll_depth: int
    engagement_ms: int
    hostname: str = "example.com"

    def as_insert(self, site_id: int) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.update(site_id=site_id, event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.session_id}-{self.ts}-"
                                                                             f"{self.name}-{self.pathname}")),
                 ts=self.ts, utm_term="", utm_content="", click_id_param="", browser_version="1", os_version="1",
                 language="en")
        return d


def generate(seed: int, start: datetime, days: int, visits_per_day: int = 40) -> list[Row]:
    """Visits spread over `days` days from `start` (UTC); some cross midnight, some return on the same day."""
    rnd = random.Random(seed)
    rows: list[Row] = []
    session = seed * 10_000_000
    for day in range(days):
        day_start = start + timedelta(days=day)
        visitors = [rnd.getrandbits(48) for _ in range(max(3, visits_per_day * 2 // 3))]
        for _ in range(visits_per_day):
            session += 1
            visitor = rnd.choice(visitors)
            t = day_start + timedelta(seconds=rnd.randrange(0, 86400 - 60), milliseconds=rnd.randrange(1000))
            rows.extend(_visit(rnd, visitor, session, t))
    return rows


def _visit(rnd: random.Random, visitor: int, session: int, t: datetime) -> list[Row]:
    source, referrer = rnd.choice(SOURCES)
    country, region, city = rnd.choice(COUNTRIES)
    device, browser, os_name, screen = rnd.choice(DEVICES)
    utm = rnd.choice(UTM)
    common = dict(visitor_id=visitor, session_id=session, source=source, referrer=referrer, utm_source=utm[0],
                  utm_medium=utm[1], utm_campaign=utm[2], country=country, region=region, city=city, device=device,
                  browser=browser, os=os_name, screen=screen)
    out: list[Row] = []
    n_pages = rnd.choice([1, 1, 1, 2, 3, 4])
    for i in range(n_pages):
        page = rnd.choice(PAGES)
        props = {"plan": rnd.choice(["free", "pro"])} if rnd.random() < 0.3 else {}
        out.append(Row(t, "pageview", pathname=page, props=props, revenue_amount=None, revenue_currency="",
                       interactive=1, scroll_depth=0, engagement_ms=0, **common))
        if rnd.random() < 0.25:
            t += timedelta(seconds=rnd.randrange(1, 60), milliseconds=rnd.randrange(1000))
            name = rnd.choice(CUSTOM)
            revenue = Decimal(rnd.randrange(100, 10000)) / 100 if name == "Signup" and rnd.random() < 0.5 else None
            out.append(Row(t, name, pathname=page, props={"method": rnd.choice(["a", "b"])},
                           revenue_amount=revenue, revenue_currency="EUR" if revenue is not None else "",
                           interactive=0 if rnd.random() < 0.3 else 1, scroll_depth=0, engagement_ms=0, **common))
        if rnd.random() < 0.6:
            t += timedelta(seconds=rnd.randrange(1, 300), milliseconds=rnd.randrange(1000))
            out.append(Row(t, "engagement", pathname=page, props={}, revenue_amount=None, revenue_currency="",
                           interactive=0, scroll_depth=rnd.randrange(0, 101), engagement_ms=rnd.randrange(100, 90000),
                           **common))
        t += timedelta(seconds=rnd.randrange(1, 600), milliseconds=rnd.randrange(1000))
    return out


UTC = timezone.utc

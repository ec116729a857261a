"""Unit rules of the small modules: client IP, event payloads, batcher, rate limiter, UA, geo, referrers."""

from __future__ import annotations

import asyncio
import ipaddress
import pickle
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import msgspec
import pytest

from tests.ingest.conftest import CHROME
from trail.ingest.batcher import AppendBatcher
from trail.ingest.event import COLUMNS, EnrichedEvent, datetime_to_ms, new_event_id
from trail.ingest.geo import Geo
from trail.ingest.ip import ClientIP, client_ip
from trail.ingest.ratelimit import RateLimiter
from trail.ingest.referrer import classify, known_name
from trail.ingest.ua import device_class, parse_agent, screen_class
from trail.ingest.utm import parse_campaign

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.parametrize("peer, xff, expected", [
    ("1.2.3.4", None, "1.2.3.4"),
    ("1.2.3.4", "9.9.9.9", "1.2.3.4"),  # untrusted peer: header ignored
    ("10.0.0.1", "9.9.9.9", "9.9.9.9"),
    ("10.0.0.1", "6.6.6.6, 9.9.9.9, 10.0.0.2", "9.9.9.9"),  # right-most untrusted
    ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # all trusted: the left-most
    ("10.0.0.1", "junk, 9.9.9.9", "9.9.9.9"),
    ("10.0.0.1", "9.9.9.9, junk", "10.0.0.1"),  # garbage next to us: trust nothing beyond it
    ("fd00::1", "[2001:db8::5]:443", "2001:db8::5"),
    ("::ffff:10.0.0.1", "9.9.9.9:1234", "9.9.9.9"),
    ("", "9.9.9.9", ""),
])
def test_client_ip(peer: str, xff: str | None, expected: str) -> None:
    assert client_ip(peer, xff, PROXIES) == expected
    remembered = ClientIP(PROXIES)
    assert remembered(peer, xff) == remembered(peer, xff) == expected  # asked, then answered from its table


def test_client_ip_table_is_bounded_and_per_proxy_list() -> None:
    resolve = ClientIP(PROXIES, size=3)
    answers = [resolve("10.0.0.1", f"9.9.9.{i}") for i in range(10)]
    assert answers == [f"9.9.9.{i}" for i in range(10)] and len(resolve._known) <= 3
    assert ClientIP(())("10.0.0.1", "9.9.9.9") == "10.0.0.1"  # no trusted proxies: the header means nothing


def test_event_payload_round_trip_and_columns() -> None:
    sql = open("sql/clickhouse/0001_events.sql").read()
    body = sql[sql.index("(") + 1: sql.index("ENGINE")]
    names = [line.split()[0] for line in body.splitlines() if line.strip() and not line.strip().startswith(("--", ")"))]
    assert list(COLUMNS) == names
    ts_ms = datetime_to_ms(datetime(2026, 3, 1, 12, 0, 0, 123000, timezone.utc))
    ev = EnrichedEvent(event_id=new_event_id(), site_id=3, ts_ms=ts_ms,
                       name="Purchase", visitor_id=2**64 - 1, session_id=5, props={"a": "b"},
                       revenue_amount=Decimal("9.990"), revenue_currency="EUR", interactive=0)
    back = EnrichedEvent.from_payload(ev.to_payload())
    assert back == ev
    row = back.to_row()
    assert isinstance(row["event_id"], uuid.UUID) and row["ts"].tzinfo is not None
    assert row["revenue_amount"] == Decimal("9.990") and row["props"] == {"a": "b"}
    bare = EnrichedEvent(new_event_id(), 1, ev.ts_ms, "x")
    assert EnrichedEvent.from_payload(bare.to_payload()).revenue_amount is None


def test_event_ids_are_time_ordered_uuid7() -> None:
    a, b = new_event_id(1000), new_event_id(2000)
    assert a.version == 7 and a.variant == uuid.RFC_4122 and a < b


def test_event_ids_are_whole_uuids() -> None:
    """new_event_id fills a UUID's slots itself: it must be one in every way the code and the stores use."""
    made = new_event_id(1_764_500_000_000)
    same = uuid.UUID(int=made.int)
    assert (made == same, hash(made) == hash(same), str(made), repr(made)) == (True, True, str(same), repr(same))
    assert uuid.UUID(str(made)) == made and made.bytes == same.bytes and made.is_safe == same.is_safe
    assert pickle.loads(pickle.dumps(made)) == made
    assert msgspec.json.encode(made) == msgspec.json.encode(same) == f'"{same}"'.encode()
    assert int(made.hex[:12], 16) == 1_764_500_000_000  # the millisecond in the first 48 bits
    with pytest.raises(TypeError):
        made.int = 1  # type: ignore[misc]  # as immutable as any UUID


async def test_batcher_coalesces_and_propagates_errors() -> None:
    calls: list[int] = []

    async def append(payloads: list[bytes]) -> None:
        calls.append(len(payloads))
        await asyncio.sleep(0.001)

    batcher = AppendBatcher(append)
    await asyncio.gather(*(batcher.submit([b"x"] * 2) for _ in range(100)))
    assert sum(calls) == 200 and len(calls) <= 3

    async def broken(payloads: list[bytes]) -> None:
        raise ConnectionError("down")

    failing = AppendBatcher(broken)
    results = await asyncio.gather(*(failing.submit([b"x"]) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    await failing.close()


async def test_batcher_gives_up_on_a_hung_append_and_goes_on() -> None:
    hang = asyncio.Event()
    done: list[int] = []

    async def append(payloads: list[bytes]) -> None:
        if not hang.is_set():
            hang.set()
            await asyncio.sleep(3600)  # the broker never answers this one
        done.append(len(payloads))

    batcher = AppendBatcher(append, timeout_s=0.05)
    with pytest.raises(TimeoutError):
        await batcher.submit([b"x"])
    await batcher.submit([b"y", b"z"])  # the next append is not held up by the abandoned one
    assert done == [2]
    await batcher.close()


def test_rate_limiter_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(10, clock=lambda: now[0])
    assert sum(limiter.allow("a") for _ in range(20)) == 10
    now[0] += 0.5
    assert sum(limiter.allow("a") for _ in range(20)) == 5


@pytest.mark.parametrize("ua, expected", [
    (CHROME, ("Chrome", "124", "Windows", "10", "Desktop")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
     "Safari/605.1.15", ("Safari", "17", "Mac", "10.15", "Desktop")),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
     ("Firefox", "125", "GNU/Linux", "", "Desktop")),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
     "Safari/537.36", ("Chrome", "124", "Android", "14", "Mobile")),
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36", ("Chrome", "124", "Android", "13", "Tablet")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36 Edg/124.0.0.0", ("Microsoft Edge", "124", "Windows", "10", "Desktop")),
])
def test_user_agents(ua: str, expected: tuple[str, ...]) -> None:
    assert tuple(parse_agent(ua)) == expected


def test_screen_classes_and_desktop_mode_phones() -> None:
    assert [screen_class(w) for w in (None, 575, 576, 991, 992, 1439, 1440)] == [
        "", "Mobile", "Tablet", "Tablet", "Laptop", "Laptop", "Desktop"]
    assert device_class(parse_agent(CHROME), 400) == "Mobile"


def test_geo_city_database_gives_region_and_city() -> None:
    class FakeCityDb:
        def get(self, ip: str) -> dict[str, object]:
            return {"country": {"iso_code": "DE"}, "subdivisions": [{"iso_code": "BE"}],
                    "city": {"names": {"en": "Berlin"}}}

        def close(self) -> None: ...

    geo = Geo()
    geo.load()
    geo._city = FakeCityDb()
    assert tuple(geo.lookup("85.214.132.117")) == ("DE", "DE-BE", "Berlin")
    assert geo.load_seconds is not None and geo.load_seconds < 5


def test_referrer_list_lookups() -> None:
    assert known_name("www.google.de") == "Google"
    assert known_name("mobile.twitter.com") == "Twitter"  # parent domain
    assert known_name("google.com", "/imgres") == "Google Images"
    assert classify("android-app://com.google.android.gm/", "example.com").source == "Gmail"
    assert classify("https://Example.com/x", "example.com") == ("", "")


def test_campaign_fallbacks() -> None:
    assert parse_campaign([("ref", "producthunt")]).source == "producthunt"
    assert parse_campaign([("utm_source", "a"), ("ref", "b")]).source == "a"
    assert parse_campaign([("UTM_MEDIUM", "email"), ("fbclid", "x"), ("gclid", "y")])[1:] == (
        "email", "", "", "", "fbclid")


def test_client_ip_keeps_only_short_headers_from_trusted_proxies() -> None:
    resolve = ClientIP(PROXIES)
    assert resolve("1.2.3.4", "9.9.9.9, " * 100 + "9.9.9.9") == "1.2.3.4"  # untrusted peer: answered, not kept
    long_chain = ", ".join(["8.8.8.8"] * 100)
    assert resolve("10.0.0.1", long_chain) == "8.8.8.8"  # trusted, but too long to keep
    assert resolve._known == {}
    assert resolve("10.0.0.1", "9.9.9.9") == "9.9.9.9" and list(resolve._known) == [("10.0.0.1", "9.9.9.9")]

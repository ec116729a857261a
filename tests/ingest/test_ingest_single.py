"""POST /api/event through Ingestor.single: status codes, drops and every enrichment rule."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from tests.ingest.conftest import CHROME, IPHONE, Send, ingest_settings, pageview
from trail.ingest.handler import Ingestor
from trail.ingest.testing import Fakes, build_test_ingestor


async def test_accepted_pageview_is_enriched(send: Send) -> None:
    res, events = await send(pageview(url="https://www.example.com/blog/post?utm_source=newsletter&x=1",
                                      referrer="https://news.ycombinator.com/item?id=1", screen_width=1440),
                             headers={"accept-language": "de-DE,de;q=0.9,en;q=0.8"})
    assert (res.status, res.body) == (202, b"ok")
    assert "x-trail-dropped" not in res.headers
    assert res.headers["access-control-allow-origin"] == "*"
    [ev] = events
    assert (ev.site_id, ev.name, ev.hostname, ev.pathname) == (1, "pageview", "example.com", "/blog/post")
    assert ev.utm_source == "newsletter" and ev.source == "newsletter"  # utm_source overrides the referrer
    assert ev.referrer == "https://news.ycombinator.com/item"
    assert (ev.browser, ev.browser_version, ev.os, ev.os_version, ev.device) == ("Chrome", "124", "Windows", "10",
                                                                                  "Desktop")
    assert ev.screen == "Desktop" and ev.language == "de-DE" and ev.country == "US"
    assert ev.interactive == 1 and ev.visitor_id and ev.session_id
    assert ev.ts.tzinfo is not None and ev.event_id.version == 7


async def test_preflight_allows_any_origin(ingestor: Ingestor) -> None:
    res = ingestor.preflight()
    assert res.status == 204
    assert res.headers["access-control-allow-origin"] == "*"
    assert "POST" in res.headers["access-control-allow-methods"]
    assert "Content-Type" in res.headers["access-control-allow-headers"]


async def test_bad_field_is_400_naming_it(send: Send) -> None:
    res, events = await send({"name": "pageview", "domain": "example.com"})
    assert res.status == 400 and "url" in res.json()["error"] and events == []
    res, _ = await send(b"{not json")
    assert res.status == 400 and "body" in res.json()["error"]


async def test_body_limit_is_413(tmp_path: Path) -> None:
    ingestor, fakes = build_test_ingestor(ingest_settings(tmp_path, TRAIL_BODY_LIMIT_BYTES="1024"))
    res = await ingestor.single(b" " * 1025, {"user-agent": CHROME}, "8.8.8.8")
    assert res.status == 413


async def test_rate_limit_per_ip_is_429(tmp_path: Path) -> None:
    ingestor, fakes = build_test_ingestor(ingest_settings(tmp_path, TRAIL_RATE_LIMIT_PER_IP="5"))
    fakes.add_site("example.com", 1)
    body = b'{"n":"pageview","u":"https://example.com/","d":"example.com"}'
    statuses = [(await ingestor.single(body, {"user-agent": CHROME}, "1.2.3.4")).status for _ in range(7)]
    assert statuses == [202] * 5 + [429] * 2
    assert (await ingestor.single(body, {"user-agent": CHROME}, "1.2.3.5")).status == 202  # another address


async def test_backpressure_is_503_and_stores_nothing(send: Send, fakes: Fakes) -> None:
    fakes.full = True
    res, events = await send(pageview())
    assert res.status == 503 and events == []


async def test_failed_append_is_503_not_500(send: Send, fakes: Fakes) -> None:
    fakes.buffer.fail = True
    res, _ = await send(pageview())
    assert res.status == 503 and "error" in res.json()


@pytest.mark.parametrize("ua", ["", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                "HeadlessChrome/120.0.0.0 Safari/537.36", "curl/8.5.0",
                                "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/124 Safari/537.36 "
                                "Chrome-Lighthouse"])
async def test_bots_are_dropped(send: Send, ua: str) -> None:
    res, events = await send(pageview(), ua=ua)
    assert (res.status, res.headers.get("x-trail-dropped"), events) == (202, "bot", [])


async def test_unknown_site_is_dropped(send: Send) -> None:
    res, events = await send(pageview(domain="nope.example"))
    assert (res.status, res.headers.get("x-trail-dropped"), events) == (202, "unknown_site", [])


async def test_comma_domains_count_for_each_site(send: Send) -> None:
    res, events = await send(pageview(domain="example.com,other.org"))
    assert res.status == 202 and "x-trail-dropped" not in res.headers
    assert sorted(e.site_id for e in events) == [1, 2]
    assert len({e.event_id for e in events}) == 2
    res, events = await send(pageview(domain="example.com,nope.example"))
    assert [e.site_id for e in events] == [1] and "x-trail-dropped" not in res.headers


async def test_excluded_ip(send: Send, fakes: Fakes) -> None:
    fakes.add_site("example.com", 1, exclude_ips=("203.0.113.0/24", "2001:db8::1", "garbage"))
    assert (await send(pageview(), ip="203.0.113.9"))[0].headers.get("x-trail-dropped") == "excluded_ip"
    assert (await send(pageview(), ip="2001:db8::1"))[0].headers.get("x-trail-dropped") == "excluded_ip"
    assert (await send(pageview(), ip="198.51.100.1"))[1] != []


async def test_excluded_path_wildcards(send: Send, fakes: Fakes) -> None:
    fakes.add_site("example.com", 1, exclude_paths=("/admin/*", "/private/**", "/exact"))
    for path, dropped in [("/admin/users", True), ("/admin/users/42", False), ("/private/a/b/c", True),
                          ("/exact", True), ("/exact/more", False), ("/blog", False), ("/admin", False)]:
        res, _ = await send(pageview(url=f"https://example.com{path}?q=1"))
        assert (res.headers.get("x-trail-dropped") == "excluded_path") is dropped, path


async def test_excluded_host(send: Send, fakes: Fakes) -> None:
    fakes.add_site("example.com", 1, exclude_hosts=("staging.example.com", "*.preview.example.com"))
    for url, dropped in [("https://staging.example.com/", True), ("https://pr-1.preview.example.com/", True),
                         ("https://example.com/", False)]:
        res, _ = await send(pageview(url=url))
        assert (res.headers.get("x-trail-dropped") == "excluded_host") is dropped, url


@pytest.mark.parametrize("header", ["dnt", "sec-gpc"])
async def test_dnt_and_gpc_when_the_site_respects_them(send: Send, fakes: Fakes, header: str) -> None:
    res, events = await send(pageview(), headers={header: "1"})
    assert events and "x-trail-dropped" not in res.headers  # the site does not opt in
    fakes.add_site("example.com", 1, respect_dnt=True)
    res, events = await send(pageview(), headers={header: "1"})
    assert (res.headers.get("x-trail-dropped"), events) == ("dnt", [])
    assert (await send(pageview(), headers={header: "0"}))[1]


async def test_x_forwarded_for_only_from_trusted_proxies(tmp_path: Path) -> None:
    ingestor, fakes = build_test_ingestor(ingest_settings(tmp_path, TRAIL_TRUSTED_PROXIES="10.0.0.0/8"))
    fakes.add_site("example.com", 1, exclude_ips=("81.2.69.142",))
    body = b'{"n":"pageview","u":"https://example.com/","d":"example.com"}'
    xff = {"user-agent": CHROME, "x-forwarded-for": "81.2.69.142"}
    # through a trusted proxy, the forwarded address is the client
    assert (await ingestor.single(body, xff, "10.1.2.3")).headers.get("x-trail-dropped") == "excluded_ip"
    # from anyone else, the header is ignored
    assert "x-trail-dropped" not in (await ingestor.single(body, xff, "198.51.100.7")).headers
    # the right-most untrusted hop wins: a client cannot spoof by prepending
    spoof = {"user-agent": CHROME, "x-forwarded-for": "1.1.1.1, 81.2.69.142, 10.0.0.5"}
    assert (await ingestor.single(body, spoof, "10.1.2.3")).headers.get("x-trail-dropped") == "excluded_ip"


async def test_interactive_false_and_engagement_store_interactive_0(send: Send) -> None:
    _, [ev] = await send(pageview(name="scroll", i=False))
    assert ev.interactive == 0
    _, [ev] = await send(pageview(name="engagement", sd=64, e=5300))
    assert (ev.name, ev.interactive, ev.scroll_depth, ev.engagement_ms) == ("engagement", 0, 64, 5300)


async def test_props_and_revenue_are_stored(send: Send) -> None:
    _, [ev] = await send(pageview(name="Purchase", m='{"plan":"pro","deep":{"x":1}}',
                                  **{"$": {"amount": 12.5, "currency": "EUR"}}))
    assert ev.props == {"plan": "pro"}
    assert (ev.revenue_amount, ev.revenue_currency) == (Decimal("12.500"), "EUR")


async def test_utm_and_click_ids(send: Send) -> None:
    url = ("https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=spring&utm_term=shoes"
           "&utm_content=ad1&gclid=abc123")
    _, [ev] = await send(pageview(url=url))
    assert (ev.utm_source, ev.utm_medium, ev.utm_campaign, ev.utm_term, ev.utm_content) == (
        "google", "cpc", "spring", "shoes", "ad1")
    assert ev.click_id_param == "gclid" and "abc123" not in ev.to_payload().decode()
    for param in ("gbraid", "wbraid", "msclkid", "fbclid", "twclid"):
        _, [ev] = await send(pageview(url=f"https://example.com/?{param}=x"))
        assert ev.click_id_param == param


@pytest.mark.parametrize("referrer, source", [
    ("https://www.google.com/", "Google"), ("https://www.google.co.uk/search?q=x", "Google"),
    ("https://news.ycombinator.com/item?id=1", "Hacker News"), ("https://l.facebook.com/l.php", "Facebook"),
    ("https://www.unknown-blog.dev/post", "unknown-blog.dev"), ("https://example.com/other", ""),
    ("https://www.example.com/other", ""), ("", ""), ("not a url", ""),
])
async def test_referrer_sources(send: Send, referrer: str, source: str) -> None:
    _, [ev] = await send(pageview(referrer=referrer))
    assert ev.source == source
    if source == "":
        assert ev.referrer == ""


async def test_utm_source_overrides_referrer_source(send: Send) -> None:
    _, [ev] = await send(pageview(url="https://example.com/?utm_source=news.ycombinator.com",
                                  referrer="https://www.google.com/"))
    assert ev.source == "Hacker News" and ev.referrer == "https://www.google.com/"


@pytest.mark.parametrize("ua, width, device, screen", [
    (CHROME, 1920, "Desktop", "Desktop"), (CHROME, 1280, "Desktop", "Laptop"), (IPHONE, 390, "Mobile", "Mobile"),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
     "Mobile/15E148 Safari/604.1", 820, "Tablet", "Tablet"),
    (CHROME, None, "Desktop", ""),
])
async def test_device_and_screen_classes(send: Send, ua: str, width: int | None, device: str, screen: str) -> None:
    _, [ev] = await send(pageview(w=width), ua=ua)
    assert (ev.device, ev.screen) == (device, screen)


async def test_geo_country(send: Send) -> None:
    assert (await send(pageview(), ip="8.8.8.8"))[1][0].country == "US"
    assert (await send(pageview(), ip="81.2.69.142"))[1][0].country == "GB"
    assert (await send(pageview(), ip="2a00:1450:4001:80b::200e"))[1][0].country == "DE"
    assert (await send(pageview(), ip="127.0.0.1"))[1][0].country == ""


async def test_concurrent_requests_share_appends(ingestor: Ingestor, fakes: Fakes) -> None:
    body = b'{"n":"pageview","u":"https://example.com/","d":"example.com"}'
    results = await asyncio.gather(*(ingestor.single(body, {"user-agent": CHROME}, f"8.8.4.{i}")
                                     for i in range(50)))
    assert {r.status for r in results} == {202}
    assert len(fakes.buffer.payloads) == 50
    assert fakes.buffer.calls <= 3  # one group commit (or a couple), not fifty round trips


async def test_202_only_after_the_append_completed(ingestor: Ingestor, fakes: Fakes) -> None:
    gate = asyncio.Event()
    appended: list[int] = []

    async def slow_append(payloads: list[bytes]) -> None:
        await gate.wait()
        appended.append(len(payloads))

    ingestor.batcher.append = slow_append
    task = asyncio.ensure_future(ingestor.single(b'{"n":"pageview","u":"https://example.com/","d":"example.com"}',
                                                 {"user-agent": CHROME}, "8.8.8.8"))
    await asyncio.sleep(0.01)
    assert not task.done()
    gate.set()
    assert (await task).status == 202 and appended == [1]

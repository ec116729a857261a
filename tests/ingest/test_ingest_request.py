"""Parsing and validation of event bodies: short keys, props, revenue, limits."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from trail.ingest.request import RequestError, load_json, parse_event


def parse(**kw: object):
    body = {"n": "pageview", "u": "https://example.com/", "d": "example.com"}
    body.update(kw)
    return parse_event(body)


def test_short_keys_are_read() -> None:
    ev = parse_event({"n": "Signup", "u": "https://example.com/a?b=1#c", "d": "example.com", "r": "https://x.io/",
                      "p": {"plan": "pro"}, "$": {"amount": "9.5", "currency": "eur"}, "i": False, "w": 390,
                      "h": 1, "v": 42})
    assert (ev.name, ev.hostname, ev.pathname, ev.domains) == ("Signup", "example.com", "/a#c", ("example.com",))
    assert ev.referrer == "https://x.io/"
    assert ev.props == {"plan": "pro"}
    assert (ev.revenue_amount, ev.revenue_currency) == (Decimal("9.500"), "EUR")
    assert ev.interactive is False and ev.screen_width == 390 and ev.hash_mode is True


def test_long_keys_are_read() -> None:
    ev = parse_event({"name": "pageview", "url": "https://www.example.com/x", "domain": "example.com",
                      "props": {"a": 1}, "revenue": {"amount": 2, "currency": "USD"}, "interactive": True,
                      "screen_width": 1500})
    assert ev.hostname == "example.com" and ev.props == {"a": "1"} and ev.revenue_currency == "USD"



def test_long_key_wins_and_a_null_one_falls_back_to_the_short_one() -> None:
    ev = parse_event({"name": "Signup", "n": "pageview", "url": None, "u": "https://example.com/b",
                      "domain": "example.com", "d": "other.example", "referrer": None, "r": "https://x.io/",
                      "props": None, "p": None, "m": {"from": "m"}, "meta": {"from": "meta"},
                      "interactive": None, "i": False, "screen_width": 800, "w": 390})
    assert (ev.name, ev.pathname, ev.domains, ev.referrer) == ("Signup", "/b", ("example.com",), "https://x.io/")
    assert ev.props == {"from": "m"} and ev.interactive is False and ev.screen_width == 800

@pytest.mark.parametrize("key", ["p", "m", "meta", "props"])
def test_props_as_json_string(key: str) -> None:
    assert parse(**{key: orjson.dumps({"plan": "pro", "n": 3}).decode()}).props == {"plan": "pro", "n": "3"}


def test_nested_and_empty_props_are_dropped_not_crashed_on() -> None:
    ev = parse(p={"ok": "yes", "nested": {"a": 1}, "list": [1, 2], "none": None, "empty": "", "flag": True})
    assert ev.props == {"ok": "yes", "flag": "true"}


def test_props_limits() -> None:
    assert len(parse(p={f"k{i}": "v" for i in range(30)}).props) == 30
    with pytest.raises(RequestError) as err:
        parse(p={f"k{i}": "v" for i in range(31)})
    assert err.value.field == "props"
    with pytest.raises(RequestError, match="props"):
        parse(p={"k" * 301: "v"})
    with pytest.raises(RequestError, match="props"):
        parse(p={"k": "v" * 2001})
    with pytest.raises(RequestError, match="props"):
        parse(p="not json")
    with pytest.raises(RequestError, match="props"):
        parse(p=[1, 2])


def test_name_limits() -> None:
    assert parse(n="x" * 120).name == "x" * 120
    for bad in ("x" * 121, "", 5):
        with pytest.raises(RequestError) as err:
            parse(n=bad)
        assert err.value.field == "name"
    with pytest.raises(RequestError, match="name"):
        parse_event({"u": "https://example.com/", "d": "example.com"})


def test_url_limits() -> None:
    assert parse(u="https://example.com/" + "a" * 1980).pathname.startswith("/a")
    for bad in ("https://example.com/" + "a" * 1981, "ftp://example.com/", "javascript:alert(1)", "/relative",
                "https://", 7, "http://[::1/"):
        with pytest.raises(RequestError) as err:
            parse(u=bad)
        assert err.value.field == "url"


def test_url_limit_counts_bytes() -> None:
    with pytest.raises(RequestError, match="url"):
        parse(u="https://example.com/" + "é" * 1000)  # 2,020 bytes, 1,020 characters


def test_query_is_stripped_and_hash_kept_only_in_hash_mode() -> None:
    assert parse(u="https://example.com/p?q=1#/route").pathname == "/p"
    assert parse(u="https://example.com/p?q=1#/route", h=1).pathname == "/p#/route"


def test_referrer_is_truncated() -> None:
    assert len(parse(r="https://x.io/" + "a" * 5000).referrer) == 2000


@pytest.mark.parametrize("revenue", [{"amount": 1, "currency": "XXY"}, {"amount": 1, "currency": "eu"},
                                     {"amount": "abc", "currency": "EUR"}, {"amount": 1}, "nope", [1],
                                     {"amount": 1e20, "currency": "EUR"}, {"amount": True, "currency": "EUR"}])
def test_revenue_needs_amount_and_iso4217_currency(revenue: object) -> None:
    with pytest.raises(RequestError) as err:
        parse(**{"$": revenue})
    assert err.value.field == "revenue"


def test_revenue_as_json_string() -> None:
    ev = parse(**{"$": '{"amount": "19.99", "currency": "JPY"}'})
    assert (ev.revenue_amount, ev.revenue_currency) == (Decimal("19.990"), "JPY")


def test_comma_separated_domains() -> None:
    assert parse(d="example.com, www.Other.org,,example.com").domains == ("example.com", "other.org")
    with pytest.raises(RequestError, match="domain"):
        parse(d=" , ")


def test_engagement_fields_and_never_interactive() -> None:
    ev = parse(n="engagement", sd=87, e=12345, i=True)
    assert (ev.scroll_depth, ev.engagement_ms, ev.interactive) == (87, 12345, False)
    clamped = parse(n="engagement", sd=250, e=-5)
    assert (clamped.scroll_depth, clamped.engagement_ms) == (100, 0)
    assert parse(sd=50, e=10).scroll_depth == 0  # only engagement events carry them


def test_body_must_be_json_object() -> None:
    with pytest.raises(RequestError, match="body"):
        load_json(b"\xff\xfe")
    with pytest.raises(RequestError, match="body"):
        load_json(b"[" * 5000)
    with pytest.raises(RequestError, match="body"):
        parse_event([1, 2])


@pytest.mark.parametrize(("url", "ok"), [
    ("https://example.com/" + "é" * 990, True),  # 2,000 bytes exactly, 1,010 characters
    ("https://example.com/" + "é" * 991, False),  # 2,002 bytes in 1,011 characters
    ("https://example.com/" + "😀" * 495, True),  # 2,000 bytes in 515 characters
    ("https://example.com/" + "😀" * 496, False),  # 2,004 bytes in 516 characters
    ("https://example.com/" + "a" * 1980, True),
    ("https://example.com/" + "a" * 1981, False),
])
def test_url_limit_counts_utf8_bytes(url: str, ok: bool) -> None:
    assert len(url.encode()) in (2000, 2002, 2004, 2001)
    if ok:
        assert parse(u=url).url == url
    else:
        with pytest.raises(RequestError, match="at most 2000 bytes"):
            parse(u=url)


def test_rare_keys_are_read_with_their_aliases() -> None:
    assert parse(hashMode=True, u="https://example.com/p#/x").pathname == "/p#/x"
    assert parse(revenue={"amount": 2, "currency": "USD"}).revenue_currency == "USD"
    assert parse(h=None, hash_mode=1, u="https://example.com/p#/x").pathname == "/p#/x"


@pytest.mark.parametrize(("width", "expected"), [(390, 390), (0, None), (-5, None), (100_001, None), (1920.7, 1920),
                                                 (None, None)])
def test_screen_width(width: object, expected: int | None) -> None:
    assert parse(w=width).screen_width == expected


@pytest.mark.parametrize("width", [True, "1920", float("nan"), [1]])
def test_screen_width_must_be_a_number(width: object) -> None:
    with pytest.raises(RequestError, match="screen_width"):
        parse(w=width)


def test_domains_are_the_same_when_cached() -> None:
    first = parse(d="Shop.example.com,www.example.com").domains
    assert first == ("shop.example.com", "example.com") == parse(d="Shop.example.com,www.example.com").domains
    with pytest.raises(RequestError, match="domain"):
        parse(d="x" * 254)
    with pytest.raises(RequestError, match="domain"):
        parse(d="x" * 254)  # a refused string is refused again (errors are not cached away)


def test_long_domain_strings_are_parsed_but_not_cached() -> None:
    from trail.ingest import request

    before = request._cached_domains.cache_info().currsize
    assert parse(d="a.com," * 1000).domains == ("a.com",)
    assert request._cached_domains.cache_info().currsize == before
    parse(d="short.example")
    assert request._cached_domains.cache_info().currsize == before + 1

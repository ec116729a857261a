"""Parse and validate an Events API body (long or Plausible short keys) into a typed EventRequest."""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec
import orjson

from trail.ingest.currencies import is_currency

MAX_NAME = 120
MAX_URL_BYTES = 2000
MAX_REFERRER = 2000
MAX_DOMAINS = 50
MAX_DOMAIN = 253
MAX_PROPS = 30
MAX_PROP_KEY = 300
MAX_PROP_VALUE = 2000
MAX_USER_AGENT = 1024
MAX_SCREEN_WIDTH = 100_000
MAX_ENGAGEMENT_MS = 0xFFFF_FFFF
MAX_AMOUNT = Decimal("1e15")  # Decimal(18, 3) holds 15 integer digits
AMOUNT_STEP = Decimal("0.001")
BATCH_MAX_AGE = timedelta(hours=24)
BATCH_MAX_SKEW = timedelta(minutes=5)

# Long key first, then Plausible's short aliases; the first one present and not null counts. parse_event reads
# name/n, url/u, domain/d, referrer/r, props/p/m/meta, interactive/i and screen_width/w inline; the rarer ones:
_REVENUE = ("revenue", "$")
_HASH = ("hash_mode", "h", "hashMode")
_SCROLL = ("scroll_depth", "sd")
_ENGAGED = ("engagement_time", "e", "engagement_ms")
_RARE = frozenset(_REVENUE + _HASH)  # a pageview carries none of these: one set test instead of six lookups


class RequestError(ValueError):
    """A bad field; `field` names it (also the metrics label), str() is the message for {"error": ...}."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class EventRequest(msgspec.Struct, gc=False):
    """A validated event, before enrichment. Batch-only fields (ip, user_agent, timestamp) are None otherwise.

    A Struct: made in C and not tracked by the GC (one per event on the hot path)."""

    name: str
    url: str
    hostname: str
    pathname: str
    query: tuple[tuple[str, str], ...]
    domains: tuple[str, ...]
    referrer: str = ""
    props: dict[str, str] = {}
    revenue_amount: Decimal | None = None
    revenue_currency: str = ""
    interactive: bool = True
    screen_width: int | None = None
    hash_mode: bool = False
    scroll_depth: int = 0
    engagement_ms: int = 0
    ip: str | None = None
    user_agent: str | None = None
    timestamp: datetime | None = None


def load_json(body: bytes) -> Any:
    """The decoded body, or RequestError("body") for anything that is not JSON (bad UTF-8, too deep, ...)."""
    try:
        return orjson.loads(body)
    except (orjson.JSONDecodeError, ValueError, TypeError, RecursionError):
        raise RequestError("body", "not valid JSON") from None


def _get(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in obj:
            value = obj[key]
            if value is not None:
                return value
    return None


def parse_event(obj: Any, *, batch: bool = False, now: datetime | None = None) -> EventRequest:
    """Validate one event object; raise RequestError naming the first bad field."""
    if not isinstance(obj, dict):
        raise RequestError("body", "must be a JSON object")
    # The keys every event may carry, long name first (as _get, inline: this runs for every event)
    get = obj.get
    rare = not _RARE.isdisjoint(obj)
    name = _parse_name(v if (v := get("name")) is not None else get("n"))
    url, hostname, pathname, query, hash_mode = _parse_url(v if (v := get("url")) is not None else get("u"),
                                                           rare and _truthy(_get(obj, _HASH), "hash_mode"))
    props = (v if (v := get("props")) is not None else v if (v := get("p")) is not None
             else v if (v := get("m")) is not None else get("meta"))
    event = EventRequest(
        name=name, url=url, hostname=hostname, pathname=pathname, query=query,
        domains=parse_domains(v if (v := get("domain")) is not None else get("d")),
        referrer=_parse_referrer(v if (v := get("referrer")) is not None else get("r")),
        props=parse_props(props) if props is not None else {},
        interactive=_parse_interactive(v if (v := get("interactive")) is not None else get("i")),
        screen_width=_parse_screen(v if (v := get("screen_width")) is not None else get("w")),
        hash_mode=hash_mode,
    )
    revenue = _get(obj, _REVENUE) if rare else None
    if revenue is not None:
        event.revenue_amount, event.revenue_currency = parse_revenue(revenue)
    if name == "engagement":
        event.scroll_depth = _bounded_int(_get(obj, _SCROLL), "scroll_depth", 0, 100)
        event.engagement_ms = _bounded_int(_get(obj, _ENGAGED), "engagement_time", 0, MAX_ENGAGEMENT_MS)
        event.interactive = False  # engagement never un-bounces a visit
    if batch:
        event.ip = _parse_ip(obj.get("ip"))
        event.user_agent = _parse_user_agent(obj.get("user_agent"))
        event.timestamp = parse_timestamp(obj.get("timestamp"), now or datetime.now(timezone.utc))
    return event


def _parse_name(value: Any) -> str:
    if value is None:
        raise RequestError("name", "is required")
    if not isinstance(value, str):
        raise RequestError("name", "must be a string")
    value = value.strip()
    if not value:
        raise RequestError("name", "must not be empty")
    if len(value) > MAX_NAME:
        raise RequestError("name", f"must be at most {MAX_NAME} characters")
    return value


def _parse_url(value: Any, hash_mode: bool) -> tuple[str, str, str, tuple[tuple[str, str], ...], bool]:
    if value is None:
        raise RequestError("url", "is required")
    if not isinstance(value, str):
        raise RequestError("url", "must be a string")
    value = value.strip()
    # at most 4 UTF-8 bytes per character (3 per lone surrogate): only a long URL needs encoding to be measured
    if len(value) > MAX_URL_BYTES // 4 and (len(value) > MAX_URL_BYTES
                                           or len(value.encode("utf-8", "surrogatepass")) > MAX_URL_BYTES):
        raise RequestError("url", f"must be at most {MAX_URL_BYTES} bytes")
    hostname, pathname, fragment, query = _split_url(value)
    if hash_mode and fragment:
        pathname += "#" + fragment
    return value, hostname, pathname, query, hash_mode


@lru_cache(maxsize=16_384)
def _split_url(value: str) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    """Host (without "www."), path, fragment and query pairs of a page URL; cached per URL string, since a site's
    pages are viewed over and over (urlsplit + parse_qsl were a tenth of the Ingestor's time per event)."""
    try:
        parts = urlsplit(value)
        hostname = parts.hostname or ""
    except ValueError:
        raise RequestError("url", "is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise RequestError("url", "must be an http(s) URL")
    if not hostname:
        raise RequestError("url", "must have a host")
    query = tuple(parse_qsl(parts.query, keep_blank_values=False)) if parts.query else ()
    return _strip_www(hostname), parts.path or "/", parts.fragment, query


def _strip_www(host: str) -> str:
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host


def parse_domains(value: Any) -> tuple[str, ...]:
    """`domain`, possibly a comma-separated list: lower-cased, without "www.", de-duplicated, in order."""
    if value is None:
        raise RequestError("domain", "is required")
    if not isinstance(value, str):
        raise RequestError("domain", "must be a string")
    # a site's events all carry the same short string: cached; a long one (a list of many sites, or junk) is not,
    # so the cache cannot be made to hold megabytes
    return _cached_domains(value) if len(value) <= _CACHED_DOMAINS_LEN else _split_domains(value)


def _split_domains(value: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for part in value.split(","):
        domain = _strip_www(part.strip().lower())
        if not domain:
            continue
        if len(domain) > MAX_DOMAIN:
            raise RequestError("domain", f"each domain must be at most {MAX_DOMAIN} characters")
        seen[domain] = None
    if not seen:
        raise RequestError("domain", "must not be empty")
    if len(seen) > MAX_DOMAINS:
        raise RequestError("domain", f"at most {MAX_DOMAINS} domains")
    return tuple(seen)


_cached_domains = lru_cache(maxsize=4096)(_split_domains)
_CACHED_DOMAINS_LEN = 512


def _parse_referrer(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RequestError("referrer", "must be a string")
    return value.strip()[:MAX_REFERRER]


def _scalar(value: Any) -> str | None:
    """A prop value as a string; None to drop it (nested, null or empty), as Plausible does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return None


def parse_props(value: Any) -> dict[str, str]:
    """Custom properties: an object or a JSON string of one; nested values dropped; at most 30 pairs."""
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = orjson.loads(value)
        except (orjson.JSONDecodeError, ValueError, RecursionError):
            raise RequestError("props", "must be an object or a JSON string of one") from None
        if value is None:
            return {}
    if not isinstance(value, dict):
        raise RequestError("props", "must be an object")
    props: dict[str, str] = {}
    for key, raw in value.items():
        text = _scalar(raw)
        if text is None or not key:
            continue
        if len(key) > MAX_PROP_KEY:
            raise RequestError("props", f"keys must be at most {MAX_PROP_KEY} characters")
        if len(text) > MAX_PROP_VALUE:
            raise RequestError("props", f"values must be at most {MAX_PROP_VALUE} characters")
        props[key] = text
    if len(props) > MAX_PROPS:
        raise RequestError("props", f"at most {MAX_PROPS} properties")
    return props


def parse_revenue(value: Any) -> tuple[Decimal, str]:
    """{"amount": number or numeric string, "currency": ISO 4217 code} (or a JSON string of it)."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except (orjson.JSONDecodeError, ValueError, RecursionError):
            raise RequestError("revenue", "must be an object with amount and currency") from None
    if not isinstance(value, dict):
        raise RequestError("revenue", "must be an object with amount and currency")
    currency = value.get("currency")
    if not isinstance(currency, str) or not is_currency(currency.strip().upper()):
        raise RequestError("revenue", "currency must be an ISO 4217 code such as EUR or USD")
    amount = value.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        raise RequestError("revenue", "amount must be a number")
    try:
        dec = Decimal(amount.strip() if isinstance(amount, str) else str(amount))
    except (InvalidOperation, ValueError):
        raise RequestError("revenue", "amount must be a number") from None
    if not dec.is_finite() or abs(dec) >= MAX_AMOUNT:
        raise RequestError("revenue", "amount is out of range")
    return dec.quantize(AMOUNT_STEP), currency.strip().upper()


def _truthy(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, (bool, int, float)):
        return bool(value)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    raise RequestError(name, "must be a boolean")


def _parse_interactive(value: Any) -> bool:
    return True if value is None else _truthy(value, "interactive")


def _parse_screen(value: Any) -> int | None:
    if value.__class__ is int:  # what trackers send
        return value if 0 < value <= MAX_SCREEN_WIDTH else None  # type: ignore[no-any-return]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError("screen_width", "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError("screen_width", "must be a number")
    width = int(value)
    return width if 0 < width <= MAX_SCREEN_WIDTH else None


def _bounded_int(value: Any, name: str, lo: int, hi: int) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(name, "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(name, "must be a number")
    return min(hi, max(lo, int(value)))


def _parse_ip(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RequestError("ip", "must be a string")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise RequestError("ip", "is not an IP address") from None


def _parse_user_agent(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError("user_agent", "must be a string")
    return value[:MAX_USER_AGENT]


def parse_timestamp(value: Any, now: datetime) -> datetime | None:
    """ISO 8601 (naive = UTC) or epoch seconds; at most 24 h old and at most 5 minutes in the future."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RequestError("timestamp", "must be ISO 8601 or epoch seconds")
    try:
        if isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise ValueError
            ts = datetime.fromtimestamp(value, timezone.utc)
        elif isinstance(value, str):
            text = value.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            ts = datetime.fromisoformat(text)
            ts = ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise RequestError("timestamp", "must be ISO 8601 or epoch seconds") from None
    if ts < now - BATCH_MAX_AGE:
        raise RequestError("timestamp", "is more than 24 hours old")
    if ts > now + BATCH_MAX_SKEW:
        raise RequestError("timestamp", "is in the future")
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)

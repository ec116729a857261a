"""Normalisation and validation of user input stored in the metadata: emails, domains, timezones, goals."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_EVENT_NAME_LENGTH = 120

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-.")

# Active ISO 4217 codes (revenue goals).
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL
HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split())


def normalise_email(raw: str) -> str:
    """Trimmed and lower-cased; ValueError when it does not look like name@host."""
    email = raw.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise ValueError(f"{raw!r} is not a valid email address")
    return email


def check_password(password: str) -> None:
    """ValueError unless the password has 8 to 1024 characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: it needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password too long: at most {MAX_PASSWORD_LENGTH} characters")


def normalise_domain(raw: str) -> str:
    """A site's domain as stored: lower-case host without scheme, path, port or trailing dot ("www." is kept)."""
    value = raw.strip().lower()
    if "://" in value:
        value = value.split("://", 1)[1]
    value = re.split(r"[/?#]", value, maxsplit=1)[0]
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit():
        value = host
    value = value.rstrip(".")
    if not value:
        raise ValueError(f"domain {raw!r} is empty")
    if not value.isascii():
        try:
            value = value.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"domain {raw!r} is not a valid internationalised hostname") from None
    bad = sorted(set(value) - _HOST_CHARS)
    if bad:
        raise ValueError(f"domain {raw!r} contains characters not allowed in a hostname: {''.join(bad)!r}")
    if "." not in value:
        raise ValueError(f"domain {raw!r} must contain a dot, like example.com")
    if len(value) > 253:
        raise ValueError(f"domain {raw!r} is longer than 253 characters")
    for label in value.split("."):
        if not _LABEL.match(label):
            raise ValueError(f"domain {raw!r} has an invalid part {label!r} (1-63 letters, digits or inner hyphens)")
    return value


def validate_timezone(name: str) -> str:
    """The IANA timezone name, checked with zoneinfo; ValueError naming it otherwise."""
    name = name.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (use an IANA name such as Europe/Berlin or Etc/UTC)") from None
    return name


def validate_event_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise ValueError("event name is empty")
    if len(name) > MAX_EVENT_NAME_LENGTH:
        raise ValueError(f"event name is longer than {MAX_EVENT_NAME_LENGTH} characters")
    return name


def validate_page_pattern(raw: str) -> str:
    """A pageview goal's path pattern: starts with "/", no whitespace; "*" and "**" are wildcards."""
    path = raw.strip()
    if not path.startswith("/"):
        raise ValueError(f"page path {raw!r} must start with '/'")
    if any(c.isspace() for c in path) or len(path) > 255:
        raise ValueError(f"page path {raw!r} must have no spaces and at most 255 characters")
    return path


def validate_currency(raw: str) -> str:
    code = raw.strip().upper()
    if code not in CURRENCIES:
        raise ValueError(f"unknown currency {raw!r} (use an ISO 4217 code such as EUR or USD)")
    return code

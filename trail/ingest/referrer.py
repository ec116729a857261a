"""Referrer -> source name from the vendored Snowplow referer-parser list (data/referers.json); utm_source wins."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import orjson

DATA = Path(__file__).with_name("data") / "referers.json"
MAX_REFERRER = 2000
_SCHEMES = ("http", "https", "android-app")


class Referrer(NamedTuple):
    referrer: str  # the external referrer without query string or fragment, truncated; "" when internal/none
    source: str  # "Google", "Hacker News", a bare host, a utm_source, or ""


class _Table(NamedTuple):
    hosts: dict[str, str]  # host -> name
    paths: dict[str, list[tuple[str, str]]]  # host -> [(path prefix, name)] for entries like "google.com/imgres"


@lru_cache(maxsize=1)
def table() -> _Table:
    """The referer list, loaded once: the first entry for a host wins (file order: unknown, email, social, search,
    paid)."""
    data = orjson.loads(DATA.read_bytes())
    hosts: dict[str, str] = {}
    paths: dict[str, list[tuple[str, str]]] = {}
    for medium in data.values():
        for name, entry in medium.items():
            for domain in entry.get("domains", ()):
                domain = domain.lower()
                host, slash, path = domain.partition("/")
                if slash:
                    paths.setdefault(host, []).append(("/" + path, name))
                else:
                    hosts.setdefault(host, name)
    for entries in paths.values():
        entries.sort(key=lambda item: -len(item[0]))
    return _Table(hosts, paths)


def _bare(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def known_name(host: str, path: str = "") -> str | None:
    """The list's name for a host (and path), trying the host, then without "www.", then each parent domain."""
    tab = table()
    host = host.lower().rstrip(".")
    candidates = [host]
    if host.startswith("www."):
        candidates.append(host[4:])
    labels = candidates[-1].split(".")
    candidates.extend(".".join(labels[i:]) for i in range(1, len(labels) - 1))
    for candidate in candidates:
        for prefix, name in tab.paths.get(candidate, ()):
            if path.startswith(prefix):
                return name
        name = tab.hosts.get(candidate)
        if name is not None:
            return name
    return None


@lru_cache(maxsize=4096)
def source_from_utm(value: str) -> str:
    """utm_source as given, except that a known referrer host ("news.ycombinator.com") becomes its name."""
    value = value.strip()
    if "." in value and " " not in value and "/" not in value:
        return known_name(value) or value
    return value


def _classify(referrer: str, page_host: str) -> Referrer:
    try:
        parts = urlsplit(referrer)
        host = parts.hostname or ""
    except ValueError:
        return Referrer("", "")
    if parts.scheme.lower() not in _SCHEMES or not host:
        return Referrer("", "")
    if _bare(host) == page_host:
        return Referrer("", "")  # internal navigation is no source
    cleaned = f"{parts.scheme.lower()}://{host}{parts.path}"[:MAX_REFERRER]
    name = known_name(host, parts.path)
    return Referrer(cleaned, name if name is not None else _bare(host))


@lru_cache(maxsize=16_384)  # keys of up to ~2 KB (the referrer): bounded at a few tens of MB
def classify(referrer: str, page_host: str, utm_source: str = "") -> Referrer:
    """Referrer URL and source for an event on `page_host` (already without "www."); cached, since a site's
    events repeat a few referrers and campaigns."""
    ref = _classify(referrer, page_host) if referrer else Referrer("", "")
    if utm_source:
        return Referrer(ref.referrer, source_from_utm(utm_source))
    return ref

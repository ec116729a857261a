"""IP -> country offline with geoip2fast (its bundled IPv4+IPv6 DB, loaded once, lazily); region and city from an
optional MaxMind/DB-IP city .mmdb (settings.geoip_city_db)."""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

GEOIP2FAST_FILE = "geoip2fast-ipv6.dat.gz"  # shipped in the wheel; covers IPv4 and IPv6 (~0.15 s to load)


class Location(NamedTuple):
    country: str  # ISO 3166-1 alpha-2, "" unknown
    region: str  # ISO 3166-2 subdivision, e.g. "DE-BE", "" unknown
    city: str  # English city name, "" unknown


UNKNOWN = Location("", "", "")


class Geo:
    """Country lookups from geoip2fast; region/city from `city_db` when given. Thread-safe lazy loading."""

    def __init__(self, city_db: str = "", cache_size: int = 65_536) -> None:
        self.city_db = city_db
        self._fast: Any = None
        self._city: Any = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None
        self.lookup = lru_cache(maxsize=cache_size)(self._lookup)

    def load(self) -> None:
        """Load the databases now (otherwise on the first lookup)."""
        with self._lock:
            if self._fast is not None:
                return
            started = time.perf_counter()
            from geoip2fast import GeoIP2Fast

            fast = GeoIP2Fast(geoip2fast_data_file=GEOIP2FAST_FILE)
            if self.city_db:
                try:
                    import maxminddb

                    self._city = maxminddb.open_database(self.city_db)
                except (OSError, ValueError) as exc:
                    log.warning("GeoIP city database %s not usable (%s); countries only", self.city_db, exc)
            self._fast = fast
            self.load_seconds = time.perf_counter() - started
            log.info("geoip loaded in %.3f s", self.load_seconds)

    def _lookup(self, ip: str) -> Location:
        if not ip:
            return UNKNOWN
        if self._fast is None:
            self.load()
        try:
            country = self._fast.lookup(ip).country_code
        except Exception:
            country = ""
        if not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
            country = ""
        if self._city is None:
            return Location(country, "", "") if country else UNKNOWN
        region = city = ""
        try:
            record = self._city.get(ip)
        except (ValueError, TypeError):
            record = None
        if isinstance(record, dict):
            country = country or str((record.get("country") or {}).get("iso_code") or "")
            subs = record.get("subdivisions") or []
            if subs and isinstance(subs[0], dict) and subs[0].get("iso_code") and country:
                region = f"{country}-{subs[0]['iso_code']}"
            city = str(((record.get("city") or {}).get("names") or {}).get("en") or "")
        return Location(country, region, city)

    def close(self) -> None:
        if self._city is not None:
            self._city.close()

"""The live snapshot of one site: what every live channel (JSON API, wall, dashboard widgets) renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# The JSON fields of GET /api/v2/live, exactly and in this order (docs/API.md).
JSON_FIELDS = ("site_id", "ts", "current_visitors", "visitors_last_30m", "pageviews_last_30m", "per_minute",
               "top_pages", "top_sources", "top_countries", "recent")


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with a Z (millisecond precision when not on a whole second)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


@dataclass(frozen=True)
class Recent:
    """One event of the recent feed (no personal data: no visitor or session id)."""

    ts_ms: int
    name: str
    path: str
    country: str
    source: str
    device: str

    def to_json(self) -> dict[str, Any]:
        return {"ts": iso_ms(self.ts_ms), "name": self.name, "path": self.path, "country": self.country,
                "source": self.source, "device": self.device}


@dataclass(frozen=True)
class Snapshot:
    """Rolling aggregates of the last 30 minutes of one site, as of `ts_ms`."""

    site_id: int
    domain: str
    ts_ms: int
    current_visitors: int
    visitors_last_30m: int
    pageviews_last_30m: int
    per_minute: list[tuple[int, int, int]]  # (minute start ms, pageviews, visitors), oldest first
    top_pages: list[tuple[str, int]] = field(default_factory=list)
    top_sources: list[tuple[str, int]] = field(default_factory=list)
    top_countries: list[tuple[str, int]] = field(default_factory=list)
    top_devices: list[tuple[str, int]] = field(default_factory=list)
    top_events: list[tuple[str, int]] = field(default_factory=list)  # custom events by visitors
    recent: list[Recent] = field(default_factory=list)  # newest first
    version: int = 0  # the window's change counter when built

    @property
    def ts(self) -> str:
        return iso_ms(self.ts_ms)

    def to_json(self) -> dict[str, Any]:
        """The /api/v2/live message: exactly JSON_FIELDS."""
        return {
            "site_id": self.domain,
            "ts": self.ts,
            "current_visitors": self.current_visitors,
            "visitors_last_30m": self.visitors_last_30m,
            "pageviews_last_30m": self.pageviews_last_30m,
            "per_minute": [[iso_ms(m), pv, v] for m, pv, v in self.per_minute],
            "top_pages": [[n, v] for n, v in self.top_pages],
            "top_sources": [[n, v] for n, v in self.top_sources],
            "top_countries": [[n, v] for n, v in self.top_countries],
            "recent": [r.to_json() for r in self.recent],
        }

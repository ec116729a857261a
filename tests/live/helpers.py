"""Helpers for the live tests: stream entries built like ingestion builds them, and a settable clock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from trail.ingest.event import EnrichedEvent
from trail.live.broker import Entry

T0_MS = int(datetime(2026, 3, 1, 12, 0, 30, tzinfo=timezone.utc).timestamp() * 1000)  # 30 s into a minute


@dataclass
class FakeClock:
    """Seconds since the epoch, moved by hand."""

    ms: int = T0_MS

    def __call__(self) -> float:
        return self.ms / 1000

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


def event(site_id: int, ts_ms: int, name: str = "pageview", visitor: int = 1, session: int | None = None,
          path: str = "/", source: str = "", country: str = "", device: str = "Desktop", **extra: Any) -> EnrichedEvent:
    return EnrichedEvent(event_id=uuid.uuid4(), site_id=site_id, ts_ms=ts_ms, name=name,
                         visitor_id=visitor, session_id=session if session is not None else visitor * 1000 + 1,
                         hostname="x.test", pathname=path, source=source, country=country, device=device, **extra)


_seq = [0]


def entry(ev: EnrichedEvent) -> Entry:
    _seq[0] += 1
    return Entry(f"{int(ev.ts.timestamp() * 1000)}-{_seq[0]}", ev.to_payload())

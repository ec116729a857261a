"""Rolling windows of every site with recent events, fed by stream entries, with the set of changed sites."""

from __future__ import annotations

import logging
from typing import Iterable

from trail.live.broker import Entry
from trail.live.snapshot import Snapshot
from trail.live.window import LiveEvent, SiteWindow, empty_snapshot

log = logging.getLogger("trail.live")


class Aggregator:
    """Site id -> SiteWindow. `add_entries` and `advance` return the sites whose snapshot changed."""

    def __init__(self, minutes: int = 30) -> None:
        self.minutes = minutes
        self.windows: dict[int, SiteWindow] = {}
        self.bad_entries = 0

    def add_entries(self, entries: Iterable[Entry], now_ms: int) -> set[int]:
        """Count stream entries (a batch of the live tail) per site, a site's events together (SiteWindow.add_many)."""
        by_site: dict[int, list[LiveEvent]] = {}
        decode = LiveEvent.from_payload
        for entry in entries:
            try:
                ev = decode(entry.data)
            except Exception:  # a payload this version cannot read must not stop the live feed
                self.bad_entries += 1
                continue
            events = by_site.get(ev.site_id)
            if events is None:
                by_site[ev.site_id] = [ev]
            else:
                events.append(ev)
        changed: set[int] = set()
        for site_id, events in by_site.items():
            window = self.windows.get(site_id)
            if window is None:
                window = self.windows[site_id] = SiteWindow(site_id, self.minutes)
                window.expire(now_ms)
            if window.add_many(events, now_ms):
                changed.add(site_id)
        return changed

    def advance(self, now_ms: int) -> set[int]:
        """Expire every window to now_ms; returns the sites that changed."""
        changed: set[int] = set()
        for site_id, window in list(self.windows.items()):
            if window.expire(now_ms):
                changed.add(site_id)
            if window.empty:
                del self.windows[site_id]
        return changed

    def snapshot(self, site_id: int, domain: str, now_ms: int) -> Snapshot:
        window = self.windows.get(site_id)
        if window is None:
            return empty_snapshot(site_id, domain, now_ms, self.minutes)
        window.expire(now_ms)
        return window.snapshot(now_ms, domain)

    def version(self, site_id: int) -> int:
        window = self.windows.get(site_id)
        return window.version if window is not None else 0

    def drop(self, site_id: int) -> None:
        self.windows.pop(site_id, None)

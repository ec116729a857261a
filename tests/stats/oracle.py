"""Reference answers computed in plain Python from generated rows, by the metric definitions in docs/API.md."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from tests.stats.gen import Row
from trail.stats.runner import fmt_metric

EMPTY = {"source": "Direct / None", "referrer": "Direct / None", "utm_source": "(not set)",
         "utm_medium": "(not set)", "utm_campaign": "(not set)", "device": "(not set)", "browser": "(not set)",
         "os": "(not set)", "screen": "(not set)"}


@dataclass
class Visit:
    sid: int
    visitor: int
    rows: list[Row]

    @property
    def real(self) -> list[Row]:
        return [r for r in self.rows if r.name != "engagement"]

    @property
    def start(self) -> datetime:
        return min(r.ts for r in self.rows)

    @property
    def pageviews(self) -> int:
        return sum(r.name == "pageview" for r in self.rows)

    @property
    def bounce(self) -> bool:
        return sum(r.name == "pageview" or r.interactive == 1 for r in self.real) <= 1

    @property
    def duration(self) -> int:
        ms = [int(r.ts.timestamp() * 1000) for r in self.rows]
        return (max(ms) - min(ms)) // 1000

    def attr(self, dim: str) -> str:
        real = sorted(self.real, key=lambda r: r.ts)
        if dim == "visit:entry_page":
            return real[0].pathname
        if dim == "visit:exit_page":
            return real[-1].pathname
        col = dim.split(":", 1)[1]
        value = getattr(real[0], col)
        return EMPTY.get(col, "") if value == "" and col in EMPTY else value


def in_range(rows: Iterable[Row], start: datetime, end: datetime) -> list[Row]:
    return [r for r in rows if start <= r.ts < end]


def visits(rows: Iterable[Row]) -> dict[int, Visit]:
    by: dict[int, list[Row]] = defaultdict(list)
    for r in rows:
        by[r.session_id].append(r)
    out = {sid: Visit(sid, rs[0].visitor_id, rs) for sid, rs in by.items()}
    return {sid: v for sid, v in out.items() if v.real}


def visit_metrics(vs: list[Visit]) -> dict[str, Any]:
    """Metrics over whole visits (the per-visit shape)."""
    n = len(vs)
    return {
        "visitors": len({v.visitor for v in vs}),
        "visits": n,
        "pageviews": sum(v.pageviews for v in vs),
        "events": sum(len(v.real) for v in vs),
        "bounce_rate": fmt_metric("bounce_rate", sum(v.bounce for v in vs) / n * 100) if n else 0,
        "visit_duration": fmt_metric("visit_duration", sum(v.duration for v in vs) / n) if n else 0,
        "views_per_visit": fmt_metric("views_per_visit", sum(v.pageviews for v in vs) / n) if n else 0.0,
    }


def event_breakdown(rows: list[Row], all_visits: dict[int, Visit], key: Callable[[Row], str | None],
                    keep: Callable[[Row, Visit], bool] = lambda r, v: True,
                    entry_scope: Callable[[str, Visit], bool] | None = None) -> dict[str, dict[str, Any]]:
    """Metrics per key over events (engagement rows included for scroll depth / time on page)."""
    groups: dict[str, dict[int, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        v = all_visits.get(r.session_id)
        if v is None or not keep(r, v):
            continue
        k = key(r)
        if k is not None:
            groups[k][r.session_id].append(r)
    out = {}
    for k, per_visit in groups.items():
        counted = {sid: rs for sid, rs in per_visit.items() if any(r.name != "engagement" for r in rs)}
        vs = [all_visits[sid] for sid in counted]
        scoped = [v for v in vs if entry_scope is None or entry_scope(k, v)]
        engaged = {sid: [r for r in rs if r.name == "engagement"] for sid, rs in per_visit.items()}
        engaged = {sid: e for sid, e in engaged.items() if e}
        out[k] = {
            "visitors": len({v.visitor for v in vs}),
            "visits": len(vs),
            "pageviews": sum(r.name == "pageview" for rs in per_visit.values() for r in rs),
            "events": sum(r.name != "engagement" for rs in per_visit.values() for r in rs),
            "bounce_rate": fmt_metric("bounce_rate", sum(v.bounce for v in scoped) / len(scoped) * 100)
            if scoped else 0,
            "visit_duration": fmt_metric("visit_duration", sum(v.duration for v in vs) / len(vs)) if vs else 0,
            "scroll_depth": fmt_metric("scroll_depth", sum(max(r.scroll_depth for r in e) for e in engaged.values())
                                       / len(engaged)) if engaged else None,
            "time_on_page": fmt_metric("time_on_page", sum(r.engagement_ms for e in engaged.values() for r in e)
                                       / 1000 / len(engaged)) if engaged else None,
        }
        if not counted and not engaged:
            del out[k]
    return {k: v for k, v in out.items() if v["visits"] > 0}

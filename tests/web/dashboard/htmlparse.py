"""Read the numbers a dashboard partial shows: top stats, list rows and chart buckets (by their data-* attributes)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stats: dict[str, str] = {}
        self.changes: dict[str, str] = {}
        self.rows: dict[str, dict[str, str]] = {}
        self.row_order: list[str] = []
        self.links: dict[str, str] = {}
        self.chart: list[str] = []
        self._stat: str | None = None
        self._row: str | None = None
        self._in_label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        cls = a.get("class", "")
        if tag == "a" and "stat" in cls.split():
            self._stat = a.get("data-metric")
        elif tag == "span" and "stat-value" in cls and self._stat:
            self.stats[self._stat] = a.get("data-value", "")
        elif tag == "span" and "change" in cls.split() and self._stat:
            self.changes[self._stat] = a.get("data-value", "")
        elif tag == "tr" and "data-value" in a:
            self._row = a["data-value"]
            self.rows[self._row] = {}
            self.row_order.append(self._row)
        elif tag == "td" and self._row is not None and "data-metric" in a:
            self.rows[self._row][a["data-metric"]] = a.get("data-value", "")
        elif tag == "a" and self._row is not None and "href" in a:
            self.links[self._row] = a["href"]
        elif tag == "rect" and "chart-hit" in cls:
            self.chart.append(a.get("data-value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._stat = None
        if tag == "tr":
            self._row = None


def parse(html: str) -> _Parser:
    p = _Parser()
    p.feed(html)
    return p


def num(text: str) -> Any:
    """A data-value as a number (int when whole), None when empty."""
    if text in ("", "None"):
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value

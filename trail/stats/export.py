"""CSV export: a zip of report CSVs, streamed chunk by chunk, built by running Queries through the runner (exact:
never from a sample of the visitors)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime
from typing import Any, AsyncIterator

from trail.stats import sampling
from trail.stats.builder import SiteLike
from trail.stats.query import parse_query
from trail.stats.runner import run
from trail.store.events import EventStore

VISIT_METRICS = ["visitors", "visits", "bounce_rate", "visit_duration"]

# (file name, first column header, query body without site_id/date_range)
REPORTS: list[tuple[str, str, dict[str, Any]]] = [
    ("visitors.csv", "date", {"dimensions": ["time:day"], "metrics": ["visitors", "pageviews", "visits",
                                                                      "views_per_visit", "bounce_rate",
                                                                      "visit_duration"]}),
    ("pages.csv", "name", {"dimensions": ["event:page"], "metrics": ["visitors", "pageviews", "bounce_rate",
                                                                     "time_on_page", "scroll_depth"]}),
    ("entry_pages.csv", "name", {"dimensions": ["visit:entry_page"], "metrics": VISIT_METRICS}),
    ("exit_pages.csv", "name", {"dimensions": ["visit:exit_page"], "metrics": ["visitors", "visits"]}),
    ("sources.csv", "name", {"dimensions": ["visit:source"], "metrics": VISIT_METRICS}),
    ("referrers.csv", "name", {"dimensions": ["visit:referrer"], "metrics": VISIT_METRICS}),
    ("utm_sources.csv", "name", {"dimensions": ["visit:utm_source"], "metrics": VISIT_METRICS}),
    ("utm_mediums.csv", "name", {"dimensions": ["visit:utm_medium"], "metrics": VISIT_METRICS}),
    ("utm_campaigns.csv", "name", {"dimensions": ["visit:utm_campaign"], "metrics": VISIT_METRICS}),
    ("utm_contents.csv", "name", {"dimensions": ["visit:utm_content"], "metrics": VISIT_METRICS}),
    ("utm_terms.csv", "name", {"dimensions": ["visit:utm_term"], "metrics": VISIT_METRICS}),
    ("countries.csv", "name", {"dimensions": ["visit:country"], "metrics": ["visitors"]}),
    ("regions.csv", "name", {"dimensions": ["visit:region"], "metrics": ["visitors"]}),
    ("cities.csv", "name", {"dimensions": ["visit:city"], "metrics": ["visitors"]}),
    ("devices.csv", "name", {"dimensions": ["visit:device"], "metrics": ["visitors"]}),
    ("browsers.csv", "name", {"dimensions": ["visit:browser"], "metrics": ["visitors"]}),
    ("operating_systems.csv", "name", {"dimensions": ["visit:os"], "metrics": ["visitors"]}),
    ("custom_events.csv", "name", {"dimensions": ["event:name"], "metrics": ["visitors", "events"],
                                   "filters": [["is_not", "event:name", ["pageview", "engagement"]]]}),
]
ROWS_PER_CHUNK = 500


class _Sink(io.RawIOBase):
    """An unseekable file that keeps what zipfile writes until the generator hands it on."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def validate(site: SiteLike, date_range: Any, now: datetime | None = None) -> None:
    """Raise QueryError now (before streaming starts) when the date range is not valid."""
    parse_query({"site_id": "export", "metrics": ["visitors"], "date_range": date_range}, site.timezone, now)


async def export_zip(store: EventStore, site: SiteLike, domain: str, date_range: Any,
                     now: datetime | None = None) -> AsyncIterator[bytes]:
    """Yield the bytes of a zip holding one CSV per report; memory stays at about one report."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
    for filename, first_header, body in REPORTS:
        query = parse_query({"site_id": domain, "date_range": date_range, **body}, site.timezone, now)
        with sampling.exact():  # an export is exact: no report reads a sample of the visitors
            response = await run(store, query, site)
        with archive.open(filename, "w") as member:
            text = io.TextIOWrapper(member, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow([first_header, *query.metrics])
            for i, row in enumerate(response["results"], 1):
                writer.writerow([*row["dimensions"], *["" if v is None else v for v in row["metrics"]]])
                if i % ROWS_PER_CHUNK == 0:
                    text.flush()
                    if chunk := sink.drain():
                        yield chunk
            text.flush()
            text.detach()
        if chunk := sink.drain():
            yield chunk
    archive.close()
    if chunk := sink.drain():
        yield chunk

"""Gathering visit-level queries (`trail.stats.visit_batch`) with a fake store: one SQL per window, errors and
cancellation reach every waiting query, and nothing is left behind. Answers themselves: tests/stats/test_oracle.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest

from trail.sites import SiteInfo
from trail.stats import visit_batch
from trail.stats.query import parse_query
from trail.store.events import EventStoreError

SITE = SiteInfo(id=5, domain="b.test", team_id=1, timezone="UTC")
NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def q(**body: Any) -> Any:
    return parse_query({"site_id": "b.test", "metrics": ["visitors"], "date_range": "7d", **body}, "UTC", NOW)


class FakeStore:
    database = "fake"

    def __init__(self, rows: list[tuple[Any, ...]] | None = None, error: Exception | None = None,
                 delay: float = 0.0) -> None:
        self.rows, self.error, self.delay, self.calls = rows or [], error, delay, []

    async def query(self, sql: str, params: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        self.calls.append(sql)
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return [], self.rows


async def test_one_sql_per_window_and_rows_split() -> None:
    # grouping(d0, d1): 1 = the (d0) set, 2 = the (d1) set, 3 = the () set
    rows = [(1, "Google", "", 7), (1, "Bing", "", 9), (2, "", "DE", 5), (3, "", "", 12)]
    store = FakeStore(rows)
    top, sources, countries = q(), q(dimensions=["visit:source"]), q(dimensions=["visit:country"])
    got = await asyncio.gather(*(visit_batch.fetch(store, x, SITE, 1.0) for x in (top, sources, countries)))
    assert len(store.calls) == 1 and "GROUPING SETS ((d0), (d1), ())" in store.calls[0]
    assert got == [([(12,)], 1), ([("Bing", 9), ("Google", 7)], 2), ([("DE", 5)], 1)]


async def test_an_undefined_rate_sorts_last_either_way() -> None:
    """ClickHouse puts NaN after every number in both directions; chDB hands it over as None (JSON null)."""
    rows = [(0, "Google", 3, None), (0, "Bing", 2, 50.0), (0, "Direct", 4, 20.0)]
    store = FakeStore(rows)
    for direction, want in (("desc", ["Bing", "Direct", "Google"]), ("asc", ["Direct", "Bing", "Google"])):
        query = q(metrics=["visitors", "bounce_rate"], dimensions=["visit:source"],
                  order_by=[["bounce_rate", direction]])
        got, total = await visit_batch.fetch(store, query, SITE, 1.0)
        assert [r[0] for r in got] == want and total == 3


async def test_an_error_reaches_every_waiting_query() -> None:
    store = FakeStore(error=EventStoreError("server gone"))
    calls = [visit_batch.fetch(store, x, SITE, 1.0) for x in (q(), q(dimensions=["visit:source"]))]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [str(r) for r in results] == ["server gone", "server gone"]
    assert not visit_batch._open


async def test_a_cancelled_batch_cancels_its_queries_and_leaves_nothing_open() -> None:
    store = FakeStore(delay=5.0)
    waiting = [asyncio.ensure_future(visit_batch.fetch(store, x, SITE, 1.0)) for x in (q(), q(dimensions=["visit:os"]))]
    await asyncio.sleep(0)
    (task,) = list(visit_batch._tasks)
    task.cancel()
    for w in waiting:
        with pytest.raises(asyncio.CancelledError):
            await w
    assert not visit_batch._open
    # a later query over the same visits starts a batch of its own and is answered
    store.delay, store.rows = 0.0, [(12,)]
    assert await visit_batch.fetch(store, q(), SITE, 1.0) == ([(12,)], 1)

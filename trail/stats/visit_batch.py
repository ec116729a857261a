"""Gather the visit-level queries that arrive together into one GROUPING SETS query (`visit_sets`).

The dashboard's widgets ask at about the same time (one HTTP request each, or concurrently in the Stats API). A
query that reads many events waits WINDOW_S for others over the same visits; then one SQL answers all of them.
Queries over small ranges go straight to the database: they are fast, and the window would only add to them.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from trail.stats.builder import SiteLike
from trail.stats.query import Query
from trail.stats.visit_sets import Row, batch_key, build_sets, split
from trail.store.events import EventStore

WINDOW_S = 0.02
MIN_EVENTS = 200_000  # ranges with fewer events: one query each
_open: dict[tuple[Any, ...], list[tuple[Query, "asyncio.Future[tuple[list[Row], int]]"]]] = {}
_tasks: set["asyncio.Task[None]"] = set()
runs = 0  # SQL queries made, for tests


def worth_it(events: int, sample: float) -> bool:
    """Whether a query over a range of `events` events (read as a `sample`) is gathered with others."""
    return sample < 1.0 or events >= MIN_EVENTS


async def fetch(store: EventStore, query: Query, site: SiteLike, sample: float) -> tuple[list[Row], int]:
    """The rows `build(query, site, sample=sample)` would return, and the row count before pagination."""
    loop = asyncio.get_running_loop()
    key = (id(loop), id(store), getattr(store, "database", ""), int(site.id), repr(tuple(site.goals)),
           batch_key(query, sample))
    members = _open.get(key)
    if members is None:
        members = _open[key] = []
        task = loop.create_task(_run(key, store, site, sample))
        _tasks.add(task)
        task.add_done_callback(partial(_done, key, members))
    future: asyncio.Future[tuple[list[Row], int]] = loop.create_future()
    members.append((query, future))
    return await future


def _done(key: tuple[Any, ...], members: list[Any], task: "asyncio.Task[None]") -> None:
    """After a batch: nothing of it stays open, and no query waits forever (a batch cancelled before it ran)."""
    _tasks.discard(task)
    if _open.get(key) is members:
        del _open[key]
    for _, future in members:
        if not future.done():
            future.cancel()


async def _run(key: tuple[Any, ...], store: EventStore, site: SiteLike, sample: float) -> None:
    global runs
    members: list[tuple[Query, asyncio.Future[tuple[list[Row], int]]]] = []
    try:
        try:
            await asyncio.sleep(WINDOW_S)
        finally:  # closed to newcomers even when cancelled (a later query starts a batch of its own)
            members = _open.pop(key, [])
        built = build_sets([q for q, _ in members], site, sample)
        runs += 1
        _, rows = await store.query(built.sql, built.params)
    except BaseException as exc:  # every waiting query gets the error (and a cancelled batch cancels them)
        for _, future in members:
            if not future.done():
                future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                future.exception()  # retrieved: a query that gave up logs nothing
        if not isinstance(exc, Exception):
            raise
        return
    for query, future in members:
        if future.done():
            continue
        try:
            future.set_result(split(built, rows, query))
        except Exception as exc:
            future.set_exception(exc)

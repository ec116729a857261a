"""The dashboard page starts its widgets' queries while the browser is still loading it.

Each widget is its own HTTP request, and a browser sends them over six connections as the page loads: they reach
the server spread over hundreds of milliseconds, each then waiting for its queries. When the page itself is served,
`start` runs every widget's queries at once in the background instead (so the stats engine gathers those over the
same visits into one query, `trail.stats.visit_batch`), and keeps each answer for TTL_S. A widget request asking
the same query for the same site takes that answer once (`answer`); anything else, or a later refresh, asks the
stats engine as before. Access is checked by each request's route as before: an answer is only ever handed to a
request for the same site and the very same query body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

TTL_S = 10.0
MAX_ANSWERS = 2000
_PREFETCHING: ContextVar[bool] = ContextVar("trail_widget_prefetching", default=False)
_answers: dict[tuple[Any, ...], tuple[float, "asyncio.Future[dict[str, Any]]"]] = {}
_tasks: set["asyncio.Task[None]"] = set()


def _key(store: Any, site_id: int, body: dict[str, Any]) -> tuple[Any, ...]:
    return id(store), getattr(store, "database", ""), int(site_id), json.dumps(body, sort_keys=True, default=str)


def _sweep(now: float) -> None:
    for key in [k for k, (expires, _) in _answers.items() if expires <= now]:
        del _answers[key]
    while len(_answers) >= MAX_ANSWERS:
        del _answers[next(iter(_answers))]


async def answer(store: Any, site_id: int, body: dict[str, Any],
                 compute: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """The result of the query `body` on `store`: a prefetched one when the page started it (taken once), else
    computed."""
    key = _key(store, site_id, body)
    now = time.monotonic()
    if _PREFETCHING.get():
        _sweep(now)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        _answers[key] = (now + TTL_S, future)
        try:
            result = await compute()
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            future.exception()  # retrieved: nobody may come for it
            raise
        future.set_result(result)
        return result
    entry = _answers.pop(key, None)
    if entry is not None and entry[0] > now:
        try:
            return await asyncio.shield(entry[1])
        except Exception:  # the prefetch failed: ask again, so the widget shows this request's own outcome
            pass
    return await compute()


def start(widgets: Iterable[Any], make_context: Callable[[], Any]) -> None:
    """Run each widget's `data()` in the background on a context of its own, prefetching its queries."""
    loop = asyncio.get_running_loop()
    for widget in widgets:
        task = loop.create_task(_prefetch(widget, make_context()))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


async def _prefetch(widget: Any, ctx: Any) -> None:
    _PREFETCHING.set(True)  # this task's own context
    try:
        await widget.data(ctx)
    except Exception as exc:  # the widget's own request asks again and shows its error
        log.debug("prefetch of widget %s failed: %r", widget.name, exc)

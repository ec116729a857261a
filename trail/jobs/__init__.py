"""Background jobs started by web requests (kept referenced so they are not garbage-collected mid-run)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine

log = logging.getLogger("trail.jobs")
_RUNNING: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    """Run `coro` in the background; failures are logged."""
    task = asyncio.create_task(coro, name=name)
    _RUNNING.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _RUNNING.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("job %s failed", name, exc_info=t.exception())

    task.add_done_callback(done)
    return task


async def wait_all(timeout: float = 30.0) -> None:
    """Wait for the running jobs (tests, and shutdown)."""
    if _RUNNING:
        await asyncio.wait(set(_RUNNING), timeout=timeout)

"""Start a coroutine at once and pay for a Task only if it suspends (Python 3.12's eager tasks, on 3.11).

A websocket send almost never suspends: the server writes the frame to the transport and returns; it waits only
when the socket's buffer is full (a slow client). Waking one task per client to send each frame (a task switch
per frame per client) cost more than the send itself with 1,000 sockets, so the hub runs each send's first step
inline with `start` and only hands the rest of a send that did suspend to a task (`resume`).
When the project moves to Python 3.12, `asyncio.eager_task_factory` does the same.
"""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine

Suspended = Any  # what the coroutine yielded when it suspended: an asyncio future, or None (a bare yield)


def start(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Suspended]:
    """Run `coro` until it finishes or first suspends: (True, None) when it finished, (False, what it waits for)
    when it suspended; then `resume(coro, waiting)` finishes it. Exceptions of the coroutine propagate."""
    try:
        return False, coro.send(None)
    except StopIteration:
        return True, None


async def resume(coro: Coroutine[Any, Any, Any], waiting: Suspended) -> Any:
    """Drive a coroutine that `start` left suspended to its end, as a Task would: wait for what it waits for, then
    step it on; a cancellation of the awaiting task is thrown into it (so its cleanup runs)."""
    while True:
        error: BaseException | None = None
        try:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False  # taken, as a Task takes a yielded future
                await waiting
        except BaseException as exc:  # the future failed or was cancelled, or this task was: the coroutine decides
            error = exc
        try:
            waiting = coro.send(None) if error is None else coro.throw(error)
        except StopIteration as stop:
            return stop.value

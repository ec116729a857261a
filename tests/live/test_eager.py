"""trail.live.eager: a coroutine's first step runs inline; one that suspends is finished by `resume` as a Task would."""

from __future__ import annotations

import asyncio

import pytest

from trail.live import eager


async def test_a_coroutine_that_does_not_suspend_finishes_inline() -> None:
    ran: list[str] = []
    room = asyncio.Event()
    room.set()

    async def send(frame: str) -> None:
        await room.wait()  # an await that does not suspend, as a server's send while the socket has room
        ran.append(frame)

    assert eager.start(send("a")) == (True, None)
    assert ran == ["a"]  # before any event-loop turn


async def test_an_error_of_the_first_step_propagates() -> None:
    async def send() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        eager.start(send())


async def test_a_coroutine_that_suspends_is_finished_by_resume() -> None:
    gate = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def send() -> str:
        steps.append("before")
        value = await gate  # a full socket buffer: wait until it drains
        await asyncio.sleep(0)  # a bare yield too
        steps.append(f"after {value}")
        return "done"

    coro = send()
    done, waiting = eager.start(coro)
    assert not done and waiting is gate and steps == ["before"]
    task = asyncio.create_task(eager.resume(coro, waiting))
    await asyncio.sleep(0.01)
    assert steps == ["before"] and not task.done()
    gate.set_result("drained")
    assert await task == "done"
    assert steps == ["before", "after drained"]


async def test_an_error_after_suspending_reaches_the_coroutine_and_the_awaiter() -> None:
    gate = asyncio.get_running_loop().create_future()
    seen: list[BaseException] = []

    async def send() -> None:
        try:
            await gate
        except OSError as exc:
            seen.append(exc)
            raise

    coro = send()
    _, waiting = eager.start(coro)
    task = asyncio.create_task(eager.resume(coro, waiting))
    gate.set_exception(BrokenPipeError("reset"))
    with pytest.raises(BrokenPipeError):
        await task
    assert isinstance(seen[0], BrokenPipeError)


async def test_cancelling_the_resuming_task_cancels_the_coroutine() -> None:
    cleaned: list[str] = []

    async def send() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append("cleanup")

    coro = send()
    _, waiting = eager.start(coro)
    task = asyncio.create_task(eager.resume(coro, waiting))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await task
    assert task.cancelled() and cleaned == ["cleanup"]

"""Group commit for appends: concurrent requests' payloads go to the broker in one `append` call."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Awaitable, Callable, Sequence

Append = Callable[[Sequence[bytes]], Awaitable[object]]


class AppendBatcher:
    """`await submit(payloads)` returns once a durable append holding them has completed (or raises its error).

    Payloads arriving while an append is in flight, or within the same loop iteration, are gathered into the
    next call, so the number of broker round trips grows with time, not with requests.
    """

    def __init__(self, append: Append, max_batch: int = 5000, max_inflight: int = 2, timeout_s: float = 10.0,
                 linger_s: float = 0.0) -> None:
        self.append = append
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self.timeout_s = timeout_s
        self.linger_s = linger_s
        self._pending: deque[tuple[Sequence[bytes], asyncio.Future[None]]] = deque()
        self._pending_count = 0
        self._inflight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.appends = 0  # calls made, for tests and benchmarks

    async def submit(self, payloads: Sequence[bytes]) -> None:
        await self.enqueue(payloads)

    def enqueue(self, payloads: Sequence[bytes]) -> asyncio.Future[None]:
        """`submit` without a coroutine: the future is done once a durable append holding the payloads has
        completed, or holds its error (retrieved already: an abandoned future logs nothing)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not payloads:
            future.set_result(None)
            return future
        self._pending.append((payloads, future))
        self._pending_count += len(payloads)
        self._kick()
        return future

    def _kick(self) -> None:
        if self._scheduled or not self._pending or self._inflight >= self.max_inflight:
            return
        self._scheduled = True
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        # Let every request that is already runnable in this loop iteration add its payloads first.
        await asyncio.sleep(self.linger_s)
        self._scheduled = False
        batch: list[tuple[Sequence[bytes], asyncio.Future[None]]] = []
        count = 0
        while self._pending and (not batch or count + len(self._pending[0][0]) <= self.max_batch):
            item = self._pending.popleft()
            batch.append(item)
            count += len(item[0])
        self._pending_count -= count
        if not batch:
            return
        self._inflight += 1
        self._kick()  # more pending than one batch holds and room for another append: start it now
        try:
            payloads = [p for chunk, _ in batch for p in chunk]
            async with asyncio.timeout(self.timeout_s):  # not wait_for: no Task of its own per append
                await self.append(payloads)
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else RuntimeError("append cancelled")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
                    future.exception()  # retrieved here, so an abandoned request logs no warning
            if not isinstance(exc, Exception):
                raise
        else:
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
        finally:
            self.appends += 1
            self._inflight -= 1
            self._kick()

    @property
    def pending(self) -> int:
        return self._pending_count

    async def close(self) -> None:
        """Wait for the appends in flight and everything already submitted."""
        while self._tasks or self._pending:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                self._kick()
                await asyncio.sleep(0)

"""Access changes (revoked keys and tokens, removed members, changed sites) delivered to every instance.

Changes are recorded in the metadata outbox table `access_events` by whoever makes them (web app or
CLI, in any process). Each instance reads the outbox from where it left off: at once when a change is
announced on the broker channel `access`, and at least every `poll_s` otherwise (the CLI of an
embedded install has no broker to announce on). Subscribers get each change once, in order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

log = logging.getLogger("trail.access")

CHANNEL = "access"


@dataclass(frozen=True)
class AccessChange:
    id: int
    kind: str  # one of trail.store.meta.models.ACCESS_EVENT_KINDS
    subject: dict[str, Any]


Listener = Callable[[AccessChange], Awaitable[None] | None]


class AccessFeed:
    """Tails the access outbox and fans each change out to in-process listeners."""

    def __init__(self, meta: Any, broker: Any, poll_s: float = 0.5) -> None:
        self.meta = meta
        self.broker = broker
        self.poll_s = poll_s
        self.listeners: list[Listener] = []
        self._last_id: int | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def on_change(self, listener: Listener) -> None:
        self.listeners.append(listener)

    async def start(self) -> None:
        from trail.store.meta import repo

        async with self.meta.session() as db:
            self._last_id = await repo.latest_access_event_id(db)
        self._tasks = [asyncio.create_task(self._poll(), name="access-poll"),
                       asyncio.create_task(self._listen(), name="access-listen")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def announce(self) -> None:
        """Tell every instance to read the outbox now (call after recording a change)."""
        try:
            await self.broker.publish(CHANNEL, b"1")
        except Exception:  # the poll picks it up within poll_s anyway
            log.warning("could not announce an access change on the broker", exc_info=True)

    async def catch_up(self) -> list[AccessChange]:
        """Read and dispatch every change after the last one seen; return them."""
        from trail.store.meta import repo

        async with self.meta.session() as db:
            rows = await repo.access_events_after(db, self._last_id or 0)
        changes = [AccessChange(row.id, row.kind, dict(row.subject or {})) for row in rows]
        for change in changes:
            self._last_id = change.id
            for listener in self.listeners:
                try:
                    result = listener(change)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    log.exception("access listener failed on %s", change)
        return changes

    async def _poll(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reading access changes failed", exc_info=True)

    async def _listen(self) -> None:
        while True:
            try:
                async with self.broker.subscription(CHANNEL) as messages:
                    async for _ in messages:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("access channel subscription lost; polling meanwhile", exc_info=True)
                await asyncio.sleep(1.0)

"""An instance's live engine tails the stream only while it has clients (and TRAIL_LIVE_IDLE_SECONDS after)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.live.helpers import event
from trail.live.memory_broker import MemoryBroker
from trail.live.ticker import LiveEngine
from trail.metrics import LIVE_AWAKE


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[MemoryBroker]:
    b = MemoryBroker(tmp_path / "spool")
    await b.start()
    yield b
    await b.close()


async def _append(broker: MemoryBroker, count: int, site_id: int = 1) -> None:
    now = int(time.time() * 1000)
    await broker.append([event(site_id, now, visitor=i).to_payload() for i in range(count)])


async def _until(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


async def test_an_idle_engine_starts_asleep_and_warms_from_the_stream_when_woken(broker: MemoryBroker) -> None:
    await _append(broker, 3)
    engine = LiveEngine(broker, idle_after=60.0)
    await engine.start()
    try:
        assert not engine.awake and engine._tasks == [] and LIVE_AWAKE._value.get() == 0
        await _append(broker, 2)
        assert engine.snapshot(1).pageviews_last_30m == 0  # nothing read while asleep
        await engine.wake()
        assert engine.awake and LIVE_AWAKE._value.get() == 1
        assert engine.snapshot(1).pageviews_last_30m == 5  # all of it, from the stream
        await _append(broker, 1)
        assert await _until(lambda: engine.snapshot(1).pageviews_last_30m == 6)  # and it tails from then on
    finally:
        await engine.close()


async def test_it_sleeps_after_the_last_client_and_wakes_with_what_came_meanwhile(broker: MemoryBroker) -> None:
    engine = LiveEngine(broker, idle_after=0.3)
    await engine.start()
    try:
        await engine.wake()
        client = engine.connect("json", [(1, "one.test")])
        await _append(broker, 2)
        assert await _until(lambda: engine.snapshot(1).pageviews_last_30m == 2)
        await asyncio.sleep(1.5)  # longer than idle_after, but a client is connected
        assert engine.awake
        engine.hub.disconnect(client)
        assert await _until(lambda: not engine.awake)
        assert engine._tasks == [] and engine.snapshot(1).pageviews_last_30m == 0  # the windows are dropped
        await _append(broker, 3)
        await engine.wake()
        assert engine.snapshot(1).pageviews_last_30m == 5
    finally:
        await engine.close()


async def test_concurrent_wakes_share_one_warm_up(broker: MemoryBroker) -> None:
    await _append(broker, 4)
    engine = LiveEngine(broker, idle_after=60.0)
    warms = 0
    real_warm = engine.warm

    async def counted() -> int:
        nonlocal warms
        warms += 1
        return await real_warm()

    engine.warm = counted  # type: ignore[method-assign]
    await engine.start()
    try:
        await asyncio.gather(*(engine.wake() for _ in range(10)))
        assert warms == 1 and engine.snapshot(1).pageviews_last_30m == 4
        await engine.wake()
        assert warms == 1
    finally:
        await engine.close()


async def test_without_idle_after_it_tails_from_the_start_and_never_sleeps(broker: MemoryBroker) -> None:
    await _append(broker, 2)
    engine = LiveEngine(broker)
    await engine.start()
    try:
        assert engine.awake and engine.snapshot(1).pageviews_last_30m == 2
        assert not engine._sleep_if_idle()
    finally:
        await engine.close()


async def test_a_closed_engine_does_not_wake_again(broker: MemoryBroker) -> None:
    """A socket racing the shutdown must not start tasks nothing would stop."""
    engine = LiveEngine(broker, idle_after=60.0)
    await engine.start()
    await engine.close()
    await engine.wake()
    assert not engine.awake and engine._tasks == []

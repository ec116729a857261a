"""The hub and the ticker without a server: bounded mailboxes, coalescing, dead clients, render once per tick."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.live.helpers import FakeClock, entry, event
from trail.live.hub import CLOSE_REVOKED, CLOSE_TOO_SLOW, Hub
from trail.live.renderers import register_renderer, unregister_renderer
from trail.live.ticker import LiveEngine


class NoBroker:
    async def range_since(self, since_ms: int, count: int | None = None) -> list[Any]:
        return []

    async def tail(self, after_id: str, count: int, block_ms: int) -> list[Any]:
        await asyncio.sleep(block_ms / 1000)
        return []


async def test_a_slow_client_gets_the_latest_frame_not_a_backlog() -> None:
    hub = Hub()
    client = hub.connect("json", ((1, "json"),))
    for i in range(1000):
        hub.publish((1, "json"), f"frame {i}")
    assert client.pending == {(1, "json"): "frame 999"}  # bounded: one frame per topic
    assert client.coalesced == 999
    got: list[str] = []

    async def send(frame: str) -> None:
        got.append(frame)
        client.close(1000, "done")

    assert await hub.pump(client, send) == (1000, "done")
    assert got == ["frame 999"]
    assert not hub.clients and not hub.topics()


async def test_a_dead_client_is_dropped() -> None:
    hub = Hub(send_timeout=0.05)
    stuck = hub.connect("json", ((1, "json"),))
    alive = hub.connect("json", ((1, "json"),))
    hub.publish((1, "json"), "x")

    async def never(frame: str) -> None:
        await asyncio.sleep(3600)

    sent: list[str] = []

    async def ok(frame: str) -> None:
        sent.append(frame)

    pump_ok = asyncio.create_task(hub.pump(alive, ok))
    assert await hub.pump(stuck, never) == (CLOSE_TOO_SLOW, "too slow")
    assert stuck not in hub.clients and alive in hub.clients
    hub.publish((1, "json"), "y")
    await asyncio.sleep(0.01)
    assert sent == ["x", "y"]
    alive.close(1000, "bye")
    await pump_ok


async def test_a_client_that_goes_away_is_removed() -> None:
    hub = Hub()
    client = hub.connect("wall", ((1, "wall"), (2, "wall")))

    async def send(frame: str) -> None:
        raise ConnectionError("gone")

    hub.publish((2, "wall"), "x")
    try:
        await hub.pump(client, send)
    except ConnectionError:
        pass
    assert not hub.clients and not hub.topics()


async def test_each_changed_site_is_rendered_once_per_tick_whatever_the_clients() -> None:
    calls: list[int] = []

    def count(snapshot: Any) -> str:
        calls.append(snapshot.site_id)
        return f"<div id='widget-test'>{snapshot.pageviews_last_30m}</div>"

    register_renderer("testkind", count, name="count")
    try:
        clock = FakeClock()
        engine = LiveEngine(NoBroker(), clock=clock, min_interval=0.0)
        engine.domains.update({1: "one.test", 2: "two.test"})
        clients = [engine.hub.connect("testkind", ((1, "testkind"),)) for _ in range(500)]
        clients += [engine.hub.connect("testkind", ((2, "testkind"),)) for _ in range(500)]
        engine.tick()  # first frames for both sites
        calls.clear()
        engine.ingest([entry(event(1, clock.ms))])
        assert engine.tick() == 1 and calls == [1]  # only the site that changed, once for 500 clients
        assert all(c.pending[(1, "testkind")].endswith(">1</div>") for c in clients[:500])
        assert engine.tick() == 0  # nothing changed
        for c in clients:
            engine.hub.disconnect(c)
    finally:
        unregister_renderer("testkind", "count")


async def test_frames_are_coalesced_to_four_per_second_and_sent_at_least_every_15_s() -> None:
    clock = FakeClock()
    engine = LiveEngine(NoBroker(), clock=clock, min_interval=0.25, keepalive=15.0)
    engine.domains[1] = "one.test"
    client = engine.hub.connect("json", ((1, "json"),))
    assert engine.tick() == 1
    for _ in range(10):  # a burst of changes within 250 ms: held back, then one frame
        engine.ingest([entry(event(1, clock.ms))])
        assert engine.tick() == 0
    await asyncio.sleep(0.26)
    assert engine.tick() == 1
    assert engine.tick() == 0
    engine._last_sent[(1, "json")] = time.monotonic() - 15.01  # nothing changed for 15 s: a full frame anyway
    assert engine.tick() == 1
    engine.hub.disconnect(client)


async def test_the_tick_loop_pushes_a_change_within_250_ms() -> None:
    engine = LiveEngine(NoBroker())
    await engine.start()
    try:
        engine.domains[1] = "one.test"
        client = engine.connect("json", [(1, "one.test")])
        client.pending.clear()
        await asyncio.sleep(0.3)
        client.pending.clear()
        started = time.monotonic()
        engine.ingest([entry(event(1, int(time.time() * 1000)))])
        while not client.pending:
            await asyncio.sleep(0.005)
        assert time.monotonic() - started < 0.25
        assert '"pageviews_last_30m":1' in client.pending[(1, "json")]
        engine.hub.disconnect(client)
    finally:
        await engine.close()


async def test_a_stream_of_batches_wakes_the_tick_task_per_frame_not_per_batch() -> None:
    """Tailing brings a batch every few ms under load; a site renders at most every `min_interval`. The tick task
    wakes when a site becomes stale, and at its due time, not for every batch; every change still gets out."""
    engine = LiveEngine(NoBroker(), min_interval=0.25)
    ticks = 0
    tick = engine.tick

    def counted() -> int:
        nonlocal ticks
        ticks += 1
        return tick()

    engine.tick = counted  # type: ignore[method-assign]
    await engine.start()
    try:
        watched = engine.connect("json", [(1, "one.test")])
        engine.ingest([entry(event(2, int(time.time() * 1000)))])  # a site nobody watches
        await asyncio.sleep(0.3)
        watched.pending.clear()
        ticks = 0
        started = time.monotonic()
        for n in range(300):  # 300 batches in ~0.6 s, for the watched site and the other one
            engine.ingest([entry(event(1 + n % 2, int(time.time() * 1000)))])
            await asyncio.sleep(0.002)
        while time.monotonic() - started < 1.0:
            await asyncio.sleep(0.01)
        assert ticks <= 12, f"{ticks} ticks for ~4 frames"  # was one per batch
        assert '"pageviews_last_30m":150' in watched.pending[(1, "json")]
        other = engine.connect("json", [(2, "two.test")])  # the other site, watched now: its changes get out too
        other.pending.clear()
        started = time.monotonic()
        engine.ingest([entry(event(2, int(time.time() * 1000)))])
        while not other.pending and time.monotonic() - started < 2:
            await asyncio.sleep(0.005)
        assert time.monotonic() - started < 0.5 and '"pageviews_last_30m":152' in other.pending[(2, "json")]
        engine.hub.disconnect(watched)
        engine.hub.disconnect(other)
    finally:
        await engine.close()


async def test_publish_writes_to_every_socket_inline() -> None:
    """No task per client per frame: the publisher's loop itself calls each socket's send."""
    hub = Hub()
    clients = [hub.connect("json", ((1, "json"),)) for _ in range(3)]
    got: dict[int, list[str]] = {i: [] for i in range(3)}
    pumps = []
    for i, client in enumerate(clients):
        async def send(frame: str, i: int = i) -> None:
            got[i].append(frame)

        pumps.append(asyncio.create_task(hub.pump(client, send)))
    await asyncio.sleep(0)  # the pumps attach their senders
    assert hub.publish((1, "json"), "x") == 3
    assert got == {0: ["x"], 1: ["x"], 2: ["x"]}  # sent before this task yielded once
    assert all(c.sent == 1 and not c.pending for c in clients)
    for client in clients:
        client.close(1000, "bye")
    assert await asyncio.gather(*pumps) == [(1000, "bye")] * 3


async def test_a_client_whose_socket_is_full_gets_the_latest_frame_when_it_drains() -> None:
    hub = Hub()
    slow, fast = hub.connect("json", ((1, "json"),)), hub.connect("json", ((1, "json"),))
    room = asyncio.Event()
    slow_got: list[str] = []
    fast_got: list[str] = []

    async def slow_send(frame: str) -> None:
        await room.wait()  # the socket's buffer is full until the test drains it
        slow_got.append(frame)

    async def fast_send(frame: str) -> None:
        fast_got.append(frame)

    pumps = [asyncio.create_task(hub.pump(slow, slow_send)), asyncio.create_task(hub.pump(fast, fast_send))]
    await asyncio.sleep(0)
    for i in range(5):
        hub.publish((1, "json"), f"f{i}")
    assert fast_got == ["f0", "f1", "f2", "f3", "f4"]  # not held up by the slow socket
    assert slow.busy is not None and slow.pending == {(1, "json"): "f4"} and slow.coalesced == 3
    room.set()
    await asyncio.sleep(0.01)
    assert slow_got == ["f0", "f4"] and slow.busy is None and not slow.pending
    for client in (slow, fast):
        client.close(1000, "bye")
    await asyncio.gather(*pumps)


async def test_a_client_closed_while_its_send_waits_ends_at_once() -> None:
    """An access change closes a socket even when its last send is stuck; the stuck send is cancelled."""
    hub = Hub()
    client = hub.connect("json", ((1, "json"),), {"key_id": 1})
    cancelled: list[bool] = []

    async def stuck(frame: str) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    hub.publish((1, "json"), "x")
    pump = asyncio.create_task(hub.pump(client, stuck))
    await asyncio.sleep(0.01)
    assert client.busy is not None
    assert hub.close_where(lambda c: c.auth.get("key_id") == 1) == 1
    assert await asyncio.wait_for(pump, 1.0) == (CLOSE_REVOKED, "access revoked")
    await asyncio.sleep(0)
    assert cancelled == [True] and not hub.clients

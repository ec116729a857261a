"""The live engine of one instance: warm from the stream, tail it, and tick: render changed sites once, fan out.

One tail task reads new stream entries (Broker.tail, no consumer group) into the Aggregator and wakes the
tick task. A tick expires the windows to the clock, then for each watched topic (site, channel kind) that
changed and was last sent at least `min_interval` ago, or `keepalive` ago whatever happened, builds the
site's snapshot once, renders each kind once, and publishes the frame to the Hub, which writes it to every
socket of the topic in that same loop. So a change reaches the sockets within one tail round trip plus at most
`min_interval` (250 ms: at most 4 frames/s per site); the rendering cost of a tick grows with the sites that
changed, not with the clients watching them, and the sending cost is one inline socket write per client.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any, Callable

from trail.live.aggregator import Aggregator
from trail.live.hub import Client, Hub, Topic
from trail.live.renderers import render_frame
from trail.live.snapshot import Snapshot
from trail.metrics import LIVE_AWAKE, LIVE_TICK_SECONDS

log = logging.getLogger("trail.live")

WARM_PAGE = 5000
CLOSE_RESTART = 1012  # "service restart": htmx's ws extension reconnects after it
_ENGINES: "weakref.WeakSet[LiveEngine]" = weakref.WeakSet()


def close_all_sockets() -> None:
    """Close every live websocket of this process (the server calls it when a shutdown begins)."""
    for engine in list(_ENGINES):
        engine.close_clients()


class LiveEngine:
    """Aggregator + Hub + the tail and tick tasks. `clock()` is wall-clock seconds (injectable)."""

    def __init__(self, broker: Any, *, clock: Callable[[], float] = time.time, minutes: int = 30,
                 min_interval: float = 0.25, keepalive: float = 15.0, tail_block_ms: int = 1000,
                 send_timeout: float = 10.0, idle_after: float | None = None) -> None:
        self.broker = broker
        self.clock = clock
        self.idle_after = idle_after  # None: warm at start and tail for good; else see `wake`
        self.min_interval = min_interval
        self.keepalive = keepalive
        self.tail_block_ms = tail_block_ms
        self.aggregator = Aggregator(minutes)
        self.hub = Hub(send_timeout=send_timeout)
        self.domains: dict[int, str] = {}
        self.last_id = "$"
        self.renders = 0  # frames rendered (tests count them)
        self._dirty: set[int] = set()
        self._minute = -1
        self._last_sent: dict[Topic, float] = {}
        self._frames: dict[Topic, tuple[int, int, float, str]] = {}  # topic -> (version, minute, at, frame)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._waking: asyncio.Future[None] | None = None
        self._unwatched_since: float | None = None  # monotonic time the last client left (None: watched)
        self.awake = False
        self._closed = False

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Warm and tail at once without `idle_after`; with it, start asleep: nothing is read until `wake`."""
        _ENGINES.add(self)
        if self.idle_after is None:
            await self.wake()
        else:
            LIVE_AWAKE.set(0)

    async def wake(self) -> None:
        """Warm the window from the stream and start tailing it, unless this engine is awake already.

        With `idle_after` set, an engine tails the stream only while it has clients, and for `idle_after` seconds
        after the last one leaves (`_sleep_if_idle`): an instance no dashboard watches spends nothing on live
        windows. Whoever is about to `connect` a client or read a frame awaits this first, with no other await in
        between; it returns at once when awake, and concurrent callers share one warm-up."""
        if self.awake or self._closed:  # closed: a socket racing the shutdown gets the empty window, no new tasks
            return
        if self._waking is None or self._waking.done():
            self._waking = asyncio.ensure_future(self._warm_and_tail())
        try:
            await asyncio.shield(self._waking)
        finally:
            if self._waking is not None and self._waking.done():
                self._waking = None

    async def _warm_and_tail(self) -> None:
        await self.warm()
        if self._closed:
            return
        self._unwatched_since = time.monotonic() if not self.hub.clients else None
        self._tasks = [asyncio.create_task(self._tail_loop(), name="live-tail"),
                       asyncio.create_task(self._tick_loop(), name="live-tick")]
        self.awake = True
        LIVE_AWAKE.set(1)

    def _sleep_if_idle(self) -> bool:
        """Stop tailing and drop the windows once no client has been connected for `idle_after` seconds (the tick
        task calls this; it ends itself when it answers True)."""
        if self.idle_after is None or self.hub.clients:
            self._unwatched_since = None
            return False
        mono = time.monotonic()
        if self._unwatched_since is None:
            self._unwatched_since = mono
        if mono - self._unwatched_since < self.idle_after:
            return False
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._tasks = []
        self.aggregator = Aggregator(self.aggregator.minutes)
        self.last_id = "$"
        self._dirty.clear()
        self._last_sent.clear()
        self._frames.clear()
        self._minute = -1
        self._waking = None
        self.awake = False
        LIVE_AWAKE.set(0)
        log.info("live engine asleep: no client for %g s; it wakes when one connects", self.idle_after)
        return True

    def close_clients(self) -> None:
        for client in list(self.hub.clients):
            client.close(CLOSE_RESTART, "server restart")

    async def close(self) -> None:
        self._closed = True
        _ENGINES.discard(self)
        self.close_clients()
        if self._waking is not None:
            self._waking.cancel()
            await asyncio.gather(self._waking, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.awake = False

    async def warm(self) -> int:
        """Load the window from the stream (it keeps >= 35 min), so a new instance never starts from zero."""
        since = self.now_ms() - (self.aggregator.minutes + 1) * 60_000
        count = 0
        try:
            entries = await self.broker.range_since(since, WARM_PAGE)
            self.last_id = f"{since}-0"
            while entries:
                self.aggregator.add_entries(entries, self.now_ms())
                count += len(entries)
                self.last_id = entries[-1].id
                if len(entries) < WARM_PAGE:
                    break
                entries = await self.broker.tail(self.last_id, WARM_PAGE, 0)
        except Exception:
            log.warning("could not warm the live window from the stream; starting empty", exc_info=True)
        self.aggregator.advance(self.now_ms())
        log.info("live window warmed with %d events", count)
        return count

    # -- tail -------------------------------------------------------------------------------------
    async def _tail_loop(self) -> None:
        while True:
            try:
                entries = await self.broker.tail(self.last_id, 2000, self.tail_block_ms)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live tail failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if entries:
                self.ingest(entries)

    def ingest(self, entries: list[Any]) -> set[int]:
        """Count stream entries and wake the ticker (the tail task calls this; tests may too)."""
        if not entries:
            return set()
        changed = self.aggregator.add_entries(entries, self.now_ms())
        self.last_id = entries[-1].id
        self._mark_dirty(changed)
        return changed

    def _mark_dirty(self, sites: set[int]) -> None:
        """Sites whose frames are stale; the tick task wakes only for a site not already waiting for it. A dirty
        site is either due at the next tick (woken already) or held by `min_interval` (the tick task's timeout is
        its due time): waking for it again would render nothing. Tailing brings a batch every few ms under
        load, while a site renders at most 4 times a second."""
        if sites and not sites <= self._dirty:
            self._dirty |= sites
            self._wake.set()

    # -- tick -------------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_wait())
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                self.tick()
            except Exception:
                log.exception("live tick failed")
            if self._sleep_if_idle():
                return

    def _next_wait(self) -> float:
        mono = time.monotonic()
        wait = 1.0  # expiry (current visitors, minutes) needs the clock to move the windows
        for topic in self.hub.topics():
            last = self._last_sent.get(topic, 0.0)
            due = last + (self.min_interval if topic[0] in self._dirty else self.keepalive)
            wait = min(wait, due - mono)
        return max(wait, 0.005)

    def tick(self) -> int:
        """One tick; returns the number of frames rendered."""
        started = time.perf_counter()
        now_ms = self.now_ms()
        mono = time.monotonic()
        self._dirty |= self.aggregator.advance(now_ms)
        watched = self.hub.watched_sites()
        if now_ms // 60_000 != self._minute:
            self._minute = now_ms // 60_000
            self._dirty |= watched  # per_minute moved on for everyone
        snapshots: dict[int, Snapshot] = {}
        rendered = 0
        held: set[int] = set()
        for topic in self.hub.topics():
            site_id, kind = topic
            last = self._last_sent.get(topic, 0.0)
            if site_id in self._dirty:
                if mono - last < self.min_interval:
                    held.add(site_id)
                    continue
            elif mono - last < self.keepalive:
                continue
            snap = snapshots.get(site_id)
            if snap is None:
                snap = snapshots[site_id] = self.snapshot(site_id, now_ms)
            frame = self._render(topic, snap, now_ms)
            rendered += 1
            self.hub.publish(topic, frame)
            self._last_sent[topic] = mono
        self._dirty = held | (self._dirty - watched)  # unwatched sites stay marked: no wake-ups for them
        for topic in [t for t in self._last_sent if t[0] not in watched]:
            self._last_sent.pop(topic, None)
            self._frames.pop(topic, None)
        if rendered:
            LIVE_TICK_SECONDS.observe(time.perf_counter() - started)
        return rendered

    def _render(self, topic: Topic, snap: Snapshot, now_ms: int) -> str:
        frame = render_frame(topic[1], snap)
        self.renders += 1
        self._frames[topic] = (snap.version, now_ms // 60_000, time.monotonic(), frame)
        return frame

    def snapshot(self, site_id: int, now_ms: int | None = None) -> Snapshot:
        now_ms = self.now_ms() if now_ms is None else now_ms
        return self.aggregator.snapshot(site_id, self.domains.get(site_id, ""), now_ms)

    def frame(self, site_id: int, kind: str) -> str:
        """The current frame of a topic for a client that just connected: the last one rendered when the window
        has not changed since (so N clients connecting at once cost one render), else a fresh one."""
        topic = (site_id, kind)
        now_ms = self.now_ms()
        self._mark_dirty(self.aggregator.advance(now_ms))
        cached = self._frames.get(topic)
        if cached is not None and cached[0] == self.aggregator.version(site_id) and cached[1] == now_ms // 60_000 \
                and time.monotonic() - cached[2] < 1.0:
            return cached[3]
        return self._render(topic, self.snapshot(site_id, now_ms), now_ms)

    # -- clients ----------------------------------------------------------------------------------
    def connect(self, kind: str, sites: list[tuple[int, str]], auth: dict[str, Any] | None = None) -> Client:
        """Register a client watching `sites` ([(id, domain)]) on channel `kind`; its first frames are queued."""
        for site_id, domain in sites:
            self.domains[site_id] = domain
        # a site nobody watched stays marked dirty only so that its batches wake nothing; watched now, its next
        # batch must wake the tick task
        self._dirty -= {site_id for site_id, _ in sites} - self.hub.watched_sites()
        client = self.hub.connect(kind, tuple((site_id, kind) for site_id, _ in sites), auth)
        for topic in client.topics:
            client.offer(topic, self.frame(topic[0], kind))
            self._last_sent.setdefault(topic, time.monotonic())
        return client

    # -- access changes ---------------------------------------------------------------------------
    def on_access_change(self, change: Any) -> int:
        """Close the sockets an access change affects (an AccessFeed listener); returns how many."""
        match = client_matcher(change.kind, dict(change.subject or {}))
        if change.kind == "site_deleted" and change.subject.get("site_id") is not None:
            self.aggregator.drop(int(change.subject["site_id"]))
        if match is None:
            return 0
        closed = self.hub.close_where(match)
        if closed:
            log.info("closed %d live socket(s) after %s", closed, change.kind)
        return closed


def client_matcher(kind: str, subject: dict[str, Any]) -> Callable[[Client], bool] | None:
    """Which clients an access change of `kind` with `subject` (see trail/store/meta/outbox users) affects."""
    def same(client: Client, field: str) -> bool:
        return subject.get(field) is not None and client.auth.get(field) == subject.get(field)

    if kind == "key_revoked":
        return lambda c: c.kind == "json" and (same(c, "key_id") or same(c, "key_hash"))
    if kind == "wall_revoked":
        return lambda c: c.kind == "wall" and (same(c, "wall_id") or same(c, "token_hash"))
    if kind == "share_revoked":
        return lambda c: bool(c.auth.get("share")) and (
            same(c, "token_hash") or (subject.get("site_id") is not None and int(subject["site_id"]) in c.site_ids))
    if kind == "sessions_revoked":  # signed out everywhere or password changed
        return lambda c: same(c, "user_id")
    if kind == "member_removed":
        return lambda c: same(c, "user_id") and same(c, "team_id")
    if kind == "site_deleted":
        return lambda c: subject.get("site_id") is not None and int(subject["site_id"]) in c.site_ids
    return None

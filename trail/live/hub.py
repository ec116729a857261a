"""Websocket fan-out: one bounded mailbox per client holding only the latest frame of each topic it watches.

A topic is (site id, channel kind). The ticker renders a topic once and `publish`es the frame; the hub puts it
in every subscriber's mailbox, replacing a frame the client has not taken yet (frames are full states, so a
slow client skips to the latest instead of building a backlog). A client that cannot take a frame within
`send_timeout` is dropped. Memory is bounded by clients x topics, whatever the event rate.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from trail.metrics import WEBSOCKET_CLIENTS

log = logging.getLogger("trail.live")

Topic = tuple[int, str]
Frame = str
CLOSE_REVOKED = 4403  # access revoked: htmx's ws extension does not reconnect after it
CLOSE_TOO_SLOW = 1013  # "try again later": the client may reconnect


class Client:
    """One open websocket: what it watches, who it is (for access changes) and its mailbox."""

    __slots__ = ("kind", "topics", "auth", "pending", "wake", "closed", "sent", "coalesced")

    def __init__(self, kind: str, topics: tuple[Topic, ...], auth: dict[str, Any]) -> None:
        self.kind = kind
        self.topics = topics
        self.auth = auth
        self.pending: dict[Topic, Frame] = {}
        self.wake = asyncio.Event()
        self.closed: tuple[int, str] | None = None
        self.sent = 0
        self.coalesced = 0  # frames replaced before the client took them

    @property
    def site_ids(self) -> set[int]:
        return {site_id for site_id, _ in self.topics}

    def offer(self, topic: Topic, frame: Frame) -> None:
        if topic in self.pending:
            self.coalesced += 1
        self.pending[topic] = frame
        self.wake.set()

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self.pending.clear()
            self.wake.set()


class Hub:
    """The clients of this instance by topic."""

    def __init__(self, send_timeout: float = 10.0) -> None:
        self.send_timeout = send_timeout
        self.clients: set[Client] = set()
        self._subs: dict[Topic, set[Client]] = {}

    def connect(self, kind: str, topics: tuple[Topic, ...], auth: dict[str, Any] | None = None) -> Client:
        client = Client(kind, topics, dict(auth or {}))
        self.clients.add(client)
        for topic in topics:
            self._subs.setdefault(topic, set()).add(client)
        WEBSOCKET_CLIENTS.labels(kind).inc()
        return client

    def disconnect(self, client: Client) -> None:
        if client not in self.clients:
            return
        self.clients.discard(client)
        for topic in client.topics:
            subs = self._subs.get(topic)
            if subs is not None:
                subs.discard(client)
                if not subs:
                    del self._subs[topic]
        client.pending.clear()
        WEBSOCKET_CLIENTS.labels(client.kind).dec()

    def topics(self) -> list[Topic]:
        """Topics with at least one client."""
        return list(self._subs)

    def watched_sites(self) -> set[int]:
        return {site_id for site_id, _ in self._subs}

    def publish(self, topic: Topic, frame: Frame) -> int:
        """Put frame in the mailbox of every client of topic; returns how many."""
        subs = self._subs.get(topic, ())
        for client in subs:
            client.offer(topic, frame)
        return len(subs)

    def close_where(self, match: Callable[[Client], bool], code: int = CLOSE_REVOKED,
                    reason: str = "access revoked") -> int:
        """Close every client for which match(client) holds; returns how many."""
        hit = [c for c in self.clients if c.closed is None and match(c)]
        for client in hit:
            client.close(code, reason)
        return len(hit)

    async def pump(self, client: Client, send: Callable[[Frame], Awaitable[None]]) -> tuple[int, str]:
        """Send the client's frames until the hub closes it or it stops taking them; always disconnects it.
        Returns the (code, reason) to close the websocket with."""
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                if client.closed is not None:
                    return client.closed
                batch, client.pending = client.pending, {}
                for frame in batch.values():
                    try:
                        # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every send in a new Task,
                        # a per-client, per-frame cost that dominated the fan-out with 1,000 sockets.
                        async with asyncio.timeout(self.send_timeout):
                            await send(frame)
                    except TimeoutError:
                        log.info("dropping a %s websocket that took no frame for %.0f s", client.kind,
                                 self.send_timeout)
                        client.close(CLOSE_TOO_SLOW, "too slow")
                        return client.closed  # type: ignore[return-value]
                    client.sent += 1
        finally:
            self.disconnect(client)

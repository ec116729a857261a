"""Websocket fan-out: frames sent inline by the publisher, a bounded mailbox per client for when it cannot take one.

A topic is (site id, channel kind). The ticker renders a topic once and `publish`es the frame; the hub sends it
to every subscriber in that same loop (no task per client per frame: see trail/live/eager.py). A client whose
previous send is still waiting for its socket gets the frame in its mailbox instead, which holds only the
latest frame per topic (frames are full states, so a slow client skips to the latest instead of building a
backlog). A client whose send waits longer than `send_timeout` is dropped. Memory is bounded by clients x
topics, whatever the event rate.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Coroutine

from trail.live import eager
from trail.metrics import WEBSOCKET_CLIENTS

log = logging.getLogger("trail.live")

Topic = tuple[int, str]
Frame = str
Sender = Callable[[Frame], Coroutine[Any, Any, None]]  # a coroutine function: the hub steps it itself
CLOSE_REVOKED = 4403  # access revoked: htmx's ws extension does not reconnect after it
CLOSE_TOO_SLOW = 1013  # "try again later": the client may reconnect


class Client:
    """One open websocket: what it watches, who it is (for access changes), its sender and its mailbox.

    Until a sender is attached (`Hub.pump`), and while a send is stuck waiting for the socket, frames wait in
    `pending` (the latest one per topic); otherwise a frame is sent at once by the publishing task (`deliver`).
    """

    __slots__ = ("kind", "topics", "auth", "pending", "wake", "closed", "error", "sent", "coalesced", "send",
                 "busy", "send_timeout")

    def __init__(self, kind: str, topics: tuple[Topic, ...], auth: dict[str, Any]) -> None:
        self.kind = kind
        self.topics = topics
        self.auth = auth
        self.pending: dict[Topic, Frame] = {}
        self.wake = asyncio.Event()  # set when the client is closed: its connection then ends
        self.closed: tuple[int, str] | None = None
        self.error: BaseException | None = None  # what a send raised (the socket went away)
        self.sent = 0
        self.coalesced = 0  # frames replaced before the client took them
        self.send: Sender | None = None
        self.busy: asyncio.Task[None] | None = None  # finishing a send that had to wait for the socket
        self.send_timeout = 10.0

    @property
    def site_ids(self) -> set[int]:
        return {site_id for site_id, _ in self.topics}

    def offer(self, topic: Topic, frame: Frame) -> None:
        """Send frame now if the client can take it, else keep it as the topic's latest."""
        if self.closed is not None:
            return
        if self.busy is None and self.send is not None:
            self.deliver(frame)
            return
        if topic in self.pending:
            self.coalesced += 1
        self.pending[topic] = frame

    def deliver(self, frame: Frame) -> None:
        """Run the send inline; only a send that has to wait for the socket gets a task of its own."""
        try:
            coro = self.send(frame)  # type: ignore[misc]
            done, waiting = eager.start(coro)
        except Exception as exc:  # the socket went away: end the connection with the error
            self.fail(exc)
            return
        if done:
            self.sent += 1
        else:
            self.busy = asyncio.get_running_loop().create_task(self._finish(coro, waiting))

    async def _finish(self, coro: Any, waiting: Any) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await eager.resume(coro, waiting)
        except TimeoutError:
            log.info("dropping a %s websocket that took no frame for %.0f s", self.kind, self.send_timeout)
            self.close(CLOSE_TOO_SLOW, "too slow")
            return
        except Exception as exc:
            self.fail(exc)
            return
        self.sent += 1
        self.busy = None
        self.flush()

    def flush(self) -> None:
        """Send the frames kept while the client could not take them (oldest topic first)."""
        while self.pending and self.busy is None and self.closed is None and self.send is not None:
            topic = next(iter(self.pending))
            self.deliver(self.pending.pop(topic))

    def fail(self, exc: BaseException) -> None:
        if self.closed is None:
            self.error = exc
            self.close(1011, "send failed")

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
        """Send frame to every client of topic (or into its mailbox when it cannot take it now); returns how
        many. The sends run here, in the publishing task, one after the other."""
        subs = self._subs.get(topic)
        if not subs:
            return 0
        for client in list(subs):  # a send may end a connection; its disconnect must not upset the loop
            client.offer(topic, frame)
        return len(subs)

    def close_where(self, match: Callable[[Client], bool], code: int = CLOSE_REVOKED,
                    reason: str = "access revoked") -> int:
        """Close every client for which match(client) holds; returns how many."""
        hit = [c for c in self.clients if c.closed is None and match(c)]
        for client in hit:
            client.close(code, reason)
        return len(hit)

    async def pump(self, client: Client, send: Sender) -> tuple[int, str]:
        """Send the client's frames with `send` until the hub closes it or it stops taking them; always
        disconnects it. Returns the (code, reason) to close the websocket with; raises what a send raised.

        Frames are sent by whoever publishes them (`Client.deliver`), not by a task of this client: a send that
        does not have to wait costs no task switch. A send that waits longer than `send_timeout` closes the
        client with 1013."""
        client.send_timeout = self.send_timeout
        client.send = send
        try:
            client.flush()
            await client.wake.wait()
            if client.error is not None:
                raise client.error
            return client.closed  # type: ignore[return-value]
        finally:
            client.send = None  # a publish already under way keeps the frame instead of writing to a dead socket
            if client.busy is not None:
                client.busy.cancel()
            self.disconnect(client)

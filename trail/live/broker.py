"""The broker interface: a durable event stream with consumer groups, plus pub/sub and a small TTL cache."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, AsyncContextManager, AsyncIterator, NamedTuple, Sequence

if TYPE_CHECKING:
    from trail.config import Settings


class Entry(NamedTuple):
    """One stream entry: its id ("<ms>-<seq>", ordered like Redis stream ids) and its payload bytes.

    A NamedTuple (immutable, compared by value) rather than a frozen dataclass: every event becomes an Entry once for
    the writer and once for the live engine, and a tuple is made in a third of the time.
    """

    id: str
    data: bytes

    @property
    def ms(self) -> int:
        return int(self.id.split("-", 1)[0])


class BrokerUnavailable(RuntimeError):
    """The broker cannot be reached."""


class Broker(abc.ABC):
    """Redis streams + pub/sub in production; an in-process broker with an on-disk spool when embedded."""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise BrokerUnavailable when the broker does not answer."""

    # -- the event stream -------------------------------------------------
    @abc.abstractmethod
    async def append(self, payloads: Sequence[bytes]) -> list[str]:
        """Durably append payloads (one round trip / one group commit); return their ids, in order."""

    @abc.abstractmethod
    async def ensure_group(self, group: str) -> None:
        """Create the consumer group at the start of the stream if it does not exist."""

    @abc.abstractmethod
    async def read_group(self, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries for this consumer (they become pending until acked); wait up to block_ms."""

    @abc.abstractmethod
    async def read_pending(self, group: str, consumer: str, count: int) -> list[Entry]:
        """This consumer's own delivered-but-unacked entries, oldest first."""

    @abc.abstractmethod
    async def claim_stale(self, group: str, consumer: str, min_idle_ms: int) -> list[list[Entry]]:
        """Take over the pending entries of other consumers idle for min_idle_ms; one list per dead consumer."""

    @abc.abstractmethod
    async def ack(self, group: str, ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    async def lag(self, group: str) -> int:
        """Entries not yet acknowledged by the group: pending plus not yet delivered."""

    @abc.abstractmethod
    async def oldest_unacked(self, group: str) -> str | None:
        """Id of the oldest entry the group has not acknowledged (pending or undelivered), or None."""

    @abc.abstractmethod
    async def length(self) -> int: ...

    @abc.abstractmethod
    async def tail(self, after_id: str, count: int, block_ms: int) -> list[Entry]:
        """Entries after `after_id` ("$" = only new ones), waiting up to block_ms; no group, no ack."""

    @abc.abstractmethod
    async def range_since(self, since_ms: int, count: int | None = None) -> list[Entry]:
        """Entries with id time >= since_ms, oldest first (to warm a live window)."""

    @abc.abstractmethod
    async def trim(self, min_id: str) -> int:
        """Drop entries older than min_id (XTRIM MINID); return how many went."""

    # -- pub/sub ----------------------------------------------------------
    @abc.abstractmethod
    async def publish(self, channel: str, message: bytes) -> None: ...

    @abc.abstractmethod
    def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        """Messages published on channel after the call, until the iterator is closed."""

    @abc.abstractmethod
    def subscription(self, channel: str) -> AsyncContextManager[AsyncIterator[bytes]]:
        """`async with broker.subscription(ch) as messages:` enters only once the subscription is active,
        so every message published after entering is delivered; leaving unsubscribes.
        (subscribe() subscribes lazily, at the iterator's first __anext__.)"""

    # -- small shared cache (sessions, rate limits, site lookups) ---------
    @abc.abstractmethod
    async def cache_get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def cache_get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """`cache_get` of each key, in order (Redis: one MGET)."""
        return [await self.cache_get(key) for key in keys]

    async def cache_set_many(self, items: Sequence[tuple[str, bytes]], ttl_s: float) -> None:
        """`cache_set` of each (key, value) pair, all with the same TTL (Redis: in one command)."""
        for key, value in items:
            await self.cache_set(key, value, ttl_s)

    @abc.abstractmethod
    async def cache_delete(self, key: str) -> None: ...


def open_broker(settings: "Settings") -> Broker:
    """Redis when settings.redis_url is set, else the embedded broker spooling to <data_dir>/spool (not started)."""
    if settings.redis_url:
        from trail.live.redis_broker import RedisBroker

        return RedisBroker(settings.redis_url, settings.redis_prefix)
    from trail.live.memory_broker import MemoryBroker

    return MemoryBroker(Path(settings.data_dir) / "spool", commit_spacing_ms=settings.spool_commit_ms)

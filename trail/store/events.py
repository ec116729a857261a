"""The event store interface: ClickHouse over asynch (server) or chDB (in-process), one SQL dialect."""

from __future__ import annotations

import abc
from typing import Any, Mapping, Sequence


class EventStoreError(RuntimeError):
    """ClickHouse refused or could not run a statement; the message carries the server's reason."""


class EventStoreUnavailable(EventStoreError):
    """The ClickHouse server cannot be reached (connection refused, timeout, restart in progress)."""


class EventStore(abc.ABC):
    """Runs ClickHouse SQL. Placeholders are ClickHouse's own `{name:Type}`, bound by trail.store.sqlquote.bind."""

    database: str

    @abc.abstractmethod
    async def start(self) -> None:
        """Open connections; create the database when missing."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and threads."""

    @abc.abstractmethod
    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows (DDL, ALTER, INSERT ... SELECT)."""

    @abc.abstractmethod
    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a SELECT; return (column names, rows)."""

    @abc.abstractmethod
    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]], dedup_token: str | None = None) -> None:
        """Insert rows (dicts keyed by column) in one INSERT; a repeated dedup_token is not inserted twice."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise EventStoreUnavailable when the store does not answer."""


def open_event_store(url: str) -> EventStore:
    """The EventStore for `url`: `chdb:///abs/path[?database=NAME]` (in-process) or `clickhouse://...` (asynch)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "chdb":
        from trail.store.chdb_store import ChdbEventStore

        return ChdbEventStore(url)
    if scheme == "clickhouse":
        from trail.store.asynch_store import AsynchEventStore

        return AsynchEventStore(url)
    raise EventStoreError(f"unsupported event store URL {url!r}: expected chdb:///<abs path> or clickhouse://host:9000/db")

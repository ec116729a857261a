"""The event store interface: ClickHouse over asynch (server) or chDB (in-process), one SQL dialect."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence, overload


class EventStoreError(RuntimeError):
    """ClickHouse refused or could not run a statement; the message carries the server's reason."""


class EventStoreUnavailable(EventStoreError):
    """The ClickHouse server cannot be reached (connection refused, timeout, restart in progress)."""


@dataclass(frozen=True)
class JsonRowFormat:
    """How rows kept as JSON objects map onto a table: the JSON fields' ClickHouse types (`structure`), the SELECT
    list that turns them into the table's columns in order (`select`), a cheap `check` that a line is a row, and
    `decode` to Python values for stores that insert those."""

    structure: str
    select: str
    check: Callable[[bytes], bool]
    decode: Callable[[bytes], Mapping[str, Any]]


class JsonRows(Sequence[Mapping[str, Any]]):
    """Rows as JSON lines. A store that reads JSON (chDB) inserts the lines as they are; any other store sees the
    decoded rows, so every store accepts them wherever it accepts a sequence of rows."""

    def __init__(self, lines: Sequence[bytes], fmt: JsonRowFormat) -> None:
        self.lines = lines
        self.format = fmt

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self.format.decode(line) for line in self.lines[index]]
        return self.format.decode(self.lines[index])

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return (self.format.decode(line) for line in self.lines)


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

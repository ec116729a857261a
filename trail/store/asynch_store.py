"""EventStore on a ClickHouse server over asynch (native TCP): a small pool, timeouts, reconnects, mapped errors."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from asynch.connection import Connection
from asynch.errors import (
    ClickHouseException,
    NetworkError,
    OperationalError,
    PartiallyConsumedQueryError,
    ServerException,
    SocketTimeoutError,
    UnexpectedPacketFromServerError,
    UnknownPacketFromServerError,
)

from trail.store.events import EventStore, EventStoreError, EventStoreUnavailable
from trail.store.sqlquote import bind, qualified_table, quote_identifier

log = logging.getLogger(__name__)

# insert_deduplication_token exists from ClickHouse 22.2; older servers (Debian's 18.16) reject unknown settings.
DEDUP_TOKEN_MIN_VERSION = (22, 2)

# Errors meaning "the connection or the server is gone": the connection is discarded and the store is unavailable.
_LINK_ERRORS: tuple[type[BaseException], ...] = (
    NetworkError, SocketTimeoutError, OperationalError, UnexpectedPacketFromServerError,
    UnknownPacketFromServerError, PartiallyConsumedQueryError, OSError, EOFError, asyncio.TimeoutError,
    asyncio.IncompleteReadError,
)


def _server_message(exc: ServerException) -> str:
    return f"ClickHouse error {exc.code}: {exc.message}".strip()


class AsynchEventStore(EventStore):
    """ClickHouse server event store. URL: `clickhouse://user:pw@host:9000/db?pool_size=4&connect_timeout=3
    &send_receive_timeout=60`. Rows come back with the driver's types (int, float, str, Decimal, date, uuid.UUID),
    DateTime columns as timezone-aware datetimes (the column's zone, else the server's)."""

    def __init__(self, url: str, *, pool_size: int | None = None, connect_timeout: float | None = None,
                 send_receive_timeout: float | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "clickhouse":
            raise EventStoreError(f"not a clickhouse:// URL: {url!r}")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 9000
        self.user = unquote(parts.username or "default")
        self.password = unquote(parts.password or "")
        self.database = unquote(parts.path.lstrip("/")) or "default"
        self.pool_size = pool_size or int(query.get("pool_size", 4))
        self.connect_timeout = connect_timeout or float(query.get("connect_timeout", 3))
        self.send_receive_timeout = send_receive_timeout or float(query.get("send_receive_timeout", 60))
        self._idle: list[Connection] = []
        self._sem = asyncio.Semaphore(self.pool_size)
        self._closed = False
        self.server_version: tuple[int, int, int] | None = None
        self._warned_dedup = False

    # --- pool -----------------------------------------------------------------------------------------------------

    async def _connect(self, database: str) -> Connection:
        conn = Connection(host=self.host, port=self.port, user=self.user, password=self.password,
                          database=database, connect_timeout=self.connect_timeout,
                          send_receive_timeout=self.send_receive_timeout,
                          sync_request_timeout=self.connect_timeout)
        try:
            await asyncio.wait_for(conn.connect(), timeout=self.connect_timeout * 2)
        except ServerException as exc:  # the server answered and refused us (auth, unknown database)
            await _close_quietly(conn)
            raise EventStoreError(_server_message(exc)) from None
        except (*_LINK_ERRORS, ClickHouseException) as exc:
            await _close_quietly(conn)
            raise EventStoreUnavailable(f"ClickHouse at {self.host}:{self.port} is unreachable: {exc}") from None
        info = conn._connection.server_info  # asynch keeps the hello packet's ServerInfo here
        if info is not None:
            self.server_version = info.version_tuple()
        return conn

    async def _run(self, op: str, sql: str, data: Any = None, settings: Mapping[str, Any] | None = None,
                   retry: bool = True) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one statement on a pooled connection. Reads on a reused connection that turns out dead are retried
        once on a fresh connection; inserts are never retried here (the writer retries with the same dedup token)."""
        if self._closed:
            raise EventStoreError("the ClickHouse event store is closed")
        async with self._sem:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect(self.database)
            try:
                result = await self._execute(conn, sql, data, settings)
            except ServerException as exc:
                self._idle.append(conn)  # the exception packet leaves the stream usable
                raise EventStoreError(_server_message(exc)) from None
            except _LINK_ERRORS as exc:
                await _close_quietly(conn)
                if not (retry and reused and data is None):
                    raise EventStoreUnavailable(f"ClickHouse at {self.host}:{self.port} failed during {op}: "
                                                f"{exc or type(exc).__name__}") from None
                log.info("ClickHouse connection broke during %s (%s); retrying once on a fresh one", op, exc)
            except BaseException as exc:  # client-side errors (bad row data) may leave the protocol half-written
                await _close_quietly(conn)
                if isinstance(exc, (ClickHouseException, TypeError, ValueError, KeyError)):
                    raise EventStoreError(f"{op} failed: {exc}") from None
                raise
            else:
                self._idle.append(conn)
                return result
        return await self._run(op, sql, data, settings, retry=False)

    async def _execute(self, conn: Connection, sql: str, data: Any,
                       settings: Mapping[str, Any] | None) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = conn.cursor()
        if settings:
            cursor.set_settings(dict(settings))
        await cursor.execute(sql, data)
        if data is not None:
            return [], []
        rows = await cursor.fetchall()
        description = cursor.description or []
        columns = [d[0] for d in description]
        types = [d[1] for d in description]
        server_tz = getattr(conn._connection.server_info, "timezone", None) or "UTC"
        return columns, _aware_datetimes(rows, types, server_tz)

    # --- EventStore -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the server answers and create the database (through `default`, since ours may not exist yet)."""
        conn = await self._connect("default")
        try:
            await self._execute(conn, f"CREATE DATABASE IF NOT EXISTS {quote_identifier(self.database)}", None, None)
        except ServerException as exc:
            raise EventStoreError(_server_message(exc)) from None
        except _LINK_ERRORS as exc:
            raise EventStoreUnavailable(f"ClickHouse at {self.host}:{self.port} failed during start: {exc}") from None
        finally:
            await _close_quietly(conn)
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close_quietly(conn)

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        await self._run("execute", bind(sql, params))

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        return await self._run("query", bind(sql, params))

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]], dedup_token: str | None = None) -> None:
        if not rows:
            return
        columns = list(rows[0].keys())
        names = ", ".join(quote_identifier(c) for c in columns)
        sql = f"INSERT INTO {qualified_table(self.database, table)} ({names}) VALUES"
        data = [tuple(_insert_value(row.get(c)) for c in columns) for row in rows]
        settings = {}
        if dedup_token is not None:
            if self.server_version is None or self.server_version[:2] >= DEDUP_TOKEN_MIN_VERSION:
                settings["insert_deduplication_token"] = dedup_token
                settings["deduplicate_blocks_in_dependent_materialized_views"] = 1  # views count a retry once too
            elif not self._warned_dedup:
                # Documented limitation: servers before 22.2 have no dedup tokens; the app schema needs 26.x anyway.
                self._warned_dedup = True
                log.warning("ClickHouse %s has no insert_deduplication_token; inserts are not deduplicated",
                            ".".join(map(str, self.server_version)))
        await self._run("insert", sql, data=data, settings=settings, retry=False)

    async def ping(self) -> None:
        await self._run("ping", "SELECT 1")


def _insert_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)  # naive datetimes are UTC throughout Trail
    return value


def _aware_datetimes(rows: list[tuple[Any, ...]], types: list[str], server_tz: str) -> list[tuple[Any, ...]]:
    """asynch returns naive datetimes in the column's (or server's) zone; attach that zone."""
    zones: list[tuple[int, Any]] = []
    for i, ch_type in enumerate(types):
        base = ch_type.replace("Nullable(", "").replace("LowCardinality(", "")
        if base.startswith("DateTime"):
            name = base.split("'")[1] if "'" in base else server_tz
            zones.append((i, timezone.utc if name == "UTC" else ZoneInfo(name)))
    if not zones:
        return [tuple(r) for r in rows]
    out = []
    for row in rows:
        values = list(row)
        for i, tz in zones:
            if isinstance(values[i], datetime) and values[i].tzinfo is None:
                values[i] = values[i].replace(tzinfo=tz)
        out.append(tuple(values))
    return out


async def _close_quietly(conn: Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=1)
    except BaseException as exc:  # noqa: BLE001 - closing a dead socket must never mask the real error
        if isinstance(exc, asyncio.CancelledError):
            raise

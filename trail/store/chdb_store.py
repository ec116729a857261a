"""EventStore on chDB: the ClickHouse engine in-process, one data dir per process, queries run off the event loop."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import partial
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import orjson

from trail.store.events import EventStore, EventStoreError, EventStoreUnavailable, JsonRows
from trail.store.sqlquote import bind, qualified_table, quote, quote_identifier

# Concurrency finding (chdb 4.4.0, measured on this machine): queries on ONE chdb Session are serialised by an
# internal mutex - a `SELECT 1` issued from a second thread waited 8.5 s for a long scan on the same Session to
# finish - but are otherwise thread-safe (32 concurrent SELECTs from 8 threads all got their own, correct result).
# Separate Sessions on the same path share the catalog and run in parallel (the same `SELECT 1` took 5 ms on a second
# Session). So the engine keeps one Session per worker thread, and the pool has 2 workers: a long stats query cannot
# stall the writer's INSERT or a live tick, while each query still uses all cores through ClickHouse's own threads.
WORKERS = 2

# Every worker Session gets these, so results keep their types: 64-bit integers as JSON numbers, decimals as strings
# (exact), and DateTime values without an explicit zone rendered in UTC whatever the machine's TZ is.
_SESSION_SETTINGS = (
    "SET output_format_json_quote_64bit_integers = 0",
    "SET output_format_json_quote_decimals = 1",
    "SET session_timezone = 'UTC'",
    # decoded rows are inserted inline after FORMAT, in the query text (default limit 256 KiB)
    f"SET max_query_size = {2 * (64 << 20)}",
)
# JSON rows (JsonRows) go in through a file that ClickHouse's file() reads, in its own user_files dir of the data dir:
# against the same lines as one SQL string literal, the calling thread's CPU per batch fell from ~70 to ~10 ms and
# an 11,000-row insert took half the time (chdb 4.4.0, this machine), since the SQL lexer no longer scans the data.
SPILL_DIR = os.path.join("user_files", "trail-inserts")
SPILL_PREFIX, SPILL_SUFFIX = "insert-", ".jsonl"
_GLOB_CHARS = frozenset("*?{}")  # file() reads a path with these as a glob

DEFAULT_DATABASE = "trail"
log = logging.getLogger(__name__)


def _lock_message(path: str) -> str:
    return (f"Cannot lock file {os.path.join(path, 'status')}: another Trail process (e.g. a running `serve`) holds "
            f"the chDB data dir {path}. chDB allows one process per data dir; stop that process first, or point "
            "TRAIL_CLICKHOUSE_URL at a ClickHouse server.")


def _held_by_other_process(path: str) -> bool:
    """True when another process holds ClickHouse's lock on <path>/status (chDB only prints that to stderr)."""
    status = os.path.join(path, "status")
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class _Engine:
    """The process-wide chDB engine of one data dir: a small thread pool whose workers each own a Session."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="chdb")
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self.spill_dir = _spill_dir(path)

    def session(self) -> Any:
        """This worker thread's Session (created on first use)."""
        sess = getattr(self._local, "session", None)
        if sess is None:
            from chdb.session import Session

            os.makedirs(self.path, exist_ok=True)
            try:
                sess = Session(self.path)
            except Exception as exc:
                if _held_by_other_process(self.path):
                    raise EventStoreError(_lock_message(self.path)) from None
                raise EventStoreError(f"cannot open chDB data dir {self.path}: {exc}") from exc
            for statement in _SESSION_SETTINGS:
                sess.query(statement)
            self._local.session = sess
            self._local.database = None
            with self._lock:
                self._sessions.append(sess)
        return sess

    def run(self, database: str, sql: str, fmt: str = "JSONCompact") -> bytes:
        """Run one statement in `database` on this thread's Session; return the raw output."""
        sess = self.session()
        try:
            if self._local.database != database:
                sess.query(f"USE {quote_identifier(database)}")
                self._local.database = database
            result = sess.query(sql, fmt)
        except EventStoreError:
            raise
        except Exception as exc:  # chdb raises ChdbError (a RuntimeError) carrying ClickHouse's message
            raise EventStoreError(str(exc)) from None
        return bytes(result.bytes()) if result is not None else b""

    def run_no_db(self, sql: str) -> None:
        sess = self.session()
        try:
            sess.query(sql)
        except Exception as exc:
            raise EventStoreError(str(exc)) from None


def _spill_dir(path: str) -> str | None:
    """The dir of the JSON insert files under `path`, emptied of a crashed process's leftovers (the engine is made
    once per process, before any insert); None when file() would read its path as a glob, or the dir cannot be
    made (decoded inserts then)."""
    spill = os.path.join(path, SPILL_DIR)
    if _GLOB_CHARS.intersection(spill):
        log.warning("the chDB data dir %s has a glob character in its path: batches are inserted as decoded rows "
                    "(slower)", path)
        return None
    try:
        os.makedirs(spill, exist_ok=True)
        names = os.listdir(spill)
    except OSError as exc:
        log.warning("cannot use %s for inserts (%s): batches are inserted as decoded rows (slower)", spill, exc)
        return None
    for name in names:
        if name.startswith(SPILL_PREFIX) and name.endswith(SPILL_SUFFIX):
            with suppress(OSError):
                os.unlink(os.path.join(spill, name))
    return spill


def _run_from_file(engine: _Engine, database: str, head: str, structure: str, lines: Sequence[bytes]) -> bytes:
    """Write `lines` to a new file of the spill dir, run `<head> file(<path>, JSONEachRow, <structure>)` on it, and
    remove the file."""
    assert engine.spill_dir is not None
    try:
        fd, path = tempfile.mkstemp(prefix=SPILL_PREFIX, suffix=SPILL_SUFFIX, dir=engine.spill_dir)
    except OSError as exc:
        raise EventStoreUnavailable(f"cannot make an insert file in {engine.spill_dir}: {exc}") from None
    try:
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(b"\n".join(lines))
        except OSError as exc:
            raise EventStoreUnavailable(f"cannot write the insert file {path}: {exc}") from None
        return engine.run(database, f"{head} file({quote(path)}, JSONEachRow, {quote(structure)})")
    finally:
        with suppress(OSError):
            os.unlink(path)


_ENGINES: dict[str, _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_for(path: str) -> _Engine:
    """The engine of `path`; chDB allows one data dir per process, so a second path is refused."""
    path = os.path.abspath(path)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(path)
        if engine is None:
            if _ENGINES:
                other = next(iter(_ENGINES))
                raise EventStoreError(f"chDB allows one data dir per process: this process already uses {other}, "
                                      f"cannot also open {path}")
            engine = _ENGINES[path] = _Engine(path)
        return engine


def parse_chdb_url(url: str) -> tuple[str, str]:
    """`chdb:///abs/path?database=NAME` -> (path, database); the database defaults to `trail`."""
    parts = urlsplit(url)
    if parts.scheme != "chdb":
        raise EventStoreError(f"not a chdb URL: {url!r}")
    path = parts.path
    if parts.netloc:
        raise EventStoreError(f"a chdb URL takes an absolute path with three slashes, like chdb:///var/lib/trail, "
                              f"got {url!r}")
    if not path.startswith("/"):
        raise EventStoreError(f"a chdb URL needs an absolute path, got {url!r}")
    database = parse_qs(parts.query).get("database", [DEFAULT_DATABASE])[0]
    return path, database


# --- result types -------------------------------------------------------------------------------------------------

def _strip_wrappers(ch_type: str) -> str:
    for wrapper in ("Nullable(", "LowCardinality("):
        while ch_type.startswith(wrapper):
            ch_type = ch_type[len(wrapper):-1]
    return ch_type


def _datetime_converter(ch_type: str) -> Callable[[Any], Any]:
    tz = timezone.utc
    if "'" in ch_type:
        name = ch_type.split("'")[1]
        tz = timezone.utc if name == "UTC" else ZoneInfo(name)  # type: ignore[assignment]

    def convert(text: Any) -> Any:
        return None if text is None else datetime.fromisoformat(text).replace(tzinfo=tz)

    return convert


def _converter(ch_type: str) -> Callable[[Any], Any] | None:
    """How to turn a JSONCompact value of `ch_type` into its Python type (None: already right)."""
    base = _strip_wrappers(ch_type)
    if base.startswith("Decimal"):
        return lambda v: None if v is None else Decimal(v)
    if base.startswith("DateTime"):
        return _datetime_converter(base)
    if base in ("Date", "Date32"):
        return lambda v: None if v is None else date.fromisoformat(v)
    if base == "UUID":
        return lambda v: None if v is None else uuid.UUID(v)
    if base in ("Int128", "Int256", "UInt128", "UInt256"):
        return lambda v: None if v is None else int(v)
    return None


def _decode(raw: bytes) -> tuple[list[str], list[tuple[Any, ...]]]:
    if not raw.strip():
        return [], []
    doc = orjson.loads(raw)
    meta = doc.get("meta", [])
    columns = [m["name"] for m in meta]
    converters = [(i, conv) for i, m in enumerate(meta) if (conv := _converter(m["type"])) is not None]
    if not converters:
        return columns, [tuple(row) for row in doc["data"]]
    rows = []
    for row in doc["data"]:
        for i, conv in converters:
            row[i] = conv(row[i])
        rows.append(tuple(row))
    return columns, rows


# --- inserts --------------------------------------------------------------------------------------------------------

def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot insert a value of type {type(value).__name__}")


def _insert_body(rows: Sequence[Mapping[str, Any]]) -> bytes:
    option = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
    return b"\n".join(orjson.dumps(row, default=_json_default, option=option) for row in rows)


class ChdbEventStore(EventStore):
    """chDB event store. Query results: ints/floats as JSON gives them (UInt64 -> int), Decimal -> Decimal,
    Date -> date, DateTime/DateTime64 -> timezone-aware datetime (the column's zone, UTC when it has none),
    UUID -> uuid.UUID, Map -> dict, Array -> list."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path, self.database = parse_chdb_url(url)
        self._engine: _Engine | None = None

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._engine is None:
            raise EventStoreError("the chDB event store is not started (call start() first)")
        return await asyncio.get_running_loop().run_in_executor(self._engine.executor, partial(fn, *args))

    async def start(self) -> None:
        if self._engine is not None:
            return
        self._engine = _engine_for(self.path)
        try:
            await self._call(self._engine.run_no_db, f"CREATE DATABASE IF NOT EXISTS {quote_identifier(self.database)}")
        except BaseException:
            self._engine = None
            raise

    async def close(self) -> None:
        # The engine (and its Sessions) lives as long as the process: chDB cannot reopen cheaply, and other stores in
        # this process (another database, the test suite) share it.
        self._engine = None

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        await self._call(self._run, bind(sql, params))

    def _run(self, sql: str) -> bytes:
        assert self._engine is not None
        return self._engine.run(self.database, sql)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        raw = await self._call(self._run, bind(sql, params))
        return _decode(raw)

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]], dedup_token: str | None = None) -> None:
        if not rows:
            return
        settings = ["date_time_input_format = 'best_effort'"]
        if dedup_token is not None:
            settings.append(f"insert_deduplication_token = {quote(dedup_token)}")
            # a deduplicated retry must not reach the materialized views either (the default in 26.x; explicit)
            settings.append("deduplicate_blocks_in_dependent_materialized_views = 1")
        target = qualified_table(self.database, table)
        engine = self._engine
        if isinstance(rows, JsonRows) and engine is not None and engine.spill_dir is not None:
            # the lines go in as they are: no Python values made and encoded again, and no SQL literal to lex
            settings.append("input_format_skip_unknown_fields = 1")
            head = f"INSERT INTO {target} SETTINGS {', '.join(settings)} SELECT {rows.format.select} FROM"
            await self._call(_run_from_file, engine, self.database, head, rows.format.structure, rows.lines)
            return
        head = f"INSERT INTO {target} SETTINGS {', '.join(settings)} FORMAT JSONEachRow\n"
        try:
            body = await asyncio.to_thread(_insert_body, rows) if len(rows) > 5000 else _insert_body(rows)
        except TypeError as exc:
            raise EventStoreError(f"insert into {table} failed: {exc}") from None
        await self._call(self._run, head + body.decode())

    async def ping(self) -> None:
        await self.query("SELECT 1")

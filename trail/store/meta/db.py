"""Async engine and sessions of the metadata store, for `mysql+aiomysql://` and `sqlite+aiosqlite:///` URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
MYSQL_POOL_RECYCLE_S = 1800


def is_sqlite(url: str | URL) -> bool:
    """True for a SQLite URL (the embedded default)."""
    return make_url(url).get_backend_name() == "sqlite"


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() != "wal":
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except Exception as exc:  # the driver's OperationalError, wrapped by the async adapter
                # Switching needs an exclusive lock and SQLite may refuse at once instead of waiting: another
                # connection is then opening the fresh file, and WAL (a persistent mode) is set by whoever wins.
                if "locked" not in str(exc):
                    raise
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def create_meta_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An async engine for the URL: pre-ping and recycle on MySQL; WAL, busy timeout and foreign keys on SQLite."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **kwargs.pop("connect_args", {})}
        engine = create_async_engine(parsed, connect_args=connect_args, **kwargs)
        sa.event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    if backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_recycle", MYSQL_POOL_RECYCLE_S)
        return create_async_engine(parsed, **kwargs)
    raise ValueError(f"unsupported metadata database URL {safe_url(parsed)!r} (use mysql+aiomysql:// or "
                     "sqlite+aiosqlite:///)")


class MetaStore:
    """Owns the engine and session factory of the metadata store; `close()` disposes the pool."""

    def __init__(self, url: str | URL, **engine_kwargs: Any) -> None:
        self.url = make_url(url)
        self.engine = create_meta_engine(self.url, **engine_kwargs)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        """A new session; use as `async with store.session() as session:` and commit explicitly."""
        return self.sessionmaker()

    async def ping(self) -> None:
        """Run `SELECT 1`; raises (sqlalchemy.exc.OperationalError, OSError...) when the database is unreachable."""
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> "MetaStore":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

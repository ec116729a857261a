"""Runs the metadata migrations (Alembic, configured in code) up to head; safe to call on every start."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError

from trail.store.meta.db import create_meta_engine, sqlite_path

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
LOCK_TIMEOUT_S = 60


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic Config built in code: no alembic.ini, script location relative to this module."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        rendered = make_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, cfg: Config) -> list[str]:
    applied: list[str] = []

    def on_apply(*, step: Any, **_kw: Any) -> None:
        if step.is_upgrade:
            applied.append(step.up_revision_id)

    cfg.attributes["connection"] = connection
    cfg.attributes["on_version_apply"] = on_apply
    command.upgrade(cfg, "head")
    return applied


async def current_revision(url: str | URL) -> str | None:
    """The revision the database is at (None when never migrated)."""
    engine = create_meta_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    finally:
        await engine.dispose()


async def _sqlite_lock(path: Path) -> int:
    """A process-wide file lock beside the SQLite file, polled so that the event loop keeps running."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise TimeoutError(f"another process holds {path}.migrate.lock for over {LOCK_TIMEOUT_S}s") from None
            await asyncio.sleep(0.05)


async def migrate_meta(url: str | URL) -> list[str]:
    """Upgrade the metadata database at `url` to head; returns the revisions applied (empty when up to date).

    Concurrent callers are serialised: a named lock on MySQL, a file lock beside the SQLite file.
    """
    head = head_revision()
    engine = create_meta_engine(url)
    lock_fd: int | None = None
    try:
        try:
            async with engine.connect() as conn:
                if await conn.run_sync(_current) == head:
                    return []
        except DBAPIError as exc:
            if exc.connection_invalidated or isinstance(exc.orig, OSError):
                raise
            # A concurrent migration may be changing the schema under this read: decide again under the lock.
        path = sqlite_path(url) if engine.dialect.name == "sqlite" else None
        if path is not None:
            lock_fd = await _sqlite_lock(path)
        mysql_lock = f"trail_migrate:{make_url(url).database}"[:64] if engine.dialect.name != "sqlite" else None
        async with engine.connect() as conn:
            if mysql_lock is not None:
                got = await conn.scalar(sa.text("SELECT GET_LOCK(:n, :t)"), {"n": mysql_lock, "t": LOCK_TIMEOUT_S})
                if got != 1:
                    raise TimeoutError(f"could not take the migration lock {mysql_lock!r} within {LOCK_TIMEOUT_S}s")
                await conn.commit()
            try:
                async with conn.begin():
                    return await conn.run_sync(_upgrade, alembic_config(url))
            finally:
                if mysql_lock is not None:
                    await conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": mysql_lock})
                    await conn.commit()
    finally:
        if lock_fd is not None:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)
        await engine.dispose()

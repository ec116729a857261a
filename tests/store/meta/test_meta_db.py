"""Tests of trail.store.meta.db: engine settings per backend, ping, close."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from trail.store.meta import MetaStore, create_meta_engine
from trail.store.meta.db import safe_url, sqlite_path


async def test_ping_both_backends(store: MetaStore) -> None:
    await store.ping()
    assert store.dialect in ("sqlite", "mysql", "mariadb")


async def test_sqlite_creates_directory_and_sets_pragmas(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/a/b/trail.db"
    store = MetaStore(url)
    try:
        await store.ping()
        async with store.engine.connect() as conn:
            assert (await conn.scalar(sa.text("PRAGMA journal_mode"))) == "wal"
            assert (await conn.scalar(sa.text("PRAGMA foreign_keys"))) == 1
            assert (await conn.scalar(sa.text("PRAGMA busy_timeout"))) >= 1000
    finally:
        await store.close()
    assert (tmp_path / "a" / "b" / "trail.db").is_file()
    assert sqlite_path(url) == tmp_path / "a" / "b" / "trail.db"


async def test_mysql_engine_options(mysql_url: str) -> None:
    engine = create_meta_engine(mysql_url)
    try:
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
        assert engine.pool._recycle > 0  # type: ignore[attr-defined]
        assert engine.url.query["charset"] == "utf8mb4"
        async with engine.connect() as conn:
            assert (await conn.scalar(sa.text("SELECT @@character_set_client"))) == "utf8mb4"
    finally:
        await engine.dispose()


def test_unsupported_url_and_safe_url() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_meta_engine("postgresql+asyncpg://u:pw@h/db")
    assert "pw" not in safe_url("mysql+aiomysql://u:pw@h/db")


async def test_unreachable_mysql_ping_raises() -> None:
    store = MetaStore("mysql+aiomysql://root@127.0.0.1:1/nothing")
    try:
        with pytest.raises(Exception):
            await store.ping()
    finally:
        await store.close()

"""Shared test fixtures: real services (MariaDB, Redis, ClickHouse server), one chDB dir per run."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from trail.config import Settings

RUN_ID = uuid.uuid4().hex[:10]

MYSQL_URL = os.environ.get("TRAIL_TEST_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306/")
REDIS_URL = os.environ.get("TRAIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CLICKHOUSE_URL = os.environ.get("TRAIL_TEST_CLICKHOUSE_URL", "")


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single chDB data dir of this test run (chDB allows one per process)."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def unique_name() -> str:
    """A fresh name for a database, key prefix or site, unique in this run."""
    return f"t{RUN_ID}_{uuid.uuid4().hex[:8]}"


def make_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings for a test: embedded defaults in tmp_path, overridden by TRAIL_* keyword arguments."""
    base = {"TRAIL_DATA_DIR": str(tmp_path), "TRAIL_SECRET_KEY": "test-secret-key-" + "x" * 32}
    base.update(env)
    return Settings.load(environ=base, env_file=None)


@pytest.fixture
def mysql_url(unique_name: str) -> Iterator[str]:
    """A URL to a fresh MariaDB database of its own, dropped after the test."""
    from urllib.parse import urlsplit

    import pymysql

    parts = urlsplit(MYSQL_URL)
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{unique_name}` CHARACTER SET utf8mb4")
    try:
        yield MYSQL_URL.rstrip("/") + "/" + unique_name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{unique_name}`")
        conn.close()


@pytest.fixture
async def redis_prefix(unique_name: str) -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; every key under it is deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = f"trailtest:{unique_name}:"
    yield prefix
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def chdb_url(chdb_dir: Path, unique_name: str) -> str:
    """A chDB URL on the run's single data dir, isolated by a database of this test's own."""
    return f"chdb://{chdb_dir}?database={unique_name}"


@pytest.fixture
async def app_factory(tmp_path: Path, chdb_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    """Builds migrated, started apps: `async with app_factory(**env) as (app, client): ...`."""
    from contextlib import asynccontextmanager

    from trail.app import create_app
    from trail.migrate import migrate_all

    @asynccontextmanager
    async def factory(role: str = "all", **env: str):  # type: ignore[no-untyped-def]
        env.setdefault("TRAIL_CLICKHOUSE_URL", chdb_url)
        settings = make_settings(tmp_path, **env)
        await migrate_all(settings)
        app = create_app(settings, role=role)
        async with app.test_app() as test_app:
            yield app, test_app.test_client()

    yield factory

"""Fixtures of the metadata-store tests: a migrated database on each backend, a store, a session, users."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta import MetaStore, migrate_meta
from trail.store.meta.models import User
from trail.store.meta.repo import create_user


@pytest.fixture(params=["sqlite", "mysql"])
def meta_backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty metadata database URL: SQLite in tmp_path (directory not created yet) or a fresh MariaDB db."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/meta/trail.db"
    return request.getfixturevalue("mysql_url")


@pytest.fixture
async def meta_url(meta_backend_url: str) -> str:
    await migrate_meta(meta_backend_url)
    return meta_backend_url


@pytest.fixture
async def store(meta_url: str) -> AsyncIterator[MetaStore]:
    store = MetaStore(meta_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def session(store: MetaStore) -> AsyncIterator[AsyncSession]:
    async with store.session() as session:
        yield session


@pytest.fixture
async def alice(session: AsyncSession) -> User:
    user = await create_user(session, "alice@example.com", "correct horse")
    await session.commit()
    return user


@pytest.fixture
async def bob(session: AsyncSession) -> User:
    user = await create_user(session, "bob@example.com", "battery staple")
    await session.commit()
    return user

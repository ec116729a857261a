"""Fixtures of the web tests: the real app on either metadata backend, and signed-in browsers."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest


@pytest.fixture(params=["sqlite", "mysql"])
def meta_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings selecting the metadata backend: SQLite (embedded) or a fresh MariaDB database."""
    if request.param == "sqlite":
        return {}
    return {"TRAIL_DATABASE_URL": request.getfixturevalue("mysql_url"),
            "TRAIL_SECRET_KEY": "test-secret-key-" + "x" * 32}


@pytest.fixture
async def app_both(app_factory: Any, meta_env: dict[str, str]) -> AsyncIterator[Any]:
    """The started app on each metadata backend (parametrised)."""
    async with app_factory(**meta_env) as (app, _client):
        yield app


@pytest.fixture
async def app_sqlite(app_factory: Any) -> AsyncIterator[Any]:
    """The started app on SQLite, for pure UI flows."""
    async with app_factory() as (app, _client):
        yield app


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with tiny costs: the same code path, without ~0.3 s per hash on slow CI machines."""
    from argon2 import PasswordHasher

    from trail.store.meta import accounts

    hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", hasher.hash("trail-timing-equaliser"))

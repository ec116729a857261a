"""Tests of the access-event outbox and the daily salts on both backends, including the salt race."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta import MetaStore
from trail.store.meta.models import utcnow
from trail.store.meta.repo import (
    access_events_after,
    delete_access_events_before,
    delete_salts_before,
    get_or_create_salt,
    get_salt,
    latest_access_event_id,
    record_access_event,
)


async def test_outbox(session: AsyncSession) -> None:
    assert await latest_access_event_id(session) == 0
    first = await record_access_event(session, "member_removed", {"team_id": 1, "user_id": 2})
    second = await record_access_event(session, "share_revoked", {"site_id": 3})
    await session.commit()
    assert await latest_access_event_id(session) == second.id > first.id
    rows = await access_events_after(session, first.id)
    assert [(r.kind, r.subject) for r in rows] == [("share_revoked", {"site_id": 3})]
    with pytest.raises(ValueError, match="unknown access event kind"):
        await record_access_event(session, "nope", {})
    assert await delete_access_events_before(session, utcnow() + timedelta(seconds=1)) == 2
    await session.commit()
    assert await access_events_after(session, 0) == []


async def test_salts(session: AsyncSession) -> None:
    today = date(2026, 3, 1)
    salt = await get_or_create_salt(session, today)
    await session.commit()
    assert isinstance(salt, bytes) and len(salt) == 32
    assert await get_or_create_salt(session, today) == salt
    other = await get_or_create_salt(session, today - timedelta(days=1))
    old = await get_or_create_salt(session, today - timedelta(days=2))
    await session.commit()
    assert len({salt, other, old}) == 3
    assert await delete_salts_before(session, today - timedelta(days=1)) == 1
    await session.commit()
    assert await get_salt(session, today - timedelta(days=2)) is None
    assert await get_salt(session, today - timedelta(days=1)) == other


async def test_concurrent_get_or_create_salt_agree(store: MetaStore) -> None:
    day = date(2026, 4, 1)

    async def one() -> bytes:
        async with store.session() as session:
            salt = await get_or_create_salt(session, day)
            await asyncio.sleep(0.05)  # hold the transaction open while the other instance races
            await session.commit()
            return salt

    salts = await asyncio.gather(*(one() for _ in range(4)))
    assert len(set(salts)) == 1


async def test_salt_race_across_stores(meta_url: str) -> None:
    """Two MetaStores (as two instances would have) race on a new day and still agree."""
    stores = [MetaStore(meta_url), MetaStore(meta_url)]
    try:
        day = date(2026, 5, 1)

        async def one(store: MetaStore) -> bytes:
            async with store.session() as session:
                salt = await get_or_create_salt(session, day)
                await session.commit()
                return salt

        salts = await asyncio.gather(*(one(s) for s in stores * 3))
        assert len(set(salts)) == 1
    finally:
        for store in stores:
            await store.close()

"""Tests of API keys and walls on both backends: hashed storage, lookups, revocation, outbox rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.security.tokens import hash_token
from trail.store.meta.models import ApiKey, Team, User, utcnow
from trail.store.meta.repo import (
    Conflict,
    NotFound,
    access_events_after,
    add_member,
    add_site,
    create_api_key,
    create_wall,
    get_or_create_personal_team,
    lookup_api_key,
    lookup_wall,
    revoke_api_key,
    revoke_wall,
    wall_sites,
)


async def test_api_key_is_stored_hashed(store, session: AsyncSession, alice: User) -> None:  # type: ignore[no-untyped-def]
    key, plaintext = await create_api_key(session, alice, label="ci")
    await session.commit()
    assert plaintext.startswith("trl_") and key.key_hash == hash_token(plaintext)
    assert key.prefix == plaintext[:10] and key.label == "ci"
    team = await get_or_create_personal_team(session, alice)
    assert key.team_id == team.id and key.created_by == alice.id
    async with store.engine.connect() as conn:
        for table in ("api_keys", "access_events"):
            rows = (await conn.execute(sa.text(f"SELECT * FROM {table}"))).all()
            assert plaintext not in repr(rows)


async def test_api_key_default_label_and_team(session: AsyncSession, alice: User) -> None:
    key, _ = await create_api_key(session, alice)
    assert key.label == key.prefix
    with pytest.raises(NotFound, match="not a member"):
        await create_api_key(session, alice, team_name="Nope")


async def test_lookup_api_key_touches_last_used_once_a_minute(session: AsyncSession, alice: User) -> None:
    key, plaintext = await create_api_key(session, alice)
    await session.commit()
    t0 = utcnow()
    found = await lookup_api_key(session, plaintext, now=t0)
    assert found is not None and found[0].id == key.id and isinstance(found[1], Team)
    assert key.last_used_at == t0
    await lookup_api_key(session, plaintext, now=t0 + timedelta(seconds=30))
    assert key.last_used_at == t0
    await lookup_api_key(session, plaintext, now=t0 + timedelta(seconds=61))
    assert key.last_used_at == t0 + timedelta(seconds=61)
    await session.commit()
    assert await lookup_api_key(session, plaintext + "x") is None
    assert await lookup_api_key(session, "") is None


async def test_revoke_api_key_by_prefix_label_and_key(session: AsyncSession, alice: User) -> None:
    k1, p1 = await create_api_key(session, alice, label="ci")
    k2, p2 = await create_api_key(session, alice, label="backup")
    k3, p3 = await create_api_key(session, alice, label="export")
    await session.commit()
    assert (await revoke_api_key(session, "ci", alice)).id == k1.id
    assert (await revoke_api_key(session, p2[:9], alice)).id == k2.id
    assert (await revoke_api_key(session, p3, alice)).id == k3.id
    await session.commit()
    for plaintext in (p1, p2, p3):
        assert await lookup_api_key(session, plaintext) is None
    events = await access_events_after(session, 0)
    assert [(e.kind, e.subject["key_hash"]) for e in events] == [("key_revoked", hash_token(p)) for p in (p1, p2, p3)]
    with pytest.raises(NotFound):
        await revoke_api_key(session, "ci", alice)  # already revoked


async def test_revoke_api_key_refuses_ambiguous_and_foreign(session: AsyncSession, alice: User, bob: User) -> None:
    await create_api_key(session, alice, label="same")
    await create_api_key(session, alice, label="same")
    _, bobs = await create_api_key(session, bob, label="bobs")
    await session.commit()
    with pytest.raises(Conflict, match="matches 2 API keys"):
        await revoke_api_key(session, "same", alice)
    with pytest.raises(Conflict, match="matches 2"):
        await revoke_api_key(session, "same", alice)
    with pytest.raises(NotFound, match="at least 6"):
        await revoke_api_key(session, "trl_", alice)
    with pytest.raises(NotFound):
        await revoke_api_key(session, bobs, alice)
    with pytest.raises(NotFound):
        await revoke_api_key(session, "bobs", alice)
    revoked = sa.select(sa.func.count()).select_from(ApiKey).where(ApiKey.revoked_at.isnot(None))
    assert await session.scalar(revoked) == 0


async def test_team_admin_may_revoke_team_key(session: AsyncSession, alice: User, bob: User) -> None:
    key, _ = await create_api_key(session, alice, label="shared")
    team = await get_or_create_personal_team(session, alice)
    await add_member(session, team, bob, "admin")
    await session.commit()
    assert (await revoke_api_key(session, "shared", bob)).id == key.id


async def test_wall_create_lookup_revoke(session: AsyncSession, alice: User, bob: User) -> None:
    await add_site(session, alice, "a.example.com")
    await add_site(session, alice, "b.example.com")
    await add_site(session, bob, "bob.example.com")
    wall, token = await create_wall(session, alice, ["B.example.com", "a.example.com", "a.example.com"],
                                    layout="rotate", rotate_seconds=15)
    await session.commit()
    assert token.startswith("wall_") and wall.token_hash == hash_token(token)
    assert wall.label == "b.example.com, a.example.com" and wall.layout == "rotate" and wall.rotate_seconds == 15
    found = await lookup_wall(session, token)
    assert found is not None and found.id == wall.id
    assert [s.domain for s in await wall_sites(session, wall.id)] == ["a.example.com", "b.example.com"]
    with pytest.raises(NotFound, match="visible"):
        await create_wall(session, alice, ["bob.example.com"])
    with pytest.raises(NotFound, match="visible"):
        await create_wall(session, alice, ["missing.example.com"])
    with pytest.raises(ValueError, match="layout"):
        await create_wall(session, alice, ["a.example.com"], layout="spiral")
    with pytest.raises(NotFound):
        await revoke_wall(session, wall.label, bob)
    assert (await revoke_wall(session, wall.label, alice)).id == wall.id
    await session.commit()
    assert await lookup_wall(session, token) is None
    events = [e for e in await access_events_after(session, 0) if e.kind == "wall_revoked"]
    assert [e.subject["wall_id"] for e in events] == [wall.id]


async def test_revoke_wall_by_path_and_ambiguous(session: AsyncSession, alice: User) -> None:
    await add_site(session, alice, "a.example.com")
    w1, t1 = await create_wall(session, alice, ["a.example.com"], label="tv")
    await create_wall(session, alice, ["a.example.com"], label="tv")
    await session.commit()
    with pytest.raises(Conflict, match="matches 2 walls"):
        await revoke_wall(session, "tv", alice)
    assert (await revoke_wall(session, f"/wall/{t1}", alice)).id == w1.id
    assert (await revoke_wall(session, "tv", alice)).id != w1.id

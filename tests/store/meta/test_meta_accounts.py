"""Tests of users, passwords, teams and roles on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta.models import Membership, Team, User
from trail.store.meta.repo import (
    Conflict,
    Forbidden,
    NotFound,
    add_member,
    add_site,
    authenticate,
    create_user,
    delete_site,
    get_or_create_personal_team,
    get_user_by_email,
    resolve_team,
    set_password,
    sites_visible_to_user,
    user_role_for_site,
    verify_password,
)


async def test_create_user_normalises_and_hashes(session: AsyncSession) -> None:
    user = await create_user(session, "  Carol@Example.COM ", "s3cret-pass", is_admin=True)
    await session.commit()
    assert user.email == "carol@example.com" and user.is_admin and user.session_epoch == 0
    assert user.password_hash.startswith("$argon2id$") and "s3cret-pass" not in user.password_hash
    assert (await get_user_by_email(session, "CAROL@example.com")) is user
    assert await get_user_by_email(session, "not an email") is None


async def test_create_user_errors(session: AsyncSession, alice: User) -> None:
    with pytest.raises(ValueError, match="at least 8 characters"):
        await create_user(session, "dave@example.com", "1234567")
    with pytest.raises(ValueError, match="not a valid email"):
        await create_user(session, "dave", "12345678")
    with pytest.raises(Conflict, match="already exists"):
        await create_user(session, "ALICE@example.com", "12345678")


async def test_passwords(session: AsyncSession, alice: User) -> None:
    assert await verify_password(session, alice, "correct horse")
    assert not await verify_password(session, alice, "wrong horse")
    await set_password(session, alice, "new password")
    await session.commit()
    assert alice.session_epoch == 1
    assert not await verify_password(session, alice, "correct horse")
    assert await authenticate(session, "Alice@Example.com", "new password") is alice
    assert await authenticate(session, "alice@example.com", "correct horse") is None
    assert await authenticate(session, "nobody@example.com", "new password") is None
    with pytest.raises(ValueError, match="at least 8"):
        await set_password(session, alice, "short")


async def test_personal_team_created_once(session: AsyncSession, alice: User) -> None:
    team = await get_or_create_personal_team(session, alice)
    await session.commit()
    assert team.personal and team.name == "alice@example.com"
    assert (await get_or_create_personal_team(session, alice)).id == team.id
    role = await session.scalar(sa.select(Membership.role).where(Membership.team_id == team.id))
    assert role == "owner"
    assert await session.scalar(sa.select(sa.func.count()).select_from(Team)) == 1


async def test_resolve_team(session: AsyncSession, alice: User, bob: User) -> None:
    with pytest.raises(NotFound, match="not a member"):
        await resolve_team(session, alice, "Shop")
    shop = await resolve_team(session, alice, "Shop", create=True)
    assert not shop.personal
    assert (await resolve_team(session, alice, "Shop")).id == shop.id
    await add_member(session, shop, bob, "viewer")
    with pytest.raises(Forbidden, match="only a viewer"):
        await resolve_team(session, bob, "Shop", create=True)
    with pytest.raises(ValueError, match="unknown role"):
        await add_member(session, shop, bob, "god")
    # another user's team of the same name is not shared: bob gets his own when he creates one
    await session.commit()


async def test_visibility_and_roles(session: AsyncSession, alice: User, bob: User) -> None:
    site = await add_site(session, alice, "example.com", team_name="Shop")
    other = await add_site(session, bob, "bob.example.com")
    shop = await session.get(Team, site.team_id)
    assert shop is not None
    await add_member(session, shop, bob, "viewer")
    await session.commit()
    assert [s.domain for s in await sites_visible_to_user(session, alice.id)] == ["example.com"]
    assert [s.domain for s in await sites_visible_to_user(session, bob.id)] == ["bob.example.com", "example.com"]
    assert await user_role_for_site(session, alice.id, site.id) == "owner"
    assert await user_role_for_site(session, bob.id, site.id) == "viewer"
    assert await user_role_for_site(session, alice.id, other.id) is None
    await delete_site(session, site)
    await session.commit()
    assert await user_role_for_site(session, alice.id, site.id) is None
    assert await sites_visible_to_user(session, alice.id) == []

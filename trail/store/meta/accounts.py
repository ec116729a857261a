"""Users, passwords, teams and roles: who may see and manage which sites."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta.errors import Conflict, Forbidden, NotFound
from trail.store.meta.models import Membership, Site, Team, User
from trail.store.meta.validate import check_password, normalise_email

MANAGER_ROLES = ("owner", "admin")

_hasher = PasswordHasher()  # argon2id with argon2-cffi's RFC 9106 low-memory defaults
_DUMMY_HASH = _hasher.hash("trail-timing-equaliser")


async def hash_password(password: str) -> str:
    """argon2id hash, computed in a thread so the event loop keeps serving."""
    check_password(password)
    return await asyncio.to_thread(_hasher.hash, password)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    try:
        email = normalise_email(email)
    except ValueError:
        return None
    return await session.scalar(sa.select(User).where(User.email == email))


async def require_user(session: AsyncSession, email: str) -> User:
    """The user with this email, or NotFound("no user ...")."""
    user = await get_user_by_email(session, email)
    if user is None:
        raise NotFound(f"no user {email.strip()!r} (create one with: trail user add EMAIL --password PW)")
    return user


async def create_user(session: AsyncSession, email: str, password: str, *, is_admin: bool = False) -> User:
    """A new user; ValueError for a bad email or a password under 8 characters, Conflict when taken."""
    email = normalise_email(email)
    check_password(password)
    if await session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"user {email} already exists")
    password_hash = await hash_password(password)
    user = User(email=email, password_hash=password_hash, is_admin=is_admin, session_epoch=0)
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    """Replace the password and bump session_epoch, which signs every existing session out."""
    user.password_hash = await hash_password(password)
    user.session_epoch = (user.session_epoch or 0) + 1
    from trail.store.meta.outbox import record_access_event

    await record_access_event(session, "sessions_revoked", {"user_id": user.id})
    await session.flush()


async def verify_password(session: AsyncSession, user: User, password: str) -> bool:
    """True when the password matches; upgrades the stored hash when the hasher's parameters changed."""
    try:
        await asyncio.to_thread(_hasher.verify, user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(_hasher.hash, password)
        await session.flush()
    return True


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The user when email and password match, else None; unknown emails cost the same time as wrong passwords."""
    user = await get_user_by_email(session, email)
    if user is None:
        try:
            await asyncio.to_thread(_hasher.verify, _DUMMY_HASH, password)
        except VerificationError:
            pass
        return None
    return user if await verify_password(session, user, password) else None


async def add_member(session: AsyncSession, team: Team, user: User, role: str) -> Membership:
    if role not in ("owner", "admin", "viewer"):
        raise ValueError(f"unknown role {role!r} (owner, admin or viewer)")
    membership = Membership(team_id=team.id, user_id=user.id, role=role)
    session.add(membership)
    await session.flush()
    return membership


async def get_or_create_personal_team(session: AsyncSession, user: User) -> Team:
    """The user's personal team (named after the email), created on first use with the user as owner."""
    team = await session.scalar(
        sa.select(Team).join(Membership, Membership.team_id == Team.id)
        .where(Membership.user_id == user.id, Membership.role == "owner", Team.personal.is_(True))
        .order_by(Team.id).limit(1))
    if team is not None:
        return team
    team = Team(name=user.email, personal=True)
    session.add(team)
    await session.flush()
    await add_member(session, team, user, "owner")
    return team


async def resolve_team(session: AsyncSession, user: User, name: str | None, *, create: bool = False) -> Team:
    """The team the user manages: personal when `name` is None, else the one of that name (created if allowed)."""
    if name is None:
        return await get_or_create_personal_team(session, user)
    name = name.strip()
    if not name:
        raise ValueError("team name is empty")
    rows = (await session.execute(
        sa.select(Team, Membership.role).join(Membership, Membership.team_id == Team.id)
        .where(Membership.user_id == user.id, Team.name == name).order_by(Team.id))).all()
    managed = [team for team, role in rows if role in MANAGER_ROLES]
    if len(managed) > 1:
        raise Conflict(f"{user.email} manages several teams named {name!r}")
    if managed:
        return managed[0]
    if rows:
        raise Forbidden(f"{user.email} is only a viewer of team {name!r}; an owner or admin must do this")
    if not create:
        raise NotFound(f"{user.email} is not a member of a team named {name!r}")
    from trail.store.meta.teams import create_team  # teams builds on this module

    return await create_team(session, user, name)


async def user_role_in_team(session: AsyncSession, user_id: int, team_id: int) -> str | None:
    return await session.scalar(
        sa.select(Membership.role).where(Membership.user_id == user_id, Membership.team_id == team_id))


async def managed_team_ids(session: AsyncSession, user_id: int) -> list[int]:
    """Ids of the teams where the user is owner or admin."""
    rows = await session.scalars(sa.select(Membership.team_id).where(
        Membership.user_id == user_id, Membership.role.in_(MANAGER_ROLES)))
    return list(rows)


async def sites_visible_to_user(session: AsyncSession, user_id: int) -> list[Site]:
    """Live (not deleted) sites of every team the user belongs to, by domain."""
    rows = await session.scalars(
        sa.select(Site).join(Membership, Membership.team_id == Site.team_id)
        .where(Membership.user_id == user_id, Site.deleted_at.is_(None)).order_by(Site.domain))
    return list(rows)


async def user_role_for_site(session: AsyncSession, user_id: int, site_id: int) -> str | None:
    """The user's role on a live site ('owner', 'admin', 'viewer'), or None when the user cannot see it."""
    return await session.scalar(
        sa.select(Membership.role).join(Site, Site.team_id == Membership.team_id)
        .where(Membership.user_id == user_id, Site.id == site_id, Site.deleted_at.is_(None)))

"""Teams and their members: listing, creating, role changes, removal, and deleting a whole account."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta.accounts import add_member
from trail.store.meta.errors import Conflict, NotFound
from trail.store.meta.models import ROLES, Membership, Site, Team, User, utcnow
from trail.store.meta.outbox import record_access_event

MAX_TEAM_NAME = 255


@dataclass(frozen=True)
class TeamRow:
    """A team as seen by one member: the team and that member's role in it."""

    team: Team
    role: str


@dataclass(frozen=True)
class MemberRow:
    user_id: int
    email: str
    role: str


async def count_users(session: AsyncSession) -> int:
    """How many accounts exist (the first one to sign up becomes the instance admin)."""
    return int(await session.scalar(sa.select(sa.func.count()).select_from(User)) or 0)


async def teams_of_user(session: AsyncSession, user_id: int) -> list[TeamRow]:
    """Every team the user belongs to, personal first, then by name."""
    rows = (await session.execute(
        sa.select(Team, Membership.role).join(Membership, Membership.team_id == Team.id)
        .where(Membership.user_id == user_id).order_by(Team.personal.desc(), Team.name, Team.id))).all()
    return [TeamRow(team, role) for team, role in rows]


async def team_for_member(session: AsyncSession, team_id: int, user_id: int) -> TeamRow | None:
    """The team and the user's role in it, or None when the user is not a member (callers answer 404)."""
    row = (await session.execute(
        sa.select(Team, Membership.role).join(Membership, Membership.team_id == Team.id)
        .where(Team.id == team_id, Membership.user_id == user_id))).first()
    return None if row is None else TeamRow(row[0], row[1])


async def create_team(session: AsyncSession, owner: User, name: str) -> Team:
    """A new shared team with `owner` as its owner; ValueError for an empty or over-long name."""
    name = " ".join(name.split())
    if not name:
        raise ValueError("the team needs a name")
    if len(name) > MAX_TEAM_NAME:
        raise ValueError(f"the team name is longer than {MAX_TEAM_NAME} characters")
    team = Team(name=name, personal=False)
    session.add(team)
    await session.flush()
    await add_member(session, team, owner, "owner")
    return team


async def rename_team(session: AsyncSession, team: Team, name: str) -> None:
    name = " ".join(name.split())
    if not name or len(name) > MAX_TEAM_NAME:
        raise ValueError(f"the team name must have 1 to {MAX_TEAM_NAME} characters")
    team.name = name
    await session.flush()


async def members_of_team(session: AsyncSession, team_id: int) -> list[MemberRow]:
    rows = (await session.execute(
        sa.select(User.id, User.email, Membership.role).join(Membership, Membership.user_id == User.id)
        .where(Membership.team_id == team_id).order_by(User.email))).all()
    return [MemberRow(uid, email, role) for uid, email, role in rows]


async def _owner_count(session: AsyncSession, team_id: int) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(Membership).where(
        Membership.team_id == team_id, Membership.role == "owner")) or 0)


async def _membership(session: AsyncSession, team_id: int, user_id: int) -> Membership:
    membership = await session.get(Membership, (team_id, user_id))
    if membership is None:
        raise NotFound("no such member in this team")
    return membership


async def set_member_role(session: AsyncSession, team_id: int, user_id: int, role: str) -> Membership:
    """Change a member's role; Conflict when it would leave the team without an owner.

    All roles can read every site of the team, so a role change takes effect on the next request (rights are
    read from the database each time) and needs no access event.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (owner, admin or viewer)")
    membership = await _membership(session, team_id, user_id)
    if membership.role == "owner" and role != "owner" and await _owner_count(session, team_id) <= 1:
        raise Conflict("a team needs at least one owner: make someone else owner first")
    membership.role = role
    await session.flush()
    return membership


async def remove_member(session: AsyncSession, team_id: int, user_id: int) -> None:
    """Remove a member (Conflict for the last owner) and record 'member_removed'."""
    membership = await _membership(session, team_id, user_id)
    if membership.role == "owner" and await _owner_count(session, team_id) <= 1:
        raise Conflict("the last owner cannot leave or be removed: make someone else owner first")
    await session.delete(membership)
    await session.flush()
    await record_access_event(session, "member_removed", {"team_id": team_id, "user_id": user_id})


async def bump_session_epoch(session: AsyncSession, user: User) -> None:
    """Sign the user out everywhere: every session cookie carrying the old epoch stops working."""
    user.session_epoch = (user.session_epoch or 0) + 1
    from trail.store.meta.outbox import record_access_event

    await record_access_event(session, "sessions_revoked", {"user_id": user.id})


async def delete_account(session: AsyncSession, user: User) -> list[Site]:
    """Delete a user. Teams where the user is the only member go too, their sites soft-deleted and returned
    (the caller schedules their events' deletion). Conflict when the user is the last owner of a team that
    has other members: ownership must be handed over first."""
    rows = await teams_of_user(session, user.id)
    doomed_teams: list[Team] = []
    for row in rows:
        members = await members_of_team(session, row.team.id)
        if len(members) == 1:
            doomed_teams.append(row.team)
        elif row.role == "owner" and await _owner_count(session, row.team.id) <= 1:
            raise Conflict(f"you are the only owner of team {row.team.name!r}, which has other members: "
                           "make one of them owner first")
    deleted_sites: list[Site] = []
    now = utcnow()
    for team in doomed_teams:
        sites = list(await session.scalars(sa.select(Site).where(Site.team_id == team.id,
                                                                 Site.deleted_at.is_(None))))
        for site in sites:
            site.deleted_at = now
            await record_access_event(session, "site_deleted", {"site_id": site.id, "domain": site.domain,
                                                                "team_id": team.id})
        deleted_sites.extend(sites)
        # With sites, the team row stays until their events are gone (the job purges the sites, then the team).
    await session.execute(sa.delete(Membership).where(Membership.user_id == user.id))
    for team in doomed_teams:
        if not any(site.team_id == team.id for site in deleted_sites):
            await session.delete(team)
    for row in rows:
        if row.team not in doomed_teams:
            await record_access_event(session, "member_removed", {"team_id": row.team.id, "user_id": user.id})
    await session.delete(user)
    await session.flush()
    return deleted_sites

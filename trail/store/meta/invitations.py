"""Team invitations: single-use, expiring links whose token is stored only as a hash."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.security.tokens import INVITE_PREFIX, hash_token, new_secret
from trail.store.meta.accounts import add_member, user_role_in_team
from trail.store.meta.errors import Conflict, NotFound
from trail.store.meta.models import ROLES, Invitation, Membership, Team, User, utcnow

INVITATION_TTL = timedelta(days=7)


async def create_invitation(session: AsyncSession, team_id: int, inviter: User, role: str,
                            *, ttl: timedelta = INVITATION_TTL, now: datetime | None = None) -> tuple[Invitation, str]:
    """A new invitation to the team with `role`; returns (row, token), the token only this once."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (owner, admin or viewer)")
    now = now or utcnow()
    token = new_secret(INVITE_PREFIX)
    invitation = Invitation(team_id=team_id, role=role, token_hash=hash_token(token), created_by=inviter.id,
                            created_at=now, expires_at=now + ttl)
    session.add(invitation)
    await session.flush()
    return invitation, token


async def pending_invitations(session: AsyncSession, team_id: int, *, now: datetime | None = None) -> list[Invitation]:
    """Invitations not yet accepted nor expired, newest first."""
    now = now or utcnow()
    rows = await session.scalars(sa.select(Invitation).where(
        Invitation.team_id == team_id, Invitation.accepted_at.is_(None), Invitation.expires_at > now)
        .order_by(Invitation.id.desc()))
    return list(rows)


async def find_invitation(session: AsyncSession, token: str,
                          *, now: datetime | None = None) -> tuple[Invitation, Team] | None:
    """(invitation, team) for a usable token: known, not accepted, not expired; else None."""
    if not token or len(token) > 200:
        return None
    row = (await session.execute(sa.select(Invitation, Team).join(Team, Team.id == Invitation.team_id)
                                 .where(Invitation.token_hash == hash_token(token)))).first()
    if row is None:
        return None
    invitation, team = row
    if invitation.accepted_at is not None or invitation.expires_at <= (now or utcnow()):
        return None
    return invitation, team


async def accept_invitation(session: AsyncSession, token: str, user: User,
                            *, now: datetime | None = None) -> Team:
    """Join the team with the invitation's role and spend the token. NotFound when unusable; Conflict when the
    user is already a member (the token is not spent then)."""
    now = now or utcnow()
    found = await find_invitation(session, token, now=now)
    if found is None:
        raise NotFound("this invitation link is invalid, expired or already used")
    invitation, team = found
    if await user_role_in_team(session, user.id, team.id) is not None:
        raise Conflict(f"you are already a member of {team.name}")
    # Spend it with a guarded UPDATE so two concurrent accepts cannot both succeed.
    result = await session.execute(sa.update(Invitation).where(
        Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=now, accepted_by=user.id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("this invitation link is invalid, expired or already used")
    await add_member(session, team, user, invitation.role)
    return team


async def revoke_invitation(session: AsyncSession, team_id: int, invitation_id: int) -> None:
    """Delete a pending invitation of this team (NotFound for another team's id)."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.team_id != team_id:
        raise NotFound("no such invitation")
    await session.delete(invitation)
    await session.flush()


async def is_member(session: AsyncSession, team_id: int, user_id: int) -> bool:
    return await session.get(Membership, (team_id, user_id)) is not None

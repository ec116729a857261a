"""API keys and wall tokens managed per team from the web (by id, always scoped to the team)."""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.security.tokens import API_KEY_PREFIX, WALL_PREFIX, display_prefix, hash_token, new_secret
from trail.store.meta.errors import NotFound
from trail.store.meta.models import WALL_LAYOUTS, ApiKey, Site, User, Wall, WallSite, utcnow
from trail.store.meta.outbox import record_access_event

MAX_LABEL = 255
Revocable = TypeVar("Revocable", ApiKey, Wall)


def _label(raw: str, fallback: str) -> str:
    label = " ".join((raw or "").split())[:MAX_LABEL]
    return label or fallback


async def _revoke_active(session: AsyncSession, model: type[Revocable], row_id: int, team_id: int,
                         what: str) -> Revocable:
    """Mark one active row (key or wall) of this team revoked; NotFound for a missing, foreign or revoked one."""
    row = await session.get(model, row_id)
    if row is None or row.team_id != team_id or row.revoked_at is not None:
        raise NotFound(f"no such {what}")
    row.revoked_at = utcnow()
    await session.flush()
    return row


async def team_api_keys(session: AsyncSession, team_id: int) -> list[ApiKey]:
    """The team's active keys, newest first (never their secrets: only hashes are stored)."""
    return list(await session.scalars(sa.select(ApiKey).where(ApiKey.team_id == team_id, ApiKey.revoked_at.is_(None))
                                      .order_by(ApiKey.id.desc())))


async def create_team_api_key(session: AsyncSession, team_id: int, user: User, label: str) -> tuple[ApiKey, str]:
    """A new key of the team; returns (row, plaintext), the plaintext only this once."""
    plaintext = new_secret(API_KEY_PREFIX)
    prefix = display_prefix(plaintext)
    key = ApiKey(team_id=team_id, created_by=user.id, label=_label(label, prefix), prefix=prefix,
                 key_hash=hash_token(plaintext))
    session.add(key)
    await session.flush()
    return key, plaintext


async def revoke_team_api_key(session: AsyncSession, team_id: int, key_id: int) -> ApiKey:
    """Revoke one active key of this team (NotFound for another team's key); records 'key_revoked'."""
    key = await _revoke_active(session, ApiKey, key_id, team_id, "API key")
    await record_access_event(session, "key_revoked", {"key_hash": key.key_hash, "key_id": key.id,
                                                       "team_id": key.team_id})
    return key


async def team_walls(session: AsyncSession, team_id: int) -> list[tuple[Wall, list[str]]]:
    """The team's active walls with the domains each shows, newest first."""
    walls = list(await session.scalars(sa.select(Wall).where(Wall.team_id == team_id, Wall.revoked_at.is_(None))
                                       .order_by(Wall.id.desc())))
    out = []
    for wall in walls:
        domains = list(await session.scalars(sa.select(Site.domain).join(WallSite, WallSite.site_id == Site.id)
                                             .where(WallSite.wall_id == wall.id, Site.deleted_at.is_(None))
                                             .order_by(Site.domain)))
        out.append((wall, domains))
    return out


async def create_team_wall(session: AsyncSession, team_id: int, user: User, site_ids: list[int], *, label: str,
                           layout: str, rotate_seconds: int) -> tuple[Wall, str]:
    """A wall over some of the team's live sites; returns (row, token). ValueError for bad input, NotFound for a
    site outside the team."""
    if layout not in WALL_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (grid or rotate)")
    if not 3 <= rotate_seconds <= 3600:
        raise ValueError("rotate seconds must be from 3 to 3600")
    ids = sorted(set(site_ids))
    if not ids:
        raise ValueError("pick at least one site for the wall")
    sites = list(await session.scalars(sa.select(Site).where(Site.id.in_(ids), Site.team_id == team_id,
                                                             Site.deleted_at.is_(None))))
    if len(sites) != len(ids):
        raise NotFound("a chosen site is not in this team")
    token = new_secret(WALL_PREFIX)
    wall = Wall(team_id=team_id, created_by=user.id,
                label=_label(label, ", ".join(sorted(s.domain for s in sites))),
                token_hash=hash_token(token), layout=layout, rotate_seconds=rotate_seconds, theme="dark")
    session.add(wall)
    await session.flush()
    session.add_all([WallSite(wall_id=wall.id, site_id=s.id) for s in sites])
    await session.flush()
    return wall, token


async def revoke_team_wall(session: AsyncSession, team_id: int, wall_id: int) -> Wall:
    """Revoke one active wall of this team (NotFound otherwise); records 'wall_revoked'."""
    wall = await _revoke_active(session, Wall, wall_id, team_id, "wall")
    await record_access_event(session, "wall_revoked", {"wall_id": wall.id, "token_hash": wall.token_hash,
                                                        "team_id": wall.team_id})
    return wall

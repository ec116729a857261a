"""API keys and wall tokens: created with a plaintext shown once, stored hashed, looked up and revoked."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.security.tokens import API_KEY_PREFIX, WALL_PREFIX, display_prefix, hash_token, new_secret
from trail.store.meta.accounts import managed_team_ids, resolve_team, user_role_for_site
from trail.store.meta.errors import Conflict, NotFound
from trail.store.meta.models import WALL_LAYOUTS, ApiKey, Site, Team, User, Wall, WallSite, utcnow
from trail.store.meta.outbox import record_access_event
from trail.store.meta.sites import get_site_by_domain

LAST_USED_RESOLUTION = timedelta(minutes=1)
MIN_PREFIX_MATCH = 6


async def create_api_key(session: AsyncSession, owner: User, *, team_name: str | None = None,
                         label: str | None = None) -> tuple[ApiKey, str]:
    """A key for the owner's personal team or a team it manages; returns (row, plaintext), the plaintext only once."""
    team = await resolve_team(session, owner, team_name, create=False)
    plaintext = new_secret(API_KEY_PREFIX)
    prefix = display_prefix(plaintext)
    key = ApiKey(team_id=team.id, created_by=owner.id, label=(label or prefix).strip()[:255] or prefix,
                 prefix=prefix, key_hash=hash_token(plaintext))
    session.add(key)
    await session.flush()
    return key, plaintext


def _pick(matches: list, what: str, needle: str, describe: Callable[[Any], str], hint: str = "") -> Any:
    if not matches:
        raise NotFound(f"no active {what} matches {needle!r}{hint}")
    if len(matches) > 1:
        listed = ", ".join(describe(m) for m in matches[:5])
        raise Conflict(f"{needle!r} matches {len(matches)} {what}s ({listed}); give a longer prefix or a unique label")
    return matches[0]


async def revoke_api_key(session: AsyncSession, prefix_or_label: str, owner: User,
                         *, now: datetime | None = None) -> ApiKey:
    """Revoke the one active key of a team the owner manages (or that the owner made) matching the full key,
    its display prefix (or the start of it) or its label. Refuses an ambiguous match. Records 'key_revoked'."""
    needle = prefix_or_label.strip()
    teams = await managed_team_ids(session, owner.id)
    keys = list(await session.scalars(sa.select(ApiKey).where(
        ApiKey.revoked_at.is_(None), sa.or_(ApiKey.team_id.in_(teams), ApiKey.created_by == owner.id))
        .order_by(ApiKey.id)))
    exact = [k for k in keys if k.key_hash == hash_token(needle)]
    matches = exact or [k for k in keys if k.label == needle or k.prefix == needle or (
        len(needle) >= MIN_PREFIX_MATCH and (k.prefix.startswith(needle) or needle.startswith(k.prefix)))]
    hint = f" (give its label or at least {MIN_PREFIX_MATCH} characters of the key)" if len(needle) < 6 else ""
    key: ApiKey = _pick(matches, "API key", needle, lambda k: f"{k.prefix}… {k.label!r}", hint)
    key.revoked_at = now or utcnow()
    await session.flush()
    await record_access_event(session, "key_revoked", {"key_hash": key.key_hash, "key_id": key.id,
                                                       "team_id": key.team_id})
    return key


async def lookup_api_key(session: AsyncSession, plaintext: str,
                         *, now: datetime | None = None) -> tuple[ApiKey, Team] | None:
    """(key, team) for an active key, else None. Touches last_used_at at most once a minute (caller commits)."""
    if not plaintext:
        return None
    row = (await session.execute(
        sa.select(ApiKey, Team).join(Team, Team.id == ApiKey.team_id)
        .where(ApiKey.key_hash == hash_token(plaintext), ApiKey.revoked_at.is_(None)))).first()
    if row is None:
        return None
    key, team = row
    now = now or utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        await session.flush()
    return key, team


async def create_wall(session: AsyncSession, owner: User, domains: list[str], *, label: str | None = None,
                      layout: str = "grid", rotate_seconds: int = 20, theme: str = "dark") -> tuple[Wall, str]:
    """A wall showing sites the owner can see; returns (row, token). Its path is /wall/<token>."""
    if layout not in WALL_LAYOUTS:
        raise ValueError(f"unknown wall layout {layout!r} (grid or rotate)")
    if not 3 <= rotate_seconds <= 3600:
        raise ValueError("rotate seconds must be from 3 to 3600")
    if not domains:
        raise ValueError("a wall needs at least one site")
    sites: list[Site] = []
    for domain in domains:
        site = await get_site_by_domain(session, domain)
        if site is None or await user_role_for_site(session, owner.id, site.id) is None:
            raise NotFound(f"no site {domain.strip()!r} visible to {owner.email}")
        if site.id not in {s.id for s in sites}:
            sites.append(site)
    token = new_secret(WALL_PREFIX)
    wall = Wall(team_id=sites[0].team_id, created_by=owner.id,
                label=(label or ", ".join(s.domain for s in sites)).strip()[:255],
                token_hash=hash_token(token), layout=layout, rotate_seconds=rotate_seconds, theme=theme)
    session.add(wall)
    await session.flush()
    session.add_all([WallSite(wall_id=wall.id, site_id=s.id) for s in sites])
    await session.flush()
    return wall, token


async def revoke_wall(session: AsyncSession, label: str, owner: User, *, now: datetime | None = None) -> Wall:
    """Revoke the one active wall with this label (or token, or /wall/<token> path) that the owner manages or made.
    Refuses an ambiguous match. Records 'wall_revoked'."""
    needle = label.strip()
    token = needle.rsplit("/wall/", 1)[-1]
    teams = await managed_team_ids(session, owner.id)
    walls = list(await session.scalars(sa.select(Wall).where(
        Wall.revoked_at.is_(None), sa.or_(Wall.team_id.in_(teams), Wall.created_by == owner.id)).order_by(Wall.id)))
    matches = [w for w in walls if w.token_hash == hash_token(token)] or [w for w in walls if w.label == needle]
    wall: Wall = _pick(matches, "wall", needle, lambda w: f"#{w.id} {w.label!r}")
    wall.revoked_at = now or utcnow()
    await session.flush()
    await record_access_event(session, "wall_revoked", {"wall_id": wall.id, "token_hash": wall.token_hash,
                                                        "team_id": wall.team_id})
    return wall


async def lookup_wall(session: AsyncSession, token: str) -> Wall | None:
    """The active wall of a token, else None."""
    if not token:
        return None
    return await session.scalar(sa.select(Wall).where(Wall.token_hash == hash_token(token),
                                                      Wall.revoked_at.is_(None)))


async def wall_sites(session: AsyncSession, wall_id: int) -> list[Site]:
    """The live sites a wall shows, by domain."""
    rows = await session.scalars(sa.select(Site).join(WallSite, WallSite.site_id == Site.id)
                                 .where(WallSite.wall_id == wall_id, Site.deleted_at.is_(None)).order_by(Site.domain))
    return list(rows)

"""Public dashboard links: one revocable share token per site, stored as a hash."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trail.security.tokens import SHARE_PREFIX, hash_token, new_secret
from trail.store.meta.models import Site
from trail.store.meta.outbox import record_access_event
from trail.store.meta.sites import get_site_by_share_token_hash


async def create_share_token(session: AsyncSession, site: Site) -> str:
    """Turn the public link on (replacing any previous link, which stops working); returns the token once."""
    if site.share_token_hash is not None:
        await revoke_share_token(session, site)
    token = new_secret(SHARE_PREFIX)
    site.share_token_hash = hash_token(token)
    await session.flush()
    await record_access_event(session, "site_changed", {"site_id": site.id, "domain": site.domain,
                                                        "team_id": site.team_id})
    return token


async def revoke_share_token(session: AsyncSession, site: Site) -> bool:
    """Turn the public link off; records 'share_revoked'. False when there was none."""
    old = site.share_token_hash
    if old is None:
        return False
    site.share_token_hash = None
    await session.flush()
    await record_access_event(session, "share_revoked", {"site_id": site.id, "domain": site.domain,
                                                         "token_hash": old, "team_id": site.team_id})
    return True


async def site_by_share_token(session: AsyncSession, token: str) -> Site | None:
    """The live site a /share/<token> link opens, or None (unknown, revoked, or the site deleted)."""
    token = (token or "").strip()
    if not token or len(token) > 200:
        return None
    return await get_site_by_share_token_hash(session, hash_token(token))

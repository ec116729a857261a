"""Sites and goals: creation with validated input, lookups by domain, soft deletion."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta.accounts import resolve_team
from trail.store.meta.errors import Conflict, NotFound
from trail.store.meta.models import Goal, Site, User, utcnow
from trail.store.meta.outbox import record_access_event
from trail.store.meta.validate import (
    normalise_domain,
    validate_currency,
    validate_event_name,
    validate_page_pattern,
    validate_timezone,
)

DEFAULT_TIMEZONE = "Etc/UTC"


async def add_site(session: AsyncSession, owner: User, domain: str, *, team_name: str | None = None,
                   timezone: str = DEFAULT_TIMEZONE) -> Site:
    """A new site in the owner's personal team, or in team `team_name` (created with the owner as owner).

    ValueError for a bad domain or timezone; Conflict when the domain is taken. Records 'site_added'.
    """
    domain = normalise_domain(domain)
    timezone = validate_timezone(timezone)
    if await session.scalar(sa.select(Site.id).where(Site.domain == domain)) is not None:
        raise Conflict(f"site {domain} already exists")
    team = await resolve_team(session, owner, team_name, create=True)
    site = Site(team_id=team.id, domain=domain, timezone=timezone, exclude_ips=[], exclude_paths=[],
                exclude_hosts=[], respect_dnt=False)
    session.add(site)
    await session.flush()
    await record_access_event(session, "site_added", {"site_id": site.id, "domain": domain, "team_id": team.id})
    return site


async def get_site_by_domain(session: AsyncSession, domain: str, *, include_deleted: bool = False) -> Site | None:
    """The site of a domain as typed by a user or tracker (normalised first); None when unknown or deleted."""
    try:
        domain = normalise_domain(domain)
    except ValueError:
        return None
    query = sa.select(Site).where(Site.domain == domain)
    if not include_deleted:
        query = query.where(Site.deleted_at.is_(None))
    return await session.scalar(query)


async def require_site(session: AsyncSession, domain: str) -> Site:
    site = await get_site_by_domain(session, domain)
    if site is None:
        raise NotFound(f"no site {domain.strip()!r} (add it with: trail site add DOMAIN --owner EMAIL)")
    return site


async def get_site_by_share_token_hash(session: AsyncSession, token_hash: str) -> Site | None:
    return await session.scalar(sa.select(Site).where(Site.share_token_hash == token_hash,
                                                      Site.deleted_at.is_(None)))


async def delete_site(session: AsyncSession, site: Site, *, now: datetime | None = None) -> None:
    """Soft-delete a site and record 'site_deleted' so every instance drops it."""
    site.deleted_at = now or utcnow()
    await session.flush()
    await record_access_event(session, "site_deleted", {"site_id": site.id, "domain": site.domain,
                                                        "team_id": site.team_id})


async def add_goal(session: AsyncSession, site: Site, *, event_name: str | None = None, page_path: str | None = None,
                   currency: str | None = None, display_name: str | None = None) -> Goal:
    """A custom-event goal (optionally with a revenue currency) or a pageview goal on a path pattern.

    Exactly one of event_name / page_path; Conflict when the site already has that goal. Records 'site_changed'.
    """
    if (event_name is None) == (page_path is None):
        raise ValueError("a goal needs exactly one of an event name or a page path")
    if event_name is not None:
        event_name = validate_event_name(event_name)
        match = Goal.event_name == event_name
        default_name = event_name
    else:
        page_path = validate_page_pattern(page_path or "")
        match = Goal.page_path == page_path
        default_name = f"Visit {page_path}"
        if currency is not None:
            raise ValueError("only custom-event goals can carry revenue (--currency needs --event)")
    if currency is not None:
        currency = validate_currency(currency)
    if await session.scalar(sa.select(Goal.id).where(Goal.site_id == site.id, match)) is not None:
        raise Conflict(f"site {site.domain} already has the goal {event_name or page_path!r}")
    goal = Goal(site_id=site.id, event_name=event_name, page_path=page_path, currency=currency,
                display_name=(display_name or default_name).strip()[:255])
    session.add(goal)
    await session.flush()
    await record_access_event(session, "site_changed", {"site_id": site.id, "domain": site.domain})
    return goal


async def goals_of_site(session: AsyncSession, site_id: int) -> list[Goal]:
    return list(await session.scalars(sa.select(Goal).where(Goal.site_id == site_id).order_by(Goal.id)))

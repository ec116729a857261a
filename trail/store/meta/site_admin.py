"""Site administration from the web: general settings, exclusions, goals, transfers and final purging."""

from __future__ import annotations

import ipaddress
import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta.accounts import user_role_in_team
from trail.store.meta.errors import Forbidden, NotFound
from trail.store.meta.models import Goal, Membership, Site, Team
from trail.store.meta.outbox import record_access_event
from trail.store.meta.validate import validate_page_pattern, validate_timezone

MAX_EXCLUSIONS = 200
_HOST_LABEL = r"[a-z0-9*](?:[a-z0-9*-]{0,61}[a-z0-9*])?"
_HOST_PATTERN = re.compile(rf"^(?:{_HOST_LABEL}\.)*{_HOST_LABEL}$")


def _lines(raw: str | list[str]) -> list[str]:
    items = raw.replace(",", "\n").splitlines() if isinstance(raw, str) else list(raw)
    seen: list[str] = []
    for item in (i.strip() for i in items):
        if item and item not in seen:
            seen.append(item)
    if len(seen) > MAX_EXCLUSIONS:
        raise ValueError(f"at most {MAX_EXCLUSIONS} entries per list")
    return seen


def parse_ip_ranges(raw: str | list[str]) -> list[str]:
    """IP addresses or CIDR ranges, one a line, normalised ("10.0.0.1/8" -> "10.0.0.0/8")."""
    out = []
    for item in _lines(raw):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR range such as 203.0.113.0/24") from None
    return out


def parse_path_patterns(raw: str | list[str]) -> list[str]:
    """Page paths starting with "/", where "*" matches within a segment and "**" across segments."""
    return [validate_page_pattern(item) for item in _lines(raw)]


def parse_host_patterns(raw: str | list[str]) -> list[str]:
    """Hostnames, optionally with "*" wildcards such as *.staging.example.com."""
    out = []
    for item in _lines(raw):
        host = item.lower().rstrip(".")
        if len(host) > 253 or not _HOST_PATTERN.match(host):
            raise ValueError(f"{item!r} is not a hostname (letters, digits, hyphens, dots and * wildcards)")
        out.append(host)
    return out


async def _changed(session: AsyncSession, site: Site, **extra: object) -> None:
    await record_access_event(session, "site_changed", {"site_id": site.id, "domain": site.domain,
                                                        "team_id": site.team_id, **extra})


async def update_site_general(session: AsyncSession, site: Site, *, timezone: str) -> None:
    site.timezone = validate_timezone(timezone)
    await session.flush()
    await _changed(session, site)


async def update_exclusions(session: AsyncSession, site: Site, *, ips: str | list[str], paths: str | list[str],
                            hosts: str | list[str], respect_dnt: bool) -> None:
    """Replace the site's exclusion lists (validated as a whole: nothing changes on a ValueError)."""
    parsed = parse_ip_ranges(ips), parse_path_patterns(paths), parse_host_patterns(hosts)
    site.exclude_ips, site.exclude_paths, site.exclude_hosts = parsed
    site.respect_dnt = bool(respect_dnt)
    await session.flush()
    await _changed(session, site)


async def delete_goal(session: AsyncSession, site: Site, goal_id: int) -> None:
    """Delete a goal of this site; NotFound for a goal of another site."""
    goal = await session.get(Goal, goal_id)
    if goal is None or goal.site_id != site.id:
        raise NotFound("no such goal on this site")
    await session.delete(goal)
    await session.flush()
    await _changed(session, site)


async def transfer_site(session: AsyncSession, site: Site, user_id: int, team_id: int) -> Team:
    """Move a site to another team; the user must be owner or admin in both (NotFound/Forbidden otherwise)."""
    team = await session.get(Team, team_id)
    role_to = None if team is None else await user_role_in_team(session, user_id, team_id)
    if team is None or role_to is None:
        raise NotFound("no such team")
    role_from = await user_role_in_team(session, user_id, site.team_id)
    if role_from not in ("owner", "admin") or role_to not in ("owner", "admin"):
        raise Forbidden("moving a site needs the owner or admin role in both teams")
    if team.id == site.team_id:
        raise ValueError("the site already belongs to that team")
    old_team = site.team_id
    site.team_id = team.id
    await session.flush()
    await _changed(session, site, from_team_id=old_team)
    return team


async def purge_site(session: AsyncSession, site_id: int) -> None:
    """Remove a soft-deleted site's row for good (goals and wall links cascade), freeing its domain; then its
    team, when that team has no members left (an account deletion)."""
    site = await session.get(Site, site_id)
    if site is None or site.deleted_at is None:
        return
    team_id = site.team_id
    await session.execute(sa.delete(Goal).where(Goal.site_id == site_id))
    await session.delete(site)
    await session.flush()
    members = await session.scalar(sa.select(sa.func.count()).select_from(Membership)
                                   .where(Membership.team_id == team_id))
    remaining = await session.scalar(sa.select(sa.func.count()).select_from(Site).where(Site.team_id == team_id))
    if not members and not remaining:
        team = await session.get(Team, team_id)
        if team is not None:
            await session.delete(team)
            await session.flush()


async def sites_of_team(session: AsyncSession, team_id: int) -> list[Site]:
    return list(await session.scalars(sa.select(Site).where(Site.team_id == team_id, Site.deleted_at.is_(None))
                                      .order_by(Site.domain)))


async def add_site_to_team(session: AsyncSession, team_id: int, domain: str, timezone: str) -> Site:
    """A new site in a given team (the caller checked the user may manage it). ValueError for a bad domain or
    timezone; Conflict when the domain is taken (also by a deleted site whose events are still being removed)."""
    from trail.store.meta.errors import Conflict
    from trail.store.meta.validate import normalise_domain

    domain = normalise_domain(domain)
    timezone = validate_timezone(timezone or "Etc/UTC")
    if await session.scalar(sa.select(Site.id).where(Site.domain == domain)) is not None:
        raise Conflict(f"the site {domain} is already on Trail")
    site = Site(team_id=team_id, domain=domain, timezone=timezone, exclude_ips=[], exclude_paths=[],
                exclude_hosts=[], respect_dnt=False)
    session.add(site)
    await session.flush()
    await record_access_event(session, "site_added", {"site_id": site.id, "domain": domain, "team_id": team_id})
    return site

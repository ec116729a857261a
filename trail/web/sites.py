"""The list of your sites and adding a site."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from quart import Blueprint

from trail.security.access import current_user, login_required
from trail.services import current_services
from trail.store.meta import repo
from trail.web.common import announce_access_change, done, field, form_data, int_field, page

sites = Blueprint("sites", __name__)

TIMEZONES = sorted(tz for tz in available_timezones() if "/" in tz and not tz.startswith(("posix/", "right/")))


async def _managed_teams(user: Any) -> list[Any]:
    async with current_services().meta.session() as db:
        await repo.get_or_create_personal_team(db, user)
        await db.commit()
        return [row for row in await repo.teams_of_user(db, user.id) if row.role in ("owner", "admin")]


@sites.get("/sites")
@login_required
async def index() -> Any:
    user = await current_user()
    async with current_services().meta.session() as db:
        teams = await repo.teams_of_user(db, user.id)
        by_team = [(row, await repo.sites_of_team(db, row.team.id)) for row in teams]
    return await page("sites/index.html", by_team=by_team)


@sites.get("/sites/new")
@login_required
async def new() -> Any:
    teams = await _managed_teams(await current_user())
    return await page("sites/new.html", teams=teams, timezones=TIMEZONES, timezone="Etc/UTC",
                      team_id=teams[0].team.id if teams else None)


@sites.post("/sites/new")
@login_required
async def create() -> Any:
    user = await current_user()
    form = await form_data()
    teams = await _managed_teams(user)
    domain, timezone = field(form, "domain", 300), field(form, "timezone", 100) or "Etc/UTC"
    team_id = int_field(form, "team_id") or (teams[0].team.id if teams else None)
    context = {"teams": teams, "timezones": TIMEZONES, "domain": domain, "timezone": timezone, "team_id": team_id}
    if team_id not in {row.team.id for row in teams}:
        return await page("sites/new.html", 422, error="Pick a team you own or administer.", **context)
    async with current_services().meta.session() as db:
        try:
            site = await repo.add_site_to_team(db, team_id, domain, timezone)
        except ValueError as exc:
            return await page("sites/new.html", 422, error=str(exc)[:1].upper() + str(exc)[1:], **context)
        except repo.Conflict as exc:
            return await page("sites/new.html", 422, error=str(exc)[:1].upper() + str(exc)[1:], **context)
        await db.commit()
    await announce_access_change()
    return await done(f"{site.domain} added. Paste the snippet below into your site.", f"/{site.domain}/settings")

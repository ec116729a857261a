"""A site's settings: general (snippet, first-event check), exclusions, goals, sharing, danger zone."""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, abort, g, redirect, render_template

from trail.live.renderers import register_renderer, render_partial
from trail.live.snapshot import Snapshot
from trail.security.access import current_user, site_required
from trail.services import current_services
from trail.store.meta import repo
from trail.store.meta.models import Site
from trail.web.common import (
    announce_access_change,
    done,
    field,
    form_data,
    int_field,
    page,
    public_origin,
)
from trail.web.sites import TIMEZONES

log = logging.getLogger("trail.web")
site_settings = Blueprint("site_settings", __name__)

TABS = (("general", "General"), ("exclusions", "Exclusions"), ("goals", "Goals"), ("sharing", "Sharing"),
        ("keys", "API keys"), ("walls", "Walls"), ("danger", "Danger zone"))
FIRST_EVENT_SQL = "SELECT count() FROM events WHERE site_id = {site_id:UInt32}"
FIRST_EVENT_TEMPLATE = "sites/_first_event.html"  # one template for the page, the 2 s poll and the live push
FIRST_EVENT_CHANNEL = "first-event"  # the live channel kind of the general tab's socket (see trail/web/live_api.py)


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


async def tab(name: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render one settings tab of g.site."""
    return await page(f"sites/settings/{name}.html", status, tab=name, tabs=TABS, site=g.site, role=g.role,
                      **context)


async def _locked_site(db: Any) -> Site:
    site = await db.get(Site, g.site.id)
    if site is None or site.deleted_at is not None:
        abort(404)
    return site


def _snippet(domain: str) -> str:
    return f'<script defer data-domain="{domain}" src="{public_origin()}/js/trail.js"></script>'


# -- first event ----------------------------------------------------------------------------------
async def _first_event_count() -> int:
    """How many events g.site has (0 while none arrived, or when the check fails: it is best-effort)."""
    events = current_services().events
    if events is None:
        return 0
    try:
        _, rows = await events.query(FIRST_EVENT_SQL, {"site_id": g.site.id})
        return int(rows[0][0]) if rows else 0
    except Exception as exc:  # keep polling
        log.warning("first-event check failed for %s: %s", g.site.domain, exc)
        return 0


def render_first_event_live(snapshot: Snapshot) -> str:
    """The general tab's live frame: the "we got your first pageview" fragment (swapped by id) once the site's
    live window has any event, else nothing (the page keeps waiting, and polling)."""
    if not (snapshot.recent or snapshot.pageviews_last_30m or snapshot.visitors_last_30m or snapshot.top_events):
        return ""
    return render_partial(FIRST_EVENT_TEMPLATE, site={"domain": snapshot.domain}, count=1)


register_renderer(FIRST_EVENT_CHANNEL, render_first_event_live, name="first-event")


# -- general ------------------------------------------------------------------------------------
async def _general_tab(status: int = 200, **context: Any) -> Any:
    count = await _first_event_count()
    live = count == 0 and current_services().extras.get("live") is not None
    return await tab("general", status, snippet=_snippet(g.site.domain), timezones=TIMEZONES, count=count,
                     first_event_ws=f"/{g.site.domain}/live?channel={FIRST_EVENT_CHANNEL}" if live else "",
                     **context)


@site_settings.get("/<dotted:domain>/settings")
@site_required("viewer")
async def general(domain: str) -> Any:
    return await _general_tab(timezone=g.site.timezone)


@site_settings.get("/<dotted:domain>/settings/general")
@site_required("viewer")
async def general_alias(domain: str) -> Any:
    return redirect(f"/{g.site.domain}/settings")


@site_settings.post("/<dotted:domain>/settings/general")
@site_required("admin")
async def general_post(domain: str) -> Any:
    timezone = field(await form_data(), "timezone", 100)
    async with current_services().meta.session() as db:
        site = await _locked_site(db)
        try:
            await repo.update_site_general(db, site, timezone=timezone)
        except ValueError as exc:
            return await _general_tab(422, error=_sentence(exc), timezone=timezone)
        await db.commit()
    await announce_access_change()
    return await done("Settings saved.", f"/{g.site.domain}/settings")


@site_settings.get("/<dotted:domain>/settings/first-event")
@site_required("viewer")
async def first_event(domain: str) -> Any:
    """Polled every 2 s by the general tab until the site's first event arrives: the fallback of its live socket
    (no live engine on this instance, or the socket failed)."""
    return await render_template(FIRST_EVENT_TEMPLATE, site=g.site, count=await _first_event_count())


# -- exclusions -----------------------------------------------------------------------------------
@site_settings.get("/<dotted:domain>/settings/exclusions")
@site_required("admin")
async def exclusions(domain: str) -> Any:
    s = g.site
    return await tab("exclusions", ips="\n".join(s.exclude_ips or []), paths="\n".join(s.exclude_paths or []),
                     hosts="\n".join(s.exclude_hosts or []), respect_dnt=s.respect_dnt)


@site_settings.post("/<dotted:domain>/settings/exclusions")
@site_required("admin")
async def exclusions_post(domain: str) -> Any:
    form = await form_data()
    values = {"ips": field(form, "ips", 20_000), "paths": field(form, "paths", 60_000),
              "hosts": field(form, "hosts", 60_000), "respect_dnt": field(form, "respect_dnt", 10) in ("on", "1")}
    async with current_services().meta.session() as db:
        site = await _locked_site(db)
        try:
            await repo.update_exclusions(db, site, **values)
        except ValueError as exc:
            return await tab("exclusions", 422, error=_sentence(exc), **values)
        await db.commit()
    await announce_access_change()
    return await done("Exclusions saved.", f"/{g.site.domain}/settings/exclusions")


# -- goals ----------------------------------------------------------------------------------------
async def _goals_tab(status: int = 200, **context: Any) -> Any:
    async with current_services().meta.session() as db:
        goals = await repo.goals_of_site(db, g.site.id)
    return await tab("goals", status, goals=goals, **context)


@site_settings.get("/<dotted:domain>/settings/goals")
@site_required("admin")
async def goals(domain: str) -> Any:
    return await _goals_tab(kind="event")


@site_settings.post("/<dotted:domain>/settings/goals")
@site_required("admin")
async def goals_post(domain: str) -> Any:
    form = await form_data()
    kind = field(form, "kind", 10)
    value, currency = field(form, "value", 300).strip(), field(form, "currency", 10).strip() or None
    context = {"kind": kind, "value": value, "currency": currency or ""}
    if kind not in ("event", "page"):
        return await _goals_tab(422, error="Choose a goal type: a custom event or a page visit.", **context)
    async with current_services().meta.session() as db:
        site = await _locked_site(db)
        try:
            if kind == "event":
                await repo.add_goal(db, site, event_name=value, currency=currency)
            else:
                await repo.add_goal(db, site, page_path=value, currency=currency)
        except (ValueError, repo.Conflict) as exc:
            return await _goals_tab(422, error=_sentence(exc), **context)
        await db.commit()
    await announce_access_change()
    return await done("Goal added.", f"/{g.site.domain}/settings/goals")


@site_settings.post("/<dotted:domain>/settings/goals/<int:goal_id>/delete")
@site_required("admin")
async def goal_delete(domain: str, goal_id: int) -> Any:
    async with current_services().meta.session() as db:
        site = await _locked_site(db)
        try:
            await repo.delete_goal(db, site, goal_id)
        except repo.NotFound:
            abort(404)
        await db.commit()
    await announce_access_change()
    return await done("Goal deleted.", f"/{g.site.domain}/settings/goals")


# -- sharing --------------------------------------------------------------------------------------
@site_settings.get("/<dotted:domain>/settings/sharing")
@site_required("admin")
async def sharing(domain: str) -> Any:
    return await tab("sharing", enabled=g.site.share_token_hash is not None)


@site_settings.post("/<dotted:domain>/settings/sharing")
@site_required("admin")
async def sharing_post(domain: str) -> Any:
    action = field(await form_data(), "action", 20)
    if action not in ("enable", "disable"):
        return await tab("sharing", 422, enabled=g.site.share_token_hash is not None, error="Unknown action.")
    async with current_services().meta.session() as db:
        site = await _locked_site(db)
        token = await repo.create_share_token(db, site) if action == "enable" else None
        if token is None:
            await repo.revoke_share_token(db, site)
        await db.commit()
    await announce_access_change()
    if token is None:
        return await done("The public link is off; the old link no longer works.", f"/{g.site.domain}/settings/sharing")
    return await tab("sharing", enabled=True, link=f"{public_origin()}/share/{token}")


# -- danger zone ----------------------------------------------------------------------------------
async def _danger_tab(status: int = 200, **context: Any) -> Any:
    user = await current_user()
    async with current_services().meta.session() as db:
        teams = [row for row in await repo.teams_of_user(db, user.id)
                 if row.role in ("owner", "admin") and row.team.id != g.site.team_id]
    return await tab("danger", status, teams=teams, **context)


@site_settings.get("/<dotted:domain>/settings/danger")
@site_required("admin")
async def danger(domain: str) -> Any:
    return await _danger_tab()


@site_settings.post("/<dotted:domain>/settings/transfer")
@site_required("admin")
async def transfer(domain: str) -> Any:
    team_id = int_field(await form_data(), "team_id")
    user = await current_user()
    async with current_services().meta.session() as db:
        site = await _locked_site(db)
        try:
            team = await repo.transfer_site(db, site, user.id, team_id or 0)
        except repo.NotFound:
            return await _danger_tab(422, transfer_error="Pick a team you own or administer.")
        except (repo.Forbidden, ValueError) as exc:
            return await _danger_tab(422, transfer_error=_sentence(exc))
        await db.commit()
    await announce_access_change()
    return await done(f"{g.site.domain} now belongs to {team.name}.", f"/{g.site.domain}/settings")


@site_settings.post("/<dotted:domain>/settings/delete")
@site_required("owner")
async def delete(domain: str) -> Any:
    confirm = field(await form_data(), "confirm", 300).strip().lower()
    if confirm != g.site.domain:
        return await _danger_tab(422, delete_error=f"Type {g.site.domain} to confirm the deletion.")
    services = current_services()
    async with services.meta.session() as db:
        site = await _locked_site(db)
        await repo.delete_site(db, site)  # soft delete + 'site_deleted'
        await db.commit()
    from trail.jobs.delete_site_events import schedule_site_events_deletion

    schedule_site_events_deletion(services, g.site.id)
    await announce_access_change()
    return await done(f"{g.site.domain} was deleted; its events are being removed.", "/sites")

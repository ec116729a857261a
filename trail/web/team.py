"""Teams: members and roles, invitation links (/invite/<token>), creating a team."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from quart import Blueprint, abort, redirect

from trail.mail import mail_enabled, send_mail
from trail.security.access import ROLES, current_user, login_required, token_required
from trail.services import current_services
from trail.store.meta import repo
from trail.store.meta.validate import normalise_email
from trail.web.common import announce_access_change, done, field, form_data, page, public_origin

team = Blueprint("team", __name__)


async def _team(team_id: int, min_role: str = "viewer") -> Any:
    """The team row for the signed-in user: 404 when not a member (as if it did not exist), 403 below min_role."""
    user = await current_user()
    async with current_services().meta.session() as db:
        row = await repo.team_for_member(db, team_id, user.id)
    if row is None:
        abort(404)
    if ROLES.index(row.role) < ROLES.index(min_role):
        abort(403)
    return row


async def _show(team_id: int, status: int = 200, **context: Any) -> Any:
    row = await _team(team_id)
    async with current_services().meta.session() as db:
        members = await repo.members_of_team(db, team_id)
        invitations = await repo.pending_invitations(db, team_id) if row.role == "owner" else []
        sites = await repo.sites_of_team(db, team_id)
    return await page("team/show.html", status, team=row.team, role=row.role, members=members,
                      invitations=invitations, team_sites=sites, roles=("viewer", "admin", "owner"),
                      mail=mail_enabled(current_services().settings), me=(await current_user()).id, **context)


@team.get("/team/<int:team_id>")
@login_required
async def show(team_id: int) -> Any:
    return await _show(team_id)


@team.post("/team/<int:team_id>/rename")
@login_required
async def rename(team_id: int) -> Any:
    await _team(team_id, "owner")
    name = field(await form_data(), "name", 1000)
    async with current_services().meta.session() as db:
        row = await repo.team_for_member(db, team_id, (await current_user()).id)
        try:
            await repo.rename_team(db, row.team, name)
        except ValueError as exc:
            return await _show(team_id, 422, rename_error=str(exc)[:1].upper() + str(exc)[1:])
        await db.commit()
    return await done("Team renamed.", f"/team/{team_id}")


@team.post("/team/<int:team_id>/invitations")
@login_required
async def invite(team_id: int) -> Any:
    row = await _team(team_id, "owner")
    form = await form_data()
    role, email = field(form, "role", 20), field(form, "email", 300).strip()
    if role not in ROLES:
        return await _show(team_id, 422, invite_error="Choose a role: viewer, admin or owner.")
    if email:
        try:
            email = normalise_email(email)
        except ValueError:
            return await _show(team_id, 422, invite_error=f"{email!r} is not a valid email address.")
    async with current_services().meta.session() as db:
        _, token = await repo.create_invitation(db, team_id, await current_user(), role)
        await db.commit()
    link = f"{public_origin()}/invite/{token}"
    sent = False
    if email:
        host = urlsplit(public_origin()).hostname or "localhost"
        sent = await send_mail(current_services().settings, email, f"Join {row.team.name} on Trail",
                               f"You are invited to join {row.team.name} on Trail as {role}.\n\n"
                               f"Open this link to accept (valid for 7 days, once):\n{link}\n",
                               default_from=f"trail@{host}")
    return await _show(team_id, invite_link=link, invite_sent_to=email if sent else "")


@team.post("/team/<int:team_id>/invitations/<int:invitation_id>/revoke")
@login_required
async def revoke_invitation(team_id: int, invitation_id: int) -> Any:
    await _team(team_id, "owner")
    async with current_services().meta.session() as db:
        try:
            await repo.revoke_invitation(db, team_id, invitation_id)
        except repo.NotFound:
            abort(404)
        await db.commit()
    return await done("Invitation revoked.", f"/team/{team_id}")


@team.post("/team/<int:team_id>/members/<int:user_id>/role")
@login_required
async def member_role(team_id: int, user_id: int) -> Any:
    await _team(team_id, "owner")
    role = field(await form_data(), "role", 20)
    async with current_services().meta.session() as db:
        try:
            await repo.set_member_role(db, team_id, user_id, role)
        except repo.NotFound:
            abort(404)
        except (ValueError, repo.Conflict) as exc:
            return await _show(team_id, 422, member_error=str(exc)[:1].upper() + str(exc)[1:])
        await db.commit()
    return await done("Role changed.", f"/team/{team_id}")


@team.post("/team/<int:team_id>/members/<int:user_id>/remove")
@login_required
async def member_remove(team_id: int, user_id: int) -> Any:
    me = (await current_user()).id
    await _team(team_id, "viewer" if user_id == me else "owner")  # anyone may leave; owners remove others
    async with current_services().meta.session() as db:
        try:
            await repo.remove_member(db, team_id, user_id)
        except repo.NotFound:
            abort(404)
        except repo.Conflict as exc:
            return await _show(team_id, 422, member_error=str(exc)[:1].upper() + str(exc)[1:])
        await db.commit()
    await announce_access_change()
    if user_id == me:
        return await done("You left the team.", "/sites")
    return await done("Member removed: their access ended at once.", f"/team/{team_id}")


@team.get("/teams/new")
@login_required
async def new() -> Any:
    return await page("team/new.html")


@team.post("/teams/new")
@login_required
async def create() -> Any:
    name = field(await form_data(), "name", 1000)
    async with current_services().meta.session() as db:
        try:
            created = await repo.create_team(db, await current_user(), name)
        except ValueError as exc:
            return await page("team/new.html", 422, name=name, error=str(exc)[:1].upper() + str(exc)[1:])
        await db.commit()
    return await done(f"Team {created.name} created.", f"/team/{created.id}")


# -- accepting an invitation ----------------------------------------------------------------------
@team.get("/invite/<token>")
@token_required("invite")
async def invitation(token: str) -> Any:
    async with current_services().meta.session() as db:
        found = await repo.find_invitation(db, token)
    if found is None:
        return await page("team/invite.html", 404, invalid=True, token="")
    invitation, invited_team = found
    return await page("team/invite.html", invitation=invitation, team=invited_team, token=token,
                      user=await current_user())


@team.post("/invite/<token>")
@login_required
async def accept(token: str) -> Any:
    async with current_services().meta.session() as db:
        try:
            joined = await repo.accept_invitation(db, token, await current_user())
        except repo.NotFound:
            return await page("team/invite.html", 404, invalid=True, token="")
        except repo.Conflict:
            found = await repo.find_invitation(db, token)
            return redirect(f"/team/{found[1].id}") if found else abort(404)
        await db.commit()
    return await done(f"Welcome to {joined.name}!", f"/team/{joined.id}")

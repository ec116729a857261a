"""Teams from the browser: invitations (single use, expiring), roles, removing members, last-owner rule."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.web.accounts.helpers import Browser, signed_up
from trail.store.meta import repo


async def _team_id(app: Any, email: str, name: str | None = None) -> int:
    async with app.extensions["trail"].meta.session() as db:
        user = await repo.get_user_by_email(db, email)
        rows = await repo.teams_of_user(db, user.id)
    return [r.team.id for r in rows if name is None or r.team.name == name][0]


async def _invite(owner: Browser, team_id: int, role: str) -> str:
    response = await owner.post(f"/team/{team_id}/invitations", {"role": role})
    assert response.status_code == 200
    return re.search(r'value="http://localhost/invite/(inv_[^"]+)"', await response.get_data(as_text=True)).group(1)


async def test_invitation_is_single_use_and_gives_its_role(app_both: Any) -> None:
    owner = await signed_up(app_both, "owner@example.com")
    await owner.add_site("team.example")
    team_id = await _team_id(app_both, "owner@example.com")
    token = await _invite(owner, team_id, "admin")
    anonymous = Browser(app_both)
    status, html = await anonymous.text(f"/invite/{token}")
    assert status == 200 and "Sign in to accept" in html and f"/signup?invite={token}" in html
    assert (await anonymous.post(f"/invite/{token}")).status_code == 302  # to /login: needs a signed-in user
    member = await signed_up(app_both, "member@example.com")
    status, html = await member.text(f"/invite/{token}")
    assert status == 200 and "Accept as member@example.com" in html
    response = await member.post(f"/invite/{token}")
    assert response.status_code == 302 and response.headers["Location"] == f"/team/{team_id}"
    assert (await member.post("/team.example/settings/goals", {"kind": "event", "value": "Buy"})).status_code == 302
    late = await signed_up(app_both, "late@example.com")
    assert (await late.text(f"/invite/{token}"))[0] == 404
    assert (await late.post(f"/invite/{token}")).status_code == 404
    assert (await late.get("/team.example/settings")).status_code == 404
    assert (await member.post("/invite/inv_not-a-real-token")).status_code == 404


async def test_expired_and_revoked_invitations_do_not_work(app_both: Any) -> None:
    owner = await signed_up(app_both, "owner@example.com")
    team_id = await _team_id(app_both, "owner@example.com")
    services = app_both.extensions["trail"]
    async with services.meta.session() as db:
        user = await repo.get_user_by_email(db, "owner@example.com")
        _, expired = await repo.create_invitation(db, team_id, user, "viewer", ttl=timedelta(seconds=-1))
        await db.commit()
    guest = await signed_up(app_both, "guest@example.com")
    assert (await guest.post(f"/invite/{expired}")).status_code == 404
    token = await _invite(owner, team_id, "viewer")
    async with services.meta.session() as db:
        (pending,) = await repo.pending_invitations(db, team_id)
    assert (await owner.post(f"/team/{team_id}/invitations/{pending.id}/revoke")).status_code == 302
    assert (await guest.post(f"/invite/{token}")).status_code == 404
    response = await owner.post(f"/team/{team_id}/invitations", {"role": "emperor"})
    assert response.status_code == 422 and "Choose a role" in await response.get_data(as_text=True)


async def test_roles_removal_and_the_last_owner(app_both: Any) -> None:
    owner = await signed_up(app_both, "owner@example.com")
    await owner.add_site("roles.example")
    team_id = await _team_id(app_both, "owner@example.com")
    member = await signed_up(app_both, "member@example.com")
    await member.post(f"/invite/{await _invite(owner, team_id, 'viewer')}")
    async with app_both.extensions["trail"].meta.session() as db:
        owner_id = (await repo.get_user_by_email(db, "owner@example.com")).id
        member_id = (await repo.get_user_by_email(db, "member@example.com")).id
    status, html = await member.text(f"/team/{team_id}")
    assert status == 200 and "owner@example.com" in html and "Invite someone" not in html
    assert (await member.post(f"/team/{team_id}/members/{owner_id}/role", {"role": "viewer"})).status_code == 403
    response = await owner.post(f"/team/{team_id}/members/{owner_id}/role", {"role": "admin"})
    assert response.status_code == 422 and "at least one owner" in await response.get_data(as_text=True)
    response = await owner.post(f"/team/{team_id}/members/{owner_id}/remove")
    assert response.status_code == 422 and "last owner" in await response.get_data(as_text=True)
    assert (await owner.post(f"/team/{team_id}/members/{member_id}/role", {"role": "chief"})).status_code == 422
    assert (await owner.post(f"/team/{team_id}/members/{member_id}/role", {"role": "admin"})).status_code == 302
    assert (await member.post("/roles.example/settings/goals", {"kind": "event", "value": "A"})).status_code == 302
    assert (await owner.post(f"/team/{team_id}/members/{member_id}/remove")).status_code == 302
    assert (await member.get("/roles.example/settings")).status_code == 404  # access ended at once
    assert (await member.get(f"/team/{team_id}")).status_code == 404
    async with app_both.extensions["trail"].meta.session() as db:
        kinds = [e.kind for e in await repo.access_events_after(db, 0)]
    assert "member_removed" in kinds


async def test_a_member_may_leave_and_owner_may_rename(app_both: Any) -> None:
    owner = await signed_up(app_both, "owner@example.com")
    team_id = await _team_id(app_both, "owner@example.com")
    member = await signed_up(app_both, "member@example.com")
    await member.post(f"/invite/{await _invite(owner, team_id, 'viewer')}")
    async with app_both.extensions["trail"].meta.session() as db:
        member_id = (await repo.get_user_by_email(db, "member@example.com")).id
    response = await member.post(f"/team/{team_id}/members/{member_id}/remove")
    assert response.status_code == 302 and response.headers["Location"] == "/sites"
    assert (await owner.post(f"/team/{team_id}/rename", {"name": "Acme"})).status_code == 302
    assert (await owner.post(f"/team/{team_id}/rename", {"name": ""})).status_code == 422
    assert "Acme" in (await owner.text(f"/team/{team_id}"))[1]

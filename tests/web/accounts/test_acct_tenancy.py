"""Cross-tenant isolation and roles: B never sees or changes A's things (by URL, form id or API key);
a viewer can change nothing; a revoked key, share link or wall token stops working at once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.accounts.helpers import Browser, signed_up
from trail.store.meta import repo
from trail.store.meta.models import Site

SETTINGS_GETS = ["", "/general", "/exclusions", "/goals", "/sharing", "/keys", "/walls", "/danger", "/first-event"]


def change_posts(domain: str, ids: dict[str, int]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every state-changing route of a site, with plausible fields (kept complete by the test below)."""
    d = domain
    return [
        (f"/{d}/settings/general", [("timezone", "Asia/Tokyo")]),
        (f"/{d}/settings/exclusions", [("ips", "1.2.3.4"), ("paths", ""), ("hosts", "")]),
        (f"/{d}/settings/goals", [("kind", "event"), ("value", "Hacked")]),
        (f"/{d}/settings/goals/{ids['goal']}/delete", []),
        (f"/{d}/settings/sharing", [("action", "enable")]),
        (f"/{d}/settings/keys", [("label", "stolen")]),
        (f"/{d}/settings/keys/{ids['key']}/revoke", []),
        (f"/{d}/settings/walls", [("layout", "grid"), ("rotate_seconds", "20"), ("site_ids", str(ids["site"]))]),
        (f"/{d}/settings/walls/{ids['wall']}/revoke", []),
        (f"/{d}/settings/transfer", [("team_id", str(ids["other_team"]))]),
        (f"/{d}/settings/delete", [("confirm", d)]),
    ]


def team_posts(team_id: int, ids: dict[str, int]) -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        (f"/team/{team_id}/rename", [("name", "Pwned")]),
        (f"/team/{team_id}/invitations", [("role", "owner")]),
        (f"/team/{team_id}/invitations/{ids['invitation']}/revoke", []),
        (f"/team/{team_id}/members/{ids['owner']}/role", [("role", "viewer")]),
        (f"/team/{team_id}/members/{ids['owner']}/remove", []),
    ]


async def _setup_alice(app: Any) -> tuple[Browser, dict[str, int], str]:
    """Alice with site a.example in her personal team, a goal, an API key, a wall and a pending invitation."""
    alice = await signed_up(app, "alice@example.com")
    await alice.add_site("a.example")
    await alice.post("/a.example/settings/goals", {"kind": "event", "value": "Signup"})
    html = await (await alice.post("/a.example/settings/keys", {"label": "A key"})).get_data(as_text=True)
    key = re.search(r'value="(trl_[^"]+)"', html).group(1)
    services = app.extensions["trail"]
    async with services.meta.session() as db:
        site = await repo.get_site_by_domain(db, "a.example")
        user = await repo.get_user_by_email(db, "alice@example.com")
        goal = (await repo.goals_of_site(db, site.id))[0]
        (api_key,) = await repo.team_api_keys(db, site.team_id)
    await alice.post("/a.example/settings/walls", [("layout", "grid"), ("rotate_seconds", "20"),
                                                   ("site_ids", str(site.id))])
    await alice.post(f"/team/{site.team_id}/invitations", {"role": "viewer"})
    async with services.meta.session() as db:
        ((wall, _),) = await repo.team_walls(db, site.team_id)
        (invitation,) = await repo.pending_invitations(db, site.team_id)
    ids = {"site": site.id, "team": site.team_id, "goal": goal.id, "key": api_key.id, "wall": wall.id,
           "invitation": invitation.id, "owner": user.id, "other_team": site.team_id}
    return alice, ids, key


async def _alice_state(app: Any, ids: dict[str, int]) -> tuple[Any, ...]:
    async with app.extensions["trail"].meta.session() as db:
        site = await repo.get_site_by_domain(db, "a.example")
        return (site.team_id, site.timezone, tuple(site.exclude_ips), site.share_token_hash,
                [g.event_name for g in await repo.goals_of_site(db, ids["site"])],
                [k.id for k in await repo.team_api_keys(db, ids["team"])],
                [w.id for w, _ in await repo.team_walls(db, ids["team"])],
                [i.id for i in await repo.pending_invitations(db, ids["team"])],
                [(m.email, m.role) for m in await repo.members_of_team(db, ids["team"])],
                (await db.get(Site, ids["site"])).deleted_at)


def test_change_posts_cover_every_site_route(tmp_path: Any) -> None:
    from tests.conftest import make_settings
    from trail.app import create_app

    app = create_app(make_settings(tmp_path))
    ids = {k: 1 for k in ("goal", "key", "site", "wall", "other_team", "invitation", "owner")}
    listed = {re.sub(r"/\d+/", "/<int>/", p.replace("/x.example/", "/<dotted:domain>/"))
              for p, _ in change_posts("x.example", ids)}
    listed |= {re.sub(r"/\d+", "/<int>", p) for p, _ in team_posts(1, ids)}
    routes = {re.sub(r"<int:\w+>", "<int>", r.rule) for r in app.url_map.iter_rules()
              if "POST" in (r.methods or ()) and r.rule.startswith(("/<dotted:domain>/settings", "/team/"))}
    assert routes == listed


async def test_another_user_cannot_see_or_change_anything_of_alice(app_both: Any) -> None:
    _, ids, _ = await _setup_alice(app_both)
    before = await _alice_state(app_both, ids)
    bob = await signed_up(app_both, "bob@example.com")
    await bob.add_site("b.example")
    for suffix in SETTINGS_GETS:
        assert (await bob.get(f"/a.example/settings{suffix}")).status_code == 404, suffix
    assert (await bob.get(f"/team/{ids['team']}")).status_code == 404
    bob_ids = dict(ids)
    async with app_both.extensions["trail"].meta.session() as db:
        bob_team = (await repo.get_site_by_domain(db, "b.example")).team_id
    bob_ids["other_team"] = bob_team
    for path, fields in change_posts("a.example", bob_ids) + team_posts(ids["team"], ids):
        assert (await bob.post(path, fields)).status_code == 404, path
    # Alice's ids through Bob's own site and team: never found
    for path, fields in change_posts("b.example", ids)[3:4] + change_posts("b.example", ids)[6:7] + \
            change_posts("b.example", ids)[8:9]:
        assert (await bob.post(path, fields)).status_code == 404, path
    response = await bob.post("/b.example/settings/walls", [("layout", "grid"), ("rotate_seconds", "20"),
                                                            ("site_ids", str(ids["site"]))])
    assert response.status_code == 422 and "this team only" in await response.get_data(as_text=True)
    response = await bob.post("/b.example/settings/transfer", [("team_id", str(ids["team"]))])
    assert response.status_code == 422
    for path, fields in team_posts(bob_team, ids)[2:]:
        assert (await bob.post(path, fields)).status_code == 404, path
    assert await _alice_state(app_both, ids) == before
    assert "a.example" not in (await bob.text("/sites"))[1]


async def test_another_teams_api_key_cannot_read_the_site(app_both: Any) -> None:
    _, _, alice_key = await _setup_alice(app_both)
    bob = await signed_up(app_both, "bob@example.com")
    await bob.add_site("b.example")
    html = await (await bob.post("/b.example/settings/keys", {"label": "B"})).get_data(as_text=True)
    bob_key = re.search(r'value="(trl_[^"]+)"', html).group(1)
    client = app_both.test_client()
    for key, domain, status in [(bob_key, "a.example", 404), (bob_key, "b.example", 200),
                                (alice_key, "a.example", 200), (alice_key, "nope.example", 404)]:
        response = await client.get(f"/api/v1/stats/realtime/visitors?site_id={domain}",
                                    headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == status, (domain, status)


async def test_a_viewer_can_read_but_change_nothing(app_both: Any) -> None:
    alice, ids, _ = await _setup_alice(app_both)
    html = await (await alice.post(f"/team/{ids['team']}/invitations", {"role": "viewer"})).get_data(as_text=True)
    token = re.search(r"/invite/(inv_[^\"]+)", html).group(1)
    viewer = await signed_up(app_both, "viewer@example.com")
    assert (await viewer.post(f"/invite/{token}")).status_code == 302
    before = await _alice_state(app_both, ids)
    status, html = await viewer.text("/a.example/settings")
    assert status == 200 and "data-domain" in html and "Save" not in html
    assert (await viewer.get("/a.example/settings/first-event")).status_code == 200
    assert (await viewer.get(f"/team/{ids['team']}")).status_code == 200
    for suffix in SETTINGS_GETS[2:-1]:
        assert (await viewer.get(f"/a.example/settings{suffix}")).status_code == 403, suffix
    for path, fields in change_posts("a.example", ids) + team_posts(ids["team"], ids):
        assert (await viewer.post(path, fields)).status_code == 403, path
    state = await _alice_state(app_both, ids)
    assert state[:7] == before[:7] and state[-1] is None  # nothing changed, the site is alive


@pytest.mark.parametrize("role", ["admin"])
async def test_an_admin_cannot_delete_the_site_or_manage_members(app_both: Any, role: str) -> None:
    alice, ids, _ = await _setup_alice(app_both)
    html = await (await alice.post(f"/team/{ids['team']}/invitations", {"role": role})).get_data(as_text=True)
    token = re.search(r"/invite/(inv_[^\"]+)", html).group(1)
    admin = await signed_up(app_both, "admin@example.com")
    await admin.post(f"/invite/{token}")
    assert (await admin.post("/a.example/settings/delete", {"confirm": "a.example"})).status_code == 403
    assert (await admin.post(f"/team/{ids['team']}/invitations", {"role": "owner"})).status_code == 403
    assert (await admin.post("/a.example/settings/goals", {"kind": "page", "value": "/ok"})).status_code == 302


async def test_cookie_from_another_session_or_without_csrf_is_refused(app_both: Any) -> None:
    alice, _, _ = await _setup_alice(app_both)
    response = await alice.post("/a.example/settings/general", {"timezone": "Asia/Tokyo"}, csrf=False)
    assert response.status_code == 403
    response = await alice.client.post("/a.example/settings/general", form={"timezone": "Asia/Tokyo"},
                                       headers={"X-CSRF-Token": await alice.csrf()})
    assert response.status_code == 302  # htmx sends the token as a header
    mallory = await signed_up(app_both, "mallory@example.com")
    response = await alice.client.post("/a.example/settings/general", form={"timezone": "Etc/UTC",
                                                                            "csrf_token": await mallory.csrf()})
    assert response.status_code == 403

"""Sites from the browser: add, settings tabs, exclusions, goals, sharing, keys, walls, transfer, deletion."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest

from tests.web.accounts.helpers import Browser, signed_up, text_of
from trail.jobs import wait_all
from trail.store.meta import repo


async def _site(app: Any, domain: str, include_deleted: bool = False) -> Any:
    async with app.extensions["trail"].meta.session() as db:
        return await repo.get_site_by_domain(db, domain, include_deleted=include_deleted)


async def _access_kinds(app: Any) -> list[str]:
    async with app.extensions["trail"].meta.session() as db:
        return [e.kind for e in await repo.access_events_after(db, 0)]


async def _announcements(app: Any, monkeypatch: Any) -> list[int]:
    feed = app.extensions["trail"].extras["access_feed"]
    calls: list[int] = []
    real = feed.announce

    async def counting() -> None:
        calls.append(1)
        await real()

    monkeypatch.setattr(feed, "announce", counting)
    return calls


async def test_add_site_normalises_and_validates(app_both: Any) -> None:
    browser = await signed_up(app_both, "a@example.com")
    response = await browser.add_site("https://WWW.Example.COM:443/blog?x=1", timezone="Europe/Berlin")
    assert response.status_code == 302 and response.headers["Location"] == "/www.example.com/settings"
    site = await _site(app_both, "www.example.com")
    assert site.timezone == "Europe/Berlin"
    for bad, message in [("localhost", "must contain a dot"), ("exa mple.com", "not allowed"), ("", "empty")]:
        response = await browser.add_site(bad)
        assert response.status_code == 422 and message in await response.get_data(as_text=True)
    response = await browser.add_site("ok.example", timezone="Mars/Olympus")
    assert response.status_code == 422 and "nknown timezone" in await response.get_data(as_text=True)
    response = await browser.add_site("www.example.com")
    assert response.status_code == 422 and "already on Trail" in await response.get_data(as_text=True)
    status, html = await browser.text("/sites")
    assert status == 200 and "www.example.com" in html and "ok.example" not in html


async def test_settings_shows_snippet_and_polls_for_the_first_event(app_both: Any, monkeypatch: Any) -> None:
    browser = await signed_up(app_both, "a@example.com")
    await browser.add_site("snip.example")
    monkeypatch.delitem(app_both.extensions["trail"].extras, "live")  # e.g. a `--role writer` instance: polling only
    status, html = await browser.text("/snip.example/settings")
    assert status == 200 and "ws-connect" not in html
    assert ('&lt;script defer data-domain=&#34;snip.example&#34; src=&#34;http://localhost/js/trail.js&#34;&gt;'
            in html)
    assert 'hx-get="/snip.example/settings/first-event"' in html and 'hx-trigger="every 2s"' in html
    assert "Waiting for the first pageview" in html
    services = app_both.extensions["trail"]
    site = await _site(app_both, "snip.example")
    await services.events.execute("INSERT INTO events (event_id, site_id, ts, name) VALUES "
                                  "(generateUUIDv4(), {sid:UInt32}, now64(3), 'pageview')", {"sid": site.id})
    status, html = await browser.text("/snip.example/settings/first-event")
    assert status == 200 and "We got your first pageview" in html and "hx-trigger" not in html


DESKTOP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")


async def test_first_event_is_pushed_live_over_the_settings_socket(app_both: Any) -> None:
    browser = await signed_up(app_both, "a@example.com")
    await browser.add_site("live.example")
    status, html = await browser.text("/live.example/settings")
    assert status == 200 and "Waiting for the first pageview" in html
    assert 'hx-ext="ws" ws-connect="/live.example/live?channel=first-event"' in html
    assert 'hx-get="/live.example/settings/first-event"' in html and 'hx-trigger="every 2s"' in html  # fallback
    assert "vendor/htmx-ext-ws.js" in html
    origin = {"Origin": "http://localhost", "Host": "localhost"}
    async with browser.client.websocket("/live.example/live?channel=first-event", headers=origin) as ws:
        assert await asyncio.wait_for(ws.receive(), 3) == ""  # connected: no event yet, nothing to swap
        response = await app_both.test_client().post(
            "/api/event", data=orjson.dumps({"n": "pageview", "u": "https://live.example/", "d": "live.example"}),
            headers={"Content-Type": "text/plain", "User-Agent": DESKTOP_UA})
        assert response.status_code == 202
        frame = await asyncio.wait_for(ws.receive(), 3)
    assert 'id="first-event"' in frame and "We got your first pageview" in frame and "hx-trigger" not in frame
    assert 'href="/live.example"' in frame
    # the poll (the fallback) answers the same fragment once the writer has stored the event (flush: 1 s)
    for _ in range(100):
        status, polled = await browser.text("/live.example/settings/first-event")
        if "We got your first pageview" in polled:
            break
        await asyncio.sleep(0.1)
    assert status == 200 and polled.strip() == frame.strip()
    # once there is an event, the page shows it at once and opens no socket
    status, html = await browser.text("/live.example/settings")
    assert "We got your first pageview" in html and "ws-connect" not in html


async def test_the_page_socket_takes_known_channels_only(app_both: Any) -> None:
    browser = await signed_up(app_both, "a@example.com")
    await browser.add_site("chan.example")
    from quart.testing.connections import WebsocketResponseError

    with pytest.raises(WebsocketResponseError) as refused:
        async with browser.client.websocket("/chan.example/live?channel=json",
                                            headers={"Origin": "http://localhost", "Host": "localhost"}) as ws:
            await ws.receive()
    assert refused.value.response.status_code == 404


async def test_general_exclusions_goals(app_both: Any, monkeypatch: Any) -> None:
    announced = await _announcements(app_both, monkeypatch)
    browser = await signed_up(app_both, "a@example.com")
    await browser.add_site("ex.example")
    assert (await browser.post("/ex.example/settings/general", {"timezone": "Asia/Tokyo"})).status_code == 302
    response = await browser.post("/ex.example/settings/general", {"timezone": "Nowhere/City"})
    assert response.status_code == 422 and "nknown timezone" in await response.get_data(as_text=True)
    response = await browser.post("/ex.example/settings/exclusions", {
        "ips": "10.1.2.3/8\n2001:db8::1", "paths": "/admin/**\n/preview/*", "hosts": "*.staging.ex.example",
        "respect_dnt": "on"})
    assert response.status_code == 302
    site = await _site(app_both, "ex.example")
    assert site.timezone == "Asia/Tokyo"
    assert site.exclude_ips == ["10.0.0.0/8", "2001:db8::1/128"] and site.exclude_paths == ["/admin/**", "/preview/*"]
    assert site.exclude_hosts == ["*.staging.ex.example"] and site.respect_dnt
    for fields, message in [({"ips": "300.1.1.1"}, "not an IP address"), ({"paths": "admin"}, "must start with"),
                            ({"hosts": "bad host!"}, "not a hostname")]:
        empty = {"ips": "", "paths": "", "hosts": ""}
        response = await browser.post("/ex.example/settings/exclusions", {**empty, **fields})
        assert response.status_code == 422 and message in await response.get_data(as_text=True)
    assert (await _site(app_both, "ex.example")).exclude_ips == ["10.0.0.0/8", "2001:db8::1/128"]  # unchanged
    # goals
    assert (await browser.post("/ex.example/settings/goals", {"kind": "event", "value": "Signup",
                                                              "currency": "eur"})).status_code == 302
    assert (await browser.post("/ex.example/settings/goals", {"kind": "page", "value": "/blog/**"})).status_code == 302
    for fields, message in [({"kind": "event", "value": "Signup"}, "already has the goal"),
                            ({"kind": "page", "value": "blog"}, "must start with"),
                            ({"kind": "event", "value": "Buy", "currency": "XXX"}, "nknown currency"),
                            ({"kind": "page", "value": "/x", "currency": "EUR"}, "nly custom-event goals"),
                            ({"kind": "nope", "value": "x"}, "Choose a goal type")]:
        response = await browser.post("/ex.example/settings/goals", fields)
        assert response.status_code == 422 and message in await response.get_data(as_text=True), fields
    async with app_both.extensions["trail"].meta.session() as db:
        goals = await repo.goals_of_site(db, site.id)
    assert [(g.event_name, g.page_path, g.currency) for g in goals] == [("Signup", None, "EUR"),
                                                                        (None, "/blog/**", None)]
    assert (await browser.post(f"/ex.example/settings/goals/{goals[0].id}/delete")).status_code == 302
    status, html = await browser.text("/ex.example/settings/goals")
    assert status == 200 and "Visit /blog/**" in html and "<td>Signup</td>" not in html
    assert (await _access_kinds(app_both)).count("site_changed") == 5 and len(announced) >= 5
    info = await app_both.extensions["trail"].extras["sites"].get("ex.example")
    assert info.timezone == "Asia/Tokyo" and len(info.goals) == 1  # the cache was dropped at once


async def test_sharing_toggle_creates_and_revokes_links(app_both: Any) -> None:
    browser = await signed_up(app_both, "a@example.com")
    await browser.add_site("share.example")
    html = await (await browser.post("/share.example/settings/sharing", {"action": "enable"})).get_data(as_text=True)
    link = re.search(r'value="http://localhost(/share/shr_[^"]+)"', html).group(1)
    anonymous = Browser(app_both)
    assert (await anonymous.get(link)).status_code == 200
    async with app_both.extensions["trail"].meta.session() as db:
        assert (await repo.site_by_share_token(db, link.rsplit("/", 1)[1])).domain == "share.example"
    html = await (await browser.post("/share.example/settings/sharing", {"action": "enable"})).get_data(as_text=True)
    second = re.search(r'value="http://localhost(/share/shr_[^"]+)"', html).group(1)
    assert (await anonymous.get(link)).status_code == 404  # regenerating revokes the old link
    assert (await anonymous.get(second)).status_code == 200
    assert (await browser.post("/share.example/settings/sharing", {"action": "disable"})).status_code == 302
    assert (await anonymous.get(second)).status_code == 404
    assert (await _access_kinds(app_both)).count("share_revoked") == 2
    assert (await browser.post("/share.example/settings/sharing", {"action": "boom"})).status_code == 422


async def test_api_keys_shown_once_hashed_revocable(app_both: Any) -> None:
    browser = await signed_up(app_both, "a@example.com")
    await browser.add_site("keys.example")
    html = await (await browser.post("/keys.example/settings/keys", {"label": "Backend"})).get_data(as_text=True)
    key = re.search(r'id="new-key" class="code" readonly value="(trl_[^"]+)"', html).group(1)
    status, listing = await browser.text("/keys.example/settings/keys")
    assert status == 200 and "Backend" in listing and key not in listing and "never" in listing
    client = app_both.test_client()
    url = "/api/v1/stats/realtime/visitors?site_id=keys.example"
    assert (await client.get(url, headers={"Authorization": f"Bearer {key}"})).status_code == 200
    status, listing = await browser.text("/keys.example/settings/keys")
    assert "never" not in listing  # last used time shown
    async with app_both.extensions["trail"].meta.session() as db:
        (row,) = await repo.team_api_keys(db, (await _site(app_both, "keys.example")).team_id)
        assert row.key_hash != key and key not in (row.prefix + row.label)
    assert (await browser.post(f"/keys.example/settings/keys/{row.id}/revoke")).status_code == 302
    assert (await client.get(url, headers={"Authorization": f"Bearer {key}"})).status_code == 401  # at once
    assert (await browser.post(f"/keys.example/settings/keys/{row.id}/revoke")).status_code == 404
    assert "key_revoked" in await _access_kinds(app_both)


async def test_walls_for_one_or_several_sites(app_both: Any) -> None:
    browser = await signed_up(app_both, "a@example.com")
    await browser.add_site("w1.example")
    await browser.add_site("w2.example")
    ids = [(await _site(app_both, d)).id for d in ("w1.example", "w2.example")]
    response = await browser.post("/w1.example/settings/walls", [("label", "Office TV"), ("layout", "rotate"),
                                                                 ("rotate_seconds", "15")] +
                                  [("site_ids", str(i)) for i in ids])
    html = await response.get_data(as_text=True)
    token = re.search(r'value="http://localhost/wall/(wall_[^"]+)"', html).group(1)
    services = app_both.extensions["trail"]
    async with services.meta.session() as db:
        wall = await repo.lookup_wall(db, token)
        assert wall.layout == "rotate" and wall.rotate_seconds == 15 and wall.label == "Office TV"
        assert [s.domain for s in await repo.wall_sites(db, wall.id)] == ["w1.example", "w2.example"]
    for fields, message in [([("layout", "grid"), ("rotate_seconds", "20")], "at least one site"),
                            ([("layout", "spiral"), ("rotate_seconds", "20"), ("site_ids", str(ids[0]))], "layout"),
                            ([("layout", "grid"), ("rotate_seconds", "1"), ("site_ids", str(ids[0]))], "3 to 3600"),
                            ([("layout", "grid"), ("rotate_seconds", "x"), ("site_ids", str(ids[0]))], "whole number")]:
        response = await browser.post("/w1.example/settings/walls", fields)
        assert response.status_code == 422 and message in await response.get_data(as_text=True), fields
    assert (await browser.post(f"/w1.example/settings/walls/{wall.id}/revoke")).status_code == 302
    async with services.meta.session() as db:
        assert await repo.lookup_wall(db, token) is None
    if any(rule.rule == "/wall/<token>" for rule in app_both.url_map.iter_rules()):
        assert (await app_both.test_client().get(f"/wall/{token}")).status_code == 404
    assert "wall_revoked" in await _access_kinds(app_both)


async def test_transfer_between_teams_needs_manager_role_in_both(app_both: Any) -> None:
    alice = await signed_up(app_both, "alice@example.com")
    await alice.add_site("move.example")
    response = await alice.post("/teams/new", {"name": "Agency"})
    agency_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert (await alice.post("/teams/new", {"name": "   "})).status_code == 422
    bob = await signed_up(app_both, "bob@example.com")
    await bob.post("/teams/new", {"name": "Bob's"})
    async with app_both.extensions["trail"].meta.session() as db:
        bob_id = (await repo.get_user_by_email(db, "bob@example.com")).id
        bob_team = [r.team.id for r in await repo.teams_of_user(db, bob_id) if r.team.name == "Bob's"][0]
    response = await alice.post("/move.example/settings/transfer", {"team_id": str(bob_team)})
    assert response.status_code == 422 and "Pick a team you own" in await response.get_data(as_text=True)
    response = await alice.post("/move.example/settings/transfer", {"team_id": str(agency_id)})
    assert response.status_code == 302
    assert (await _site(app_both, "move.example")).team_id == agency_id
    assert "site_changed" in await _access_kinds(app_both)


async def test_delete_site_needs_confirmation_and_removes_events(app_both: Any) -> None:
    browser = await signed_up(app_both, "a@example.com")
    await browser.add_site("gone.example")
    await browser.add_site("kept.example")
    services = app_both.extensions["trail"]
    gone, kept = await _site(app_both, "gone.example"), await _site(app_both, "kept.example")
    for site in (gone, kept):
        await services.events.execute("INSERT INTO events (event_id, site_id, ts, name) VALUES "
                                      "(generateUUIDv4(), {sid:UInt32}, now64(3), 'pageview')", {"sid": site.id})
    response = await browser.post("/gone.example/settings/delete", {"confirm": "kept.example"})
    assert response.status_code == 422 and "to confirm" in text_of(await response.get_data(as_text=True))
    response = await browser.post("/gone.example/settings/delete", {"confirm": "gone.example"})
    assert response.status_code == 302 and response.headers["Location"] == "/sites"
    assert (await browser.get("/gone.example/settings")).status_code == 404  # gone at once
    await wait_all()
    _, rows = await services.events.query("SELECT site_id, count() FROM events GROUP BY site_id ORDER BY site_id")
    assert [tuple(r) for r in rows] == [(kept.id, 1)]
    assert await _site(app_both, "gone.example", include_deleted=True) is None  # purged: the domain is free
    assert "site_deleted" in await _access_kinds(app_both)


async def test_every_page_renders_for_an_owner(app_both: Any) -> None:
    browser = await signed_up(app_both, "pages@example.com")
    await browser.add_site("pages.example")
    team_id = (await _site(app_both, "pages.example")).team_id
    for path in ["/sites", "/sites/new", "/teams/new", "/settings/account", f"/team/{team_id}",
                 *[f"/pages.example/settings{s}" for s in ("", "/exclusions", "/goals", "/sharing", "/keys", "/walls",
                                                          "/danger")]]:
        status, html = await browser.text(path)
        assert status == 200 and 'name="csrf-token"' in html and "hx-headers" in html, path
    assert (await browser.get("/pages.example/settings/general")).headers["Location"] == "/pages.example/settings"
    assert (await browser.get("/static/css/app.css")).status_code == 200

"""Sign-up, sign-in, sign-out, password change and account deletion through the real app."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.accounts.helpers import PASSWORD, Browser, signed_up, text_of
from trail.store.meta import accounts, repo
from trail.store.meta.models import User
from trail.web.auth import LOGIN_FAILED


async def _user(app: Any, email: str) -> User | None:
    async with app.extensions["trail"].meta.session() as db:
        return await repo.get_user_by_email(db, email)


async def test_first_user_is_admin_and_second_is_not(app_both: Any) -> None:
    first = await signed_up(app_both, "first@example.com")
    await signed_up(app_both, "second@example.com")
    assert (await _user(app_both, "first@example.com")).is_admin
    assert not (await _user(app_both, "second@example.com")).is_admin
    status, html = await first.text("/sites")
    assert status == 200 and "first@example.com" in html and 'name="csrf-token"' in html


async def test_root_redirects_by_sign_in_state(app_both: Any) -> None:
    browser = Browser(app_both)
    assert (await browser.get("/")).headers["Location"] == "/login"
    await browser.signup("root@example.com")
    assert (await browser.get("/")).headers["Location"] == "/sites"
    assert (await Browser(app_both).get("/sites")).headers["Location"].startswith("/login?next=/sites")


async def test_signup_rejects_bad_input_on_the_form(app_both: Any) -> None:
    browser = Browser(app_both)
    response = await browser.signup("not-an-email")
    assert response.status_code == 422 and "not a valid email" in await response.get_data(as_text=True)
    response = await browser.signup("short@example.com", "seven77")
    assert response.status_code == 422 and "at least 8 characters" in await response.get_data(as_text=True)
    await signed_up(app_both, "taken@example.com")
    response = await Browser(app_both).signup("Taken@Example.com")
    assert response.status_code == 422 and "already exists" in await response.get_data(as_text=True)


async def test_closed_signup_allows_first_user_and_invited_only(app_factory: Any) -> None:
    async with app_factory(TRAIL_SIGNUP="closed") as (app, _):
        owner = await signed_up(app, "owner@example.com")  # the first user may always sign up
        response = await Browser(app).signup("stranger@example.com")
        assert response.status_code == 403 and "closed" in await response.get_data(as_text=True)
        assert await _user(app, "stranger@example.com") is None
        async with app.extensions["trail"].meta.session() as db:
            team = (await repo.teams_of_user(db, (await _user(app, "owner@example.com")).id))[0].team
        response = await owner.post(f"/team/{team.id}/invitations", {"role": "viewer"})
        token = (await response.get_data(as_text=True)).split("/invite/")[1].split('"')[0]
        invited = Browser(app)
        status, html = await invited.text(f"/signup?invite={token}")
        assert status == 200 and 'name="invite"' in html
        response = await invited.signup("invited@example.com", invite=token)
        assert response.status_code == 302 and response.headers["Location"] == f"/invite/{token}"
        response = await invited.post(f"/invite/{token}")
        assert response.headers["Location"] == f"/team/{team.id}"


async def test_login_error_is_generic_and_unknown_emails_cost_a_hash(app_both: Any, monkeypatch: Any) -> None:
    await signed_up(app_both, "known@example.com")
    calls: list[str] = []
    real = accounts._hasher

    class CountingHasher:
        def verify(self, hash_: str, password: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, password)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_hasher", CountingHasher())
    wrong = await Browser(app_both).login("known@example.com", "wrong password")
    unknown = await Browser(app_both).login("nobody@example.com", "wrong password")
    bodies = [text_of(await r.get_data(as_text=True)) for r in (wrong, unknown)]
    assert wrong.status_code == unknown.status_code == 422
    assert all(LOGIN_FAILED in body for body in bodies)
    assert bodies[0].replace("known@", "X@") == bodies[1].replace("nobody@", "X@")
    assert len(calls) == 2 and calls[1] == accounts._DUMMY_HASH  # the dummy hash equalises timing


async def test_login_is_rate_limited_per_account_and_per_ip(app_both: Any) -> None:
    await signed_up(app_both, "target@example.com")
    browser = Browser(app_both)
    statuses = [(await browser.login("target@example.com", f"guess-{i}")).status_code for i in range(6)]
    assert statuses == [422] * 5 + [429]
    # even the right password is refused while the account's bucket is empty
    assert (await Browser(app_both).login("target@example.com")).status_code == 429
    other = [(await browser.login(f"u{i}@example.com", "whatever1")).status_code for i in range(20)]
    assert other[-1] == 429  # the IP's bucket (20 attempts) ran out across accounts
    body = await (await browser.login("someone@example.com", "x" * 9)).get_data(as_text=True)
    assert "Too many sign-in attempts" in body


async def test_login_rotates_the_session_and_redirects_only_locally(app_both: Any) -> None:
    await signed_up(app_both, "rot@example.com")
    browser = Browser(app_both)
    before = await browser.csrf()
    response = await browser.post("/login", {"email": "rot@example.com", "password": PASSWORD,
                                             "next": "//evil.example/x"})
    assert response.status_code == 302 and response.headers["Location"] == "/sites"
    assert await browser.csrf() != before  # nothing of the anonymous session survives
    response = await browser.post("/login", {"email": "rot@example.com", "password": PASSWORD, "next": "/sites/new"})
    assert response.headers["Location"] == "/sites/new"


def _copy_cookies(src: Browser, dst: Browser) -> None:
    for cookie in src.client.cookie_jar:
        dst.client.cookie_jar.set_cookie(cookie)


async def test_logout_invalidates_a_copied_cookie(app_both: Any) -> None:
    browser = await signed_up(app_both, "copy@example.com")
    thief = Browser(app_both)
    _copy_cookies(browser, thief)
    assert (await thief.get("/sites")).status_code == 200
    response = await browser.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert (await browser.get("/sites")).status_code == 302
    assert (await thief.get("/sites")).status_code == 302  # sign out everywhere


async def test_logout_needs_csrf(app_both: Any) -> None:
    browser = await signed_up(app_both, "csrf@example.com")
    assert (await browser.post("/logout", csrf=False)).status_code == 403
    assert (await browser.get("/sites")).status_code == 200


async def test_password_change_signs_out_other_sessions(app_both: Any) -> None:
    browser = await signed_up(app_both, "pw@example.com")
    other = Browser(app_both)
    await other.login("pw@example.com")
    response = await browser.post("/settings/account/password", {"current_password": "nope", "new_password": "x" * 9})
    assert response.status_code == 422 and "incorrect" in await response.get_data(as_text=True)
    response = await browser.post("/settings/account/password", {"current_password": PASSWORD, "new_password": "123"})
    assert response.status_code == 422 and "at least 8" in await response.get_data(as_text=True)
    response = await browser.post("/settings/account/password",
                                  {"current_password": PASSWORD, "new_password": "new password 42"})
    assert response.status_code == 302
    assert (await browser.get("/sites")).status_code == 200  # this browser got a fresh session
    assert (await other.get("/sites")).status_code == 302  # the other one is signed out
    assert (await Browser(app_both).login("pw@example.com")).status_code == 422
    assert (await Browser(app_both).login("pw@example.com", "new password 42")).status_code == 302


@pytest.mark.parametrize("with_site", [False, True])
async def test_delete_account(app_both: Any, with_site: bool) -> None:
    from trail.jobs import wait_all

    browser = await signed_up(app_both, "bye@example.com")
    if with_site:
        assert (await browser.add_site("bye.example")).status_code == 302
    response = await browser.post("/settings/account/delete", {"password": "wrong"})
    assert response.status_code == 422
    response = await browser.post("/settings/account/delete", {"password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    await wait_all()
    assert await _user(app_both, "bye@example.com") is None
    assert (await browser.get("/sites")).status_code == 302
    newcomer = await signed_up(app_both, "new@example.com")
    assert (await newcomer.add_site("bye.example")).status_code == 302  # the domain is free again

"""Accounts in the browser: sign up, sign in, sign out, change password, delete account; `/` sends you on."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request

from trail.security.access import current_user, login_required, login_user, logout_user, public
from trail.services import current_services
from trail.store.meta import repo
from trail.store.meta.validate import MAX_PASSWORD_LENGTH
from trail.web.common import announce_access_change, client_ip, done, field, form_data, login_limiter, page, safe_next

auth = Blueprint("auth", __name__)

LOGIN_FAILED = "Email or password is incorrect."
TOO_MANY = "Too many sign-in attempts. Wait a minute, then try again."


@auth.get("/")
@public
async def index() -> Any:
    return redirect("/sites" if await current_user() is not None else "/login")


async def _signup_allowed(invite: str) -> bool:
    if current_services().settings.signup == "open":
        return True
    async with current_services().meta.session() as db:
        if await repo.count_users(db) == 0:
            return True
        return bool(invite) and await repo.find_invitation(db, invite) is not None


@auth.get("/login")
@public
async def login() -> Any:
    if await current_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    return await page("auth/login.html", next=safe_next(request.args.get("next"), ""))


@auth.post("/login")
@public
async def login_post() -> Any:
    form = await form_data()
    email, password = field(form, "email", 300).strip(), field(form, "password", MAX_PASSWORD_LENGTH + 1)
    target = safe_next(field(form, "next", 2000) or request.args.get("next"))
    context = {"email": email, "next": target}
    if not email or not password:
        return await page("auth/login.html", 422, error="Enter your email and password.", **context)
    account = email.lower()
    limiter = login_limiter()
    if not limiter.check(client_ip(), account):
        return await page("auth/login.html", 429, error=TOO_MANY, **context)
    user = None
    if len(password) <= MAX_PASSWORD_LENGTH:
        async with current_services().meta.session() as db:
            user = await repo.authenticate(db, email, password)  # verifies a dummy hash for unknown emails
            await db.commit()  # a rehash on parameter upgrade
    if user is None:
        limiter.failed(account)
        return await page("auth/login.html", 422, error=LOGIN_FAILED, **context)
    login_user(user)
    return redirect(target)


@auth.get("/signup")
@public
async def signup() -> Any:
    invite = request.args.get("invite", "")[:200]
    return await page("auth/signup.html", invite=invite, closed=not await _signup_allowed(invite))


@auth.post("/signup")
@public
async def signup_post() -> Any:
    form = await form_data()
    email, password = field(form, "email", 300).strip(), field(form, "password", MAX_PASSWORD_LENGTH + 1)
    invite = field(form, "invite", 200).strip()
    context: dict[str, Any] = {"email": email, "invite": invite}
    if not await _signup_allowed(invite):
        return await page("auth/signup.html", 403, closed=True,
                          error="Sign-up is closed on this instance: ask a team owner for an invitation link.",
                          **context)
    if not login_limiter().check(client_ip(), "signup:" + client_ip()):
        return await page("auth/signup.html", 429, error=TOO_MANY, **context)
    async with current_services().meta.session() as db:
        try:
            user = await repo.create_user(db, email, password)
        except ValueError as exc:
            return await page("auth/signup.html", 422, error=_sentence(str(exc)), **context)
        except repo.Conflict:
            return await page("auth/signup.html", 422, **context,
                              error="An account with this email already exists: sign in instead.")
        if await repo.count_users(db) == 1:
            user.is_admin = True  # the first account administers the instance
        await repo.get_or_create_personal_team(db, user)
        await db.commit()
    login_user(user)
    if invite:
        return redirect(f"/invite/{invite}")
    return await done("Welcome to Trail! Add your first site.", "/sites/new")


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


@auth.post("/logout")
@login_required
async def logout() -> Any:
    """Sign out everywhere: the epoch bump voids every cookie of this account, copies included."""
    user = await current_user()
    async with current_services().meta.session() as db:
        fresh = await db.get(type(user), user.id)
        if fresh is not None:
            await repo.bump_session_epoch(db, fresh)
            await db.commit()
    await current_services().extras["access_feed"].announce()  # close this account's live sockets
    logout_user()
    return await done("You are signed out (on every device).", "/login")


@auth.get("/settings/account")
@login_required
async def account() -> Any:
    return await page("auth/account.html")


@auth.post("/settings/account/password")
@login_required
async def account_password() -> Any:
    form = await form_data()
    current, new = field(form, "current_password", 2000), field(form, "new_password", 2000)
    user = await current_user()
    async with current_services().meta.session() as db:
        fresh = await db.get(type(user), user.id)
        if fresh is None or not await repo.verify_password(db, fresh, current):
            return await page("auth/account.html", 422, password_error="Your current password is incorrect.")
        try:
            await repo.set_password(db, fresh, new)  # bumps session_epoch: every other session ends
        except ValueError as exc:
            return await page("auth/account.html", 422, password_error=_sentence(str(exc)))
        await db.commit()
    await current_services().extras["access_feed"].announce()
    login_user(fresh)  # this browser stays signed in, with a fresh session
    return await done("Password changed. Other devices have been signed out.", "/settings/account")


@auth.post("/settings/account/delete")
@login_required
async def account_delete() -> Any:
    form = await form_data()
    user = await current_user()
    services = current_services()
    async with services.meta.session() as db:
        fresh = await db.get(type(user), user.id)
        if fresh is None or not await repo.verify_password(db, fresh, field(form, "password", 2000)):
            return await page("auth/account.html", 422, delete_error="Your password is incorrect.")
        try:
            deleted_sites = await repo.delete_account(db, fresh)
        except repo.Conflict as exc:
            return await page("auth/account.html", 422, delete_error=_sentence(str(exc)))
        await db.commit()
    from trail.jobs.delete_site_events import schedule_site_events_deletion

    for site in deleted_sites:
        schedule_site_events_deletion(services, site.id)
    await announce_access_change()
    logout_user()
    return await done("Your account has been deleted.", "/login")


@auth.app_context_processor
async def _layout_context() -> dict[str, Any]:
    """What base.html needs on every page: the signed-in user and the sites for the switcher."""
    from quart import g, has_request_context

    if not has_request_context():  # e.g. live widgets rendered in a background task
        return {}
    user = await current_user()
    sites: list[Any] = []
    if user is not None:
        async with current_services().meta.session() as db:
            sites = await repo.sites_visible_to_user(db, user.id)
    return {"current_user": user, "nav_sites": sites, "site": g.get("site"), "role": g.get("role")}

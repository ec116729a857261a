"""The access layer: the one place that decides who may call each route (HTTP and websocket).

Every view is tagged by exactly one of the decorators below; tests/security/test_routes.py walks the
URL map and fails on any view without a tag. Tags: public, login, site:<role>, api_key, token.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import quote

from quart import abort, g, has_websocket_context, jsonify, make_response, redirect, request, session, websocket
from werkzeug.exceptions import HTTPException

from trail.services import current_services

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
ACCESS_ATTR = "__trail_access__"
CSRF_EXEMPT_ATTR = "__trail_csrf_exempt__"
ROLES = ("viewer", "admin", "owner")  # each includes the rights of those before it


def _tag(view: F, tag: str) -> F:
    setattr(view, ACCESS_ATTR, tag)
    return view


def access_tag(view: Callable[..., Any]) -> str | None:
    """The access tag of a view, or None when it has none (a defect the route walker reports)."""
    return getattr(view, ACCESS_ATTR, None)


def _ctx() -> Any:
    return websocket if has_websocket_context() else request


def _json_abort(status: int, message: str) -> None:
    response = jsonify({"error": message})
    response.status_code = status
    abort(response)


# -- tags -------------------------------------------------------------------------------------
def public(view: F) -> F:
    """Anyone may call this route (listed on purpose; see PUBLIC in the route-walking test)."""
    return _tag(view, "public")


def csrf_exempt(view: F) -> F:
    """A state-changing route that carries no cookie authority (bearer keys, the events API)."""
    setattr(view, CSRF_EXEMPT_ATTR, True)
    return view


def login_required(view: F) -> F:
    """Signed-in users only; others are sent to the sign-in page (or get 401 for htmx/json/ws)."""

    @functools.wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if await current_user() is None:
            return await _not_signed_in()
        return await view(*args, **kwargs)

    return _tag(wrapper, "login")  # type: ignore[return-value]


def site_required(min_role: str = "viewer") -> Callable[[F], F]:
    """Signed-in member of the team owning the route's `domain`: 404 when invisible, 403 below min_role."""
    if min_role not in ROLES:
        raise ValueError(f"unknown role {min_role!r}")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = await current_user()
            if user is None:
                return await _not_signed_in()
            site, role = await _site_and_role(user, kwargs.get("domain", ""))
            if site is None or role is None:
                abort(404)
            if ROLES.index(role) < ROLES.index(min_role):
                abort(403)
            g.site, g.role = site, role
            return await view(*args, **kwargs)

        return _tag(wrapper, f"site:{min_role}")  # type: ignore[return-value]

    return decorate


def api_key_required(view: F) -> F:
    """Bearer API key (header, or `?key=` on websockets); 401 without a valid one, 429 past its rate."""

    @functools.wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        await authorize_key()
        return await view(*args, **kwargs)

    return csrf_exempt(_tag(wrapper, "api_key"))  # type: ignore[return-value]


def token_required(kind: str) -> Callable[[F], F]:
    """The route checks an unguessable capability token itself (a wall or share link) before anything else."""

    def decorate(view: F) -> F:
        return _tag(view, f"token:{kind}")

    return decorate


# -- the signed-in user ------------------------------------------------------------------------
async def current_user() -> Any | None:
    """The signed-in user (metadata row), or None. Sessions carry the user's epoch, bumped to revoke them."""
    if "user" in g:
        return g.user
    user = None
    uid, epoch = session.get("uid"), session.get("epoch")
    if isinstance(uid, int) and isinstance(epoch, int):
        from trail.store.meta.models import User

        async with current_services().meta.session() as db:
            candidate = await db.get(User, uid)
        if candidate is not None and candidate.session_epoch == epoch:
            user = candidate
    g.user = user
    return user


def login_user(user: Any) -> None:
    """Start a fresh session for user (rotated: nothing of the previous session survives)."""
    session.clear()
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["csrf"] = _new_csrf()
    session.permanent = True
    g.user = user


def logout_user() -> None:
    session.clear()
    g.user = None


async def _not_signed_in() -> Any:
    ctx = _ctx()
    if has_websocket_context() or ctx.headers.get("HX-Request") or "json" in ctx.headers.get("Accept", ""):
        _json_abort(401, "sign in first")
    return redirect("/login?next=" + quote(request.full_path.rstrip("?"), safe="/"))


async def _site_and_role(user: Any, domain: str) -> tuple[Any | None, str | None]:
    from trail.store.meta import repo

    async with current_services().meta.session() as db:
        site = await repo.get_site_by_domain(db, domain)
        if site is None:
            return None, None
        return site, await repo.user_role_for_site(db, user.id, site.id)


# -- API keys ----------------------------------------------------------------------------------
@dataclass
class _Bucket:
    tokens: float
    at: float


_KEY_BUCKETS: dict[str, _Bucket] = {}


def _rate_ok(key_id: str, per_second: int) -> bool:
    """A token bucket per key: `per_second` sustained, bursts up to twice that."""
    now = time.monotonic()
    bucket = _KEY_BUCKETS.get(key_id)
    if bucket is None:
        if len(_KEY_BUCKETS) > 100_000:
            _KEY_BUCKETS.clear()
        bucket = _KEY_BUCKETS[key_id] = _Bucket(tokens=2.0 * per_second, at=now)
    bucket.tokens = min(2.0 * per_second, bucket.tokens + (now - bucket.at) * per_second)
    bucket.at = now
    if bucket.tokens < 1:
        return False
    bucket.tokens -= 1
    return True


def bearer_token() -> str | None:
    ctx = _ctx()
    header = ctx.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    if has_websocket_context():
        return ctx.args.get("key") or None
    return None


async def authorize_key() -> Any:
    """The API key of this request (row with team_id), or abort 401/429."""
    if "api_key" in g:
        return g.api_key
    token = bearer_token()
    if not token:
        _json_abort(401, "missing API key: send Authorization: Bearer <key>")
    from trail.store.meta import repo

    services = current_services()
    async with services.meta.session() as db:
        found = await repo.lookup_api_key(db, token)
        await db.commit()  # last_used_at
    if found is None:
        _json_abort(401, "invalid API key")
    key, _team = found
    if not _rate_ok(str(key.id), services.settings.rate_limit_per_key):
        _json_abort(429, "rate limit exceeded for this API key")
    g.api_key = key
    return key


async def authorize_key_for_site(domain: str) -> Any:
    """The site `domain` if the request's API key may read it; else 401/404 (never revealing existence)."""
    key = await authorize_key()
    from trail.sites import site_directory

    site = await site_directory().get(domain) if domain else None
    if site is None or site.team_id != key.team_id:
        _json_abort(404, f"site {domain!r} not found")
    return site


# -- CSRF --------------------------------------------------------------------------------------
def _new_csrf() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def csrf_token() -> str:
    """This session's CSRF token (for forms and htmx's hx-headers)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = _new_csrf()
    return token


async def check_csrf() -> None:
    """before_request hook: unsafe methods need the session's token, unless the view is exempt."""
    import hmac

    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    from quart import current_app

    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, CSRF_EXEMPT_ATTR, False):
        return
    sent = request.headers.get("X-CSRF-Token")
    if not sent and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            sent = (await request.form).get("csrf_token")
        except HTTPException:
            sent = None
    expected = session.get("csrf")
    if not sent or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        response = await make_response("CSRF token missing or invalid; reload the page and try again.", 403)
        abort(response)

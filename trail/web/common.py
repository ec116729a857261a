"""Helpers shared by the HTML blueprints: forms, rendering with a status, redirects, announcing access changes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from quart import current_app, flash, redirect, render_template, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from trail.services import current_services


async def form_data() -> MultiDict[str, str]:
    """The request's form fields; an empty dict when the body is not a form (never raises)."""
    try:
        return await request.form
    except HTTPException:
        raise
    except Exception:  # a garbled multipart body is the client's problem, not a 500
        return MultiDict()


def field(form: MultiDict[str, str], name: str, limit: int = 10_000) -> str:
    """A text field, "" when missing, cut at `limit` characters."""
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def int_field(form: MultiDict[str, str], name: str) -> int | None:
    raw = field(form, name, 20).strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


async def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A rendered page with a status (400/422 for a form with errors)."""
    return await render_template(template, **context), status


async def done(message: str, to: str) -> Any:
    """Flash a confirmation and redirect (post/redirect/get)."""
    await flash(message, "ok")
    return redirect(to)


def safe_next(target: str | None, default: str = "/sites") -> str:
    """A local path to go to after signing in; anything pointing elsewhere falls back to `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def public_origin() -> str:
    """TRAIL_PUBLIC_URL, or this request's own origin."""
    configured = current_services().settings.public_url
    if configured:
        return str(configured).rstrip("/")
    return request.host_url.rstrip("/")


def client_ip() -> str:
    from trail.ingest.ip import client_ip as resolve

    return resolve(request.remote_addr or "", request.headers.get("X-Forwarded-For"),
                   current_services().settings.trusted_proxies) or "unknown"


async def announce_access_change() -> None:
    """After committing an access change: drop this instance's site cache and tell every instance."""
    services = current_services()
    sites = services.extras.get("sites")
    if sites is not None:
        sites.invalidate()
    await services.extras["access_feed"].announce()


def login_limiter() -> Any:
    """This app's sign-in rate limiter (one per app, so test apps do not share buckets)."""
    from trail.security.login_limit import LoginLimiter

    return current_app.extensions.setdefault("trail.login_limiter", LoginLimiter())


class DottedConverter(BaseConverter):
    """A path segment with a dot in it: a site's domain, so `/<dotted:domain>/...` never shadows /sites, /team, /api,
    /wall... Registered once as `dotted` by trail.app.create_app."""

    regex = r"[^/]*\.[^/]*"

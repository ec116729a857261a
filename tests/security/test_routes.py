"""Every route is either guarded by the access layer or on the explicit public list."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from trail.app import create_app
from trail.security.access import CSRF_EXEMPT_ATTR, access_tag

# Routes anyone may call, on purpose. Adding a public route means adding it here, in review.
PUBLIC = {
    "ops.healthz", "ops.readyz", "ops.prometheus", "tracker.script", "static",
    "events_api.event", "events_api.event_preflight",
    "auth.index", "auth.login", "auth.login_post", "auth.signup", "auth.signup_post",
}
# State-changing routes that carry no cookie authority and so need no CSRF token.
CSRF_EXEMPT = {"events_api.event", "events_api.events_batch"}


def walk(app):  # type: ignore[no-untyped-def]
    for rule in app.url_map.iter_rules():
        yield rule, app.view_functions[rule.endpoint]


def test_every_route_is_guarded_or_listed_public(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    unguarded, unlisted = [], []
    for rule, view in walk(app):
        tag = access_tag(view) if rule.endpoint != "static" else "public"
        if tag is None:
            unguarded.append(f"{rule.rule} ({rule.endpoint})")
        elif tag == "public" and rule.endpoint not in PUBLIC:
            unlisted.append(f"{rule.rule} ({rule.endpoint})")
    assert not unguarded, f"routes without an access decorator: {unguarded}"
    assert not unlisted, f"public routes missing from the PUBLIC list: {unlisted}"


def test_csrf_exemptions_are_only_the_listed_or_key_authenticated(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    for rule, view in walk(app):
        unsafe = set(rule.methods or ()) & {"POST", "PUT", "PATCH", "DELETE"}
        if unsafe and getattr(view, CSRF_EXEMPT_ATTR, False):
            assert rule.endpoint in CSRF_EXEMPT or access_tag(view) == "api_key", (
                f"{rule.rule} skips CSRF but is neither key-authenticated nor listed")


def test_the_walker_catches_an_unguarded_route(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    @app.post("/sneaky")
    async def sneaky() -> str:
        return "oops"

    found = [rule.rule for rule, view in walk(app) if access_tag(view) is None and rule.endpoint != "static"]
    assert found == ["/sneaky"]

"""Junk posted to every form (with a valid session and CSRF token) never gives a 500."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.accounts.helpers import Browser, signed_up

FIELDS = ["email", "password", "invite", "next", "domain", "timezone", "team_id", "current_password",
          "new_password", "confirm", "ips", "paths", "hosts", "respect_dnt", "kind", "value", "currency", "action",
          "label", "layout", "rotate_seconds", "site_ids", "role", "name"]
junk = st.one_of(st.text(max_size=60), st.sampled_from(["", "0", "-1", "99999999999", "1e9", "/", "*", "::",
                                                        "owner", "event", "page", "enable", "rotate", "\x00",
                                                        "x" * 2000, "ö.example", "10.0.0.0/33"]))
forms = st.lists(st.tuples(st.sampled_from(FIELDS), junk), max_size=8)


async def _endpoints(app: Any) -> tuple[Browser, list[str]]:
    owner = await signed_up(app, "fuzz@example.com")
    await owner.add_site("fuzz.example")
    await owner.post("/fuzz.example/settings/goals", {"kind": "event", "value": "G"})
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()) or rule.rule.startswith("/api/"):
            continue
        if rule.rule in ("/logout", "/settings/account/delete", "/settings/account/password"):
            continue  # they end the session the fuzzer uses; covered by test_acct_auth
        path = rule.rule.replace("<dotted:domain>", "fuzz.example").replace("<token>", "inv_junk")
        paths.append(re.sub(r"<int:\w+>", "1", path))
    return owner, paths


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_junk_on_every_form_is_never_a_500(app_sqlite: Any, data: st.DataObject) -> None:
    if "fuzz" not in app_sqlite.extensions:
        app_sqlite.extensions["fuzz"] = await _endpoints(app_sqlite)
    owner, paths = app_sqlite.extensions["fuzz"]
    path = data.draw(st.sampled_from(paths))
    fields = data.draw(forms)
    response = await owner.post(path, fields)
    assert response.status_code < 500, (path, fields, await response.get_data(as_text=True))
    app_sqlite.extensions["trail.login_limiter"].reset() if "trail.login_limiter" in app_sqlite.extensions else None


# A fixed sweep of the same junk, run on both metadata backends (the fuzz above stays on SQLite for speed): every
# field of FIELDS at once with each value, a few mixes of values, and the empty form; about 25 posts per form.
FIXED_JUNK = ["", "0", "-1", "99999999999", "1e9", "/", "*", "::", "owner", "event", "page", "enable", "rotate",
              "\x00", "x" * 2000, "ö.example", "10.0.0.0/33", "' OR 1=1 --", "\u202e\ud7ff", "<b>&amp;</b>"]
MIXED = [[(name, FIXED_JUNK[(i + k) % len(FIXED_JUNK)]) for i, name in enumerate(FIELDS)] for k in (1, 5, 9, 13)]
FIXED_FORMS = [[(name, value) for name in FIELDS] for value in FIXED_JUNK] + MIXED + [[]]


async def test_fixed_junk_on_every_form_is_never_a_500(app_both: Any) -> None:
    owner, paths = await _endpoints(app_both)
    for path in paths:
        for fields in FIXED_FORMS:
            response = await owner.post(path, fields)
            assert response.status_code < 500, (path, fields, await response.get_data(as_text=True))
            if "trail.login_limiter" in app_both.extensions:
                app_both.extensions["trail.login_limiter"].reset()


async def test_account_forms_with_junk(app_both: Any) -> None:
    for fields in ([], [("current_password", "\x00" * 3000)], [("new_password", "x" * 5000)], [("password", "")]):
        browser = await signed_up(app_both, f"junk{len(fields)}{len(str(fields))}@example.com")
        for path in ("/settings/account/password", "/settings/account/delete"):
            response = await browser.post(path, fields)
            assert response.status_code < 500, (path, fields)

"""Test helpers for the HTML app: a browser-like client that signs up, signs in and posts forms with CSRF."""

from __future__ import annotations

import re
from typing import Any, Iterable
from urllib.parse import urlencode

from quart import Quart

PASSWORD = "correct horse battery"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class Browser:
    """One browser (its own cookie jar) on the app."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.client = app.test_client()
        self.email = ""

    async def csrf(self) -> str:
        """The CSRF token of this browser's session, read from the page's meta tag."""
        async with self.client.session_transaction() as session:
            token = session.get("csrf")
        if token:
            return str(token)
        html = await (await self.client.get("/login")).get_data(as_text=True)
        match = _META.search(html)
        assert match, "no csrf-token meta tag on /login"
        return match.group(1)

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.client.get(path, **kwargs)

    async def text(self, path: str) -> tuple[int, str]:
        response = await self.client.get(path)
        return response.status_code, await response.get_data(as_text=True)

    async def post(self, path: str, data: dict[str, Any] | Iterable[tuple[str, Any]] | None = None,
                   *, csrf: bool = True, headers: dict[str, str] | None = None) -> Any:
        pairs = list(data.items() if isinstance(data, dict) else (data or []))
        if csrf:
            pairs.append(("csrf_token", await self.csrf()))
        return await self.client.post(path, data=urlencode(pairs, doseq=True),
                                      headers={"Content-Type": "application/x-www-form-urlencoded",
                                               **(headers or {})})

    async def signup(self, email: str, password: str = PASSWORD, invite: str = "") -> Any:
        self.email = email
        return await self.post("/signup", {"email": email, "password": password, "invite": invite})

    async def login(self, email: str, password: str = PASSWORD) -> Any:
        self.email = email
        return await self.post("/login", {"email": email, "password": password})

    async def add_site(self, domain: str, **fields: Any) -> Any:
        return await self.post("/sites/new", {"domain": domain, "timezone": "Etc/UTC", **fields})


async def signed_up(app: Quart, email: str) -> Browser:
    browser = Browser(app)
    response = await browser.signup(email)
    assert response.status_code == 302, await response.get_data(as_text=True)
    return browser


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))

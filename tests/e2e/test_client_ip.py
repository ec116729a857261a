"""Behind the real server, X-Forwarded-For and X-Forwarded-Proto count only from a peer in TRAIL_TRUSTED_PROXIES.

Left to its defaults, uvicorn takes the client and the scheme from those headers whenever the peer is 127.0.0.1;
`serve` turns that off, and hypercorn reads neither: on both, the app reads X-Forwarded-For itself and
X-Forwarded-Proto through trail/web/forwarded.py. Checked on both servers through `python -m trail serve` on
loopback, where uvicorn's default would believe any header: the client IP (by the country it gives) and the
scheme (by the session cookie's Secure flag, TRAIL_SESSION_COOKIE_SECURE=auto).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.serverproc import chdb_query, trail
from tests.serverproc import Server, clean_env

pytestmark = pytest.mark.slow

DOMAIN = "proxied.example"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
GB_ADDRESS = "81.2.69.142"  # in the bundled country database: GB


def _through(env: dict[str, str], path: str) -> bool:
    """Post an event and load the login page as a TLS-terminating proxy would forward them; whether the session
    cookie came back Secure (that is, whether the server believed X-Forwarded-Proto: https)."""
    server = Server(env).start()
    forwarded = {"User-Agent": UA, "X-Forwarded-For": GB_ADDRESS, "X-Forwarded-Proto": "https"}
    try:
        res = httpx.post(f"{server.url}/api/event", headers=forwarded,
                         content=f'{{"n": "pageview", "u": "https://{DOMAIN}{path}", "d": "{DOMAIN}"}}', timeout=30)
        assert res.status_code == 202 and "x-trail-dropped" not in res.headers, res.text
        login = httpx.get(f"{server.url}/login", headers=forwarded, timeout=30)
        cookie = login.headers.get("set-cookie", "")
        assert login.status_code == 200 and "trail_session=" in cookie, login.headers
        server.wait_drained()
    finally:
        assert server.stop() == 0, server.log()
    return "secure" in cookie.lower()


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_forwarded_headers_count_only_from_a_trusted_proxy(tmp_path: Path, server: str) -> None:
    env = {**clean_env(tmp_path / "data"), "TRAIL_SERVER": server}
    trail(env, "user", "add", "ip@example.com", "--password", "correct horse battery")
    trail(env, "site", "add", DOMAIN, "--owner", "ip@example.com")
    # no trusted proxies: the socket peer (loopback, no country) is the client, and the request came over http
    assert _through(env, "/untrusted") is False
    assert _through({**env, "TRAIL_TRUSTED_PROXIES": "127.0.0.1"}, "/trusted") is True
    rows = chdb_query(env, "SELECT pathname, country FROM events ORDER BY pathname")
    assert rows == [["/trusted", "GB"], ["/untrusted", ""]]

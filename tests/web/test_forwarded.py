"""ForwardedProto: the scheme from X-Forwarded-Proto, only when the socket peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from typing import Any

from trail.web.forwarded import ForwardedProto, forwarded_proto

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


async def _scheme(peer: str | None, proto: list[str], kind: str = "http", scheme: str = "http") -> str:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    headers = [(b"host", b"trail.test")] + [(b"X-Forwarded-Proto", p.encode()) for p in proto]
    scope = {"type": kind, "scheme": scheme, "headers": headers, "client": (peer, 5000) if peer else None}
    await ForwardedProto(app, PROXIES)(scope, None, None)
    return str(seen["scheme"])


async def test_a_trusted_proxy_upgrades_the_scheme() -> None:
    assert await _scheme("10.1.2.3", ["https"]) == "https"
    assert await _scheme("::1", ["HTTPS"]) == "https"
    assert await _scheme("10.1.2.3", ["https"], kind="websocket", scheme="ws") == "wss"
    assert await _scheme("10.1.2.3", ["wss"], kind="websocket", scheme="ws") == "wss"


async def test_anyone_else_or_anything_else_changes_nothing() -> None:
    assert await _scheme("203.0.113.9", ["https"]) == "http"  # not a trusted proxy
    assert await _scheme(None, ["https"]) == "http"  # no peer known (a unix socket)
    assert await _scheme("10.1.2.3", []) == "http"
    assert await _scheme("10.1.2.3", ["http"]) == "http"
    assert await _scheme("10.1.2.3", ["gopher"]) == "http"
    assert await _scheme("not-an-ip", ["https"]) == "http"


def test_the_value_the_proxy_set_is_the_last_one() -> None:
    assert forwarded_proto([(b"x-forwarded-proto", b"https, http")]) == "http"
    assert forwarded_proto([(b"x-forwarded-proto", b"http"), (b"x-forwarded-proto", b"https")]) == "https"
    assert forwarded_proto([(b"x-forwarded-proto", b" HTTPS ")]) == "https"
    assert forwarded_proto([]) == ""

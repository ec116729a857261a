"""Keys passed as `?key=` (and any other query string) never reach the access log."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from trail.web.accesslog import AccessLog


async def _asgi_get(app: Any, path: str, query: bytes) -> int:
    sent: list[dict[str, Any]] = []
    finished = asyncio.Event()
    requested = [False]

    async def receive() -> dict[str, Any]:
        if not requested[0]:
            requested[0] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
             "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 1234), "server": ("localhost", 80),
             "extensions": {}}
    await asyncio.wait_for(AccessLog(app)(scope, receive, send), timeout=10)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


async def test_query_keys_never_reach_the_access_log(app_both: Any, caplog: Any) -> None:
    secret = "trl_SECRETSECRETSECRETSECRET"
    with caplog.at_level(logging.INFO, logger="trail.access_log"):
        status = await _asgi_get(app_both, "/api/v1/stats/realtime/visitors",
                                 f"site_id=a.example&key={secret}".encode())
        await _asgi_get(app_both, "/login", f"next=/x&key={secret}".encode())
    lines = [r.getMessage() for r in caplog.records if r.name == "trail.access_log"]
    assert status == 401 and len(lines) == 2
    assert '"GET /api/v1/stats/realtime/visitors" 401' in lines[0]
    assert all(secret not in line and "key=" not in line and "127.0.0.1" not in line for line in lines)
    assert all(secret not in r.getMessage() for r in caplog.records)

"""Bench server: `trail serve` (the real option checks, migrations and server setup) with a raw ASGI route in front.

Usage: python bench/ingest_server.py --server hypercorn|uvicorn|granian --port P   (settings from TRAIL_* env)
`/__raw` answers 202 "ok" after reading the body, without touching Trail: the ceiling of the ASGI server itself.
Everything else goes to `trail.app.asgi_app`, exactly as `serve` runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trail.app  # noqa: E402
from trail.config import Settings  # noqa: E402

RAW_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2"),
               (b"access-control-allow-origin", b"*")]


class RawRoute:
    """A minimal raw ASGI endpoint at /__raw (read the body, answer 202 ok); the rest goes to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/__raw":
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
            await send({"type": "http.response.start", "status": 202, "headers": RAW_HEADERS})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await self.app(scope, receive, send)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    real = trail.app.asgi_app

    def wrapped(settings: Settings, role: str = "all") -> Any:
        return RawRoute(real(settings, role=role))

    trail.app.asgi_app = wrapped  # serve() imports it at call time
    from trail.server import serve

    return serve(Settings.load(), host="127.0.0.1", port=args.port, server=args.server)


if __name__ == "__main__":
    raise SystemExit(main())

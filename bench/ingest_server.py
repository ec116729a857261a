"""Bench server: `trail serve` (the real option checks, migrations and server setup) with a raw ASGI route in front.

Usage: python bench/ingest_server.py --server hypercorn|uvicorn|granian --port P [--role all|web]  (TRAIL_* settings)
`/__raw` answers 202 "ok" after reading the body, without touching Trail: the ceiling of the ASGI server itself. On
uvicorn, `/__rawproto` does the same below ASGI, served by `serve`'s protocol exactly as `/api/event` is.
Everything else goes to `trail.app.asgi_app`, exactly as `serve` runs it. `granian` (not a `serve` option; measured
here only, when installed) runs the same app after the same migrations, in one Granian worker on uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trail.app  # noqa: E402
from trail.config import Settings  # noqa: E402
from trail.ingest.handler import ACCEPTED, Response  # noqa: E402

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


class RawIngestor:
    """Takes any body and answers 202 at once: what `/__rawproto` hands its requests to."""

    body_limit = 1_048_576

    def take(self, body: bytes, headers: Any, peer_ip: str) -> Any:
        future = asyncio.get_running_loop().create_future()
        future.set_result(ACCEPTED)
        return future

    def too_large(self) -> Any:
        return Response(413, {}, b"")


def bench_protocol() -> type:
    """uvicorn's protocol as `serve` runs it, plus `POST /__rawproto` served the same way below ASGI by an Ingestor
    that does nothing: the like-for-like ceiling of the event route (bench/ingest.py --proto-baseline)."""
    from trail.web.uvicorn_ingest import IngestProtocol

    raw = RawIngestor()

    class BenchProtocol(IngestProtocol):
        def ingestor_for(self, url: bytes) -> Any:
            return raw if url == b"/__rawproto" else super().ingestor_for(url)

    return BenchProtocol


def granian_app() -> Any:
    """The factory Granian's worker calls: the same wrapped app as for the other servers."""
    settings = Settings.load()
    return RawRoute(trail.app.asgi_app(settings, role=os.environ.get("_BENCH_ROLE", "all")))


def serve_granian(port: int, role: str) -> int:
    import subprocess

    from granian import Granian  # type: ignore[import-not-found]

    if role != "web":  # in a child process: chDB allows one process per data dir, and Granian's worker is another
        subprocess.run([sys.executable, "-m", "trail", "migrate"], check=True)
    os.environ["_BENCH_ROLE"] = role
    Granian("ingest_server:granian_app", address="127.0.0.1", port=port, interface="asgi", factory=True,  # type: ignore[arg-type]
            workers=1, loop="uvloop", log_access=False, working_dir=Path(__file__).resolve().parent).serve()  # type: ignore[arg-type]
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--role", choices=("all", "web"), default="all")
    args = parser.parse_args()
    if args.server == "granian":
        return serve_granian(args.port, args.role)
    real = trail.app.asgi_app

    def wrapped(settings: Settings, role: str = "all") -> Any:
        return RawRoute(real(settings, role=role))

    trail.app.asgi_app = wrapped  # serve() imports it at call time
    if args.server == "uvicorn":
        from trail.web import uvicorn_ingest

        uvicorn_ingest.IngestProtocol = bench_protocol()  # type: ignore[misc]  # serve() imports it at call time too
    from trail.server import serve

    return serve(Settings.load(), host="127.0.0.1", port=args.port, role=args.role, server=args.server)


if __name__ == "__main__":
    raise SystemExit(main())

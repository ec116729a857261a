"""`python -m trail serve`: migrations, then the app on uvicorn (default) or hypercorn."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from trail.config import Settings
from trail.gctune import tune_for_serving
from trail.logs import setup_logging


class ServeError(RuntimeError):
    """The server cannot start with these options; the message says why."""


def check_options(settings: Settings, workers: int, role: str) -> None:
    if workers < 1:
        raise ServeError("--workers must be at least 1")
    if settings.chdb and workers > 1:
        raise ServeError("embedded mode (chDB) serves with one worker: chDB allows one process per data dir. "
                         "Set TRAIL_CLICKHOUSE_URL to a ClickHouse server to run several workers.")
    if role == "web" and not settings.redis_url:
        raise ServeError("--role web needs TRAIL_REDIS_URL: without Redis, events would never reach a writer.")


def uvicorn_proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's own handling of X-Forwarded-For / X-Forwarded-Proto stays off, whatever the settings.

    Trail reads those headers itself, from exactly TRAIL_TRUSTED_PROXIES and the same way on every server: the
    client IP in `trail.ingest.ip` (ingestion, login limits), the scheme in `trail.web.forwarded.ForwardedProto`.
    Left to its default, uvicorn would take both from the headers whenever the peer is 127.0.0.1, whatever
    TRAIL_TRUSTED_PROXIES says (tests/e2e/test_client_ip.py); turned on, it would parse them a second time on every
    request, with uncached `ipaddress` objects (~5% of a worker's CPU per event behind a proxy)."""
    return {"proxy_headers": False}


def serve(settings: Settings, host: str | None = None, port: int | None = None, workers: int = 1,
          role: str = "all", server: str | None = None) -> int:
    """Run migrations and serve until SIGINT/SIGTERM. Returns the exit code."""
    setup_logging(settings.log_level)
    host = host or settings.host
    port = port or settings.port
    server = server or settings.server
    try:
        check_options(settings, workers, role)
    except ServeError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    from trail.migrate import migrate_all
    from trail.store.events import EventStoreError

    if role != "web":
        try:
            asyncio.run(migrate_all(settings))
        except EventStoreError as exc:
            print(f"serve: {exc}", file=sys.stderr)
            return 1
    if workers > 1:
        return _serve_workers(settings, host, port, workers, role, server)
    # One process per host and port: its writer keeps one consumer name across restarts, so after a crash
    # (SIGKILL) the restarted writer re-inserts its own pending batch at once instead of waiting for the
    # dead-consumer timeout. Workers (several processes) keep per-process names.
    import socket

    os.environ.setdefault("_TRAIL_WRITER_CONSUMER", f"writer-{socket.gethostname()}-{port}")
    from trail.app import asgi_app

    app = asgi_app(settings, role=role)
    tune_for_serving()
    print(f"Trail is serving on http://{host}:{port} (role {role}, {server})", flush=True)
    if server == "uvicorn":
        import uvicorn

        from trail.web.uvicorn_ingest import IngestProtocol

        # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; with these handlers in place that is a
        # no-op, so a clean stop exits 0 as on hypercorn.
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            uvicorn.run(app, host=host, port=port, access_log=False, log_config=None, ws="auto",
                        lifespan="on", http=IngestProtocol, **uvicorn_proxy_options(settings))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0
    asyncio.run(_hypercorn(app, host, port))
    return 0


async def _hypercorn(app: Any, host: str, port: int) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 10
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async def shutdown_trigger() -> None:
        await stop.wait()
        from trail.live.ticker import close_all_sockets

        close_all_sockets()  # open websockets would otherwise hold the graceful shutdown for its whole timeout

    await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]


def _serve_workers(settings: Settings, host: str, port: int, workers: int, role: str, server: str) -> int:
    os.environ["_TRAIL_ROLE"] = role
    if server == "uvicorn":
        import uvicorn

        from trail.web.uvicorn_ingest import IngestProtocol

        uvicorn.run("trail.asgi:app", host=host, port=port, workers=workers, access_log=False, log_config=None,
                    http=IngestProtocol, **uvicorn_proxy_options(settings))
        return 0
    from hypercorn.config import Config
    from hypercorn.run import run

    config = Config()
    config.application_path = "trail.asgi:app"
    config.bind = [f"{host}:{port}"]
    config.workers = workers
    config.accesslog = None
    return run(config)

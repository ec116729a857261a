"""The app factory: builds the Quart app, its services, blueprints and background tasks."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from quart import Quart, Response, has_websocket_context, jsonify, request, websocket
from quart.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from trail.config import Settings
from trail.services import Services

log = logging.getLogger("trail")

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("all", "web", "writer")


class TrailSessionInterface(SecureCookieSessionInterface):
    """Signed cookie sessions; Secure when the request came over https (or always/never by setting)."""

    def get_cookie_secure(self, app: Quart) -> bool:  # type: ignore[override]
        mode = app.config["TRAIL_COOKIE_SECURE"]
        if mode == "always":
            return True
        if mode == "never":
            return False
        try:
            return request.scheme == "https"
        except RuntimeError:
            return False


def create_app(settings: Settings | None = None, role: str = "all") -> Quart:
    """A Quart app for `settings`; services start with the server (before_serving) and stop after it."""
    settings = settings or Settings.load()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    app = Quart("trail", root_path=str(ROOT), template_folder="templates", static_folder="static")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="trail_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        MAX_CONTENT_LENGTH=settings.body_limit_bytes,
        TRAIL_COOKIE_SECURE=settings.session_cookie_secure,
        TRAIL_SETTINGS=settings,
        TRAIL_ROLE=role,
    )
    app.session_interface = TrailSessionInterface()
    from trail.web.common import DottedConverter

    app.url_map.converters["dotted"] = DottedConverter  # before any blueprint adds a `<dotted:...>` rule
    _register(app, role)

    @app.before_serving
    async def _start() -> None:
        app.extensions["trail"] = await start_services(settings, role)

    @app.after_serving
    async def _stop() -> None:
        services = app.extensions.pop("trail", None)
        if services is not None:
            await stop_services(services)

    return app


def _register(app: Quart, role: str = "all") -> None:
    """Blueprints by role: a `writer` instance serves only the operations endpoints."""
    from trail.security.access import check_csrf, csrf_token
    from trail.web.ops import ops

    app.register_blueprint(ops)
    _register_errors(app)
    if role == "writer":
        return
    from trail.web.events_api import events_api
    from trail.web.live_api import live_api
    from trail.web.tracker import tracker
    from trail.web.wall import wall

    for blueprint in (tracker, events_api, live_api, wall):
        app.register_blueprint(blueprint)
    from trail.web.accounts import blueprints as account_blueprints  # auth, sites, settings, team, keys, share

    for blueprint in account_blueprints():
        app.register_blueprint(blueprint)
    for name in ("trail.web.stats_api:stats_api", "trail.web.dashboard:dashboard"):
        module, _, attr = name.partition(":")
        try:
            blueprint = getattr(__import__(module, fromlist=[attr]), attr)
        except ImportError:
            continue
        app.register_blueprint(blueprint)
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token


def _register_errors(app: Quart) -> None:
    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Any:
        if (websocket if has_websocket_context() else request).path.startswith("/api/"):
            response = jsonify({"error": exc.description or exc.name})
            response.status_code = exc.code or 500
            return response
        return exc

    @app.after_request
    async def _security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if not request.path.startswith(("/api/", "/js/")):
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response


async def start_services(settings: Settings, role: str) -> Services:
    """Connect the stores and broker, then start the background tasks this role runs."""
    from trail.ingest.wiring import build_ingestor
    from trail.live.access_feed import AccessFeed
    from trail.live.broker import open_broker
    from trail.sites import SiteDirectory
    from trail.store.events import open_event_store
    from trail.store.meta.db import MetaStore

    meta = MetaStore(settings.database_url)
    events = open_event_store(settings.clickhouse_url)
    await events.start()
    broker = open_broker(settings)
    await broker.start()
    services = Services(settings=settings, meta=meta, broker=broker, events=events, role=role)
    sites = SiteDirectory(meta)
    services.extras["sites"] = sites
    feed = AccessFeed(meta, broker)
    feed.on_change(lambda change: sites.invalidate())
    await feed.start()
    services.extras["access_feed"] = feed
    from trail.stats import rollup_job

    rollup_job.configure(settings)
    if role in ("all", "web"):
        services.extras["ingestor"] = build_ingestor(services)
        from trail.live.ticker import LiveEngine

        live = LiveEngine(broker, idle_after=settings.live_idle_seconds or None)
        feed.on_change(live.on_access_change)
        await live.start()
        services.extras["live"] = live
    if role in ("all", "writer"):
        from trail.ingest.event import PAYLOAD_FORMAT
        from trail.live.writer import Writer

        writer = Writer(broker, events, PAYLOAD_FORMAT, max_batch=settings.max_batch_size,
                        flush_interval_ms=settings.flush_interval_ms,
                        retention_minutes=settings.stream_retention_minutes,
                        consumer=os.environ.get("_TRAIL_WRITER_CONSUMER") or None)
        services.extras["writer"] = writer
        services.extras["writer_task"] = asyncio.create_task(writer.run(), name="writer")
        services.extras["rollup_job"] = rollup_job.start_rollup_job(settings, meta, events)
        from trail.jobs.housekeeping import Housekeeper

        services.extras["housekeeper"] = Housekeeper(meta).start()
    log.info("trail started: role=%s, events=%s, metadata=%s, broker=%s", role,
             settings.clickhouse_url.split("://")[0], settings.database_url.split("://")[0],
             "redis" if settings.redis_url else "embedded")
    return services


async def stop_services(services: Services) -> None:
    """Stop accepting, flush the writer, then close the broker and the stores."""
    ingestor = services.extras.get("ingestor")
    if ingestor is not None and hasattr(ingestor, "close"):
        await ingestor.close()
    if "rollup_job" in services.extras:
        await services.extras["rollup_job"].stop()
    if "housekeeper" in services.extras:
        await services.extras["housekeeper"].stop()
    writer, task = services.extras.get("writer"), services.extras.get("writer_task")
    if writer is not None:
        await writer.stop()
        try:
            await asyncio.wait_for(task, timeout=30)
        except asyncio.TimeoutError:
            task.cancel()
            log.warning("writer did not stop in 30 s; unwritten events stay pending for the next start")
    if "live" in services.extras:
        await services.extras["live"].close()
    await services.extras["access_feed"].close()
    await services.broker.close()
    if services.events is not None:
        await services.events.close()
    await services.meta.close()


def asgi_app(settings: Settings, role: str = "all") -> Any:
    """What the server runs: the ingest fast path in front of the access log around the Quart app (and, with
    TRAIL_TRUSTED_PROXIES, the scheme from their X-Forwarded-Proto: see trail/web/forwarded.py)."""
    from trail.web.accesslog import AccessLog
    from trail.web.fastpath import IngestFastPath
    from trail.web.forwarded import ForwardedProto

    app = create_app(settings, role=role)
    inner: Any = AccessLog(app)
    proxies = tuple(settings.trusted_proxies or ())
    if proxies:
        inner = ForwardedProto(inner, proxies)
    return IngestFastPath(inner, app)

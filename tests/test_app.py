"""The app starts and serves on both backend sets: embedded (chDB, SQLite, spool) and MariaDB + Redis."""

from __future__ import annotations

import pytest

from tests.conftest import REDIS_URL


async def test_embedded_app_is_alive_and_ready(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with app_factory() as (app, client):
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        body = await ready.get_json()
        assert ready.status_code == 200, body
        assert body["metadata"] == "ok" and body["broker"] == "ok" and body["clickhouse"] == "ok"
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        for name in ("trail_events_accepted_total", "trail_consumer_lag", "trail_insert_batch_size",
                     "trail_websocket_clients", "trail_live_tick_seconds"):
            assert name in metrics


async def test_mariadb_and_redis_app_serves(app_factory, mysql_url: str, redis_prefix: str) -> None:  # type: ignore[no-untyped-def]
    async with app_factory(TRAIL_DATABASE_URL=mysql_url, TRAIL_REDIS_URL=REDIS_URL,
                           TRAIL_REDIS_PREFIX=redis_prefix) as (app, client):
        services = app.extensions["trail"]
        assert type(services.broker).__name__ == "RedisBroker"
        assert services.meta.dialect == "mysql"
        ready = await client.get("/readyz")
        assert ready.status_code == 200, await ready.get_json()


async def test_readyz_names_the_backend_that_is_down(app_factory, redis_prefix: str) -> None:  # type: ignore[no-untyped-def]
    async with app_factory(TRAIL_REDIS_URL=REDIS_URL, TRAIL_REDIS_PREFIX=redis_prefix) as (app, client):
        services = app.extensions["trail"]
        from trail.live.redis_broker import RedisBroker

        dead = RedisBroker("redis://127.0.0.1:1/0", redis_prefix)
        real, services.broker = services.broker, dead
        try:
            ready = await client.get("/readyz")
            body = await ready.get_json()
        finally:
            services.broker = real
            await dead.close()
        assert ready.status_code == 503
        assert body["broker"].startswith("down") and "broker" in body["status"]
        assert body["metadata"] == "ok"


@pytest.mark.parametrize("path", ["/api/v2/query", "/api/events"])
async def test_api_errors_are_json(app_factory, path: str) -> None:  # type: ignore[no-untyped-def]
    async with app_factory() as (app, client):
        response = await client.post(path, data=b"[]", headers={"Content-Type": "application/json"})
        assert response.status_code == 401
        assert "error" in await response.get_json()


async def test_writer_role_serves_only_operations(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with app_factory(role="writer") as (app, client):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert "writer" in app.extensions["trail"].extras and "ingestor" not in app.extensions["trail"].extras
        for path in ("/api/event", "/api/events", "/api/v2/query"):
            assert (await client.post(path, data=b"{}")).status_code == 404, path
        assert (await client.get("/login")).status_code == 404

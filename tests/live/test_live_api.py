"""GET /api/v2/live and the other live sockets over Quart's test client: auth before the upgrade, snapshot shape,
pushes after an event, the Origin check, and sockets closed by every kind of access change."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, AsyncIterator

import orjson
import pytest
from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError

from tests.live.helpers import event
from trail.services import Services
from trail.store.meta import repo

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


@pytest.fixture
async def live(app_factory: Any) -> AsyncIterator[dict[str, Any]]:
    async with app_factory() as (app, client):
        services: Services = app.extensions["trail"]
        async with services.meta.session() as db:
            owner = await repo.create_user(db, "owner@live.test", "password123")
            viewer = await repo.create_user(db, "viewer@live.test", "password123")
            site = await repo.add_site(db, owner, "live.test")
            team = await repo.get_or_create_personal_team(db, owner)
            await repo.add_member(db, team, viewer, "viewer")
            other = await repo.add_site(db, await repo.create_user(db, "x@other.test", "password123"), "hidden.test")
            key_row, key = await repo.create_api_key(db, owner, label="live")
            wall_row, wall_token = await repo.create_wall(db, owner, ["live.test"], label="tv")
            await db.commit()
            ids = {"site": site.id, "team": team.id, "viewer": viewer.id, "viewer_epoch": viewer.session_epoch,
                   "other": other.id, "key_id": key_row.id, "wall_id": wall_row.id}
        yield {"app": app, "client": client, "services": services, "key": key, "wall": wall_token, **ids}


async def recv_json(ws: Any, timeout: float = 3.0) -> dict[str, Any]:
    return orjson.loads(await asyncio.wait_for(ws.receive(), timeout))  # type: ignore[no-any-return]


async def append(services: Services, *events: Any) -> None:
    await services.broker.append([e.to_payload() for e in events])


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_auth_is_checked_before_the_upgrade(live: dict[str, Any]) -> None:
    client = live["client"]
    for path, headers, status in [
        ("/api/v2/live?site_id=live.test", {}, 401),
        ("/api/v2/live?site_id=live.test", {"Authorization": "Bearer nope"}, 401),
        ("/api/v2/live?site_id=live.test&key=nope", {}, 401),
        ("/api/v2/live?site_id=hidden.test", {"Authorization": f"Bearer {live['key']}"}, 404),
        ("/api/v2/live?site_id=missing.test", {"Authorization": f"Bearer {live['key']}"}, 404),
        ("/api/v2/live", {"Authorization": f"Bearer {live['key']}"}, 404),
    ]:
        with pytest.raises(WebsocketResponseError) as refused:
            async with client.websocket(path, headers=headers) as ws:
                await ws.receive()
        assert refused.value.response.status_code == status, path
        assert "error" in await refused.value.response.get_json()


async def test_snapshot_at_once_then_a_push_after_an_event(live: dict[str, Any]) -> None:
    client, services = live["client"], live["services"]
    async with client.websocket("/api/v2/live?site_id=live.test",
                                headers={"Authorization": f"Bearer {live['key']}"}) as ws:
        first = await recv_json(ws)
        assert list(first) == ["site_id", "ts", "current_visitors", "visitors_last_30m", "pageviews_last_30m",
                               "per_minute", "top_pages", "top_sources", "top_countries", "recent"]
        assert first["site_id"] == "live.test" and ISO_Z.match(first["ts"])
        assert len(first["per_minute"]) == 30 and all(ISO_Z.match(m[0]) for m in first["per_minute"])
        assert first["per_minute"][0][0] < first["per_minute"][-1][0] <= first["ts"]
        assert first["current_visitors"] == first["pageviews_last_30m"] == 0
        started = time.monotonic()
        await append(services, event(live["site"], now_ms(), visitor=5, path="/pricing", country="DE",
                                     source="Google"))
        pushed = await recv_json(ws)
        assert time.monotonic() - started < 0.5
        assert (pushed["current_visitors"], pushed["visitors_last_30m"], pushed["pageviews_last_30m"]) == (1, 1, 1)
        assert pushed["top_pages"] == [["/pricing", 1]] and pushed["top_sources"] == [["Google", 1]]
        assert pushed["top_countries"] == [["DE", 1]] and pushed["per_minute"][-1][1:] == [1, 1]
        assert pushed["recent"][0]["path"] == "/pricing" and set(pushed["recent"][0]) == {
            "ts", "name", "path", "country", "source", "device"}
        # events of other sites do not wake this socket
        await append(services, event(live["other"], now_ms()))
        with pytest.raises(asyncio.TimeoutError):
            await recv_json(ws, timeout=0.6)


async def test_the_first_socket_wakes_a_sleeping_instance_with_what_the_stream_holds(live: dict[str, Any]) -> None:
    """No live client yet: the instance reads nothing back from the stream (TRAIL_LIVE_IDLE_SECONDS); the first
    socket's first frame already counts what was accepted before it came, and pushes follow."""
    client, services = live["client"], live["services"]
    engine = services.extras["live"]
    assert not engine.awake and engine._tasks == []
    await append(services, *(event(live["site"], now_ms(), visitor=v, path="/before") for v in (1, 2, 3)))
    async with client.websocket("/api/v2/live?site_id=live.test",
                                headers={"Authorization": f"Bearer {live['key']}"}) as ws:
        first = await recv_json(ws)
        assert engine.awake
        assert (first["pageviews_last_30m"], first["top_pages"]) == (3, [["/before", 3]])
        await append(services, event(live["site"], now_ms(), visitor=4, path="/after"))
        assert (await recv_json(ws))["pageviews_last_30m"] == 4


async def test_key_in_the_query_string(live: dict[str, Any]) -> None:
    async with live["client"].websocket(f"/api/v2/live?site_id=live.test&key={live['key']}") as ws:
        assert (await recv_json(ws))["site_id"] == "live.test"


async def closed_within(ws: Any, seconds: float) -> float:
    started = time.monotonic()
    with pytest.raises(WebsocketDisconnectError):
        while True:
            await asyncio.wait_for(ws.receive(), seconds)
    return time.monotonic() - started


async def test_key_revoked_closes_the_api_socket(live: dict[str, Any]) -> None:
    services = live["services"]
    async with live["client"].websocket(f"/api/v2/live?site_id=live.test&key={live['key']}") as ws:
        await recv_json(ws)
        async with services.meta.session() as db:
            owner = await repo.require_user(db, "owner@live.test")
            await repo.revoke_api_key(db, "live", owner)
            await db.commit()
        await services.extras["access_feed"].announce()
        assert await closed_within(ws, 1.0) < 1.0


async def test_site_deleted_closes_its_sockets(live: dict[str, Any]) -> None:
    services = live["services"]
    async with live["client"].websocket(f"/api/v2/live?site_id=live.test&key={live['key']}") as ws:
        await recv_json(ws)
        async with services.meta.session() as db:
            await repo.record_access_event(db, "site_deleted", {"site_id": live["site"], "domain": "live.test",
                                                                "team_id": live["team"]})
            await db.commit()
        assert await closed_within(ws, 1.0) < 1.0  # found by the outbox poll (0.5 s), no announcement


def origin(live: dict[str, Any]) -> dict[str, str]:
    return {"Origin": "http://localhost", "Host": "localhost"}


async def test_wall_socket_checks_origin_and_token_and_closes_on_revoke(live: dict[str, Any]) -> None:
    client, services = live["client"], live["services"]
    path = f"/wall/{live['wall']}/ws"
    for headers, status in [({"Origin": "http://evil.test", "Host": "localhost"}, 403), ({"Host": "localhost"}, 403)]:
        with pytest.raises(WebsocketResponseError) as refused:
            async with client.websocket(path, headers=headers) as ws:
                await ws.receive()
        assert refused.value.response.status_code == status
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket("/wall/wall_nope/ws", headers=origin(live)) as ws:
            await ws.receive()
    assert refused.value.response.status_code == 404
    async with client.websocket(path, headers=origin(live)) as ws:
        frame = await asyncio.wait_for(ws.receive(), 3)
        assert f'id="widget-wall-{live["site"]}-head"' in frame
        await append(services, event(live["site"], now_ms(), visitor=9, path="/wall-test"))
        assert "/wall-test" in await asyncio.wait_for(ws.receive(), 3)
        async with services.meta.session() as db:
            owner = await repo.require_user(db, "owner@live.test")
            await repo.revoke_wall(db, "tv", owner)
            await db.commit()
        await services.extras["access_feed"].announce()
        assert await closed_within(ws, 1.0) < 1.0
    assert (await client.get(f"/wall/{live['wall']}")).status_code == 404


async def sign_in(client: Any, user_id: int, epoch: int) -> None:
    async with client.session_transaction() as session:
        session["uid"], session["epoch"] = user_id, epoch


async def test_dashboard_socket_needs_a_member_and_our_origin_and_closes_when_removed(live: dict[str, Any]) -> None:
    from trail.live.renderers import register_renderer, unregister_renderer

    client, services = live["client"], live["services"]
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket("/live.test/live", headers=origin(live)) as ws:
            await ws.receive()
    assert refused.value.response.status_code == 401
    await sign_in(client, live["viewer"], live["viewer_epoch"])
    for path, headers, status in [("/live.test/live", {"Origin": "http://evil.test", "Host": "localhost"}, 403),
                                  ("/hidden.test/live", origin(live), 404)]:
        with pytest.raises(WebsocketResponseError) as refused:
            async with client.websocket(path, headers=headers) as ws:
                await ws.receive()
        assert refused.value.response.status_code == status, path
    register_renderer("dashboard", lambda s: f'<div id="widget-visitors">{s.current_visitors}</div>', name="t")
    try:
        async with client.websocket("/live.test/live", headers=origin(live)) as ws:
            frame = await asyncio.wait_for(ws.receive(), 3)  # every registered dashboard renderer, joined
            assert '<div id="widget-visitors">0</div>' in frame
            async with services.meta.session() as db:
                await repo.record_access_event(db, "member_removed", {"team_id": live["team"],
                                                                      "user_id": live["viewer"]})
                await db.commit()
            await services.extras["access_feed"].announce()
            assert await closed_within(ws, 1.0) < 1.0
    finally:
        unregister_renderer("dashboard", "t")


async def test_share_revoked_closes_share_sockets(live: dict[str, Any]) -> None:
    """No share page streams yet (the dashboard issue owns it); the hub closes any socket tagged as a share."""
    engine = live["services"].extras["live"]
    client = engine.connect("dashboard", [(live["site"], "live.test")], {"share": True, "token_hash": "abc"})
    bystander = engine.connect("dashboard", [(live["site"], "live.test")], {"user_id": 1, "team_id": live["team"]})
    async with live["services"].meta.session() as db:
        await repo.record_access_event(db, "share_revoked", {"site_id": live["site"], "token_hash": "abc"})
        await db.commit()
    await live["services"].extras["access_feed"].announce()
    deadline = time.monotonic() + 1.0
    while client.closed is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert client.closed is not None and bystander.closed is None
    engine.hub.disconnect(client)
    engine.hub.disconnect(bystander)


async def test_frames_go_straight_to_the_servers_asgi_send() -> None:
    """The hub writes with the server's ASGI send, not through Quart's Websocket.send / send_data (a task switch
    and a signal per frame per client). Fails when a Quart upgrade changes the internals this relies on (the
    fallback still works, but the fast path is gone)."""
    from quart import Quart
    from quart.asgi import ASGIWebsocketConnection

    from trail.web.live_api import _frame_sender

    sent: list[dict[str, Any]] = []

    async def asgi_send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/api/v2/live", "query_string": b"", "scheme": "ws", "headers": [],
             "root_path": "", "http_version": "1.1", "subprotocols": [], "extensions": {}}
    ws = ASGIWebsocketConnection(Quart(__name__), scope)._create_websocket_from_scope(asgi_send)  # type: ignore[arg-type]
    await _frame_sender(ws)("frame")
    assert sent == [{"type": "websocket.send", "text": "frame"}]

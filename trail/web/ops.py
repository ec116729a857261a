"""Operations endpoints: liveness, readiness per backend, Prometheus metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response, jsonify

from trail import metrics
from trail.security.access import public
from trail.services import current_services

ops = Blueprint("ops", __name__)

READY_TIMEOUT_S = 2.0


@ops.get("/healthz")
@public
async def healthz() -> Response:
    return Response("ok\n", content_type="text/plain")


async def _check(name: str, probe: object) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(probe, timeout=READY_TIMEOUT_S)  # type: ignore[arg-type]
        return name, None
    except asyncio.TimeoutError:
        return name, "timeout"
    except Exception as exc:  # any failure means "not ready"; the reason is shown
        return name, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


@ops.get("/readyz")
@public
async def readyz() -> tuple[Response, int]:
    services = current_services()
    probes = [_check("metadata", services.meta.ping()), _check("broker", services.broker.ping())]
    if services.events is not None:
        probes.append(_check("clickhouse", services.events.ping()))
    results = dict(await asyncio.gather(*probes))
    body: dict[str, object] = {name: ("ok" if err is None else f"down: {err}") for name, err in results.items()}
    down = [name for name, err in results.items() if err is not None]
    writer = services.extras.get("writer")
    if writer is not None and not down:
        from trail.live.writer import GROUP

        lag = await services.broker.lag(GROUP)
        metrics.CONSUMER_LAG.set(lag)
        body["consumer_lag"] = lag
    body["status"] = "ready" if not down else "not ready: " + ", ".join(down)
    return jsonify(body), (200 if not down else 503)


@ops.get("/metrics")
@public
async def prometheus() -> Response:
    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)

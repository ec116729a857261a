"""Quart adapter of the Events API: POST/OPTIONS /api/event and POST /api/events -> trail.ingest.Ingestor."""

from __future__ import annotations

from quart import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from trail.ingest.handler import CORS_ORIGIN, Ingestor
from trail.ingest.handler import Response as IngestResponse
from trail.security.access import csrf_exempt, public, token_required
from trail.services import current_services

events_api = Blueprint("events_api", __name__)


def _ingestor() -> Ingestor:
    return current_services().extras["ingestor"]  # type: ignore[no-any-return]


def _headers() -> dict[str, str]:
    """Request headers with lower-case names; repeated X-Forwarded-For headers are joined in order."""
    out: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out and key == "x-forwarded-for" else value
    return out


def _peer() -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else ""


async def _body(ingestor: Ingestor) -> bytes | IngestResponse:
    if request.content_length is not None and request.content_length > ingestor.body_limit:
        return ingestor.too_large()
    try:
        return await request.get_data(cache=False)  # type: ignore[no-any-return]
    except RequestEntityTooLarge:
        return ingestor.too_large()
    except RequestTimeout:
        return IngestResponse(400, {"content-type": "application/json", **CORS_ORIGIN},
                              b'{"error":"body: not received in time"}')


def _to_quart(res: IngestResponse) -> Response:
    return Response(res.body, status=res.status, headers=res.headers)


@events_api.route("/api/event", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@public
@csrf_exempt
async def event() -> Response:
    ingestor = _ingestor()
    if request.method == "OPTIONS":
        return _to_quart(ingestor.preflight())
    body = await _body(ingestor)
    if isinstance(body, IngestResponse):
        return _to_quart(body)
    return _to_quart(await ingestor.single(body, _headers(), _peer()))


@events_api.route("/api/events", methods=["POST"])
@token_required("api_key")  # the Ingestor checks the bearer key itself (401), so a raw-ASGI path can share it
@csrf_exempt
async def events_batch() -> Response:
    ingestor = _ingestor()
    body = await _body(ingestor)
    if isinstance(body, IngestResponse):
        return _to_quart(body)
    return _to_quart(await ingestor.batch(body, _headers(), _peer()))

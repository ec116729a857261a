"""Stats API over HTTP: POST /api/v2/query, realtime visitors, CSV export (Bearer API key)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from quart import Blueprint, Response, request

from trail.security.access import api_key_required, authorize_key_for_site
from trail.services import current_services
from trail.stats import export
from trail.stats.errors import QueryError
from trail.stats.query import parse_query
from trail.stats.runner import realtime_visitors, run
from trail.store.events import EventStore, EventStoreError

log = logging.getLogger(__name__)
stats_api = Blueprint("stats_api", __name__)
MAX_BODY = 256 * 1024


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS, default=str), status=status,
                    content_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _store() -> EventStore | None:
    return current_services().events


@stats_api.post("/api/v2/query")
@api_key_required
async def query() -> Response:
    raw = await request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        return _error(f"query body over {MAX_BODY} bytes", 413)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _error("the body is not valid JSON")
    if not isinstance(body, dict):
        return _error("the query must be a JSON object")
    site_id = body.get("site_id")
    if not isinstance(site_id, str) or not site_id:
        return _error("site_id is required: the site's domain")
    site = await authorize_key_for_site(site_id)
    try:
        parsed = parse_query(body, site.timezone)
    except QueryError as exc:
        return _error(str(exc))
    store = _store()
    if store is None:
        return _error("no event store on this instance", 503)
    try:
        return _json(await run(store, parsed, site))
    except QueryError as exc:
        return _error(str(exc))
    except EventStoreError as exc:
        log.warning("stats query failed for %s: %s", site_id, exc)
        return _error("the stats database could not answer this query", 503)


@stats_api.get("/api/v1/stats/realtime/visitors")
@api_key_required
async def current_visitors() -> Response:
    site = await authorize_key_for_site(request.args.get("site_id", ""))
    store = _store()
    if store is None:
        return _error("no event store on this instance", 503)
    try:
        count = await realtime_visitors(store, site)
    except EventStoreError as exc:
        log.warning("realtime visitors failed: %s", exc)
        return _error("the stats database could not answer", 503)
    return _json(count)


def _date_range_arg(value: str | None) -> Any:
    """`7d`, `month`..., or `FROM,TO` (two ISO dates) from a query string."""
    if not value:
        return "30d"
    if "," in value:
        return [part.strip() for part in value.split(",", 1)]
    return value


@stats_api.get("/api/v2/export")
@api_key_required
async def export_csv() -> Response:
    domain = request.args.get("site_id", "")
    site = await authorize_key_for_site(domain)
    date_range = _date_range_arg(request.args.get("date_range"))
    try:
        export.validate(site, date_range)
    except QueryError as exc:
        return _error(str(exc))
    store = _store()
    if store is None:
        return _error("no event store on this instance", 503)

    async def stream() -> Any:
        try:
            async for chunk in export.export_zip(store, site, domain, date_range):
                yield chunk
        except EventStoreError as exc:  # headers are gone: end the stream (the zip is left incomplete)
            log.warning("export failed for %s: %s", domain, exc)

    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in domain)
    response = Response(stream(), content_type="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}-export.zip"'
    return response

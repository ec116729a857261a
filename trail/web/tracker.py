"""Serves the tracker script with long cache headers and an ETag."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from quart import Blueprint, Response, request

from trail.security.access import public

tracker = Blueprint("tracker", __name__)

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "trail.js"


@lru_cache(maxsize=1)
def _script() -> tuple[bytes, str]:
    body = SCRIPT.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


@tracker.get("/js/trail.js")
@tracker.get("/js/script.js")
@public
async def script() -> Response:
    body, etag = _script()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400, stale-while-revalidate=604800",
               "Access-Control-Allow-Origin": "*"}
    if etag in request.headers.get("If-None-Match", ""):
        return Response(b"", status=304, headers=headers)
    return Response(body, content_type="application/javascript; charset=utf-8", headers=headers)

"""The public dashboard `/share/<token>`: the token is checked here, then the read-only dashboard is rendered."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, abort

from trail.security.access import token_required
from trail.services import current_services
from trail.store.meta import repo

share = Blueprint("share", __name__)


@share.get("/share/<token>")
@token_required("share")
async def view(token: str) -> Any:
    async with current_services().meta.session() as db:
        site = await repo.site_by_share_token(db, token)
    if site is None:
        abort(404)
    from trail.web.dashboard import shared_page

    return await shared_page(site, token)

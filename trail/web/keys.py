"""API keys (per team) and wall tokens, managed from a site's settings: shown once, stored hashed, revocable."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from quart import Blueprint, abort, g

from trail.security.access import current_user, site_required
from trail.services import current_services
from trail.store.meta import repo
from trail.web.common import (
    announce_access_change,
    done,
    field,
    form_data,
    int_field,
    public_origin,
)
from trail.web.site_settings import tab

keys = Blueprint("keys", __name__)


async def _keys_tab(status: int = 200, **context: Any) -> Any:
    async with current_services().meta.session() as db:
        rows = await repo.team_api_keys(db, g.site.team_id)
    return await tab("keys", status, keys=rows, **context)


@keys.get("/<dotted:domain>/settings/keys")
@site_required("admin")
async def index(domain: str) -> Any:
    return await _keys_tab()


@keys.post("/<dotted:domain>/settings/keys")
@site_required("admin")
async def create(domain: str) -> Any:
    label = field(await form_data(), "label", 255)
    async with current_services().meta.session() as db:
        key, plaintext = await repo.create_team_api_key(db, g.site.team_id, await current_user(), label)
        await db.commit()
    return await _keys_tab(new_key=plaintext, new_label=key.label)


@keys.post("/<dotted:domain>/settings/keys/<int:key_id>/revoke")
@site_required("admin")
async def revoke(domain: str, key_id: int) -> Any:
    return await _revoke(repo.revoke_team_api_key, key_id, "Key {label!r} revoked: it stopped working.", "keys")


async def _revoke(revoke_row: Callable[[Any, int, int], Awaitable[Any]], row_id: int, message: str,
                  tab_name: str) -> Any:
    """Revoke a key or wall of this site's team (404 when it is not one), tell every instance, back to the tab."""
    async with current_services().meta.session() as db:
        try:
            row = await revoke_row(db, g.site.team_id, row_id)
        except repo.NotFound:
            abort(404)
        await db.commit()
    await announce_access_change()
    return await done(message.format(label=row.label), f"/{g.site.domain}/settings/{tab_name}")


# -- walls ----------------------------------------------------------------------------------------
async def _walls_tab(status: int = 200, **context: Any) -> Any:
    async with current_services().meta.session() as db:
        walls = await repo.team_walls(db, g.site.team_id)
        team_sites = await repo.sites_of_team(db, g.site.team_id)
    context.setdefault("layout", "grid")
    context.setdefault("rotate_seconds", 20)
    context.setdefault("chosen", [g.site.id])
    return await tab("walls", status, walls=walls, team_sites=team_sites, **context)


@keys.get("/<dotted:domain>/settings/walls")
@site_required("admin")
async def walls(domain: str) -> Any:
    return await _walls_tab()


@keys.post("/<dotted:domain>/settings/walls")
@site_required("admin")
async def wall_create(domain: str) -> Any:
    form = await form_data()
    label, layout = field(form, "label", 255), field(form, "layout", 20)
    rotate = int_field(form, "rotate_seconds")
    chosen = [int(v) for v in form.getlist("site_ids")[:200] if isinstance(v, str) and v.isdigit() and len(v) < 10]
    context = {"label": label, "layout": layout, "rotate_seconds": rotate if rotate is not None else 20,
               "chosen": chosen}
    if rotate is None:
        return await _walls_tab(422, error="Rotate seconds must be a whole number from 3 to 3600.", **context)
    async with current_services().meta.session() as db:
        try:
            wall, token = await repo.create_team_wall(db, g.site.team_id, await current_user(), chosen,
                                                      label=label, layout=layout, rotate_seconds=rotate)
        except repo.NotFound:
            return await _walls_tab(422, error="Pick sites of this team only.", **context)
        except ValueError as exc:
            return await _walls_tab(422, error=str(exc)[:1].upper() + str(exc)[1:], **context)
        await db.commit()
    return await _walls_tab(new_wall=f"{public_origin()}/wall/{token}", new_label=wall.label)


@keys.post("/<dotted:domain>/settings/walls/<int:wall_id>/revoke")
@site_required("admin")
async def wall_revoke(domain: str, wall_id: int) -> Any:
    return await _revoke(repo.revoke_team_wall, wall_id, "Wall {label!r} revoked: its screens go dark.", "walls")

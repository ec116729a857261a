"""Per-UTC-day visitor-id salts shared by every instance through the metadata store."""

from __future__ import annotations

import secrets
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta.models import Salt

SALT_BYTES = 32


async def get_salt(session: AsyncSession, day: date) -> bytes | None:
    return await session.scalar(sa.select(Salt.salt).where(Salt.day == day))


async def get_or_create_salt(session: AsyncSession, day: date) -> bytes:
    """The salt of `day`, created when missing; instances racing on a new day all get the winner's salt.

    Insert-if-absent, then a locking read (which sees the latest committed row on MySQL, not the snapshot).
    """
    found = await get_salt(session, day)
    if found is not None:
        return bytes(found)
    values = {"day": day, "salt": secrets.token_bytes(SALT_BYTES)}
    if session.get_bind().dialect.name == "sqlite":
        stmt: sa.Insert = sqlite.insert(Salt).values(**values).on_conflict_do_nothing(index_elements=["day"])
    else:
        # ON DUPLICATE KEY UPDATE no-op rather than INSERT IGNORE: no server warning, no other error swallowed.
        ins = mysql.insert(Salt).values(**values)
        stmt = ins.on_duplicate_key_update(day=ins.table.c.day)
    await session.execute(stmt)
    salt = await session.scalar(sa.select(Salt.salt).where(Salt.day == day).with_for_update(read=True))
    if salt is None:  # pragma: no cover - the row was just inserted or already there
        raise RuntimeError(f"salt of {day} vanished")
    return bytes(salt)


async def delete_salts_before(session: AsyncSession, day: date) -> int:
    """Delete salts older than `day` so visitor ids cannot be linked across days; returns how many."""
    result = await session.execute(sa.delete(Salt).where(Salt.day < day))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

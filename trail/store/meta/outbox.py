"""The access-changed outbox: rows that every instance reads to close websockets and drop caches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta.models import ACCESS_EVENT_KINDS, AccessEvent, utcnow


async def record_access_event(session: AsyncSession, kind: str, subject: dict[str, Any],
                              *, now: datetime | None = None) -> AccessEvent:
    """Add an outbox row in the caller's transaction (committed with the change it describes)."""
    if kind not in ACCESS_EVENT_KINDS:
        raise ValueError(f"unknown access event kind {kind!r}")
    event = AccessEvent(kind=kind, subject=dict(subject), created_at=now or utcnow())
    session.add(event)
    await session.flush()
    return event


async def access_events_after(session: AsyncSession, last_id: int, limit: int = 500) -> list[AccessEvent]:
    """Outbox rows with an id above `last_id`, oldest first."""
    rows = await session.scalars(sa.select(AccessEvent).where(AccessEvent.id > last_id)
                                 .order_by(AccessEvent.id).limit(limit))
    return list(rows)


async def latest_access_event_id(session: AsyncSession) -> int:
    """The newest outbox id (0 when empty): where a new reader starts."""
    return int(await session.scalar(sa.select(sa.func.coalesce(sa.func.max(AccessEvent.id), 0))) or 0)


async def delete_access_events_before(session: AsyncSession, before: datetime) -> int:
    """Drop outbox rows created before `before`; returns how many."""
    result = await session.execute(sa.delete(AccessEvent).where(AccessEvent.created_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

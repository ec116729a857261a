"""The stream payload leaves out columns at their default; every reader fills them back in."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import msgspec
import orjson
import pytest

from trail.ingest.event import COLUMNS, EnrichedEvent, datetime_to_ms, new_event_id, row_from_payload
from trail.live.window import LiveEvent

TS = datetime_to_ms(datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=timezone.utc))


def _full_payload(ev: EnrichedEvent) -> bytes:
    """The payload as Trail wrote it before it was made compact: every column, in order (still in old streams)."""
    row = ev.to_row()
    row.update(event_id=str(ev.event_id), ts=ev.ts_ms,
               revenue_amount=None if ev.revenue_amount is None else str(ev.revenue_amount))
    return orjson.dumps(row)


def test_defaults_are_left_out() -> None:
    ev = EnrichedEvent(new_event_id(), 7, TS, "pageview", visitor_id=11, session_id=12, pathname="/a", browser="Chrome")
    data = orjson.loads(ev.to_payload())
    assert set(data) == {"event_id", "site_id", "ts", "name", "visitor_id", "session_id", "pathname", "browser"}
    assert len(ev.to_payload()) < len(_full_payload(ev)) / 2


@pytest.mark.parametrize("extra", [
    {},
    {"props": {"plan": "pro"}, "revenue_amount": Decimal("9.500"), "revenue_currency": "EUR"},
    {"interactive": 0, "scroll_depth": 80, "engagement_ms": 12_000, "language": "de", "country": "DE"},
])
def test_every_reader_gets_the_same_event_back(extra: dict) -> None:  # type: ignore[type-arg]
    ev = EnrichedEvent(new_event_id(), 7, TS, "engagement", visitor_id=11, session_id=12, hostname="a.example",
                       pathname="/a", utm_source="hn", **extra)
    compact, full = ev.to_payload(), _full_payload(ev)
    assert EnrichedEvent.from_payload(compact) == ev == EnrichedEvent.from_payload(full)
    row = row_from_payload(compact)
    assert row == ev.to_row() == row_from_payload(full)
    assert tuple(row) == COLUMNS
    row["props"]["x"] = "y"  # each row owns its props
    assert row_from_payload(compact)["props"] == ev.props
    assert LiveEvent.from_payload(compact) == LiveEvent.from_payload(full)


def test_a_payload_without_a_required_column_is_refused_and_unknown_keys_are_ignored() -> None:
    data = orjson.loads(EnrichedEvent(new_event_id(), 7, TS, "pageview").to_payload())
    for key in ("event_id", "site_id", "ts", "name"):
        with pytest.raises(msgspec.ValidationError):
            row_from_payload(orjson.dumps({k: v for k, v in data.items() if k != key}))
    row = row_from_payload(orjson.dumps({**data, "not_a_column": 1}))  # a newer writer's column: ignored, as before
    assert tuple(row) == COLUMNS

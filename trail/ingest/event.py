"""The enriched event: one row of the ClickHouse `events` table, and its compact stream payload."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson

from trail.store.events import JsonRowFormat

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def new_event_id(now_ms: int | None = None) -> uuid.UUID:
    """A fresh UUIDv7 (RFC 9562): 48-bit Unix ms, then 74 random bits, so ids sort by ingestion time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = random.getrandbits(80)  # ids need uniqueness, not secrecy; `random` reseeds itself in forked children
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) \
        | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    return uuid.UUID(int=value)


def ms_to_datetime(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(ts: datetime) -> int:
    return (ts - EPOCH) // _MS


@dataclass(slots=True)
class EnrichedEvent:
    """Exactly the columns of sql/clickhouse/0001_events.sql, in order; Python values as `to_row()` returns them."""

    event_id: uuid.UUID
    site_id: int
    ts: datetime  # tz-aware UTC, millisecond precision
    name: str
    visitor_id: int = 0
    session_id: int = 0
    hostname: str = ""
    pathname: str = ""
    referrer: str = ""
    source: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    click_id_param: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    device: str = ""
    screen: str = ""
    language: str = ""
    props: dict[str, str] = field(default_factory=dict)
    revenue_amount: Decimal | None = None
    revenue_currency: str = ""
    interactive: int = 1
    scroll_depth: int = 0
    engagement_ms: int = 0

    def to_payload(self) -> bytes:
        """The stream payload: a JSON object keyed by column; ts as epoch ms, ids and amounts as strings.

        Columns still at their default value are left out (every reader fills defaults in): a typical pageview
        leaves half its columns empty, and the payload is copied to the buffer, kept there for the live window,
        read back by the live engine and by the writer.
        """
        data = {"event_id": str(self.event_id), "site_id": self.site_id, "ts": datetime_to_ms(self.ts),
                "name": self.name, "visitor_id": self.visitor_id, "session_id": self.session_id}
        for name in _TEXT_COLUMNS:
            value = getattr(self, name)
            if value:
                data[name] = value
        if self.props:
            data["props"] = self.props
        if self.revenue_amount is not None:
            data["revenue_amount"] = str(self.revenue_amount)
        if self.interactive != 1:
            data["interactive"] = self.interactive
        if self.scroll_depth:
            data["scroll_depth"] = self.scroll_depth
        if self.engagement_ms:
            data["engagement_ms"] = self.engagement_ms
        return orjson.dumps(data)

    @classmethod
    def from_payload(cls, payload: bytes) -> "EnrichedEvent":
        """Inverse of `to_payload`; columns missing from an older payload take their defaults."""
        data: dict[str, Any] = orjson.loads(payload)
        amount = data.get("revenue_amount")
        kwargs = {k: v for k, v in data.items() if k in _FIELD_NAMES}
        kwargs["event_id"] = uuid.UUID(data["event_id"])
        kwargs["ts"] = ms_to_datetime(int(data["ts"]))
        kwargs["revenue_amount"] = None if amount is None else Decimal(amount)
        return cls(**kwargs)

    def to_row(self) -> dict[str, Any]:
        """Column name -> Python value for EventStore.insert."""
        return {name: getattr(self, name) for name in _FIELD_NAMES}


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(EnrichedEvent))
COLUMNS = _FIELD_NAMES
_ROW_TEMPLATE: dict[str, Any] = {
    f.name: None if f.name in ("event_id", "site_id", "ts", "name", "props") else f.default
    for f in fields(EnrichedEvent)}
_TEXT_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(EnrichedEvent) if f.type == "str" and f.name != "name")


def row_from_payload(payload: bytes) -> dict[str, Any]:
    """`EnrichedEvent.from_payload(payload).to_row()` without the object in between (the writer's hot loop)."""
    data: dict[str, Any] = orjson.loads(payload)
    row = dict(_ROW_TEMPLATE)  # every column, in order, at its default; props gets a dict of its own below
    row.update(data)
    if len(row) != len(_FIELD_NAMES) or row["site_id"] is None or row["name"] is None:
        # a key that is no column, or a required one missing: the dataclass refuses it, as it always did
        return EnrichedEvent.from_payload(payload).to_row()
    row["event_id"] = uuid.UUID(data["event_id"])
    row["ts"] = EPOCH + timedelta(milliseconds=int(data["ts"]))
    amount = row["revenue_amount"]
    if amount is not None:
        row["revenue_amount"] = Decimal(amount)
    if "props" not in data:
        row["props"] = {}
    return row


# -- the payload as ClickHouse reads it (the chDB writer inserts payloads without decoding them) -----------------------
_REQUIRED = frozenset(("event_id", "site_id", "ts", "name"))
_JSON_TYPES = {"event_id": "UUID", "site_id": "UInt32", "ts": "Int64", "name": "String", "visitor_id": "UInt64",
               "session_id": "UInt64", "props": "Map(String, String)", "revenue_amount": "Nullable(Decimal(18, 3))",
               "interactive": "Nullable(UInt8)", "scroll_depth": "UInt8", "engagement_ms": "UInt32",
               **{name: "String" for name in _TEXT_COLUMNS}}
# Fields left out of a payload read as their type's default, which is each column's default but for two: ts is
# epoch ms, and an omitted `interactive` means 1.
_JSON_SELECT = {"ts": "fromUnixTimestamp64Milli(ts, 'UTC')", "interactive": "coalesce(interactive, 1)"}


def payload_is_row(payload: bytes) -> bool:
    """A JSON object holding the required columns (what `row_from_payload` accepts; extra keys are ignored)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and _REQUIRED <= data.keys()


PAYLOAD_FORMAT = JsonRowFormat(
    structure=", ".join(f"{name} {_JSON_TYPES[name]}" for name in _FIELD_NAMES),
    select=", ".join(_JSON_SELECT.get(name, name) for name in _FIELD_NAMES),
    check=payload_is_row, decode=row_from_payload)

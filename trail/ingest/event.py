"""The enriched event: one row of the ClickHouse `events` table, and its compact stream payload."""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec

from trail.store.events import JsonRowFormat

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def new_event_id(now_ms: int | None = None) -> uuid.UUID:
    """A fresh UUIDv7 (RFC 9562): 48-bit Unix ms, then 74 random bits, so ids sort by ingestion time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = random.getrandbits(80)  # ids need uniqueness, not secrecy; `random` reseeds itself in forked children
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) \
        | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    # uuid.UUID(int=value) re-checks what is built right above (0.65 µs); filling its two slots takes 0.25
    event_id = _new_object(uuid.UUID)
    _set_slot(event_id, "int", value)
    _set_slot(event_id, "is_safe", _UNKNOWN)
    return event_id  # type: ignore[no-any-return]


_new_object = object.__new__
_set_slot = object.__setattr__  # uuid.UUID forbids assignment through its own __setattr__
_UNKNOWN = uuid.SafeUUID.unknown  # looked up once: an enum member through its class costs 0.6 µs in Python 3.11


def ms_to_datetime(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(ts: datetime) -> int:
    return (ts - EPOCH) // _MS


class EnrichedEvent(msgspec.Struct, omit_defaults=True, gc=False):
    """Exactly the columns of sql/clickhouse/0001_events.sql, in order; `to_row()` gives them as Python values.

    A msgspec Struct (made and encoded in C: building and encoding an event took 4.1 µs as a dataclass encoded
    through a dict, 1.8 µs so). `ts_ms` is the `ts` column as epoch milliseconds (UTC; `ts` is the datetime).
    The stream payload (`to_payload`) is a JSON object keyed by column, ids and amounts as strings, and leaves out
    the columns still at their default, which every reader fills back in: a typical pageview leaves half its
    columns empty, and the payload is copied to the buffer, kept there for the live window, read back by the live
    engine and by the writer.
    """

    event_id: uuid.UUID
    site_id: int
    ts_ms: int = msgspec.field(name="ts")
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
    props: dict[str, str] = {}
    revenue_amount: Decimal | None = None
    revenue_currency: str = ""
    interactive: int = 1
    scroll_depth: int = 0
    engagement_ms: int = 0

    @property
    def ts(self) -> datetime:
        """The event time as an aware UTC datetime (millisecond precision)."""
        return ms_to_datetime(self.ts_ms)

    def to_payload(self) -> bytes:
        """The stream payload: a JSON object keyed by column, without the columns at their default."""
        return _ENCODER.encode(self)

    @classmethod
    def from_payload(cls, payload: bytes) -> "EnrichedEvent":
        """Inverse of `to_payload` (also of the full payloads older versions wrote); msgspec.ValidationError for a
        payload without a required column or with a wrongly typed one. Unknown keys are ignored."""
        return _DECODER.decode(payload)

    def to_row(self) -> dict[str, Any]:
        """Column name -> Python value for EventStore.insert (`ts` as a datetime)."""
        row = {column: getattr(self, attr) for column, attr in _ATTRS}
        row["ts"] = ms_to_datetime(self.ts_ms)
        row["props"] = dict(self.props)  # each row owns its props
        return row


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(EnrichedEvent)
_FIELDS = msgspec.structs.fields(EnrichedEvent)
_ATTRS: tuple[tuple[str, str], ...] = tuple((f.encode_name, f.name) for f in _FIELDS)  # (column, attribute)
_FIELD_NAMES: tuple[str, ...] = tuple(column for column, _ in _ATTRS)
COLUMNS = _FIELD_NAMES
_TEXT_COLUMNS: tuple[str, ...] = tuple(f.encode_name for f in _FIELDS if f.type is str and f.name != "name")


def row_from_payload(payload: bytes) -> dict[str, Any]:
    """`EnrichedEvent.from_payload(payload).to_row()`: the writer's decoded path (stores that take Python values)."""
    return EnrichedEvent.from_payload(payload).to_row()


# -- the payload as ClickHouse reads it (the chDB writer inserts payloads without decoding them) -----------------------
_JSON_TYPES = {"event_id": "UUID", "site_id": "UInt32", "ts": "Int64", "name": "String", "visitor_id": "UInt64",
               "session_id": "UInt64", "props": "Map(String, String)", "revenue_amount": "Nullable(Decimal(18, 3))",
               "interactive": "Nullable(UInt8)", "scroll_depth": "UInt8", "engagement_ms": "UInt32",
               **{name: "String" for name in _TEXT_COLUMNS}}
# Fields left out of a payload read as their type's default, which is each column's default but for two: ts is
# epoch ms, and an omitted `interactive` means 1.
_JSON_SELECT = {"ts": "fromUnixTimestamp64Milli(ts, 'UTC')", "interactive": "coalesce(interactive, 1)"}


class _Required(msgspec.Struct):
    """The columns a payload must hold to be a row (everything else has a default)."""

    event_id: str
    site_id: int
    ts: int
    name: str


_REQUIRED_DECODER = msgspec.json.Decoder(_Required)


def payload_is_row(payload: bytes) -> bool:
    """A JSON object holding the required columns, well typed (what `row_from_payload` needs; other keys are
    skipped unread, so the writer's check costs ~0.4 µs per event)."""
    try:
        _REQUIRED_DECODER.decode(payload)
    except msgspec.MsgspecError:
        return False
    return True


PAYLOAD_FORMAT = JsonRowFormat(
    structure=", ".join(f"{name} {_JSON_TYPES[name]}" for name in _FIELD_NAMES),
    select=", ".join(_JSON_SELECT.get(name, name) for name in _FIELD_NAMES),
    check=payload_is_row, decode=row_from_payload)

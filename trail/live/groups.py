"""Consumer-group state of the embedded broker and its ack-log records (replayable, idempotent)."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Iterable

from trail.live.spool import IdKey, encode_record

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_ID = struct.Struct("<QQ")

# record kinds of the ack log
GROUP, DELIVER, CLAIM, ACK, TRIM = b"G", b"P", b"C", b"A", b"T"

RECOVERED = float("-inf")  # delivery time of entries pending before a restart: idle forever, claimable at once


@dataclass
class Group:
    """Like a Redis consumer group: the last delivered id and the pending entries list (id -> owner)."""

    last: IdKey = (0, 0)
    owner: dict[IdKey, str] = field(default_factory=dict)
    delivered_at: dict[IdKey, float] = field(default_factory=dict)
    by_consumer: dict[str, dict[IdKey, None]] = field(default_factory=dict)

    def deliver(self, consumer: str, ids: Iterable[IdKey], at: float) -> None:
        mine = self.by_consumer.setdefault(consumer, {})
        for key in ids:
            self._drop(key)
            self.owner[key] = consumer
            self.delivered_at[key] = at
            mine[key] = None
            if key > self.last:
                self.last = key

    def ack(self, ids: Iterable[IdKey]) -> list[IdKey]:
        """Remove ids from the pending list; return those that were pending."""
        return [key for key in ids if self._drop(key)]

    def pending_of(self, consumer: str) -> list[IdKey]:
        return sorted(self.by_consumer.get(consumer, ()))

    def _drop(self, key: IdKey) -> bool:
        consumer = self.owner.pop(key, None)
        if consumer is None:
            return False
        del self.delivered_at[key]
        mine = self.by_consumer[consumer]
        del mine[key]
        if not mine:
            del self.by_consumer[consumer]
        return True


# -- codec ------------------------------------------------------------------------
def _str(value: str) -> bytes:
    raw = value.encode()
    return _U16.pack(len(raw)) + raw


def _ids(ids: list[IdKey]) -> bytes:
    flat = [part for key in ids for part in key]
    return _U32.pack(len(ids)) + struct.pack(f"<{len(flat)}Q", *flat)


def rec_group(name: str, last: IdKey) -> bytes:
    return encode_record(GROUP + _str(name) + _ID.pack(*last))


def rec_ids(kind: bytes, group: str, ids: list[IdKey], consumer: str = "") -> bytes:
    return encode_record(kind + _str(group) + _str(consumer) + _ids(ids))


def rec_trim(min_id: IdKey) -> bytes:
    return encode_record(TRIM + _ID.pack(*min_id))


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body, self.pos = body, 1

    def str(self) -> str:
        (length,) = _U16.unpack_from(self.body, self.pos)
        self.pos += 2 + length
        return self.body[self.pos - length:self.pos].decode()

    def id(self) -> IdKey:
        ms, seq = _ID.unpack_from(self.body, self.pos)
        self.pos += _ID.size
        return ms, seq

    def ids(self) -> list[IdKey]:
        (count,) = _U32.unpack_from(self.body, self.pos)
        flat = struct.unpack_from(f"<{2 * count}Q", self.body, self.pos + 4)
        return list(zip(flat[0::2], flat[1::2]))


def replay(bodies: Iterable[bytes], groups: dict[str, Group]) -> IdKey:
    """Apply ack-log records to groups (entries pending before the crash stay pending); return the trim point."""
    trim_point: IdKey = (0, 0)
    for body in bodies:
        kind, reader = body[:1], _Reader(body)
        if kind == GROUP:
            name = reader.str()
            groups.setdefault(name, Group(last=reader.id()))
        elif kind == TRIM:
            trim_point = max(trim_point, reader.id())
        else:
            group, consumer, ids = reader.str(), reader.str(), reader.ids()
            state = groups.setdefault(group, Group())
            if kind == ACK:
                state.ack(ids)
            else:  # DELIVER or CLAIM: the ids are pending for consumer
                state.deliver(consumer, ids, RECOVERED)
    return trim_point


def snapshot(groups: dict[str, Group], trim_point: IdKey) -> bytes:
    """A compact ack log equivalent to the current state (what the log compaction writes)."""
    parts = [rec_trim(trim_point)]
    for name, state in groups.items():
        parts.append(rec_group(name, state.last))
        for consumer, ids in state.by_consumer.items():
            parts.append(rec_ids(DELIVER, name, sorted(ids), consumer))
    return b"".join(parts)


def now() -> float:
    return time.monotonic()

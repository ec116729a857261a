"""The writer's JSON path (chDB): payloads go into `events` as they are, with the same rows, the same exactly-once
guarantees and the same handling of bad entries as the decoded path."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.live.test_writer import Crash, FlakyStore, broker, count, drain, store  # noqa: F401 (fixtures)
from trail.ingest.event import PAYLOAD_FORMAT, EnrichedEvent, datetime_to_ms, new_event_id, payload_is_row
from trail.live.broker import Broker
from trail.live.writer import GROUP, Writer
from trail.store.events import EventStore, EventStoreError, EventStoreUnavailable, JsonRows

T0 = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)


def event(i: int, **extra: Any) -> EnrichedEvent:
    columns: dict[str, Any] = {"visitor_id": 2**64 - 1 - i, "session_id": i + 1, "hostname": "a.example",
                               "pathname": f"/p/{i}", **extra}
    return EnrichedEvent(new_event_id(1_790_000_000_000 + i), 3, datetime_to_ms(T0.replace(second=i % 60)), "pageview",
                         **columns)


def varied(i: int) -> EnrichedEvent:
    """Every kind of column value a payload carries, or leaves out."""
    kinds: list[dict[str, Any]] = [
        {},
        {"props": {"plan": "pro", "ünï": "çødé \"quoted\" \\ back"}, "revenue_amount": Decimal("1234.567"),
         "revenue_currency": "EUR"},
        {"interactive": 0, "scroll_depth": 80, "engagement_ms": 12_000, "language": "de", "country": "DE"},
        {"props": {"price": "$$5", "tail": "ends with $"}, "referrer": "https://x.example/?q=$$", "source": "X"},
        {"revenue_amount": Decimal("0.000"), "utm_source": "news", "utm_campaign": "spring", "browser": "Firefox",
         "browser_version": "140.0", "os": "Linux", "device": "Desktop", "screen": "Desktop", "city": "Zürich"},
        {"pathname": "/ends-with-$"},
    ]
    return event(i, **kinds[i % len(kinds)])


def writer(broker: Broker, store: EventStore, **kw: Any) -> Writer:  # noqa: F811
    kw.setdefault("consumer", "w1")
    return Writer(broker, store, PAYLOAD_FORMAT, max_batch=100, flush_interval_ms=50, **kw)


async def stored(store: EventStore) -> list[tuple[Any, ...]]:  # noqa: F811
    _, rows = await store.query("SELECT * FROM events ORDER BY event_id")
    return rows


async def test_json_rows_insert_exactly_what_the_decoded_rows_insert(store: EventStore) -> None:  # noqa: F811
    payloads = [varied(i).to_payload() for i in range(60)]
    assert any(b"$$" in p for p in payloads)  # (once a $$ heredoc in the SQL, the data now goes through a file)
    await store.insert("events", JsonRows(payloads, PAYLOAD_FORMAT), dedup_token="json")
    as_json = await stored(store)
    await store.execute("TRUNCATE TABLE events")
    await store.insert("events", [PAYLOAD_FORMAT.decode(p) for p in payloads], dedup_token="decoded")
    as_rows = await stored(store)
    assert len(as_json) == 60 and as_json == as_rows
    _, check = await store.query("SELECT countIf(interactive = 1), countIf(revenue_amount IS NULL), "
                                 "max(visitor_id), min(ts) FROM events")
    assert check[0][:3] == (50, 40, 2**64 - 1) and check[0][3] == T0.replace(second=0)


async def test_dollar_signs_survive_the_heredoc(store: EventStore) -> None:  # noqa: F811
    payloads = [event(0, pathname="$").to_payload(), event(1, pathname="a$").to_payload()]
    assert not any(b"$$" in p for p in payloads)
    await store.insert("events", JsonRows(payloads, PAYLOAD_FORMAT))
    _, rows = await store.query("SELECT pathname FROM events ORDER BY pathname")
    assert rows == [("$",), ("a$",)]


async def test_failed_json_inserts_are_retried_with_the_same_token_and_count_once(
        broker: Broker, store: EventStore) -> None:  # noqa: F811
    await broker.append([varied(i).to_payload() for i in range(70)])
    flaky = FlakyStore(store, fail=3)
    await drain(writer(broker, flaky))
    assert await count(store) == (70, 70)
    assert len(flaky.attempts) == 4 and len(set(flaky.attempts)) == 1


async def test_crash_between_json_insert_and_ack_leaves_no_duplicate(broker: Broker, store: EventStore) -> None:  # noqa: F811
    await broker.append([varied(i).to_payload() for i in range(80)])
    with pytest.raises(Crash):
        await writer(broker, FlakyStore(store, crash_after_insert=True)).step()
    assert await count(store) == (80, 80) and await broker.lag(GROUP) == 80
    restarted = writer(broker, store)
    await restarted.recover()
    await drain(restarted)
    assert await count(store) == (80, 80) and await broker.lag(GROUP) == 0


async def test_bad_entries_are_dropped_and_the_rest_written_once(broker: Broker, store: EventStore) -> None:  # noqa: F811
    good = [varied(i).to_payload() for i in range(20)]
    not_a_row = [b"not json", b"[1, 2]", orjson.dumps({"event_id": str(new_event_id()), "ts": 1})]
    # passes the cheap check, but ClickHouse cannot read it: the batch falls back to decoding, which drops it
    unreadable = orjson.dumps({**orjson.loads(good[0]), "event_id": "not-a-uuid"})
    assert all(not payload_is_row(p) for p in not_a_row) and payload_is_row(unreadable)
    mixed = good[:10] + not_a_row + [unreadable] + good[10:]
    random.Random(7).shuffle(mixed)
    await broker.append(mixed)
    w = writer(broker, store)
    await drain(w)
    assert await count(store) == (20, 20) and await broker.lag(GROUP) == 0


async def test_a_full_batch_goes_in_as_json_past_the_default_query_size(store: EventStore) -> None:  # noqa: F811
    payloads = [varied(i).to_payload() for i in range(5000)]
    assert sum(map(len, payloads)) > 4 * 262_144  # ClickHouse's default max_query_size is 256 KiB
    await store.insert("events", JsonRows(payloads, PAYLOAD_FORMAT), dedup_token="big")
    assert await count(store) == (5000, 5000)


async def test_a_default_sized_batch_retried_with_its_token_counts_once(store: EventStore) -> None:  # noqa: F811
    """file() may parse in parallel: the INSERT must still make one block per batch, so that its token matches."""
    from trail.config import SETTINGS

    size = int(next(s for s in SETTINGS if s.name == "TRAIL_MAX_BATCH_SIZE").default)
    payloads = [varied(i).to_payload() for i in range(size)]
    for _ in range(2):
        await store.insert("events", JsonRows(payloads, PAYLOAD_FORMAT), dedup_token="full")
    assert await count(store) == (size, size)


async def test_json_rows_go_in_decoded_without_a_spill_dir(store: EventStore,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A data dir whose path file() would read as a glob has no spill dir: the same rows go in decoded."""
    engine = store._engine  # type: ignore[attr-defined]
    monkeypatch.setattr(engine, "spill_dir", None)
    decoded: list[bytes] = []

    def decode(line: bytes) -> Any:
        decoded.append(line)
        return PAYLOAD_FORMAT.decode(line)

    fmt = type(PAYLOAD_FORMAT)(PAYLOAD_FORMAT.structure, PAYLOAD_FORMAT.select, PAYLOAD_FORMAT.check, decode)
    payloads = [varied(i).to_payload() for i in range(30)]
    await store.insert("events", JsonRows(payloads, fmt), dedup_token="decoded")
    assert await count(store) == (30, 30) and sorted(decoded) == sorted(payloads)


async def test_insert_files_are_removed_after_success_and_failure(store: EventStore) -> None:  # noqa: F811
    spill = Path(store._engine.spill_dir)  # type: ignore[attr-defined]
    await store.insert("events", JsonRows([varied(i).to_payload() for i in range(10)], PAYLOAD_FORMAT))
    unreadable = orjson.dumps({**orjson.loads(varied(0).to_payload()), "event_id": "not-a-uuid"})
    with pytest.raises(EventStoreError) as refused:
        await store.insert("events", JsonRows([unreadable], PAYLOAD_FORMAT))
    assert not isinstance(refused.value, EventStoreUnavailable)  # refused: the writer decodes row by row
    assert await count(store) == (10, 10) and list(spill.iterdir()) == []


async def test_an_unwritable_spill_dir_is_unavailable_not_refused(store: EventStore,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """The writer retries an unavailable store with the same batch; a refused one it would decode row by row."""
    monkeypatch.setattr(store._engine, "spill_dir", str(tmp_path / "gone"))  # type: ignore[attr-defined]
    with pytest.raises(EventStoreUnavailable):
        await store.insert("events", JsonRows([varied(0).to_payload()], PAYLOAD_FORMAT))
    assert await count(store) == (0, 0)


def test_the_spill_dir_is_emptied_of_leftovers_and_refused_where_unusable(tmp_path: Path) -> None:
    from trail.store import chdb_store

    spill = tmp_path / "data" / chdb_store.SPILL_DIR
    spill.mkdir(parents=True)
    (spill / "insert-abc.jsonl").write_bytes(b"{}")  # a crashed process's batch: its events are still pending
    (spill / "notes.txt").write_bytes(b"kept")
    assert chdb_store._spill_dir(str(tmp_path / "data")) == str(spill)
    assert sorted(p.name for p in spill.iterdir()) == ["notes.txt"]
    for glob in ("d*", "d?", "d{1,2}"):
        assert chdb_store._spill_dir(str(tmp_path / glob)) is None
    (tmp_path / "file").write_bytes(b"")  # a data path under a file: no dir can be made there
    assert chdb_store._spill_dir(str(tmp_path / "file" / "data")) is None

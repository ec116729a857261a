"""quote() and bind(): pure rendering, and hostile values round-tripping through a real chDB SELECT."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from trail.store.chdb_store import ChdbEventStore
from trail.store.sqlquote import MissingParamError, bind, quote, quote_identifier

HOSTILE = [
    "",
    "plain",
    "it's",
    "'",
    "''",
    "\\",
    "\\'",
    "'\\",
    "a\\'; DROP TABLE events; --",
    "'; DROP TABLE events; --",
    "\" OR 1=1 --",
    "`backtick`",
    "{x:String}",
    "/* comment */ -- tail",
    "line1\nline2\r\n\ttab",
    "nul\0byte",
    "\x01\x1f\x7f",
    "ünïcödé ✓ 日本語 🚀",
    "\\x41\\0\\n",
    "%s %(name)s ?",
]


def test_quote_scalars() -> None:
    assert quote(None) == "NULL"
    assert quote(True) == "1" and quote(False) == "0"
    assert quote(42) == "42" and quote(-7) == "-7"
    assert quote(2**64 - 1) == "18446744073709551615"
    assert quote(1.5) == "1.5"
    assert quote(float("nan")) == "nan" and quote(float("-inf")) == "-inf"
    assert quote(Decimal("9.500")) == "toDecimal128('9.500', 3)"
    assert quote("it's") == "'it\\'s'"
    assert quote("a\\b") == "'a\\\\b'"
    assert quote("\0") == "'\\0'"
    assert quote(b"\x00\xff'") == "'\\x00\\xff\\x27'"
    assert quote(date(2026, 1, 2)) == "toDate('2026-01-02')"
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert quote(u) == f"toUUID('{u}')"


def test_quote_datetime_is_utc_milliseconds() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5, 678901)
    assert quote(naive) == "toDateTime64('2026-01-02 03:04:05.678', 3, 'UTC')"
    berlin = datetime(2026, 1, 2, 4, 4, 5, 678000, tzinfo=timezone(timedelta(hours=1)))
    assert quote(berlin) == "toDateTime64('2026-01-02 03:04:05.678', 3, 'UTC')"


def test_quote_containers() -> None:
    assert quote([1, "a", None]) == "[1, 'a', NULL]"
    assert quote((1, 2)) == "[1, 2]"
    assert quote({"k": "v'", "n": 1}) == "map('k', 'v\\'', 'n', 1)"
    assert quote({}) == "map()"


def test_quote_rejects_unknown_types() -> None:
    with pytest.raises(TypeError, match="object"):
        quote(object())
    with pytest.raises(ValueError):
        quote(Decimal("NaN"))


def test_quote_identifier() -> None:
    assert quote_identifier("events") == "`events`"
    assert quote_identifier("we`ird") == "`we\\`ird`"
    with pytest.raises(ValueError):
        quote_identifier("")


def test_bind_simple_types_work_on_old_servers() -> None:
    sql = bind("SELECT {a:UInt64}, {b:String}, {c:Date}, {d:DateTime}, {e:Float64}, {f:Int32}",
               {"a": 5, "b": "x", "c": date(2026, 1, 2), "d": datetime(2026, 1, 1, tzinfo=timezone.utc), "e": 2,
                "f": -1})
    assert sql == ("SELECT toUInt64(5), 'x', toDate('2026-01-02'), toDateTime(1767225600), toFloat64(2.0), "
                   "toInt32(-1)")
    assert "CAST" not in sql


def test_bind_casts_other_types() -> None:
    assert bind("{x:Nullable(String)}", {"x": None}) == "CAST(NULL AS Nullable(String))"
    assert bind("{x:Decimal(18, 3)}", {"x": Decimal("1.5")}) == "CAST('1.5' AS Decimal(18, 3))"
    assert bind("{x:Array(String)}", {"x": ["a"]}) == "CAST(['a'] AS Array(String))"
    assert bind("{x:DateTime64(3, 'UTC')}", {"x": datetime(2026, 1, 1)}) == (
        "CAST(toDateTime64('2026-01-01 00:00:00.000000', 6, 'UTC') AS DateTime64(3, 'UTC'))")
    assert bind("{t:Identifier}", {"t": "events"}) == "`events`"


def test_bind_leaves_literals_and_comments_alone() -> None:
    sql = "SELECT '{a:String}', \"{a:String}\" -- {a:String}\n, {a:String} /* {a:String} */"
    assert bind(sql, {"a": "v"}) == "SELECT '{a:String}', \"{a:String}\" -- {a:String}\n, 'v' /* {a:String} */"
    assert bind("SELECT 'it\\'s {a:String}', {a:String}", {"a": "v"}) == "SELECT 'it\\'s {a:String}', 'v'"


def test_bind_unknown_param_names_it() -> None:
    with pytest.raises(MissingParamError, match="site_id") as info:
        bind("SELECT {site_id:UInt32}", {"other": 1})
    assert isinstance(info.value, KeyError)
    assert "site_id" in str(info.value)


async def test_hostile_strings_round_trip_through_chdb(store: ChdbEventStore) -> None:
    for value in HOSTILE:
        _, rows = await store.query("SELECT {v:String} AS v, length({v:String}) AS n", {"v": value})
        assert rows == [(value, len(value.encode()))], value
        _, rows = await store.query(f"SELECT {quote(value)}")
        assert rows == [(value,)], value


async def test_hostile_values_stored_and_matched(store: ChdbEventStore) -> None:
    await store.execute("CREATE TABLE t (s String) ENGINE = MergeTree ORDER BY s")
    for value in HOSTILE:
        await store.execute("INSERT INTO t VALUES ({v:String})", {"v": value})
    _, rows = await store.query("SELECT count() FROM t")
    assert rows == [(len(HOSTILE),)]  # nothing was dropped, no statement was injected
    for value in HOSTILE:
        _, rows = await store.query("SELECT count() FROM t WHERE s = {v:String}", {"v": value})
        assert rows == [(HOSTILE.count(value),)], value


async def test_typed_values_round_trip_through_chdb(store: ChdbEventStore) -> None:
    u = uuid.uuid4()
    when = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=timezone.utc)
    _, rows = await store.query(
        "SELECT {a:UInt64}, {b:Int8}, {c:Float64}, {d:Decimal(18, 3)}, {e:Date}, {f:DateTime64(3, 'UTC')}, "
        "{g:UUID}, {h:Map(String, String)}, {i:Array(String)}, {j:Nullable(UInt8)}, {k:DateTime('UTC')}",
        {"a": 2**64 - 1, "b": -128, "c": 0.25, "d": Decimal("123.456"), "e": date(2026, 3, 4), "f": when, "g": u,
         "h": {"k'": "v\\"}, "i": ["x", "'"], "j": None, "k": when})
    assert rows == [(2**64 - 1, -128, 0.25, Decimal("123.456"), date(2026, 3, 4), when, u, {"k'": "v\\"},
                     ["x", "'"], None, when.replace(microsecond=0))]
    raw = quote(b"\x00\xffab")
    _, rows = await store.query(f"SELECT {raw} AS b, hex(b)")
    assert rows[0][1] == "00FF6162"
    _, rows = await store.query(f"SELECT {quote(when)}, {quote(Decimal('9.500'))}, {quote({'a': [1, 2]})}")
    assert rows == [(when, Decimal("9.5"), {"a": [1, 2]})]

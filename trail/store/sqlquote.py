"""The one place where values become ClickHouse SQL: `quote` (literals) and `bind` (`{name:Type}` placeholders)."""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

__all__ = ["MissingParamError", "bind", "qualified_table", "quote", "quote_identifier"]


class MissingParamError(KeyError):
    """A `{name:Type}` placeholder has no value in params; the message names it."""

    def __str__(self) -> str:  # KeyError's default repr-quotes the message
        return str(self.args[0]) if self.args else "missing query parameter"


_STRING_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\0": "\\0",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_NEEDS_ESCAPE = re.compile(r"[\\'\x00-\x1f\x7f]")


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    return _STRING_ESCAPES.get(ch) or f"\\x{ord(ch):02x}"


def _quote_str(value: str) -> str:
    return "'" + _NEEDS_ESCAPE.sub(_escape_char, value) + "'"


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _datetime_text(value: datetime, digits: int = 3) -> str:
    text = _utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[: 20 + digits] if digits else text[:19]


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot quote non-finite Decimal {value!r}")
    return format(value, "f")


def quote(value: Any) -> str:
    """Return `value` as a ClickHouse literal expression; datetimes are UTC with millisecond precision."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):  # before int: bool is an int; 1/0 also works on old servers without true/false
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, Decimal):
        text = _decimal_text(value)
        scale = max(0, -int(value.as_tuple().exponent))
        return f"toDecimal128({_quote_str(text)}, {scale})"
    if isinstance(value, str):
        return _quote_str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "'" + "".join(f"\\x{b:02x}" for b in bytes(value)) + "'"
    if isinstance(value, datetime):  # before date: datetime is a date
        return f"toDateTime64({_quote_str(_datetime_text(value))}, 3, 'UTC')"
    if isinstance(value, date):
        return f"toDate({_quote_str(value.isoformat())})"
    if isinstance(value, uuid.UUID):
        return f"toUUID({_quote_str(str(value))})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(quote(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map(" + ", ".join(f"{quote(k)}, {quote(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"cannot quote a value of type {type(value).__name__} for ClickHouse")


def quote_identifier(name: str) -> str:
    """Return `name` as a back-quoted ClickHouse identifier."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"not a valid identifier: {name!r}")
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`").replace("\0", "\\0") + "`"


def qualified_table(database: str, table: str) -> str:
    """`table` in `database`, both back-quoted, unless `table` already names its database (`db.t`) or is quoted."""
    if "." in table or "`" in table:
        return table
    return f"{quote_identifier(database)}.{quote_identifier(table)}"


_INT_TYPES = {f"{s}Int{n}" for s in ("", "U") for n in (8, 16, 32, 64)}
_FLOAT_TYPES = {"Float32", "Float64"}
_DT64 = re.compile(r"DateTime64\(\s*(\d+)\s*(?:,\s*'([^']*)')?\s*\)")
_DT = re.compile(r"DateTime(?:\(\s*'([^']*)'\s*\))?")


def _typed(value: Any, ch_type: str) -> str:
    """A literal for `value` that has ClickHouse type `ch_type`; simple types avoid CAST for old servers."""
    t = ch_type.strip()
    if t == "Identifier":
        return quote_identifier(value)
    if value is None:
        return f"CAST(NULL AS {t})"
    if t in _INT_TYPES and isinstance(value, int):
        return f"to{t}({quote(value)})"
    if t in _FLOAT_TYPES and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"to{t}({quote(float(value))})"
    if t == "String" and isinstance(value, (str, bytes, bytearray, memoryview)):
        return quote(value)
    if t == "Date" and isinstance(value, date):
        day = _utc(value).date() if isinstance(value, datetime) else value
        return f"toDate({_quote_str(day.isoformat())})"
    if t == "UUID" and isinstance(value, (uuid.UUID, str)):
        return f"toUUID({_quote_str(str(value))})"
    if (m := _DT.fullmatch(t)) and isinstance(value, (datetime, int)) and not isinstance(value, bool):
        # Epoch seconds are unambiguous whatever the server's time zone (works on 18.16 too).
        seconds = int(_utc(value).timestamp()) if isinstance(value, datetime) else value
        return f"toDateTime({seconds}, {_quote_str(m.group(1))})" if m.group(1) else f"toDateTime({seconds})"
    if (m := _DT64.fullmatch(t)) and isinstance(value, datetime):
        text = _quote_str(_datetime_text(value, 6))
        return f"CAST(toDateTime64({text}, 6, 'UTC') AS {t})"
    if isinstance(value, Decimal):  # through a string: exact, never via Float64
        return f"CAST({_quote_str(_decimal_text(value))} AS {t})"
    return f"CAST({quote(value)} AS {t})"


# A placeholder is `{name:Type}`; the type may hold parentheses, commas and quoted strings but no braces.
_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}")


def _skip_quoted(sql: str, i: int, quote_char: str) -> int:
    """Index just past the quoted token starting at sql[i] (backslash escapes and doubled quotes)."""
    j = i + 1
    n = len(sql)
    while j < n:
        c = sql[j]
        if c == "\\":
            j += 2
            continue
        if c == quote_char:
            if j + 1 < n and sql[j + 1] == quote_char:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def bind(sql: str, params: Mapping[str, Any] | None) -> str:
    """Replace `{name:Type}` placeholders outside string literals and comments with typed literals."""
    params = params or {}
    out: list[str] = []
    i = 0
    n = len(sql)
    start = 0
    while i < n:
        c = sql[i]
        if c in "'\"`":
            i = _skip_quoted(sql, i, c)
        elif c == "-" and sql.startswith("--", i) or c == "#" and sql.startswith("#!", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == "{" and (m := _PLACEHOLDER.match(sql, i)):
            name, ch_type = m.group(1), m.group(2)
            if name not in params:
                raise MissingParamError(f"no value for query parameter {name!r} (placeholder {m.group(0)})")
            out.append(sql[start:i])
            out.append(_typed(params[name], ch_type))
            i = start = m.end()
        else:
            i += 1
    out.append(sql[start:])
    return "".join(out)

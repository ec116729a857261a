"""Date ranges in a site's timezone: resolve Stats API `date_range` values to UTC [start, end) and list time buckets."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trail.stats.errors import QueryError

UTC = timezone.utc
SHORTCUTS = ("realtime", "day", "month", "6mo", "12mo", "year", "all")
_NDAYS = re.compile(r"^([1-9][0-9]{0,3})d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_DAYS = 366 * 20


@dataclass(frozen=True)
class DateRange:
    """A resolved range: UTC instants [start, end), the local first/last day, and how it was asked for."""

    spec: Any  # the request's value ("7d", ["2026-01-01", "2026-01-31"], ...), echoed back
    start: datetime  # aware, UTC, inclusive
    end: datetime  # aware, UTC, exclusive
    first_day: date  # local (site timezone) date of start
    last_day: date  # local date of the last instant in the range
    timezone: str
    realtime: bool = False
    unresolved_all: bool = False  # "all" before the runner looked up the site's first event

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise QueryError(f"unknown timezone {name!r}") from None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which local `day` begins (DST gaps resolved the zoneinfo way)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def from_days(spec: Any, first: date, last: date, tz_name: str) -> DateRange:
    """Whole local days first..last (inclusive)."""
    tz = zone(tz_name)
    if last < first:
        raise QueryError(f"date_range {spec!r}: the end is before the start")
    if (last - first).days > MAX_DAYS:
        raise QueryError(f"date_range {spec!r}: longer than {MAX_DAYS} days")
    return DateRange(spec, local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz), first, last,
                     tz_name)


def _parse_datetime(text: str, tz: ZoneInfo, spec: Any) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"date_range {spec!r}: {text!r} is not an ISO 8601 date or datetime") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def _parse_date(text: str, spec: Any) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"date_range {spec!r}: {text!r} is not a valid date") from None


def resolve(spec: Any, tz_name: str, now: datetime) -> DateRange:
    """Resolve a `date_range` value in timezone tz_name, relative to the aware instant `now`."""
    tz = zone(tz_name)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    today = now.astimezone(tz).date()
    if isinstance(spec, str):
        if spec == "realtime":
            start = now - timedelta(minutes=30)
            end = now + timedelta(milliseconds=1)
            return DateRange(spec, start.astimezone(UTC), end.astimezone(UTC), start.astimezone(tz).date(), today,
                             tz_name, realtime=True)
        if spec == "day":
            return from_days(spec, today, today, tz_name)
        if m := _NDAYS.match(spec):
            return from_days(spec, today - timedelta(days=int(m.group(1)) - 1), today, tz_name)
        if spec == "month":
            return from_days(spec, today.replace(day=1), today, tz_name)
        if spec in ("6mo", "12mo"):
            return from_days(spec, _add_months(today, -(int(spec[:-2]) - 1)), today, tz_name)
        if spec == "year":
            return from_days(spec, date(today.year, 1, 1), today, tz_name)
        if spec == "all":
            return replace(from_days(spec, today, today, tz_name), unresolved_all=True)
        raise QueryError(f"date_range {spec!r} is not one of realtime, day, Nd (7d, 30d...), month, 6mo, 12mo, "
                         "year, all or [from, to]")
    if isinstance(spec, list) and len(spec) == 2 and all(isinstance(v, str) for v in spec):
        a, b = spec
        if _DATE.match(a) and _DATE.match(b):
            return from_days(spec, _parse_date(a, spec), _parse_date(b, spec), tz_name)
        start = _parse_datetime(a, tz, spec)
        end = _parse_datetime(b, tz, spec) + timedelta(seconds=1)  # the end second is inclusive
        if end <= start:
            raise QueryError(f"date_range {spec!r}: the end is before the start")
        first, last = start.astimezone(tz).date(), (end - timedelta(milliseconds=1)).astimezone(tz).date()
        if (last - first).days > MAX_DAYS:
            raise QueryError(f"date_range {spec!r}: longer than {MAX_DAYS} days")
        return DateRange(spec, start, end, first, last, tz_name)
    raise QueryError("date_range must be a string like \"7d\" or a list [from, to] of ISO dates or datetimes")


def resolve_all(rng: DateRange, first_event: datetime | None) -> DateRange:
    """Fix an "all" range to start on the local day of the site's first event (today when it has none)."""
    if not rng.unresolved_all:
        return rng
    tz = zone(rng.timezone)
    first = first_event.astimezone(tz).date() if first_event is not None else rng.first_day
    return from_days(rng.spec, min(first, rng.last_day), rng.last_day, rng.timezone)


def comparison_range(rng: DateRange, mode: str) -> DateRange:
    """The range to compare with: the same number of days just before, or the same dates a year earlier."""
    if rng.realtime or not isinstance(rng.spec, str) and not _is_dates(rng.spec):
        length = rng.end - rng.start
        start = (rng.start - length) if mode == "previous_period" else _year_back_instant(rng.start, rng.timezone)
        end = start + length
        tz = zone(rng.timezone)
        return DateRange(rng.spec, start, end, start.astimezone(tz).date(),
                         (end - timedelta(milliseconds=1)).astimezone(tz).date(), rng.timezone, rng.realtime)
    if mode == "previous_period":
        last = rng.first_day - timedelta(days=1)
        return from_days(rng.spec, last - timedelta(days=rng.days - 1), last, rng.timezone)
    return from_days(rng.spec, _year_back(rng.first_day), _year_back(rng.last_day), rng.timezone)


def _is_dates(spec: Any) -> bool:
    return isinstance(spec, list) and all(isinstance(v, str) and _DATE.match(v) for v in spec)


def _year_back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _year_back_instant(instant: datetime, tz_name: str) -> datetime:
    local = instant.astimezone(zone(tz_name))
    return datetime.combine(_year_back(local.date()), local.timetz()).astimezone(UTC)


# --- time buckets ---------------------------------------------------------------------------------------------------

def auto_interval(rng: DateRange) -> str:
    """The bucket the plain `time` dimension stands for, from the range's length."""
    if rng.realtime:
        return "time:minute"
    if rng.days <= 2:
        return "time:hour"
    if rng.days <= 40:
        return "time:day"
    return "time:month"


def week_start(day: date, first_day: date) -> date:
    """Monday of day's week, but never before the range's first day (as Plausible labels weeks)."""
    return max(day - timedelta(days=day.weekday()), first_day)


def labels(rng: DateRange, dimension: str) -> list[Any]:
    """Every bucket key of the range, oldest first: ISO dates for day/week/month, epoch seconds for hour/minute."""
    if dimension in ("time:day", "time:week", "time:month"):
        return list(_day_labels(rng, dimension))
    step = 3600 if dimension == "time:hour" else 60
    tz = zone(rng.timezone)
    out: list[int] = []
    t = int(rng.start.timestamp())
    end = rng.end.timestamp()
    t -= t % 60
    while t < end:
        local = datetime.fromtimestamp(t, tz)
        bucket = local.replace(minute=0, second=0) if step == 3600 else local.replace(second=0)
        key = int(bucket.timestamp())
        if not out or out[-1] != key:
            out.append(key)
        t += 900 if step == 3600 else 60
    return out


def _day_labels(rng: DateRange, dimension: str) -> Iterator[str]:
    seen: set[str] = set()
    day = rng.first_day
    while day <= rng.last_day:
        if dimension == "time:day":
            key = day
        elif dimension == "time:week":
            key = week_start(day, rng.first_day)
        else:
            key = day.replace(day=1)
        text = key.isoformat()
        if text not in seen:
            seen.add(text)
            yield text
        day += timedelta(days=1)


def label_text(key: Any, dimension: str, tz_name: str) -> str:
    """The ISO string shown for a bucket key (hour/minute buckets carry the site's UTC offset)."""
    if dimension in ("time:hour", "time:minute"):
        return datetime.fromtimestamp(int(key), zone(tz_name)).isoformat()
    return str(key)

"""The Stats API query parser: date ranges in site timezones (DST edges), defaults, and every validation error."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from trail.stats import dates
from trail.stats.query import Filter, Logical, Not, QueryError, parse_query

UTC = timezone.utc
NOW = datetime(2026, 3, 29, 10, 30, tzinfo=UTC)  # Sunday; Europe/Berlin switched to CEST at 01:00 UTC today


def q(tz: str = "UTC", now: datetime = NOW, **body: Any) -> Any:
    return parse_query({"site_id": "a.test", "metrics": ["visitors"], "date_range": "7d", **body}, tz, now)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("spec, tz, start, end", [
    ("day", "Europe/Berlin", utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),  # 23-hour day
    ("day", "America/New_York", utc(2026, 3, 29, 4), utc(2026, 3, 30, 4)),
    ("7d", "Europe/Berlin", utc(2026, 3, 22, 23), utc(2026, 3, 29, 22)),
    ("30d", "UTC", utc(2026, 2, 28), utc(2026, 3, 30)),
    ("month", "Europe/Berlin", utc(2026, 2, 28, 23), utc(2026, 3, 29, 22)),
    ("6mo", "UTC", utc(2025, 10, 1), utc(2026, 3, 30)),
    ("12mo", "America/New_York", utc(2025, 4, 1, 4), utc(2026, 3, 30, 4)),
    ("year", "Europe/Berlin", utc(2025, 12, 31, 23), utc(2026, 3, 29, 22)),
    (["2026-10-25", "2026-10-25"], "Europe/Berlin", utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),  # 25 hours
    (["2026-03-08", "2026-03-08"], "America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)),
    (["2026-01-01T12:00:00+02:00", "2026-01-01T15:59:59+02:00"], "UTC", utc(2026, 1, 1, 10), utc(2026, 1, 1, 14)),
    (["2026-01-01T12:00:00", "2026-01-01T12:59:59"], "America/New_York", utc(2026, 1, 1, 17), utc(2026, 1, 1, 18)),
])
def test_date_ranges(spec: Any, tz: str, start: datetime, end: datetime) -> None:
    rng = q(tz, date_range=spec).date_range
    assert (rng.start, rng.end) == (start, end)


def test_day_late_evening_in_new_york_is_still_yesterday_in_utc_terms() -> None:
    rng = q("America/New_York", now=utc(2026, 3, 30, 2), date_range="day").date_range
    assert rng.first_day == date(2026, 3, 29)


def test_realtime_and_all() -> None:
    rt = q(date_range="realtime").date_range
    assert rt.realtime and (NOW - rt.start).total_seconds() == 1800
    all_ = q(date_range="all").date_range
    assert all_.unresolved_all
    fixed = dates.resolve_all(all_, utc(2025, 6, 1, 23, 30))
    assert fixed.first_day == date(2025, 6, 1) and fixed.last_day == date(2026, 3, 29)


def test_comparison_ranges() -> None:
    rng = q("Europe/Berlin", date_range="7d").date_range
    prev = dates.comparison_range(rng, "previous_period")
    assert (prev.first_day, prev.last_day) == (date(2026, 3, 16), date(2026, 3, 22))
    yoy = dates.comparison_range(q(date_range=["2024-02-29", "2024-03-01"]).date_range, "year_over_year")
    assert (yoy.first_day, yoy.last_day) == (date(2023, 2, 28), date(2023, 3, 1))


def test_time_resolves_by_range_and_defaults_order() -> None:
    assert q(date_range="day", dimensions=["time"]).dimensions == ("time:hour",)
    assert q(date_range="30d", dimensions=["time"]).dimensions == ("time:day",)
    assert q(date_range="12mo", dimensions=["time"]).dimensions == ("time:month",)
    assert q(date_range="realtime", dimensions=["time"]).dimensions == ("time:minute",)
    assert q(dimensions=["time"]).order_by == (("time:day", "asc"),)
    assert q(metrics=["pageviews", "visitors"]).order_by == (("pageviews", "desc"),)
    assert q(dimensions=["time"], order_by=[["time", "desc"]]).order_by == (("time:day", "desc"),)


def test_filters_parse_into_a_tree() -> None:
    query = q(filters=[["is", "visit:country", ["DE"]],
                       ["or", [["contains", "event:page", ["/a"], {"case_sensitive": False}],
                               ["not", ["matches", "event:props:plan", ["^p"]]]]]])
    assert query.filters == (
        Filter("is", "visit:country", ("DE",)),
        Logical("or", (Filter("contains", "event:page", ("/a",), False), Not(Filter("matches", "event:props:plan",
                                                                                     ("^p",))))))


def test_normalised_echo() -> None:
    query = q("Europe/Berlin", filters=[["is_not", "event:page", ["/x"]]], include={"total_rows": True},
              pagination={"limit": 5, "offset": 10})
    echo = query.normalised()
    assert echo["date_range"] == ["2026-03-23T00:00:00+01:00", "2026-03-29T23:59:59+02:00"]
    assert echo["filters"] == [["is_not", "event:page", ["/x"]]]
    assert echo["pagination"] == {"limit": 5, "offset": 10}
    assert echo["include"]["total_rows"] is True


@pytest.mark.parametrize("change, needle", [
    ({"metrics": ["visitors", "nope"]}, "unknown metric 'nope'"),
    ({"metrics": []}, "metrics"),
    ({"metrics": "visitors"}, "metrics"),
    ({"metrics": ["visitors", "visitors"]}, "duplicates"),
    ({"site_id": ""}, "site_id"),
    ({"date_range": "8y"}, "date_range"),
    ({"date_range": "0d"}, "date_range"),
    ({"date_range": ["2026-02-30", "2026-03-01"]}, "not a valid date"),
    ({"date_range": ["2026-03-02", "2026-03-01"]}, "before the start"),
    ({"date_range": ["2026-03-02"]}, "date_range"),
    ({"date_range": 7}, "date_range"),
    ({"dimensions": ["visit:nope"]}, "unknown dimension 'visit:nope'"),
    ({"dimensions": ["event:props:"]}, "unknown dimension"),
    ({"dimensions": ["time:day", "time:hour"]}, "one time dimension"),
    ({"dimensions": ["event:name"], "metrics": ["bounce_rate"]}, "'bounce_rate' cannot be used with dimension "
                                                                 "'event:name'"),
    ({"dimensions": ["event:goal"], "metrics": ["visits"]}, "event:goal"),
    ({"dimensions": ["event:props:x"], "metrics": ["visit_duration"]}, "event:props:x"),
    ({"metrics": ["conversion_rate"]}, "needs an event:goal filter"),
    ({"metrics": ["total_revenue"]}, "needs an event:goal filter"),
    ({"metrics": ["scroll_depth"]}, "needs an event:page"),
    ({"metrics": ["time_on_page"], "dimensions": ["visit:source"]}, "needs an event:page"),
    ({"metrics": ["percentage"]}, "needs at least one dimension"),
    ({"filters": {"a": 1}}, "filters must be a list"),
    ({"filters": [["is", "visit:country"]]}, "malformed filter"),
    ({"filters": [["equals", "visit:country", ["DE"]]]}, "unknown operator 'equals'"),
    ({"filters": [["is", "visit:country", []]]}, "non-empty list of strings"),
    ({"filters": [["is", "visit:country", [1]]]}, "non-empty list of strings"),
    ({"filters": [["is", "time:day", ["2026-01-01"]]]}, "cannot filter on 'time:day'"),
    ({"filters": [["matches", "event:page", ["("]]]}, "not a valid regular expression"),
    ({"filters": [["matches", "event:page", ["(?=a)"]]]}, "not supported"),
    ({"filters": [["matches", "event:goal", ["a"]]]}, "event:goal takes"),
    ({"filters": [["is", "visit:country", ["DE"], {"case": 1}]]}, "modifiers"),
    ({"filters": [["and", []]]}, "non-empty list"),
    ({"filters": [["not", ["is", "visit:os", ["x"]], 2]]}, "'not' takes one filter"),
    ({"filters": [[]]}, "malformed filter"),
    ({"order_by": [["pageviews", "desc"]]}, "order_by"),
    ({"order_by": [["visitors", "up"]]}, "order_by"),
    ({"include": {"comparisons": {"mode": "yesterday"}}}, "include.comparisons"),
    ({"include": {"time_labels": True}}, "needs a time dimension"),
    ({"include": {"total_rows": "yes"}}, "include.total_rows"),
    ({"include": {"bogus": True}}, "include: unknown option"),
    ({"pagination": {"limit": 0}}, "pagination.limit"),
    ({"pagination": {"limit": 10, "offset": -1}}, "pagination.offset"),
    ({"pagination": {"page": 2}}, "pagination"),
    ({"dimensions": ["time:minute"], "date_range": "30d"}, "time:minute"),
    ({"extra": 1}, "unknown key 'extra'"),
])
def test_validation_errors_name_the_part(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(QueryError) as err:
        q(**change)
    assert needle in str(err.value)


def test_deep_nesting_is_refused() -> None:
    f: Any = ["is", "visit:os", ["x"]]
    for _ in range(20):
        f = ["not", f]
    with pytest.raises(QueryError, match="nested deeper"):
        q(filters=[f])


def test_unknown_timezone_and_non_object() -> None:
    with pytest.raises(QueryError, match="timezone"):
        q("Mars/Olympus")
    with pytest.raises(QueryError, match="JSON object"):
        parse_query([], "UTC", NOW)

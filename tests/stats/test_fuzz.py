"""Fuzz: any query body through the parser (and the builder when valid) raises nothing but QueryError."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trail.sites import Goal, SiteInfo
from trail.stats.builder import plan
from trail.stats.query import (
    EVENT_DIMENSIONS,
    METRICS,
    OPERATORS,
    TIME_DIMENSIONS,
    VISIT_DIMENSIONS,
    QueryError,
    parse_query,
)
from trail.store.sqlquote import bind

SITE = SiteInfo(id=1, domain="f.test", team_id=1, timezone="America/New_York",
                goals=(Goal(1, "Signup", "Signup", None, "EUR"), Goal(2, "Blog", None, "/blog/*", None)))
NOW = datetime(2026, 11, 1, 6, 30, tzinfo=timezone.utc)  # New York's fall-back morning

dims = st.sampled_from(EVENT_DIMENSIONS + VISIT_DIMENSIONS + TIME_DIMENSIONS + ("event:props:plan", "nope"))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 20000), st.floats(allow_nan=True), st.text(max_size=8))
text_values = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["/", "(", "a*", "^/x$", "Signup"])),
                       max_size=3)
simple = st.tuples(st.sampled_from(OPERATORS + ("bad",)), dims, text_values).map(list)
simple_mod = st.tuples(st.sampled_from(OPERATORS), dims, text_values,
                       st.fixed_dictionaries({"case_sensitive": st.booleans()})).map(list)
filters = st.recursive(
    st.one_of(simple, simple_mod, scalars),
    lambda inner: st.one_of(st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, max_size=3)).map(list),
                            st.tuples(st.just("not"), inner).map(list)),
    max_leaves=6)
date_ranges = st.one_of(
    st.sampled_from(["realtime", "day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all", "0d",
                     "99999d", "x"]),
    st.lists(st.sampled_from(["2026-01-01", "2026-11-01", "2026-13-01", "2026-11-01T01:30:00",
                              "2026-11-01T01:30:00-05:00", "garbage", ""]), min_size=0, max_size=3),
    scalars)
bodies = st.fixed_dictionaries(
    {"site_id": st.one_of(st.just("f.test"), scalars)},
    optional={
        "metrics": st.one_of(st.lists(st.sampled_from(METRICS + ("nope",)), max_size=4), scalars),
        "date_range": date_ranges,
        "dimensions": st.one_of(st.lists(dims, max_size=3), scalars),
        "filters": st.one_of(st.lists(filters, max_size=3), scalars),
        "order_by": st.one_of(st.lists(st.lists(st.one_of(st.sampled_from(METRICS + TIME_DIMENSIONS), scalars),
                                                max_size=3), max_size=2), scalars),
        "include": st.one_of(st.fixed_dictionaries({}, optional={
            "total_rows": st.one_of(st.booleans(), scalars), "time_labels": st.booleans(),
            "comparisons": st.one_of(st.fixed_dictionaries({"mode": st.sampled_from(
                ["previous_period", "year_over_year", "x"])}), scalars)}), scalars),
        "pagination": st.one_of(st.fixed_dictionaries({}, optional={"limit": scalars, "offset": scalars}), scalars),
        "junk": scalars,
    })


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(bodies, scalars, st.lists(scalars)))
def test_parser_and_builder_raise_only_query_error(body: Any) -> None:
    try:
        query = parse_query(body, SITE.timezone, NOW)
    except QueryError:
        return
    for built in plan(query, SITE).values():
        bind(built.sql, built.params)  # every placeholder bound, every value quotable


likely_valid = st.fixed_dictionaries(
    {"site_id": st.just("f.test"), "metrics": st.lists(st.sampled_from(METRICS), min_size=1, max_size=3, unique=True),
     "date_range": st.sampled_from(["day", "7d", "month", "12mo", "all", "realtime", ["2026-10-31", "2026-11-01"]])},
    optional={"dimensions": st.lists(dims.filter(lambda d: d != "nope"), max_size=2, unique=True),
              "filters": st.lists(st.one_of(simple, simple_mod), max_size=2)})


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=likely_valid)
def test_mostly_valid_bodies_build(body: Any) -> None:
    try:
        query = parse_query(body, SITE.timezone, NOW)
    except QueryError:
        return
    for built in plan(query, SITE).values():
        bind(built.sql, built.params)

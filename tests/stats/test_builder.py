"""The pure SQL builder, without a database: shapes, metrics, dimensions, filters, bound parameters, plans."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import pytest

from trail.sites import Goal, SiteInfo
from trail.stats.builder import build, build_count, per_visit, plan, totals_query
from trail.stats.query import VISIT_DIMENSIONS, parse_query
from trail.stats.sql_filters import page_pattern
from trail.store.sqlquote import bind

UTC = timezone.utc
NOW = datetime(2026, 3, 29, 10, 30, tzinfo=UTC)
GOALS = (Goal(1, "Signup", "Signup", None, "EUR"), Goal(2, "Pricing", None, "/pricing*", None))
SITE = SiteInfo(id=9, domain="a.test", team_id=1, timezone="Europe/Berlin", goals=GOALS)
EVIL = "x'; DROP TABLE events; --"


def q(**body: Any) -> Any:
    return parse_query({"site_id": "a.test", "metrics": ["visitors"], "date_range": "7d", **body},
                       SITE.timezone, NOW)


def sql_of(**body: Any) -> tuple[str, dict[str, Any]]:
    built = build(q(**body), SITE)
    assert bind(built.sql, built.params)  # every placeholder has a value
    return built.sql, dict(built.params)


def test_range_site_and_timezone_are_bound() -> None:
    sql, params = sql_of(dimensions=["time:day"])
    assert "site_id = {p0:UInt32} AND ts >= {p1:DateTime64(3, 'UTC')} AND ts < {p2:DateTime64(3, 'UTC')}" in sql
    assert params["p0"] == 9
    assert params["p1"] == datetime(2026, 3, 22, 23, tzinfo=UTC)
    assert params["p2"] == datetime(2026, 3, 29, 22, tzinfo=UTC)
    assert params["p3"] == "Europe/Berlin" and params["p4"] == date(2026, 3, 23)
    assert "toString(toDate(toTimeZone(v_start, {p3:String})))" in sql


def test_per_visit_shape_for_visit_dimensions_and_filters() -> None:
    query = q(metrics=["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration",
                       "views_per_visit"], dimensions=["visit:source"], filters=[["is", "visit:country", ["DE"]]])
    assert per_visit(query)
    sql = build(query, SITE).sql
    assert "JOIN" not in sql and "GROUP BY session_id HAVING v_ev > 0" in sql
    for fragment in ("uniqExact(v_visitor) AS m_visitors", "count() AS m_visits", "sum(v_pv) AS m_pageviews",
                     "sum(v_ev) AS m_events", "sum(v_is_bounce) / count() * 100 AS m_bounce_rate",
                     "avg(v_duration) AS m_visit_duration", "avg(v_pv) AS m_views_per_visit",
                     "if(empty(v_source), 'Direct / None', v_source) AS d0",
                     "argMinIf(source, ts, name != 'engagement') AS v_source",
                     "argMinIf(country, ts, name != 'engagement') AS v_country", "(v_country IN {"):
        assert fragment in sql, fragment


@pytest.mark.parametrize("dim", VISIT_DIMENSIONS)
def test_every_visit_dimension(dim: str) -> None:
    sql, _ = sql_of(dimensions=[dim])
    column = "v_" + dim.split(":")[1]
    assert f"AS {column}" in sql and "AS d0" in sql
    if dim == "visit:exit_page":
        assert "argMaxIf(pathname, ts, name != 'engagement') AS v_exit_page" in sql


@pytest.mark.parametrize("dim, fragment", [
    ("event:page", "pathname AS d0"), ("event:name", "name AS d0"), ("event:hostname", "hostname AS d0"),
    ("event:props:plan", "if(mapContains(props, {p5:String}), props[{p5:String}], '(none)') AS d0"),
    ("event:goal", "arrayJoin(arrayFilter((g, c) -> c,"),
])
def test_every_event_dimension(dim: str, fragment: str) -> None:
    query = q(dimensions=[dim], metrics=["visitors", "events"])
    assert not per_visit(query)
    sql = build(query, SITE).sql
    assert fragment in sql
    assert "GROUP BY d0 HAVING" in sql and "uniqExactIf(visitor_id, name != 'engagement') AS m_visitors" in sql
    assert "JOIN" not in sql  # no visit attribute needed
    nested = build(q(dimensions=[dim], metrics=["visitors", "events", "scroll_depth"],
                     filters=[["is", "event:page", ["/"]]]), SITE).sql
    assert "GROUP BY d0, session_id" in nested and "uniqExactIf(vid, ev > 0) AS m_visitors" in nested


@pytest.mark.parametrize("dim, fragment", [
    ("time:minute", "toUnixTimestamp(toStartOfMinute(toTimeZone(v_start, {p3:String})))"),
    ("time:hour", "toUnixTimestamp(toStartOfHour(toTimeZone(v_start, {p3:String})))"),
    ("time:day", "toString(toDate(toTimeZone(v_start, {p3:String})))"),
    ("time:week", "toString(greatest(toMonday(toTimeZone(v_start, {p3:String})), {p4:Date}))"),
    ("time:month", "toString(toStartOfMonth(toTimeZone(v_start, {p3:String})))"),
])
def test_time_dimensions(dim: str, fragment: str) -> None:
    built = build(q(dimensions=[dim], date_range="day"), SITE)
    assert fragment in built.sql
    assert not built.paginated and "LIMIT" not in built.sql  # the runner fills empty buckets, then pages


def test_time_with_event_filter_buckets_events() -> None:
    sql, _ = sql_of(dimensions=["time:hour"], filters=[["is", "event:page", ["/"]]])
    assert "toStartOfHour(toTimeZone(ts, {p3:String}))" in sql


def test_event_metrics_and_visit_metrics_with_page() -> None:
    metrics = ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit",
               "scroll_depth", "time_on_page"]
    sql, _ = sql_of(metrics=metrics, dimensions=["event:page"])
    assert "INNER JOIN (SELECT session_id" in sql and "USING session_id" in sql
    for fragment in ("countIf(ev > 0) AS m_visits", "sum(pv) AS m_pageviews", "sum(ev) AS m_events",
                     "sumIf(is_bounce, ev > 0 AND bscope) / countIf(ev > 0 AND bscope) * 100 AS m_bounce_rate",
                     "max(v_entry_page = pathname) AS bscope", "avgIf(duration, ev > 0) AS m_visit_duration",
                     "avgIf(spv, ev > 0) AS m_views_per_visit", "maxIf(scroll_depth, name = 'engagement') AS sd",
                     "AS m_scroll_depth", "sumIf(eng_ms, eng_n > 0) / 1000", "AS m_time_on_page"):
        assert fragment in sql, fragment


def test_page_filter_scopes_bounce_rate_to_entries() -> None:
    sql, params = sql_of(metrics=["bounce_rate"], filters=[["is", "event:page", ["/pricing"]]])
    assert re.search(r"sumIf\(v_is_bounce, \(v_entry_page IN \{p\d+:Array\(String\)\}\)\) / "
                     r"countIf\(\(v_entry_page IN \{p\d+:Array\(String\)\}\)\) \* 100 AS m_bounce_rate", sql)
    assert ["/pricing"] in params.values()
    sql, _ = sql_of(metrics=["bounce_rate"], dimensions=["time:day"], filters=[["is", "event:page", ["/pricing"]]])
    assert "max((v_entry_page IN {" in sql  # per (bucket, visit) rows: the join shape


def test_visits_selected_by_events_in_one_group_by() -> None:
    """No event/time dimension, visit metrics, filters each on events only or visits only: one GROUP BY
    session_id counting the visit's matching events, visit filters on the visit's attributes, no join."""
    sql, _ = sql_of(metrics=["visitors", "visits", "pageviews", "events", "visit_duration", "views_per_visit"],
                    dimensions=["visit:source"],
                    filters=[["is", "event:props:plan", ["pro"]], ["is_not", "visit:country", ["DE"]]])
    assert "JOIN" not in sql
    assert re.search(r"countIf\(name != 'engagement' AND \(if\(mapContains\(props, \{p\d+:String\}\)", sql)
    for fragment in ("HAVING v_ev > 0 AND f_ev > 0", "uniqExact(v_visitor) AS m_visitors", "count() AS m_visits",
                     "sum(f_pv) AS m_pageviews", "sum(f_ev) AS m_events", "avg(v_duration) AS m_visit_duration",
                     "avg(v_pv) AS m_views_per_visit", "WHERE (NOT (v_country IN {"):
        assert fragment in sql, fragment
    mixed = [["or", [["is", "event:page", ["/"]], ["is", "visit:country", ["DE"]]]]]
    assert "JOIN" in sql_of(metrics=["visits"], filters=mixed)[0]  # a node on both kinds: the join shape
    assert "f_ev" not in sql_of(metrics=["visits", "scroll_depth"], dimensions=["event:page"])[0]


def test_negative_visit_filters_get_no_candidate_scan() -> None:
    assert "session_id IN (SELECT session_id" in sql_of(filters=[["is", "visit:country", ["DE"]]])[0]
    for op in ("is_not", "contains_not", "matches_not"):
        assert "session_id IN" not in sql_of(filters=[[op, "visit:country", ["DE"]]])[0], op


def test_sample_bounds_the_visitor_id_in_every_scan() -> None:
    query = q(metrics=["visitors", "bounce_rate"], dimensions=["event:page"],
              filters=[["is", "visit:country", ["DE"]]])
    assert "visitor_id <" not in build(query, SITE).sql
    built = build(query, SITE, sample=0.25)
    bounds = re.findall(r"visitor_id < \{(p\d+):UInt64\}", built.sql)
    assert len(bounds) >= 3  # the events, the visits subquery and the candidate visits all read the same sample
    assert {built.params[b] for b in bounds} == {2**62}
    for role in plan(q(metrics=["percentage"], dimensions=["visit:source"], include={"total_rows": True}),
                     SITE, sample=0.5).values():
        assert "visitor_id < {" in role.sql


@pytest.mark.parametrize("op, fragment", [
    ("is", "(pathname IN {p5:Array(String)})"),
    ("is_not", "(NOT (pathname IN {p5:Array(String)}))"),
    ("contains", "(positionUTF8(pathname, {p5:String}) > 0 OR positionUTF8(pathname, {p6:String}) > 0)"),
    ("contains_not", "(NOT (positionUTF8(pathname, {p5:String}) > 0 OR positionUTF8(pathname, {p6:String}) > 0))"),
    ("matches", "(match(pathname, {p5:String}) OR match(pathname, {p6:String}))"),
    ("matches_not", "(NOT (match(pathname, {p5:String}) OR match(pathname, {p6:String})))"),
])
def test_every_filter_operator(op: str, fragment: str) -> None:
    sql, params = sql_of(filters=[[op, "event:page", ["/a", EVIL]]])
    assert fragment in sql
    assert EVIL not in sql and "DROP" not in sql
    assert EVIL in params.values() or ["/a", EVIL] in params.values()


def test_case_insensitive_modifiers() -> None:
    sql, params = sql_of(filters=[["is", "visit:city", ["BERLIN"], {"case_sensitive": False}],
                                  ["contains", "visit:os", ["win"], {"case_sensitive": False}]])
    assert "lowerUTF8(v_city) IN" in sql and ["berlin"] in params.values()
    assert "positionCaseInsensitiveUTF8(if(empty(v_os), '(not set)', v_os)," in sql


def test_logical_nesting() -> None:
    sql, _ = sql_of(filters=[["or", [["is", "visit:country", ["DE"]],
                                     ["and", [["is", "event:name", ["Signup"]],
                                              ["not", ["contains", "event:hostname", ["staging"]]]]]]]])
    assert re.search(r"\(\(v_country IN \{p\d+:Array\(String\)\}\) OR \(\(name IN \{p\d+:Array\(String\)\}\) AND "
                     r"\(NOT \(positionUTF8\(hostname, \{p\d+:String\}\) > 0\)\)\)\)", sql), sql
    assert "INNER JOIN" in sql  # a visit attribute inside an event-level filter tree


def test_goal_filters_and_revenue() -> None:
    sql, params = sql_of(metrics=["visitors", "conversion_rate", "total_revenue", "average_revenue"],
                         filters=[["is", "event:goal", ["Signup"]]])
    assert "(name = {p" in sql and "Signup" in params.values()
    assert "sumIf(revenue_amount, revenue_amount IS NOT NULL AND ((name = {" in sql
    assert "AS m_total_revenue" in sql and "AS m_average_revenue" in sql
    sql, params = sql_of(filters=[["contains", "event:goal", ["Pric"]]])
    assert "match(pathname, {" in sql and page_pattern("/pricing*") in params.values()
    sql, _ = sql_of(filters=[["is", "event:goal", ["No such goal"]]])
    assert " AND 0" in sql
    sql, _ = sql_of(filters=[["is_not", "event:goal", ["Signup"]]])
    assert "(NOT ((name = {" in sql


def test_page_patterns() -> None:
    assert page_pattern("/blog*") == "^/blog.*$"
    assert page_pattern("/a/**/b") == "^/a/.*/b$"
    assert page_pattern("/x.y") == r"^/x\.y$"


def test_order_and_pagination() -> None:
    sql, params = sql_of(metrics=["visitors", "bounce_rate"], dimensions=["visit:source"],
                         order_by=[["bounce_rate", "asc"]], pagination={"limit": 5, "offset": 10})
    assert sql.endswith("ORDER BY m_bounce_rate ASC, d0 ASC LIMIT {p5:UInt64} OFFSET {p6:UInt64}")
    assert params["p5"] == 5 and params["p6"] == 10
    sql, _ = sql_of(metrics=["percentage"], dimensions=["visit:os"])
    assert "ORDER BY m_visitors DESC" in sql  # derived metrics sort as visitors


def test_plan_roles() -> None:
    query = q(metrics=["visitors", "percentage", "conversion_rate"], dimensions=["visit:source"],
              filters=[["is", "event:goal", ["Signup"]]], include={"total_rows": True})
    roles = plan(query, SITE)
    assert set(roles) == {"main", "total_rows", "total_visitors", "goal_total_visitors"}
    assert roles["total_rows"].sql.startswith("SELECT count() AS n FROM (")
    assert "name = {" in roles["total_visitors"].sql
    assert "name = {" not in roles["goal_total_visitors"].sql  # conversion rate divides by all visitors
    assert totals_query(query, without_goals=True).dimensions == ()
    assert "LIMIT" not in build_count(query, SITE).sql


def test_no_goals_configured() -> None:
    site = SiteInfo(id=1, domain="b.test", team_id=1, timezone="UTC")
    built = build(parse_query({"site_id": "b.test", "metrics": ["visitors"], "date_range": "day",
                               "dimensions": ["event:goal"]}, "UTC", NOW), site)
    assert "'' AS d0" in built.sql and " AND 0" in built.sql


def test_filtered_queries_group_only_candidate_visits() -> None:
    """A top-level simple filter narrows the scanned visits first (session_id IN visits with a matching event);
    filters nested in and/or/not keep the whole range (no necessary event-level condition is derived from them)."""
    sql, _ = sql_of(dimensions=["visit:source"], filters=[["is", "visit:country", ["DE"]]])
    assert "session_id IN (SELECT session_id FROM events WHERE" in sql and "HAVING max((country IN" in sql
    sql, _ = sql_of(dimensions=["visit:source"], filters=[["not", ["is", "visit:country", ["DE"]]]])
    assert "session_id IN" not in sql
    sql, _ = sql_of(dimensions=["visit:source"])
    assert "session_id IN" not in sql


def test_visit_level_queries_share_one_grouping_sets_query() -> None:
    from trail.stats.visit_sets import batch_key, batchable, build_sets

    flt = [["is", "event:props:plan", ["pro"]]]
    top = q(metrics=["visitors", "bounce_rate"], filters=flt)
    sources = q(metrics=["visitors"], dimensions=["visit:source"], filters=flt)
    countries = q(metrics=["visits"], dimensions=["visit:country"], filters=flt)
    assert all(batchable(x) for x in (top, sources, countries))
    assert not batchable(q(metrics=["visitors"], dimensions=["event:page"]))
    assert not batchable(q(metrics=["visitors"], dimensions=["visit:source", "visit:country"]))
    assert batch_key(top, 0.5) == batch_key(sources, 0.5) != batch_key(sources, 1.0)
    assert batch_key(sources, 1.0) != batch_key(q(metrics=["visitors"], dimensions=["visit:source"]), 1.0)
    built = build_sets([top, sources, countries], SITE, sample=0.5)
    assert bind(built.sql, built.params)
    assert built.sql.startswith("SELECT grouping(d0, d1) AS g, ")
    assert built.sql.endswith("GROUP BY GROUPING SETS ((d0), (d1), ())")
    assert built.sql.count("GROUP BY session_id") == 1 and "JOIN" not in built.sql
    assert built.dimensions == ("visit:source", "visit:country")
    assert built.metrics == ("visitors", "bounce_rate", "visits")
    assert "GROUPING SETS ((d0))" in build_sets([sources], SITE).sql
    assert "GROUPING" not in build_sets([top], SITE).sql

"""The planner's choice of per-visit source (pure, no database) and the session_parts SQL it builds."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pytest

from trail.sites import Goal, SiteInfo
from trail.stats import sources
from trail.stats.builder import build, plan
from trail.stats.query import VISIT_DIMENSIONS, parse_query
from trail.stats.sql_dimensions import VISIT_COLUMNS
from trail.store.ch_migrations import MIGRATIONS_DIR
from trail.store.sqlquote import bind

UTC = timezone.utc
NOW = datetime(2026, 3, 29, 10, 30, 12, tzinfo=UTC)
GOALS = (Goal(1, "Signup", "Signup", None, "EUR"),)


@pytest.fixture(autouse=True)
def parts_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "PARTS_ENABLED", True)


def test_disabled_planner_reads_raw_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "PARTS_ENABLED", False)
    assert sources.session_source(q(date_range="30d").date_range) == sources.EVENTS


def site(tz: str) -> SiteInfo:
    return SiteInfo(id=9, domain="a.test", team_id=1, timezone=tz, goals=GOALS)


def q(tz: str = "Europe/Berlin", **body: Any) -> Any:
    return parse_query({"site_id": "a.test", "metrics": ["visitors"], "date_range": "7d", **body}, tz, NOW)


@pytest.mark.parametrize("tz, spec, want", [
    ("Europe/Berlin", "7d", sources.SESSION_PARTS),
    ("Europe/Berlin", "30d", sources.SESSION_PARTS),
    ("Europe/Berlin", "day", sources.SESSION_PARTS),
    ("Europe/Berlin", "month", sources.SESSION_PARTS),
    ("Europe/Berlin", ["2026-03-28", "2026-03-30"], sources.SESSION_PARTS),  # across the DST change
    ("UTC", "12mo", sources.SESSION_PARTS),
    ("America/New_York", "30d", sources.SESSION_PARTS),
    ("Asia/Kolkata", "30d", sources.EVENTS),  # +05:30: local midnight is not a whole UTC hour
    ("Asia/Kathmandu", "7d", sources.EVENTS),  # +05:45
    ("Europe/Berlin", "realtime", sources.EVENTS),
])
def test_planner_picks_session_parts_only_for_whole_hour_ranges(tz: str, spec: Any, want: str) -> None:
    assert sources.session_source(q(tz, date_range=spec).date_range) == want


def test_all_range_is_planned_after_it_is_resolved() -> None:
    rng = q(date_range="all").date_range
    assert rng.unresolved_all and sources.session_source(rng) == sources.EVENTS


def test_per_visit_sql_reads_session_parts_not_events() -> None:
    query = q(metrics=["visitors", "visits", "bounce_rate", "visit_duration", "views_per_visit"],
              dimensions=["visit:source"], filters=[["is", "visit:country", ["DE"]]])
    built = build(query, site("Europe/Berlin"))
    assert bind(built.sql, built.params)
    assert "FROM events" not in built.sql
    assert "FROM session_parts WHERE site_id = {" in built.sql and "GROUP BY session_id HAVING v_ev > 0" in built.sql
    assert "argMinIfMerge(source) AS v_source" in built.sql and "argMinIfMerge(country) AS v_country" in built.sql
    assert "toUInt8(sum(interactions) <= 1) AS v_is_bounce" in built.sql


def test_event_queries_join_visits_from_session_parts() -> None:
    built = build(q(metrics=["visitors", "bounce_rate"], dimensions=["event:page"],
                    filters=[["is", "visit:device", ["Mobile"]]]), site("Europe/Berlin"))
    assert "FROM events INNER JOIN (SELECT session_id" in built.sql and "FROM session_parts" in built.sql
    assert "argMinIfMerge(entry_page) AS v_entry_page" in built.sql


def test_forced_source_reaches_every_role() -> None:
    query = q(metrics=["visitors", "percentage"], dimensions=["visit:country"], include={"total_rows": True})
    for role, built in plan(query, site("Europe/Berlin"), source=sources.EVENTS).items():
        assert "session_parts" not in built.sql, role
    for role, built in plan(query, site("Europe/Berlin")).items():
        assert "session_parts" in built.sql, role


def test_odd_offset_zone_reads_raw_events() -> None:
    built = build(q("Asia/Kolkata", dimensions=["visit:source"]), site("Asia/Kolkata"))
    assert "session_parts" not in built.sql and "argMinIf(source, ts, name != 'engagement') AS v_source" in built.sql


@pytest.mark.parametrize("dim", VISIT_DIMENSIONS)
def test_every_visit_dimension_has_a_parts_column(dim: str) -> None:
    expr = sources.parts_aggregate(dim)
    assert expr.endswith(f"AS v_{dim.split(':')[1]}")


def test_migration_has_every_visit_attribute_in_the_view_and_the_backfill() -> None:
    """Each visit dimension is a state column of 0002, computed from its events column as the raw SQL does."""
    text = (MIGRATIONS_DIR / "proposed" / "0002_session_parts.sql").read_text()
    for dim, (column, _) in VISIT_COLUMNS.items():
        name = dim.split(":")[1]
        fn = "argMaxIf" if dim == "visit:exit_page" else "argMinIf"
        assert re.search(rf"\n    {name} +AggregateFunction\({fn}, String, DateTime64\(3, 'UTC'\), UInt8\)", text)
        state = rf"{fn}State\((toString\()?{column}\)?, ts, name != 'engagement'\) AS {name}\b"
        assert len(re.findall(state, text)) == 2, dim  # the view and the backfill

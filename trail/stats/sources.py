"""Where per-visit rows come from: raw `events`, or the `session_parts` visit fragments (a planning decision).

`session_parts` (migration 0002) holds one row per (site, UTC hour, session) with the visit's decomposable
aggregates. Merging the fragments of a range's hours per session_id gives exactly the rows the raw-events sessions
subquery gives (visits clipped to the range, attributes of their first pageview/custom event), so the builder uses
it whenever the range's UTC bounds are whole hours (every whole-hour timezone's days, weeks, months). Ranges that
are not (realtime, 30/45-minute offset zones) read raw events. No other condition: the swap is exact by construction.

NOT ENABLED: at 10M events the A/B did not show a win (see docs/BENCHMARKS.md) while the view doubles INSERT cost,
so the migration waits in sql/clickhouse/proposed/ and PARTS_ENABLED is False until it is moved to 0002.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from trail.stats import sql_metrics as M
from trail.stats.dates import DateRange
from trail.stats.sql_dimensions import visit_aggregate, visit_column
from trail.stats.sql_filters import Params

EVENTS = "events"
SESSION_PARTS = "session_parts"
SOURCES = (EVENTS, SESSION_PARTS)
TS_TYPE = "DateTime64(3, 'UTC')"
PARTS_ENABLED = False  # True once sql/clickhouse/proposed/0002_session_parts.sql is an applied migration

PARTS_COLUMNS = (
    "session_id",
    "any(visitor_id) AS v_visitor",
    "min(start) AS v_start",
    "sum(pageviews) AS v_pv",
    "sum(events) AS v_ev",
    "toUInt8(sum(interactions) <= 1) AS v_is_bounce",
    "intDiv(toUnixTimestamp64Milli(max(end)) - toUnixTimestamp64Milli(min(start)), 1000) AS v_duration",
)


def _whole_hour(instant: datetime) -> bool:
    return instant.minute == 0 and instant.second == 0 and instant.microsecond == 0


def session_source(rng: DateRange) -> str:
    """The fastest source that answers per-visit rows of `rng` exactly: session_parts for hour-aligned ranges."""
    if not PARTS_ENABLED or rng.realtime or rng.unresolved_all:
        return EVENTS
    if _whole_hour(rng.start) and _whole_hour(rng.end):
        return SESSION_PARTS
    return EVENTS


def parts_aggregate(dimension: str) -> str:
    """A visit attribute merged from the fragments' argMinIf/argMaxIf states (one column per attribute)."""
    column = visit_column(dimension)
    fn = "argMaxIfMerge" if dimension == "visit:exit_page" else "argMinIfMerge"
    return f"{fn}({column[2:]}) AS {column}"


def sessions_sql(source: str, rng: DateRange, site_id: int, params: Params, events_where: str,
                 visit_dims: Sequence[str]) -> str:
    """One row per visit in the range (session_id, v_visitor, v_start, v_pv, v_ev, v_is_bounce, v_duration, v_*)."""
    if source == SESSION_PARTS:
        where = (f"site_id = {params.add(int(site_id), 'UInt32')} AND hour >= {params.add(rng.start, TS_TYPE)} "
                 f"AND hour < {params.add(rng.end, TS_TYPE)}")
        columns = list(PARTS_COLUMNS) + [parts_aggregate(d) for d in visit_dims]
        return f"SELECT {', '.join(columns)} FROM session_parts WHERE {where} GROUP BY session_id HAVING v_ev > 0"
    columns = list(M.SESSION_COLUMNS) + [visit_aggregate(d) for d in visit_dims]
    return f"SELECT {', '.join(columns)} FROM events WHERE {events_where} GROUP BY session_id HAVING v_ev > 0"

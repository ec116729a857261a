"""What the rollups are keyed by: the rolled-up dimensions, the filter x breakdown pairs, and each one's values as
SQL over a visit row (the sessions subquery: visit attributes, the visit's pages/event names) or an event row
(joined to its visit's attributes when a pair has a visit side). trail.stats.rollups builds the rollup SQL on them.
"""

from __future__ import annotations

from typing import Sequence

from trail.stats.query import VISIT_DIMENSIONS
from trail.stats.sql_dimensions import visit_aggregate, visit_expression

NONE = ""  # the whole site: top stats and time series
EVENT_DIMS = ("event:page", "event:name")
VISIT_DIMS = tuple(d for d in VISIT_DIMENSIONS if d not in ("visit:browser_version", "visit:os_version"))
DIMENSIONS = (NONE, *EVENT_DIMS, *VISIT_DIMS)
# Filter x breakdown pairs: dim "F>D", value "<F value>\x1f<D value>" (a filtered dashboard's widgets). Every
# rolled-up dimension can be the filter: clicking a row of any dashboard list (docs/ARCHITECTURE.md, "Stats storage").
PAIR_FILTERS = tuple(d for d in DIMENSIONS if d != NONE)
SEP = "\x1f"
# ... and the breakdowns they are paired with: the dashboard's lists (not regions, cities, referrers, screen sizes,
# utm term/content: those tabs stay raw under a filter).
PAIR_BREAKDOWNS = ("event:page", "event:name", "visit:entry_page", "visit:exit_page", "visit:source", "visit:country",
                   "visit:device", "visit:browser", "visit:os", "visit:utm_source", "visit:utm_medium",
                   "visit:utm_campaign")
PAIRS = tuple(f"{f}>{d}" for f in PAIR_FILTERS for d in PAIR_BREAKDOWNS if d != f)
JOB_DIMENSIONS = DIMENSIONS + PAIRS


def sides(dim: str) -> tuple[str | None, str]:
    """(filter side, breakdown side) of a pair dimension "F>D"; (None, dim) for a plain one."""
    if ">" in dim:
        f, d = dim.split(">", 1)
        return f, d
    return None, dim


def has_event_side(dim: str) -> bool:
    return any(side in EVENT_DIMS for side in sides(dim))


def page_rows(dim: str) -> bool:
    """Whether the rows of `dim` are pages with scroll depth and time on page (event:page, a pair broken down by
    page; not under an event-name filter: engagement events are no custom event)."""
    return sides(dim)[1] == "event:page" and sides(dim)[0] != "event:name"


# --- a dimension's (dim, value, in bounce scope) tuples over a visit row and (dim, value) over an event row ---

def _visit_side(side: str) -> tuple[str, bool]:
    """(SQL over a visit row, is it an array): the value(s) of one side of a dimension for a visit."""
    if side == NONE:
        return "''", False
    if side == "event:page":
        return "v_pages", True
    if side == "event:name":
        return "v_names", True
    return f"toString({visit_expression(side)})", False


def _scope(side: str, x: str) -> str:
    """Whether a visit counts for bounce_rate next to a page: it entered on it (the raw builder's bscope)."""
    return f"toUInt8({x} = v_entry_page)" if side == "event:page" else ""


def visit_tuples(dim: str) -> str:
    """Array(Tuple(dim, value, scope)) of `dim` over a visit row."""
    f, d = sides(dim)
    if f is None:
        expr, many = _visit_side(d)
        return f"arrayMap(x -> ('{dim}', x, {_scope(d, 'x') or 1}), {expr})" if many else f"[('{dim}', {expr}, 1)]"
    ef, f_many = _visit_side(f)
    ed, d_many = _visit_side(d)
    if f_many and d_many:
        scope = _scope(f, "x.1") or _scope(d, "x.2") or "1"
        return f"arrayMap(x -> ('{dim}', concat(x.1, char(31), x.2), {scope}), {_PAIR_ARRAY[(f, d)]})"
    if f_many:
        return f"arrayMap(x -> ('{dim}', concat(x, char(31), {ed}), {_scope(f, 'x') or 1}), {ef})"
    if d_many:
        return f"arrayMap(x -> ('{dim}', concat({ef}, char(31), x), {_scope(d, 'x') or 1}), {ed})"
    return f"[('{dim}', concat({ef}, char(31), {ed}), 1)]"


_PAIR_ARRAY = {("event:page", "event:name"): "v_page_names", ("event:name", "event:page"): "v_name_pages"}
_ARRAYS = {
    "v_pages": "groupUniqArrayIf(pathname, name != 'engagement') AS v_pages",
    "v_names": "groupUniqArrayIf(toString(name), name != 'engagement') AS v_names",
    "v_page_names": "groupUniqArrayIf((pathname, toString(name)), name != 'engagement') AS v_page_names",
    "v_name_pages": "groupUniqArrayIf((toString(name), pathname), name != 'engagement') AS v_name_pages",
}


def visit_columns(dims: Sequence[str]) -> list[str]:
    """The visit-row aggregates the tuples of `dims` read."""
    visit_dims: list[str] = []
    arrays: list[str] = []
    for dim in dims:
        f, d = sides(dim)
        for side in (f, d):
            if side is not None and side.startswith("visit:"):
                visit_dims.append(side)
        if "event:page" in (f, d):
            visit_dims.append("visit:entry_page")
        if f in EVENT_DIMS and d in EVENT_DIMS:
            arrays.append(_PAIR_ARRAY[(f, d)])
        else:
            arrays += [{"event:page": "v_pages", "event:name": "v_names"}[s] for s in (f, d) if s in EVENT_DIMS]
    return [visit_aggregate(v) for v in dict.fromkeys(visit_dims)] + [_ARRAYS[a] for a in dict.fromkeys(arrays)]


def _event_side(side: str) -> str:
    if side == "event:page":
        return "pathname"
    if side == "event:name":
        return "toString(name)"
    return f"toString({visit_expression(side)})"  # a visit side: over the joined visit attributes


def event_tuple(dim: str) -> str:
    f, d = sides(dim)
    if f is None:
        return f"('{dim}', {_event_side(d)})"
    return f"('{dim}', concat({_event_side(f)}, char(31), {_event_side(d)}))"

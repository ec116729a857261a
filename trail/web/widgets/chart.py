"""The time-series chart of the chosen metric: a server-side SVG area + line (and a dashed comparison line)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from trail.web.widgets.base import Widget, WidgetContext, ask
from trail.web.widgets.fmt import fmt_value
from trail.web.widgets.top_stats import LABELS

W, H, PAD_TOP, PAD_BOTTOM = 1000.0, 240.0, 12.0, 4.0
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def bucket_text(label: str, interval: str) -> str:
    """"2026-03-01" -> "Mar 1"; hour/minute ISO datetimes -> "14:00"; months -> "Mar 2026"."""
    try:
        if interval in ("time:hour", "time:minute"):
            return datetime.fromisoformat(label).strftime("%H:%M")
        day = datetime.fromisoformat(label[:10])
    except ValueError:
        return label
    if interval == "time:month":
        return f"{MONTHS[day.month - 1]} {day.year}"
    return f"{MONTHS[day.month - 1]} {day.day}"


def _points(values: list[float], top: float) -> list[tuple[float, float]]:
    n = len(values)
    step = W / max(n - 1, 1)
    inner = H - PAD_TOP - PAD_BOTTOM
    return [(round(i * step if n > 1 else W / 2, 1), round(PAD_TOP + inner * (1 - v / top), 1))
            for i, v in enumerate(values)]


def line_path(points: list[tuple[float, float]]) -> str:
    return "M" + "L".join(f"{x},{y}" for x, y in points) if points else ""


def area_path(points: list[tuple[float, float]]) -> str:
    if not points:
        return ""
    return line_path(points) + f"L{points[-1][0]},{H}L{points[0][0]},{H}Z"


def is_future(label: str, now: datetime, tz: str) -> bool:
    """True when a bucket starts after `now` (today's later hours): such buckets are not drawn as zeros."""
    try:
        start = datetime.fromisoformat(label)
    except ValueError:
        return False
    if start.tzinfo is None:
        return start.date() > now.astimezone(ZoneInfo(tz)).date()
    return start > now


class ChartWidget(Widget):
    name = "chart"
    title = "Visitors over time"
    template = "widgets/_chart.html"

    async def data(self, ctx: WidgetContext) -> dict[str, Any]:
        metric = ctx.state.metric
        result = await ask(ctx, [metric], ["time"], comparisons=True)
        interval = result["query"]["dimensions"][0]
        rows = result["results"]
        now = ctx.now or datetime.now(timezone.utc)
        drawn = [r for r in rows if not is_future(r["dimensions"][0], now, ctx.site.timezone)] or rows[:1]
        values = [float(r["metrics"][0] or 0) for r in rows]
        previous = [float((r.get("comparison") or {}).get("metrics", [0])[0] or 0) for r in rows] \
            if ctx.state.compare else []
        top = max(values + previous + [0.0])
        top = top * 1.1 if top else 1.0
        pts = _points(values, top)
        buckets = []
        for (x, y), r in zip(pts, rows):
            label = bucket_text(r["dimensions"][0], interval)
            text = fmt_value(metric, r["metrics"][0])
            buckets.append({"x": x, "y": y, "label": label, "raw": r["metrics"][0], "text": text,
                            "title": f"{label}: {text} {LABELS[metric].lower()}"})
        ticks = [buckets[i] for i in sorted({round(k * (len(buckets) - 1) / 5) for k in range(6)})] if buckets else []
        past = pts[:len(drawn)]  # the line stops at the current bucket; the axis still spans the whole range
        return {
            "metric": metric, "metric_label": LABELS[metric], "interval": interval, "w": W, "h": H,
            "line": line_path(past), "area": area_path(past), "buckets": buckets, "ticks": ticks,
            "previous_line": line_path(_points(previous, top)) if previous else "",
            "top_text": fmt_value(metric, top / 1.1 if top != 1.0 else 0),
            "total_points": len(buckets),
        }

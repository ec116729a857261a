"""How the dashboard writes metric values and changes (the raw values stay in data-value attributes)."""

from __future__ import annotations

from typing import Any


def fmt_duration(seconds: Any) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def fmt_value(metric: str, value: Any) -> str:
    """A metric value as shown: thousands separators, %, durations, 2 decimals; an en dash when undefined."""
    if value is None:
        return "–"
    if metric in ("bounce_rate", "scroll_depth"):
        return f"{int(value)}%"
    if metric in ("conversion_rate", "percentage"):
        return f"{float(value):g}%"
    if metric in ("visit_duration", "time_on_page"):
        return fmt_duration(value)
    if metric == "views_per_visit":
        return f"{float(value):.2f}"
    if metric in ("total_revenue", "average_revenue"):
        return f"{float(value):,.2f}"
    return f"{int(value):,}"


def fmt_change(metric: str, change: Any) -> dict[str, Any] | None:
    """A change vs the comparison period: text, direction, and whether it is good (bounce rate: down is good)."""
    if change is None:
        return None
    unit = " pp" if metric in ("bounce_rate", "conversion_rate") else "%"
    direction = "up" if change > 0 else "down" if change < 0 else "flat"
    good = direction == "flat" or ((direction == "up") != (metric == "bounce_rate"))
    arrow = {"up": "▲", "down": "▼", "flat": "●"}[direction]
    return {"raw": change, "text": f"{arrow} {abs(change):g}{unit}", "direction": direction, "good": good,
            "label": f"{'up' if change > 0 else 'down' if change < 0 else 'no change'} {abs(change):g}{unit}"}

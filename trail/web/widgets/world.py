"""World map shapes and country names, read once from vendored data (see scripts/build_world_map.py)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).resolve().parents[3] / "static" / "vendor"


@functools.lru_cache(maxsize=1)
def world_map() -> dict[str, Any]:
    """{"width", "height", "paths": {alpha-2: SVG path data}} (Equal Earth, Natural Earth 1:110m)."""
    return json.loads((VENDOR / "world-atlas" / "world-110m-paths.json").read_text())  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    raw = json.loads((VENDOR / "i18n-iso-countries" / "en.json").read_text())["countries"]
    return {code: (name[0] if isinstance(name, list) else name) for code, name in raw.items()}


def country_name(code: str) -> str:
    """"DE" -> "Germany"; an empty code is an unknown location."""
    if not code:
        return "(unknown)"
    return _names().get(code.upper(), code)

"""The registry of live renderers: channel kind -> functions turning a Snapshot into one websocket frame.

Kinds: "json" (GET /api/v2/live, built in), "wall" (trail/web/wall.py) and "dashboard" (the dashboard's live
widgets: register them with `register_renderer("dashboard", fn, name="visitors")`). All renderers of a kind
are joined into one frame, rendered once per site per tick and sent to every client of that kind.
Renderers run outside any request context: use `render_partial` (a plain Jinja environment over templates/),
and give each fragment's root element `id="widget-<name>"` so htmx's ws extension swaps it out-of-band.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import jinja2
import orjson

from trail.live.snapshot import Snapshot

RenderFn = Callable[[Snapshot], str]
TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"

_registry: dict[str, dict[str, RenderFn]] = {}
_env: jinja2.Environment | None = None


def register_renderer(kind: str, render: RenderFn, name: str | None = None) -> None:
    """Add (or replace, by name) a renderer of channel `kind`; its output is part of every frame of that kind."""
    _registry.setdefault(kind, {})[name or getattr(render, "__name__", repr(render))] = render


def unregister_renderer(kind: str, name: str) -> None:
    _registry.get(kind, {}).pop(name, None)


def kinds() -> list[str]:
    return ["json", *_registry]


def render_frame(kind: str, snapshot: Snapshot) -> str:
    """The frame of `kind` for `snapshot`: JSON text for "json", else the registered fragments joined."""
    if kind == "json":
        return orjson.dumps(snapshot.to_json()).decode()
    return "".join(render(snapshot) for render in _registry.get(kind, {}).values())


def template_env() -> jinja2.Environment:
    """A synchronous Jinja environment over templates/ (autoescaped), shared by all live renderers."""
    global _env
    if _env is None:
        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                  autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True,
                                  lstrip_blocks=True, auto_reload=False)
    return _env


def render_partial(template: str, **context: Any) -> str:
    """Render templates/<template> with context (no request globals such as url_for)."""
    return template_env().get_template(template).render(**context)

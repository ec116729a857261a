"""The running app's services, built once by create_app and shared by every route and task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trail.config import Settings
    from trail.live.broker import Broker
    from trail.store.events import EventStore
    from trail.store.meta.db import MetaStore


@dataclass
class Services:
    """Everything a request handler may need; `current_services()` returns the app's instance."""

    settings: "Settings"
    meta: "MetaStore"
    broker: "Broker"
    events: "EventStore | None"  # None on a `--role web` instance with a server-less setup, never in tests
    role: str = "all"
    extras: dict[str, Any] = field(default_factory=dict)  # subsystems register themselves here (ingest, live, ...)


def current_services() -> Services:
    """The Services of the app handling the current request or websocket."""
    from quart import current_app

    return current_app.extensions["trail"]  # type: ignore[no-any-return]

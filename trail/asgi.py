"""ASGI entry point for multi-worker servers: `trail.asgi:app` (settings from the environment)."""

from __future__ import annotations

import os

from trail.app import asgi_app
from trail.config import Settings
from trail.gctune import tune_for_serving
from trail.logs import setup_logging

settings = Settings.load()
setup_logging(settings.log_level)
app = asgi_app(settings, role=os.environ.get("_TRAIL_ROLE", "all"))
tune_for_serving()

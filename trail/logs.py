"""Logging setup: one readable line per record, level from TRAIL_LOG_LEVEL."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True)
    for noisy in ("asyncio", "aiosqlite", "hypercorn.access", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

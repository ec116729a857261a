"""The live tests' server environment; the processes themselves come from tests/serverproc.py."""

from __future__ import annotations

from pathlib import Path

from tests.serverproc import clean_env

SECRET = "live-test-secret-" + "k" * 32


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment with the live tests' secret key and quiet logs."""
    return clean_env(data_dir, **{"TRAIL_SECRET_KEY": SECRET, "TRAIL_LOG_LEVEL": "WARNING", **extra})

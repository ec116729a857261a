"""Fixtures of the event-store tests."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest

from trail.store.chdb_store import ChdbEventStore


@pytest.fixture
async def store(chdb_dir: Path, unique_name: str) -> AsyncIterator[ChdbEventStore]:
    """A chDB store in the run's data dir, on a database of its own (dropped afterwards)."""
    s = ChdbEventStore(f"chdb://{chdb_dir}?database={unique_name}")
    await s.start()
    yield s
    await s.execute(f"DROP DATABASE IF EXISTS {unique_name}")
    await s.close()

"""The collector settings a serving process runs with (trail/gctune.py)."""

from __future__ import annotations

import atexit
import gc
from pathlib import Path
from typing import Any, Iterator

import pytest

from trail.config import Settings
from trail.gctune import YOUNG_THRESHOLD, tune_for_serving


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_tune_for_serving_freezes_start_up_and_raises_the_young_threshold(restore_gc: None,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at_exit: list[Any] = []
    monkeypatch.setattr(atexit, "register", at_exit.append)
    older = gc.get_threshold()[1:]
    gc.unfreeze()
    kept = [[i] for i in range(1000)]  # containers that exist at start-up
    tune_for_serving()
    assert at_exit == [gc.unfreeze]  # thawed at exit: the shutdown's teardown order stays CPython's own
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *older)
    assert gc.get_freeze_count() >= len(kept)  # frozen: full collections no longer walk them
    cycle: list[Any] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1  # the collector still runs: reference cycles are still freed


def test_serve_tunes_the_collector_once_the_app_is_built(restore_gc: None, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    import uvicorn

    from trail import server

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        seen.update(threshold=gc.get_threshold()[0], frozen=gc.get_freeze_count(), app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("_TRAIL_WRITER_CONSUMER", "gctune-test")  # serve() sets it when unset; keep it out of os.environ
    gc.unfreeze()
    settings = Settings.load({"TRAIL_DATA_DIR": str(tmp_path), "TRAIL_REDIS_URL": "redis://127.0.0.1:6379/0",
                              "TRAIL_SECRET_KEY": "k" * 40}, env_file=None)
    assert server.serve(settings, port=1, role="web", server="uvicorn") == 0  # "web": no migrations to run
    assert seen["threshold"] == YOUNG_THRESHOLD and seen["frozen"] > 0 and seen["app"] is not None

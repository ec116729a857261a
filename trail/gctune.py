"""Garbage-collector settings for a serving process (`serve`, and each worker of `trail.asgi:app`).

CPython collects its youngest generation after 700 net allocations of container objects. A worker answering
events has ~64 requests in flight, each holding a few dozen containers (coroutine frames, futures, dicts) for a few
milliseconds, so at that threshold nearly every young collection promotes the in-flight objects to older
generations, where they die, and every few hundred events a full collection walks the whole heap (~150k objects
of imported modules, templates and caches). Measured on a `--role web` worker (bench/ingest.py, uvicorn, redis
mode): 9-10 µs of CPU per event spent in or around the collector, ~12 % of the worker.

Two changes remove nearly all of it, without turning the collector off (reference cycles are still collected):
- `gc.freeze()` once the app is built: what exists at start-up lives for the life of the process, and full
  collections stop walking it;
- a young-generation threshold of 20,000: in-flight requests are a small share of what a young collection sees,
  so few survive it, and old generations fill slowly. A young collection then runs a few times a minute under
  load (the garbage a request leaves is freed by reference counting; only cycles wait for the collector), and holds
  at most ~20,000 objects' worth of cyclic garbage, a few megabytes.

The freeze is undone at exit (`atexit`), so the interpreter's shutdown tears objects down in its usual order:
with start-up objects still frozen, one clean stop in three of an embedded server segfaulted after "Finished
server process" (tests/e2e/test_sigkill.py), chDB's objects outliving what they depend on.
"""

from __future__ import annotations

import atexit
import gc

YOUNG_THRESHOLD = 20_000


def tune_for_serving() -> None:
    """Collect what start-up left behind, freeze the survivors, raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    atexit.register(gc.unfreeze)  # runs before the interpreter's own teardown (and before earlier atexit hooks)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)

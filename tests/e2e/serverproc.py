"""End-to-end helpers: the CLI that must succeed, and chDB read once the server has stopped.

The server process itself, free ports and the clean environment come from tests/serverproc.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.serverproc import ROOT, run_trail


def trail(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run a CLI command; return its stdout (raise with its stderr when it fails)."""
    result = run_trail(*args, env=env, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"trail {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def chdb_query(env: dict[str, str], sql: str) -> list[list[Any]]:
    """Run a query on the embedded chDB store in a fresh process (only once no server holds the data dir)."""
    code = ("import asyncio, json, sys\n"
            "from trail.config import Settings\n"
            "from trail.store.events import open_event_store\n"
            "async def main():\n"
            "    store = open_event_store(Settings.load().clickhouse_url)\n"
            "    await store.start()\n"
            "    _, rows = await store.query(sys.argv[1])\n"
            "    await store.close()\n"
            "    print(json.dumps([list(r) for r in rows], default=str))\n"
            "asyncio.run(main())\n")
    result = subprocess.run([sys.executable, "-c", code, sql], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"chDB query failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

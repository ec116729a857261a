"""Test helper: a throwaway ClickHouse server (scripts/clickhouse-test-server.sh) that tests can halt and resume."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "clickhouse-test-server.sh"


class ClickHouseServerError(RuntimeError):
    """The throwaway server could not be started or controlled; the message carries the script's output."""


class ThrowawayClickHouse:
    """One server instance, its own data dir, ports and state file; `halt`/`resume` keep the port and data."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.url = ""
        self.port = 0

    def _run(self, command: str, timeout: float = 120) -> str:
        env = dict(os.environ, CLICKHOUSE_STATE_FILE=str(self.state_file))
        try:
            proc = subprocess.run(["bash", str(SCRIPT), command], env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ClickHouseServerError(f"{SCRIPT.name} {command} timed out after {timeout}s: {exc.stderr}") from None
        if proc.returncode != 0:
            raise ClickHouseServerError(f"{SCRIPT.name} {command} failed (exit {proc.returncode}):\n"
                                        f"{proc.stderr}{proc.stdout}")
        return proc.stdout

    def _read_state(self) -> dict[str, str]:
        pairs = (line.split("=", 1) for line in self.state_file.read_text().splitlines() if "=" in line)
        return {k: v for k, v in pairs}

    def start(self) -> str:
        """Start the server; return its clickhouse:// URL."""
        self._run("start")
        state = self._read_state()
        self.url, self.port = state["URL"], int(state["TCP_PORT"])
        return self.url

    def halt(self) -> None:
        """Stop the server process (an outage); data dir and port stay reserved for `resume`."""
        self._run("halt")

    def resume(self) -> None:
        """Start the halted server again on the same port and data dir."""
        self._run("resume")

    def stop(self) -> None:
        """Kill the server and delete its data dir."""
        if self.state_file.exists():
            self._run("stop")

"""Helpers for end-to-end tests: the real `python -m trail` CLI and server as subprocesses, chDB read afterwards."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAIL_")}
    env.update({"TRAIL_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    return env


def trail(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run a CLI command; return its stdout (raise with its stderr when it fails)."""
    result = subprocess.run([sys.executable, "-m", "trail", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"trail {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


class Server:
    """`python -m trail serve` on a free port; output goes to a log file in the data dir."""

    def __init__(self, env: dict[str, str], data_dir: Path, *extra: str, port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> "Server":
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "trail", "serve", "--port", str(self.port),
                                          *self.extra], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.get_json("/readyz")
                if status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready in {timeout} s:\n{self.log()}")
            time.sleep(0.2)

    def get_json(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as res:
                return res.status, json.loads(res.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def wait_drained(self, timeout: float = 60) -> None:
        """Until /readyz reports a consumer lag of 0 (the writer has written everything)."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.get_json("/readyz")
            if status == 200 and body.get("consumer_lag") == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"writer not drained: {body}")
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait: the writer flushes on a clean stop."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""


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

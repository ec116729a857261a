"""Real `python -m trail` processes for tests: a free port, a clean environment, the CLI, a server that is ready.

Shared by the end-to-end, live, dashboard and serve tests (and bench/scripts); what each seeds stays with them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any TRAIL_* setting, with the data dir and `extra` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAIL_")}
    env.update({"TRAIL_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    return env


def run_trail(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A CLI command (`python -m trail ...`), its output captured."""
    return subprocess.run([sys.executable, "-m", "trail", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def wait_http(url: str, timeout: float = 90) -> int:
    """The status of the first answer from `url` (re-raises the last error once `timeout` has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


class Server:
    """`python -m trail serve [args] [--role role]` on a free port; output appends to a log in the data dir.

    `start()` waits for /readyz to answer 200, `stop()` sends SIGTERM and waits, `kill()` sends SIGKILL.
    """

    def __init__(self, env: dict[str, str], *args: str, port: int | None = None, role: str | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = (*args, "--role", role) if role else args
        self.log_path = Path(env["TRAIL_DATA_DIR"]) / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> "Server":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "trail", "serve", "--port", str(self.port),
                                          *self.args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.get_json("/readyz")[0] == 200:
                    return self
            except (OSError, ValueError):
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

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM and wait (the writer flushes on a clean stop); the exit code, None when never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def log(self) -> str:
        """The end of the server's output."""
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

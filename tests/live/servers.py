"""Real `python -m trail serve` processes for the live tests: start on a free port, wait until ready, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = "live-test-secret-" + "k" * 32


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAIL_")}
    env.update({"TRAIL_DATA_DIR": str(data_dir), "TRAIL_SECRET_KEY": SECRET, "TRAIL_LOG_LEVEL": "WARNING", **extra})
    return env


class Server:
    """One server process; `start()` waits for /readyz, `stop()` sends SIGTERM and waits."""

    def __init__(self, env: dict[str, str], port: int | None = None, role: str = "all") -> None:
        self.env, self.port, self.role = env, port or free_port(), role
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(env["TRAIL_DATA_DIR"]) / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> "Server":
        Path(self.env["TRAIL_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "trail", "serve", "--port", str(self.port),
                                      "--role", self.role], cwd=ROOT, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except Exception:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM and wait; returns how long the shutdown took."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - started


def trail_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trail", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)

"""`python -m trail serve` and `migrate` as a user runs them: a real process, a real port, the chDB lock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trail(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trail", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAIL_")}
    env.update({"TRAIL_DATA_DIR": str(data_dir), **extra})
    return env


def wait_http(url: str, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.slow
def test_embedded_serve_then_migrate_beside_it_names_the_lock(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path / "data")
    server = subprocess.Popen([sys.executable, "-m", "trail", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz") == 200
        assert wait_http(f"http://127.0.0.1:{port}/readyz") == 200
        assert (tmp_path / "data" / "trail.db").exists() and (tmp_path / "data" / "clickhouse").is_dir()
        result = trail("migrate", env=env)
        assert result.returncode == 1
        assert "lock" in result.stderr.lower(), result.stderr
        # admin commands touch only the metadata store, so they work beside the live server
        added = trail("user", "add", "owner@example.com", "--password", "correct horse battery", env=env)
        assert added.returncode == 0, added.stderr
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output
    assert "Traceback" not in output, output


def test_embedded_serve_refuses_several_workers(tmp_path: Path) -> None:
    result = trail("serve", "--workers", "2", env=clean_env(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "one worker" in result.stderr and "chDB" in result.stderr


def test_serve_with_bad_setting_fails_naming_it(tmp_path: Path) -> None:
    result = trail("serve", env=clean_env(tmp_path, TRAIL_FLUSH_INTERVAL_MS="soon"), timeout=60)
    assert result.returncode == 2
    assert "TRAIL_FLUSH_INTERVAL_MS" in result.stderr and "Traceback" not in result.stderr


def test_production_without_secret_key_fails(tmp_path: Path) -> None:
    result = trail("serve", env=clean_env(tmp_path, TRAIL_REDIS_URL="redis://127.0.0.1:6379/0"), timeout=60)
    assert result.returncode == 2
    assert "TRAIL_SECRET_KEY" in result.stderr

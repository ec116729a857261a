"""`python -m trail serve` and `migrate` as a user runs them: a real process, a real port, the chDB lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import ROOT, clean_env, free_port, run_trail, wait_http


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
        result = run_trail("migrate", env=env)
        assert result.returncode == 1
        assert "lock" in result.stderr.lower(), result.stderr
        # admin commands touch only the metadata store, so they work beside the live server
        added = run_trail("user", "add", "owner@example.com", "--password", "correct horse battery", env=env)
        assert added.returncode == 0, added.stderr
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output
    assert "Traceback" not in output, output


def test_embedded_serve_refuses_several_workers(tmp_path: Path) -> None:
    result = run_trail("serve", "--workers", "2", env=clean_env(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "one worker" in result.stderr and "chDB" in result.stderr


def test_serve_with_bad_setting_fails_naming_it(tmp_path: Path) -> None:
    result = run_trail("serve", env=clean_env(tmp_path, TRAIL_FLUSH_INTERVAL_MS="soon"), timeout=60)
    assert result.returncode == 2
    assert "TRAIL_FLUSH_INTERVAL_MS" in result.stderr and "Traceback" not in result.stderr


def test_production_without_secret_key_fails(tmp_path: Path) -> None:
    result = run_trail("serve", env=clean_env(tmp_path, TRAIL_REDIS_URL="redis://127.0.0.1:6379/0"), timeout=60)
    assert result.returncode == 2
    assert "TRAIL_SECRET_KEY" in result.stderr


def test_uvicorn_never_reads_proxy_headers_itself(tmp_path: Path) -> None:
    """Trail resolves X-Forwarded-For / -Proto itself on every server (tests/e2e/test_client_ip.py): uvicorn's own
    handling stays off even with trusted proxies, so the headers are not parsed twice per request."""
    from trail.config import Settings
    from trail.server import uvicorn_proxy_options

    for proxies in ("", "10.0.0.0/8,127.0.0.1"):
        settings = Settings.load({"TRAIL_DATA_DIR": str(tmp_path), "TRAIL_TRUSTED_PROXIES": proxies}, env_file=None)
        assert uvicorn_proxy_options(settings) == {"proxy_headers": False}

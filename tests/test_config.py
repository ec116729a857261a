"""Settings: defaults, fail-fast validation, embedded secret, and the README documenting every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trail.config import SETTINGS, Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent


def load(tmp_path: Path, **env: str) -> Settings:
    return Settings.load(environ={"TRAIL_DATA_DIR": str(tmp_path), **env}, env_file=None)


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.embedded and settings.chdb
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'trail.db'}"
    assert settings.clickhouse_url == f"chdb://{tmp_path / 'clickhouse'}"
    assert settings.port == 8000 and settings.redis_url == ""


def test_embedded_secret_is_generated_once(tmp_path: Path) -> None:
    first = load(tmp_path).secret_key
    assert len(first) >= 32
    assert load(tmp_path).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"TRAIL_PORT": "eighty"}, "TRAIL_PORT"),
        ({"TRAIL_PORT": "70000"}, "TRAIL_PORT"),
        ({"TRAIL_DATABASE_URL": "postgres://x/y"}, "TRAIL_DATABASE_URL"),
        ({"TRAIL_CLICKHOUSE_URL": "http://x"}, "TRAIL_CLICKHOUSE_URL"),
        ({"TRAIL_CLICKHOUSE_URL": "chdb://relative/path"}, "absolute path"),
        ({"TRAIL_TRUSTED_PROXIES": "10.0.0.0/8, not-an-ip"}, "TRAIL_TRUSTED_PROXIES"),
        ({"TRAIL_SIGNUP": "maybe"}, "TRAIL_SIGNUP"),
        ({"TRAIL_FLUSH_INTERVAL_MS": "0"}, "TRAIL_FLUSH_INTERVAL_MS"),
        ({"TRAIL_STREAM_RETENTION_MINUTES": "10"}, "TRAIL_STREAM_RETENTION_MINUTES"),
        ({"TRAIL_COLOUR": "blue"}, "unknown setting TRAIL_COLOUR"),
        ({"TRAIL_REDIS_URL": "redis://127.0.0.1:6379/0"}, "TRAIL_SECRET_KEY is required"),
        ({"TRAIL_SECRET_KEY": "short"}, "TRAIL_SECRET_KEY"),
    ],
)
def test_bad_settings_fail_with_their_name(tmp_path: Path, env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(fragment)):
        load(tmp_path, **env)


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TRAIL_PORT=9001\nTRAIL_LOG_LEVEL=DEBUG\n")
    settings = Settings.load(environ={"TRAIL_DATA_DIR": str(tmp_path), "TRAIL_PORT": "9002"}, env_file=str(env_file))
    assert settings.port == 9002 and settings.log_level == "DEBUG"


def test_trusted_proxies_parse_to_networks(tmp_path: Path) -> None:
    settings = load(tmp_path, TRAIL_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1, ::1")
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = set(re.findall(r"^\|\s*`(TRAIL_[A-Z_]+)`", readme, flags=re.M))
    missing = [s.name for s in SETTINGS if s.name not in rows]
    assert not missing, f"settings missing from README.md's settings table: {missing}"
    assert all(s.help for s in SETTINGS)


def test_cli_reports_bad_settings_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from trail.cli import main

    monkeypatch.setenv("TRAIL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRAIL_PORT", "not-a-port")
    assert main(["user", "add", "a@example.com", "--password", "long-enough-pw"]) == 2
    err = capsys.readouterr().err
    assert "TRAIL_PORT" in err and "Traceback" not in err

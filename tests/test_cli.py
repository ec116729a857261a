"""Tests of trail.cli: every admin command on SQLite and MariaDB, run in-process; delegation of serve/migrate/demo."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from trail.cli import main
from trail.security.tokens import hash_token
from trail.store.meta import MetaStore
from trail.store.meta.models import AccessEvent, ApiKey, Goal, Site, Team, User, Wall

KEY_LINE = re.compile(r"^trl_[A-Za-z0-9_-]{32}$")
WALL_LINE = re.compile(r"^/wall/wall_[A-Za-z0-9_-]{32}$")


@pytest.fixture(params=["sqlite", "mysql"])
def cli_db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty (unmigrated) database the CLI is pointed at through TRAIL_* variables."""
    url = (f"sqlite+aiosqlite:///{tmp_path}/data/trail.db" if request.param == "sqlite"
           else request.getfixturevalue("mysql_url"))
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in [k for k in os.environ if k.startswith("TRAIL_") and not k.startswith("TRAIL_TEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRAIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRAIL_SECRET_KEY", "cli-test-secret-" + "y" * 32)
    monkeypatch.setenv("TRAIL_DATABASE_URL", url)
    return url


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        """Run main() in a thread (it calls asyncio.run) and return (exit code, stdout, stderr)."""
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


async def _rows(url: str, model: Any) -> list[Any]:
    store = MetaStore(url)
    try:
        async with store.session() as session:
            return list(await session.scalars(sa.select(model)))
    finally:
        await store.close()


async def _setup(cli: Cli) -> None:
    assert (await cli("user", "add", "Alice@Example.com", "--password", "correct horse"))[0] == 0
    assert (await cli("site", "add", "https://www.example.com/", "--owner", "alice@example.com"))[0] == 0


async def test_user_add_and_reset(cli: Cli, cli_db: str) -> None:
    code, out, err = await cli("user", "add", "Alice@Example.com", "--password", "correct horse")
    assert (code, out.strip(), err) == (0, "created user alice@example.com", "")
    assert await cli("user", "add", "alice@example.com", "--password", "correct horse") == (
        1, "", "trail: error: user alice@example.com already exists\n")
    code, _, err = await cli("user", "add", "bob@example.com", "--password", "short")
    assert code == 1 and "at least 8 characters" in err and "Traceback" not in err
    code, out, _ = await cli("user", "reset-password", "ALICE@example.com", "--password", "new password")
    assert code == 0 and "signed out" in out
    (user,) = await _rows(cli_db, User)
    assert user.session_epoch == 1 and "new password" not in user.password_hash
    code, _, err = await cli("user", "reset-password", "nobody@example.com", "--password", "new password")
    assert code == 1 and "no user 'nobody@example.com'" in err


async def test_site_add_personal_and_team(cli: Cli, cli_db: str) -> None:
    await _setup(cli)
    code, out, _ = await cli("site", "add", "shop.example.org", "--owner", "alice@example.com", "--team", "Shop",
                             "--timezone", "Europe/Berlin")
    assert code == 0 and "team 'Shop'" in out and "Europe/Berlin" in out
    code, out, _ = await cli("site", "add", "blog.example.org", "--owner", "alice@example.com", "--team", "Shop")
    assert code == 0
    code, out, _ = await cli("site", "add", "two.example.org", "--owner", "alice@example.com")
    assert code == 0 and "personal team 'alice@example.com'" in out
    teams = {t.id: t for t in await _rows(cli_db, Team)}
    assert sorted((t.name, t.personal) for t in teams.values()) == [("Shop", False), ("alice@example.com", True)]
    sites = {s.domain: teams[s.team_id].name for s in await _rows(cli_db, Site)}
    assert sites == {"www.example.com": "alice@example.com", "two.example.org": "alice@example.com",
                     "shop.example.org": "Shop", "blog.example.org": "Shop"}
    assert [e.kind for e in await _rows(cli_db, AccessEvent)] == ["site_added"] * 4


@pytest.mark.parametrize("argv, message", [
    (["site", "add", "www.example.com", "--owner", "alice@example.com"], "site www.example.com already exists"),
    (["site", "add", "intranet", "--owner", "alice@example.com"], "must contain a dot"),
    (["site", "add", "bad host.com", "--owner", "alice@example.com"], "not allowed in a hostname"),
    (["site", "add", "x.example.com", "--owner", "alice@example.com", "--timezone", "Moon/Base"], "unknown timezone"),
    (["site", "add", "x.example.com", "--owner", "nobody@example.com"], "no user"),
    (["goal", "add", "missing.example.com", "--event", "Signup"], "no site 'missing.example.com'"),
    (["goal", "add", "www.example.com", "--event", "Buy", "--currency", "ABC"], "unknown currency"),
    (["apikey", "add", "--owner", "alice@example.com", "--team", "Nope"], "not a member of a team named 'Nope'"),
    (["apikey", "revoke", "nothing", "--owner", "alice@example.com"], "no active API key matches 'nothing'"),
    (["wall", "add", "missing.example.com", "--owner", "alice@example.com"], "no site 'missing.example.com'"),
    (["wall", "revoke", "nothing", "--owner", "alice@example.com"], "no active wall matches 'nothing'"),
])
async def test_admin_errors_exit_1(cli: Cli, cli_db: str, argv: list[str], message: str) -> None:
    await _setup(cli)
    code, out, err = await cli(*argv)
    assert code == 1 and out == "" and message in err
    assert err.startswith("trail: error: ") and err.count("\n") == 1


async def test_goal_add(cli: Cli, cli_db: str) -> None:
    await _setup(cli)
    code, out, _ = await cli("goal", "add", "www.example.com", "--event", "Purchase", "--currency", "eur")
    assert code == 0 and "revenue in EUR" in out
    code, out, _ = await cli("goal", "add", "WWW.example.com", "--page", "/blog/**")
    assert code == 0 and "'Visit /blog/**'" in out
    assert (await cli("goal", "add", "www.example.com", "--page", "/blog/**"))[0] == 1
    assert (await cli("goal", "add", "www.example.com"))[0] == 2  # argparse: one of --event / --page
    goals = await _rows(cli_db, Goal)
    assert sorted((g.event_name or "", g.page_path or "", g.currency or "") for g in goals) == [
        ("", "/blog/**", ""), ("Purchase", "", "EUR")]
    assert [e.kind for e in await _rows(cli_db, AccessEvent)] == ["site_added", "site_changed", "site_changed"]


async def test_apikey_add_and_revoke(cli: Cli, cli_db: str) -> None:
    await _setup(cli)
    code, out, _ = await cli("apikey", "add", "--owner", "alice@example.com", "--label", "ci")
    key1 = out.strip().splitlines()[-1]
    assert code == 0 and KEY_LINE.match(key1)
    code, out, _ = await cli("apikey", "add", "--owner", "alice@example.com")
    key2 = out.strip().splitlines()[-1]
    assert code == 0 and KEY_LINE.match(key2) and key2 != key1
    keys = await _rows(cli_db, ApiKey)
    assert {k.key_hash for k in keys} == {hash_token(key1), hash_token(key2)}
    store = MetaStore(cli_db)
    try:
        async with store.engine.connect() as conn:
            dump = repr((await conn.execute(sa.text("SELECT * FROM api_keys"))).all())
    finally:
        await store.close()
    assert key1 not in dump and key2 not in dump and key1[4:] not in dump
    assert await cli("apikey", "revoke", "trl_", "--owner", "alice@example.com") != (0, "", "")
    code, out, _ = await cli("apikey", "revoke", "ci", "--owner", "alice@example.com")  # by label
    assert code == 0 and "revoked API key" in out
    code, out, _ = await cli("apikey", "revoke", key2[:10], "--owner", "alice@example.com")  # by prefix
    assert code == 0 and key2[:10] in out
    assert (await cli("apikey", "revoke", "ci", "--owner", "alice@example.com"))[0] == 1
    assert all(k.revoked_at is not None for k in await _rows(cli_db, ApiKey))
    revoked = [e.subject["key_hash"] for e in await _rows(cli_db, AccessEvent) if e.kind == "key_revoked"]
    assert revoked == [hash_token(key1), hash_token(key2)]


async def test_apikey_revoke_ambiguous_label(cli: Cli, cli_db: str) -> None:
    await _setup(cli)
    for _ in range(2):
        assert (await cli("apikey", "add", "--owner", "alice@example.com", "--label", "same"))[0] == 0
    code, _, err = await cli("apikey", "revoke", "same", "--owner", "alice@example.com")
    assert code == 1 and "matches 2 API keys" in err
    assert all(k.revoked_at is None for k in await _rows(cli_db, ApiKey))


async def test_wall_add_and_revoke(cli: Cli, cli_db: str) -> None:
    await _setup(cli)
    assert (await cli("site", "add", "b.example.com", "--owner", "alice@example.com"))[0] == 0
    code, out, _ = await cli("wall", "add", "www.example.com", "b.example.com", "--owner", "alice@example.com",
                             "--label", "Office TV", "--layout", "rotate", "--rotate-seconds", "30")
    path = out.strip().splitlines()[-1]
    assert code == 0 and WALL_LINE.match(path)
    (wall,) = await _rows(cli_db, Wall)
    assert (wall.label, wall.layout, wall.rotate_seconds) == ("Office TV", "rotate", 30)
    assert wall.token_hash == hash_token(path.removeprefix("/wall/"))
    assert (await cli("wall", "add", "www.example.com", "--owner", "alice@example.com", "--layout", "spiral"))[0] == 2
    assert (await cli("user", "add", "bob@example.com", "--password", "battery staple"))[0] == 0
    code, _, err = await cli("wall", "add", "www.example.com", "--owner", "bob@example.com")
    assert code == 1 and "visible to bob@example.com" in err
    assert (await cli("wall", "revoke", "Office TV", "--owner", "bob@example.com"))[0] == 1
    code, out, _ = await cli("wall", "revoke", "Office TV", "--owner", "alice@example.com")
    assert code == 0 and "revoked wall 'Office TV'" in out
    (wall,) = await _rows(cli_db, Wall)
    assert wall.revoked_at is not None
    assert [e.subject["wall_id"] for e in await _rows(cli_db, AccessEvent) if e.kind == "wall_revoked"] == [wall.id]


async def test_settings_error_exits_2(cli: Cli, cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAIL_PORT", "not-a-port")
    code, out, err = await cli("user", "add", "a@example.com", "--password", "12345678")
    assert (code, out) == (2, "") and err.startswith("trail: error: TRAIL_PORT:")
    monkeypatch.delenv("TRAIL_PORT")
    monkeypatch.setenv("TRAIL_NOPE", "1")
    assert (await cli("user", "add", "a@example.com", "--password", "12345678"))[0] == 2


async def test_unreachable_database_exits_1(cli: Cli, cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAIL_DATABASE_URL", "mysql+aiomysql://root:hunter2@127.0.0.1:1/trail")
    code, _, err = await cli("user", "add", "a@example.com", "--password", "12345678")
    assert code == 1 and err.startswith("trail: error: metadata database") and "hunter2" not in err
    assert err.count("\n") == 1


async def test_usage_errors(cli: Cli, cli_db: str) -> None:
    assert (await cli())[0] == 2
    assert (await cli("site", "add", "x.example.com"))[0] == 2  # --owner missing
    assert (await cli("--help"))[0] == 0


async def test_delegated_commands(cli: Cli, cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any, Any]] = []
    server = types.ModuleType("trail.server")
    server.serve = lambda settings, **kw: calls.append(("serve", settings, kw)) or 0  # type: ignore[attr-defined]
    migrate = types.ModuleType("trail.migrate")

    async def migrate_main(settings: Any) -> int:
        calls.append(("migrate", settings, None))
        return 3

    migrate.main = migrate_main  # type: ignore[attr-defined]
    demo = types.ModuleType("trail.demo")
    demo.main = lambda settings, args: calls.append(("demo", settings, args)) or 0  # type: ignore[attr-defined]
    for name, module in (("trail.server", server), ("trail.migrate", migrate), ("trail.demo", demo)):
        monkeypatch.setitem(sys.modules, name, module)
    assert (await cli("serve", "--port", "9001", "--workers", "2", "--role", "web", "--server", "uvicorn"))[0] == 0
    assert calls[-1][2] == {"host": "127.0.0.1", "port": 9001, "workers": 2, "role": "web", "server": "uvicorn"}
    assert calls[-1][1].database_url == cli_db
    assert (await cli("migrate"))[0] == 3
    assert (await cli("demo", "example.com", "--rate", "20", "--duration", "5", "--key", "trl_x"))[0] == 0
    args = calls[-1][2]
    assert (args.domain, args.rate, args.duration, args.key, args.url) == ("example.com", 20.0, 5.0, "trl_x", None)
    monkeypatch.setitem(sys.modules, "trail.demo", None)
    code, _, err = await cli("demo", "example.com")
    assert code == 1 and "trail.demo is not available" in err

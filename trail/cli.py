"""`python -m trail`: serve, migrate and demo (delegated) plus the admin commands on the metadata store."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import sys
from typing import Any, Awaitable, Callable, Sequence

from alembic.util import CommandError as AlembicError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from trail.config import Settings, SettingsError
from trail.store.meta import repo
from trail.store.meta.db import MetaStore, safe_url
from trail.store.meta.migrate import migrate_meta
from trail.store.meta.models import Team

PROG = "trail"
AdminHandler = Callable[[Any, argparse.Namespace], Awaitable[list[str]]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Trail: privacy-friendly, real-time web analytics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web server (and the writer)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--role", choices=("all", "web", "writer"), default="all")
    serve.add_argument("--server", choices=("hypercorn", "uvicorn"))
    sub.add_parser("migrate", help="migrate the metadata and event stores")
    demo = sub.add_parser("demo", help="send realistic simulated traffic to a site")
    demo.add_argument("domain")
    demo.add_argument("--url")
    demo.add_argument("--rate", type=float, default=5.0)
    demo.add_argument("--duration", type=float, default=60.0)
    demo.add_argument("--key")

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True, metavar="ACTION")
    p = user.add_parser("add", help="create a user")
    p.add_argument("email")
    p.add_argument("--password", required=True)
    p.add_argument("--admin", action="store_true", help="make the user an instance administrator")
    p = user.add_parser("reset-password", help="set a new password and sign the user out everywhere")
    p.add_argument("email")
    p.add_argument("--password", required=True)

    site = sub.add_parser("site", help="manage sites").add_subparsers(dest="action", required=True, metavar="ACTION")
    p = site.add_parser("add", help="add a site")
    p.add_argument("domain")
    p.add_argument("--owner", required=True, metavar="EMAIL")
    p.add_argument("--team", metavar="NAME", help="default: the owner's personal team")
    p.add_argument("--timezone", default="Etc/UTC", metavar="TZ")

    goal = sub.add_parser("goal", help="manage goals").add_subparsers(dest="action", required=True, metavar="ACTION")
    p = goal.add_parser("add", help="add a goal to a site")
    p.add_argument("domain")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--event", metavar="NAME")
    kind.add_argument("--page", metavar="PATH_PATTERN")
    p.add_argument("--currency", metavar="ISO4217")
    p.add_argument("--display-name")

    apikey = sub.add_parser("apikey", help="manage API keys").add_subparsers(dest="action", required=True,
                                                                           metavar="ACTION")
    p = apikey.add_parser("add", help="create an API key (printed once, as the last line)")
    p.add_argument("--owner", required=True, metavar="EMAIL")
    p.add_argument("--team", metavar="NAME")
    p.add_argument("--label")
    p = apikey.add_parser("revoke", help="revoke an API key")
    p.add_argument("key", metavar="KEY_PREFIX_OR_LABEL")
    p.add_argument("--owner", required=True, metavar="EMAIL")

    wall = sub.add_parser("wall", help="manage wall displays").add_subparsers(dest="action", required=True,
                                                                            metavar="ACTION")
    p = wall.add_parser("add", help="create a wall display (its path is the last line)")
    p.add_argument("domains", nargs="+", metavar="DOMAIN")
    p.add_argument("--owner", required=True, metavar="EMAIL")
    p.add_argument("--label")
    p.add_argument("--layout", choices=("grid", "rotate"), default="grid")
    p.add_argument("--rotate-seconds", type=int, default=20, metavar="S")
    p = wall.add_parser("revoke", help="revoke a wall display")
    p.add_argument("label")
    p.add_argument("--owner", required=True, metavar="EMAIL")
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _run_delegated(module: str, func: str, *args: Any, **kwargs: Any) -> int:
    """Import trail.<module> only now, so the admin commands work without it; run sync or async results."""
    try:
        target = getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            _error(f"{module} is not available in this installation")
            return 1
        raise
    result = target(*args, **kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return int(result or 0)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run one command and return the exit code (1: failed, 2: bad usage or settings)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        _error(str(exc))
        return 2
    try:
        if args.command == "serve":
            return _run_delegated("trail.server", "serve", settings, host=args.host or settings.host,
                                  port=args.port or settings.port, workers=args.workers, role=args.role,
                                  server=args.server or settings.server)
        if args.command == "migrate":
            return _run_delegated("trail.migrate", "main", settings)
        if args.command == "demo":
            return _run_delegated("trail.demo", "main", settings, args)
        return run_admin(settings, args)
    except KeyboardInterrupt:
        return 130
    except SettingsError as exc:
        _error(str(exc))
        return 2


# ---- admin commands: metadata store only, so they work beside a running (embedded) server ----

async def _user_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    user = await repo.create_user(session, args.email, args.password, is_admin=args.admin)
    return [f"created user {user.email}" + (" (admin)" if user.is_admin else "")]


async def _user_reset_password(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    user = await repo.require_user(session, args.email)
    await repo.set_password(session, user, args.password)
    return [f"password of {user.email} changed; existing sessions are signed out"]


async def _site_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    owner = await repo.require_user(session, args.owner)
    site = await repo.add_site(session, owner, args.domain, team_name=args.team, timezone=args.timezone)
    team = await session.get(Team, site.team_id)
    assert team is not None
    kind = "personal team" if team.personal else "team"
    return [f"added site {site.domain} to {kind} {team.name!r} (timezone {site.timezone})"]


async def _goal_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    site = await repo.require_site(session, args.domain)
    goal = await repo.add_goal(session, site, event_name=args.event, page_path=args.page, currency=args.currency,
                               display_name=args.display_name)
    revenue = f" with revenue in {goal.currency}" if goal.currency else ""
    return [f"added goal {goal.display_name!r}{revenue} to {site.domain}"]


async def _apikey_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    owner = await repo.require_user(session, args.owner)
    key, plaintext = await repo.create_api_key(session, owner, team_name=args.team, label=args.label)
    team = await session.get(Team, key.team_id)
    assert team is not None
    return [f"created API key {key.label!r} for team {team.name!r}; it is shown only once:", plaintext]


async def _apikey_revoke(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    owner = await repo.require_user(session, args.owner)
    key = await repo.revoke_api_key(session, args.key, owner)
    return [f"revoked API key {key.prefix}… ({key.label!r})"]


async def _wall_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    owner = await repo.require_user(session, args.owner)
    wall, token = await repo.create_wall(session, owner, args.domains, label=args.label, layout=args.layout,
                                         rotate_seconds=args.rotate_seconds)
    domains = ", ".join(site.domain for site in await repo.wall_sites(session, wall.id))
    return [f"created wall {wall.label!r} ({wall.layout}) showing {domains}; its path is shown only once:",
            f"/wall/{token}"]


async def _wall_revoke(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    owner = await repo.require_user(session, args.owner)
    wall = await repo.revoke_wall(session, args.label, owner)
    return [f"revoked wall {wall.label!r}"]


ADMIN: dict[tuple[str, str], AdminHandler] = {
    ("user", "add"): _user_add,
    ("user", "reset-password"): _user_reset_password,
    ("site", "add"): _site_add,
    ("goal", "add"): _goal_add,
    ("apikey", "add"): _apikey_add,
    ("apikey", "revoke"): _apikey_revoke,
    ("wall", "add"): _wall_add,
    ("wall", "revoke"): _wall_revoke,
}


async def _admin(settings: Settings, args: argparse.Namespace) -> list[str]:
    """Migrate the metadata store if needed, run the handler in one transaction, then return its output."""
    await migrate_meta(settings.database_url)
    store = MetaStore(settings.database_url)
    try:
        async with store.session() as session:
            lines = await ADMIN[(args.command, args.action)](session, args)
            await session.commit()
        return lines
    finally:
        await store.close()


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def run_admin(settings: Settings, args: argparse.Namespace) -> int:
    """Run an admin command; errors become one line on stderr and exit code 1, never a traceback."""
    try:
        lines = asyncio.run(_admin(settings, args))
    except (ValueError, LookupError, PermissionError, TimeoutError) as exc:
        _error(str(exc))
        return 1
    except IntegrityError as exc:
        _error(f"conflicting change, nothing saved: {_one_line(exc)}")
        return 1
    except (SQLAlchemyError, OSError, AlembicError) as exc:
        _error(f"metadata database {safe_url(settings.database_url)}: {_one_line(exc)}")
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

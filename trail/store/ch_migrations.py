"""ClickHouse schema migrations: apply sql/clickhouse/NNNN_*.sql in order, once each, recorded in schema_migrations."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from trail.store.events import EventStore, EventStoreError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "clickhouse"
_FILE = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")
# A statement ends with `;` at the end of a line (a trailing `-- comment` after it is allowed).
_STATEMENT_END = re.compile(r";[ \t]*(?:--[^\n]*)?$", re.MULTILINE)

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    String,
    name       String,
    applied_at DateTime DEFAULT now()
)
ENGINE = MergeTree() ORDER BY version
"""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migration files of `directory`, in version order; a duplicate version is an error."""
    files = sorted(p for p in directory.iterdir() if _FILE.match(p.name))
    versions = [_FILE.match(p.name).group(1) for p in files]  # type: ignore[union-attr]
    if len(set(versions)) != len(versions):
        dup = next(v for v in versions if versions.count(v) > 1)
        raise EventStoreError(f"two ClickHouse migrations share version {dup} in {directory}")
    return files


def split_statements(text: str) -> list[str]:
    """Split a migration into statements at `;` ending a line; whole-line `--` comments never end one."""
    statements: list[str] = []
    lines: list[str] = []
    for line in text.splitlines():
        end = None if line.lstrip().startswith("--") else _STATEMENT_END.search(line)
        if end is None:
            lines.append(line)
            continue
        lines.append(line[: end.start()])
        _keep(statements, lines)
        lines = []
    _keep(statements, lines)
    return statements


def _keep(statements: list[str], lines: list[str]) -> None:
    """Add the statement made of `lines` unless it holds only comments and blanks."""
    if any(line.strip() and not line.lstrip().startswith("--") for line in lines):
        statements.append("\n".join(lines).strip())


async def migrate_events(store: EventStore, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the pending migrations to the store's database; return the names applied (e.g. `0001_events`)."""
    await store.execute(_LEDGER)
    _, rows = await store.query("SELECT version FROM schema_migrations")
    done = {str(r[0]) for r in rows}
    applied = []
    for path in migration_files(directory):
        version = path.name[:4]
        if version in done:
            continue
        for statement in split_statements(path.read_text(encoding="utf-8")):
            try:
                await store.execute(statement)
            except EventStoreError as exc:
                raise EventStoreError(f"ClickHouse migration {path.name} failed: {exc}") from exc
        await store.execute("INSERT INTO schema_migrations (version, name) VALUES ({v:String}, {n:String})",
                            {"v": version, "n": path.stem})
        log.info("applied ClickHouse migration %s to %s", path.stem, store.database)
        applied.append(path.stem)
    return applied

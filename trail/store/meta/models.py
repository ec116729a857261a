"""Declarative models of the metadata store, portable across MariaDB/MySQL (utf8mb4) and SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("owner", "admin", "viewer")
WALL_LAYOUTS = ("grid", "rotate")
ACCESS_EVENT_KINDS = ("key_revoked", "wall_revoked", "site_added", "site_changed", "site_deleted",
                      "member_removed", "share_revoked", "sessions_revoked")

# Naive UTC datetimes everywhere; microseconds kept on MariaDB too (plain DATETIME would drop them).
UtcDateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# SQLite only auto-increments an INTEGER PRIMARY KEY, so big ids fall back to INTEGER there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Binary collation: comparisons and unique keys behave as on SQLite (case is normalised in code instead).
TABLE_ARGS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


class HexBytes(sa.TypeDecorator[bytes]):
    """Bytes stored as lower-case hex text. aiomysql cannot bind bytes with PyMySQL >= 1.2 (its
    escape_bytes_prefixed is gone), and hex text is portable, so binary values never reach the driver."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else bytes(value).hex()

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> bytes | None:
        return None if value is None else bytes.fromhex(value)


def utcnow() -> datetime:
    """The current time as a naive UTC datetime, the form every column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base; its metadata is what migrations must match (same constraint and index names)."""

    metadata = sa.MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    })


class User(Base):
    __tablename__ = "users"
    __table_args__ = (TABLE_ARGS,)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    session_epoch: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (TABLE_ARGS,)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    personal: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (sa.CheckConstraint("role IN ('owner', 'admin', 'viewer')", name="role"),
                      TABLE_ARGS)

    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (TABLE_ARGS,)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    accepted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (TABLE_ARGS,)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(sa.String(253), unique=True)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Etc/UTC")
    exclude_ips: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    exclude_paths: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    exclude_hosts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    respect_dnt: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    share_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Goal(Base):
    __tablename__ = "goals"
    __table_args__ = (
        # NULLs are distinct in unique keys on both backends, so one key per kind gives "unique per site".
        sa.UniqueConstraint("site_id", "event_name", name="uq_goals_site_event"),
        sa.UniqueConstraint("site_id", "page_path", name="uq_goals_site_page"),
        sa.CheckConstraint("(event_name IS NULL) <> (page_path IS NULL)", name="one_kind"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    event_name: Mapped[str | None] = mapped_column(sa.String(120))
    page_path: Mapped[str | None] = mapped_column(sa.String(255))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    display_name: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (TABLE_ARGS,)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(sa.String(255))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Wall(Base):
    __tablename__ = "walls"
    __table_args__ = (sa.CheckConstraint("layout IN ('grid', 'rotate')", name="layout"), TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(sa.String(255))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    layout: Mapped[str] = mapped_column(sa.String(16), default="grid")
    rotate_seconds: Mapped[int] = mapped_column(sa.Integer, default=20)
    theme: Mapped[str] = mapped_column(sa.String(32), default="dark")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WallSite(Base):
    __tablename__ = "wall_sites"
    __table_args__ = (TABLE_ARGS,)

    wall_id: Mapped[int] = mapped_column(sa.ForeignKey("walls.id", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)


class Salt(Base):
    __tablename__ = "salts"
    __table_args__ = (TABLE_ARGS,)

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    salt: Mapped[bytes] = mapped_column(HexBytes(64))


class AccessEvent(Base):
    __tablename__ = "access_events"
    __table_args__ = (TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    subject: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

"""Initial metadata schema: users, teams, memberships, invitations, sites, goals, keys, walls, salts, access events.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the model's portable types: a migration must not change when models.py does.
UtcDateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _created_at() -> sa.Column:
    return sa.Column("created_at", UtcDateTime, nullable=False)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("session_epoch", sa.Integer, nullable=False),
        _created_at(),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        **TABLE,
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("personal", sa.Boolean, nullable=False),
        _created_at(),
        **TABLE,
    )
    op.create_table(
        "memberships",
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        _created_at(),
        sa.CheckConstraint("role IN ('owner', 'admin', 'viewer')", name=op.f("ck_memberships_role")),
        **TABLE,
    )
    op.create_index(op.f("ix_memberships_user_id"), "memberships", ["user_id"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        _created_at(),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("accepted_at", UtcDateTime, nullable=True),
        sa.Column("accepted_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
        **TABLE,
    )
    op.create_index(op.f("ix_invitations_team_id"), "invitations", ["team_id"])
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("exclude_ips", sa.JSON, nullable=False),
        sa.Column("exclude_paths", sa.JSON, nullable=False),
        sa.Column("exclude_hosts", sa.JSON, nullable=False),
        sa.Column("respect_dnt", sa.Boolean, nullable=False),
        sa.Column("share_token_hash", sa.String(64), nullable=True),
        _created_at(),
        sa.Column("deleted_at", UtcDateTime, nullable=True),
        sa.UniqueConstraint("domain", name=op.f("uq_sites_domain")),
        sa.UniqueConstraint("share_token_hash", name=op.f("uq_sites_share_token_hash")),
        **TABLE,
    )
    op.create_index(op.f("ix_sites_team_id"), "sites", ["team_id"])
    op.create_table(
        "goals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_name", sa.String(120), nullable=True),
        sa.Column("page_path", sa.String(255), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        _created_at(),
        sa.UniqueConstraint("site_id", "event_name", name=op.f("uq_goals_site_event")),
        sa.UniqueConstraint("site_id", "page_path", name=op.f("uq_goals_site_page")),
        sa.CheckConstraint("(event_name IS NULL) <> (page_path IS NULL)", name=op.f("ck_goals_one_kind")),
        **TABLE,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        _created_at(),
        sa.Column("last_used_at", UtcDateTime, nullable=True),
        sa.Column("revoked_at", UtcDateTime, nullable=True),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        **TABLE,
    )
    op.create_index(op.f("ix_api_keys_team_id"), "api_keys", ["team_id"])
    op.create_table(
        "walls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("layout", sa.String(16), nullable=False),
        sa.Column("rotate_seconds", sa.Integer, nullable=False),
        sa.Column("theme", sa.String(32), nullable=False),
        _created_at(),
        sa.Column("revoked_at", UtcDateTime, nullable=True),
        sa.UniqueConstraint("token_hash", name=op.f("uq_walls_token_hash")),
        sa.CheckConstraint("layout IN ('grid', 'rotate')", name=op.f("ck_walls_layout")),
        **TABLE,
    )
    op.create_index(op.f("ix_walls_team_id"), "walls", ["team_id"])
    op.create_table(
        "wall_sites",
        sa.Column("wall_id", sa.Integer, sa.ForeignKey("walls.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
        **TABLE,
    )
    op.create_index(op.f("ix_wall_sites_site_id"), "wall_sites", ["site_id"])
    op.create_table(
        "salts",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),  # 32 bytes as hex (see models.HexBytes)
        **TABLE,
    )
    op.create_table(
        "access_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.JSON, nullable=False),
        _created_at(),
        **TABLE,
    )
    op.create_index(op.f("ix_access_events_created_at"), "access_events", ["created_at"])


def downgrade() -> None:
    for table in ("access_events", "salts", "wall_sites", "walls", "api_keys", "goals", "sites", "invitations",
                  "memberships", "teams", "users"):
        op.drop_table(table)

"""The metadata store: users, teams, sites, goals, keys, walls, salts and the access-change outbox (SQLAlchemy 2)."""

from trail.store.meta.db import MetaStore, create_meta_engine
from trail.store.meta.migrate import migrate_meta
from trail.store.meta.models import (
    AccessEvent,
    ApiKey,
    Base,
    Goal,
    Invitation,
    Membership,
    Salt,
    Site,
    Team,
    User,
    Wall,
    WallSite,
)

__all__ = [
    "AccessEvent", "ApiKey", "Base", "Goal", "Invitation", "MetaStore", "Membership", "Salt", "Site", "Team",
    "User", "Wall", "WallSite", "create_meta_engine", "migrate_meta",
]

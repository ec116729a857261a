"""Errors of the metadata store's data-access functions; each message is one line fit for a user."""

from __future__ import annotations


class MetaError(Exception):
    """Base of the errors below."""


class NotFound(MetaError, LookupError):
    """A user, team, site, key or wall does not exist (or is not visible to the caller)."""


class Conflict(MetaError, ValueError):
    """A duplicate (site, user, goal) or an ambiguous match (revoke by prefix or label)."""


class Forbidden(MetaError, PermissionError):
    """The user lacks the role the action needs."""

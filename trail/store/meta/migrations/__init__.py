"""Alembic migrations of the metadata store (loaded by path; a package so that packaging ships them)."""

"""Versioned metadata migrations, written by hand and portable to MariaDB/MySQL and SQLite."""

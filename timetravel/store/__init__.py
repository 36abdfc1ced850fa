"""The only package that speaks SQL: the database file, its migrations, reads and writes."""

from __future__ import annotations

from sqlite_utils import Database

__all__ = ["Database"]

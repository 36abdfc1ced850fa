"""The only package that speaks SQL: the database (a SQLite file or a PostgreSQL store),
its migrations, reads and writes."""

from __future__ import annotations

from timetravel.store.handle import StoreDB

# What the rest of the program calls an open store (either engine).
Database = StoreDB

__all__ = ["Database", "StoreDB"]

"""The little that differs between the store's two engines, in one place.

The store's SQL is written once, in what SQLite (3.35 and later) and PostgreSQL both
accept: ``?`` parameters (store.postgres rewrites them), ``INSERT ... ON CONFLICT``,
scalar ``CASE`` instead of SQLite's two-argument ``min``/``max``. What cannot be said the
same way in both is said here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def engine(conn: Any) -> str:
    """``sqlite`` or ``postgresql``: which engine a store connection speaks to."""
    return str(getattr(conn, "engine", "sqlite"))


def is_postgres(conn: Any) -> bool:
    return engine(conn) == "postgresql"


def insert_id(conn: Any, sql: str, parameters: Sequence[Any] = ()) -> int:
    """Run an ``INSERT`` into a table with an ``id`` key and return the new row's id."""
    if is_postgres(conn):
        row = conn.execute(sql + " RETURNING id", parameters).fetchone()
        return int(row[0])
    return int(conn.execute(sql, parameters).lastrowid or 0)


def insert_id_or_none(conn: Any, sql: str, parameters: Sequence[Any] = ()) -> int | None:
    """Run an ``INSERT ... ON CONFLICT DO NOTHING``; the new row's id, or None when the
    row was already there."""
    if is_postgres(conn):
        row = conn.execute(sql + " RETURNING id", parameters).fetchone()
        return int(row[0]) if row else None
    cursor = conn.execute(sql, parameters)
    return int(cursor.lastrowid) if cursor.rowcount else None


def not_indexed(conn: Any) -> str:
    """SQLite's hint to scan a table by rowid rather than an index it would pick wrongly
    (PostgreSQL's planner takes no hints)."""
    return "" if is_postgres(conn) else " NOT INDEXED"


def has_table(conn: Any, name: str) -> bool:
    if is_postgres(conn):
        sql = (
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = ?"
        )
    else:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


def columns(conn: Any, table: str) -> set[str]:
    if is_postgres(conn):
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        ).fetchall()
        return {str(r[0]) for r in rows}
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}

"""A SQLite store copied into a PostgreSQL database, row for row: the same data on both.

The PostgreSQL schema is made by ``open_database(url)`` (store/pg_schema.py); every table
both engines have is then copied with ``COPY ... FROM STDIN (FORMAT BINARY)``, the
columns they share, ids kept. The identity sequences and ``revision_ids`` are moved past
the ids copied (a writer may go on writing), and the database is vacuumed and analyzed,
as autovacuum would leave a store that has stopped growing. Written this way (not through
the writer again) so both engines answer from the very same revisions, segments and
keyframes, in a minute rather than the quarter of an hour the writer takes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from timetravel.store.db import open_database

_CHUNK = 5000


def copy_store(sqlite_path: Path, url: str, log: Callable[[str], None]) -> dict[str, int]:
    """Copy the store at ``sqlite_path`` into the empty database ``url``; rows per table."""
    open_database(url).conn.close()  # the schema (every migration) and its meta rows
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    counts: dict[str, int] = {}
    started = time.perf_counter()
    try:
        sqlite_tables = {
            str(r[0]) for r in source.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        with psycopg.connect(url) as pg:
            # No foreign-key triggers while copying: the rows come from a consistent store.
            pg.execute("SET session_replication_role = replica")
            pg.execute("DELETE FROM meta")  # the source's own meta rows are copied instead
            for table in _tables(pg):
                if table not in sqlite_tables:
                    continue
                counts[table] = _copy_table(source, pg, table)
                elapsed = time.perf_counter() - started
                log(f"pg copy: {table} {counts[table]:,} rows ({elapsed:.0f} s)")
            _move_sequences(pg)
            pg.commit()
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("VACUUM (ANALYZE)")
    finally:
        source.close()
    log(f"pg copy: done in {time.perf_counter() - started:.0f} s")
    return counts


def _tables(pg: psycopg.Connection) -> list[str]:
    rows = pg.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE' AND table_name <> '_migrations' ORDER BY table_name"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _copy_table(source: sqlite3.Connection, pg: psycopg.Connection, table: str) -> int:
    pg_columns = pg.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    sqlite_columns = {str(row[1]) for row in source.execute(f'PRAGMA table_info("{table}")')}
    shared = [(str(name), str(kind)) for name, kind in pg_columns if name in sqlite_columns]
    names = ", ".join(f'"{name}"' for name, _ in shared)
    rows = source.execute(f'SELECT {names} FROM "{table}"')
    count = 0
    with pg.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
        copy.set_types([kind for _, kind in shared])
        while chunk := rows.fetchmany(_CHUNK):
            for row in chunk:
                copy.write_row(row)
            count += len(chunk)
    return count


def _move_sequences(pg: psycopg.Connection) -> None:
    identities = pg.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND column_name = 'id' AND is_identity = 'YES'"
    ).fetchall()
    for (table,) in identities:
        pg.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f'coalesce((SELECT max(id) FROM "{table}"), 0) + 1, false)'
        )
    pg.execute(
        "SELECT setval('revision_ids', coalesce((SELECT max(id) FROM revisions), 0) + 1, false)"
    )

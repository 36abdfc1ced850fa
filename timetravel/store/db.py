"""Opening a timetravel database: one SQLite file in WAL mode, migrated on open.

A file that is not SQLite, a SQLite file of another program, and a database written by a
newer timetravel are refused with a :class:`~timetravel.errors.UserError` naming the
problem; nothing is written to such a file.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from timetravel.domain.times import to_stored, utc_now
from timetravel.errors import UserError
from timetravel.store.migrations import migrations

FORMAT = "timetravel"
_MIGRATIONS_TABLE = "_sqlite_migrations"


def _known_names() -> list[str]:
    return [m.name for m in migrations._migrations]


def _create_private_file(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite opens it.

    SQLite gives its -wal and -shm files the mode of the database file, so they stay
    private too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _table_names(conn: sqlite3.Connection, path: Path) -> set[str]:
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: not a SQLite database, or a corrupt one ({exc})") from None
    return {str(r[0]) for r in rows}


def _check_ours(conn: sqlite3.Connection, path: Path, tables: set[str]) -> None:
    """Refuse foreign SQLite files and databases from a newer timetravel."""
    if not tables:
        return
    if "meta" not in tables or _MIGRATIONS_TABLE not in tables:
        raise UserError(f"{path}: a SQLite database, but not a timetravel one")
    row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    if row is None or row[0] != FORMAT:
        raise UserError(f"{path}: a SQLite database, but not a timetravel one")
    applied = [
        str(r[0])
        for r in conn.execute(
            f"SELECT name FROM {_MIGRATIONS_TABLE} WHERE migration_set = ?", (FORMAT,)
        )
    ]
    unknown = [name for name in applied if name not in _known_names()]
    if unknown:
        raise UserError(
            f"{path}: written by a newer timetravel (schema {len(applied)}, this program "
            f"knows {len(_known_names())}: unknown migration {unknown[0]}); upgrade timetravel"
        )


def open_database(path: Path | str, *, readonly: bool = False, create: bool = True) -> Database:
    """Open (creating and migrating when allowed) a timetravel database.

    ``readonly`` opens a read-only connection (the screen's); it never migrates and needs
    the file to exist. Raises UserError for anything the user must fix.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a database file")
    exists = path.exists()
    if not exists:
        if readonly or not create:
            raise UserError(f"{path}: no such database (record something first)")
        try:
            _create_private_file(path)
        except OSError as exc:
            raise UserError(f"{path}: cannot create the database ({exc.strerror})") from None
    elif not os.access(path, os.R_OK):
        raise UserError(f"{path}: permission denied")
    try:
        conn = _connect(path, readonly)
    except sqlite3.Error as exc:
        raise UserError(f"{path}: cannot open ({exc})") from None
    tables = _table_names(conn, path)
    _check_ours(conn, path, tables)
    db = Database(conn)
    if readonly:
        if not tables:
            raise UserError(f"{path}: an empty file, not a timetravel database")
        return db
    try:
        db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrations.pending(db):
            migrations.apply(db)
            _init_meta(db)
    except sqlite3.OperationalError as exc:
        raise UserError(f"{path}: cannot write ({exc})") from None
    return db


def _init_meta(db: Database) -> None:
    with db.conn:
        db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)", [FORMAT])
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)",
            [to_stored(utc_now())],
        )
        # The redaction key never leaves this table: exports and the screen only ever see
        # the hashes it makes.
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('redaction_key', ?)",
            [secrets.token_hex(32)],
        )
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            [str(len(_known_names()))],
        )


def redaction_key(db: Database) -> bytes:
    """The per-database HMAC key for Secret values (creating none: open_database does)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'redaction_key'").fetchone()
    if row is None:
        raise UserError("database has no redaction key: open it writable once to migrate")
    return bytes.fromhex(str(row[0]))

"""Opening a timetravel database: one SQLite file in WAL mode, migrated on open.

A file that is not SQLite, a SQLite file of another program, and a database written by a
newer timetravel are refused with a :class:`~timetravel.errors.UserError` naming the
problem; nothing is written to such a file.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from timetravel.domain.normalize import Redaction
from timetravel.domain.times import to_stored, utc_now
from timetravel.errors import UserError
from timetravel.host import data_dir
from timetravel.store import pg_schema
from timetravel.store.handle import StoreDB
from timetravel.store.location import (
    Location,
    PostgresLocation,
    SqliteLocation,
    parse_location,
)
from timetravel.store.migrations import migrations
from timetravel.store.postgres import PgConnection

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


class DatabaseUnavailable(UserError):
    """The database cannot be written (or read) now: the disk is full, another program holds
    the lock past the busy timeout, an I/O error. The operation in progress is not kept,
    everything before it is, and trying again later may work."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # SQLite's own words: "database or disk is full"


# Primary SQLite result codes. Damaged: no retry or code path fixes the file.
_DAMAGED = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_UNAVAILABLE = frozenset({5, 6, 10, 13})  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL


def _translated(conn: sqlite3.Connection, exc: sqlite3.DatabaseError) -> BaseException:
    """A damaged or unavailable database as a UserError naming the file; others unchanged.

    Opening reads only the first pages, so damage further in shows on the first query that
    touches it, and a full disk on the first write that needs space: in an export, an import
    or the recorder's writer. Those are problems with the file or the machine, to be told
    in one line, not a crash with a traceback.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    path = getattr(conn, "timetravel_path", None)
    if code is None or path is None:
        return exc  # no path yet: open_database is still checking the file, and says why
    if code & 0xFF in _DAMAGED:
        return UserError(
            f"{path}: the database file is damaged ({exc}); restore it from a backup, or try "
            f"`sqlite3 {path} .recover`"
        )
    if code & 0xFF in _UNAVAILABLE:
        return DatabaseUnavailable(
            f"{path}: {exc}; what was being written is not kept, everything before it is",
            str(exc),
        )
    return exc


class _Cursor(sqlite3.Cursor):
    """A cursor whose errors about the file are user errors (see :func:`_translated`)."""

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        try:
            return super().executemany(sql, seq_of_parameters)
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(size if size is not None else self.arraysize)
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None


class _Connection(sqlite3.Connection):
    """Hands out :class:`_Cursor` s, also from the ``execute`` shortcuts, and translates
    errors of a commit (where a full disk often shows) the same way."""

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.DatabaseError as exc:
            raise _translated(self, exc) from None

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return super().__exit__(*exc_info)
        except sqlite3.DatabaseError as exc:
            raise _translated(self, exc) from None


def readonly_uri(path: Path, *, directory_writable: bool, wal_pending: bool) -> str:
    """The SQLite URI that opens ``path`` for reading only.

    A WAL-mode database read with ``mode=ro`` still needs its -shm (and -wal) file, which
    SQLite creates next to the database. Where the directory cannot be written (a forensic
    copy on a read-only mount, or in a directory mode 0555) ``immutable=1`` tells SQLite the
    file cannot change, so it needs neither file and takes no lock. Not when a -wal file with
    content lies beside it: immutable would ignore that content, so such a copy is read
    through its -wal (and -shm), as SQLite allows when both exist.
    """
    quoted = urllib.parse.quote(str(path.absolute()), safe="/")
    uri = f"file:{quoted}?mode=ro"
    if not directory_writable and not wal_pending:
        uri += "&immutable=1"
    return uri


def _wal_pending(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def _directory_writable(path: Path) -> bool:
    return os.access(path.absolute().parent, os.W_OK)


def read_only_copy(path: Path | str) -> bool:
    """Whether ``path`` is a database this user may only read (the file or its directory
    is not writable, a read-only mount): what the screen's header calls a read-only copy."""
    path = Path(path).expanduser()
    return not (os.access(path, os.W_OK) and _directory_writable(path))


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = readonly_uri(
            path, directory_writable=_directory_writable(path), wal_pending=_wal_pending(path)
        )
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, factory=_Connection)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, factory=_Connection)
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


def open_database(
    where: Path | str | Location, *, readonly: bool = False, create: bool = True
) -> Any:
    """Open (creating and migrating when allowed) a timetravel database: a SQLite file, or a
    PostgreSQL database named by a ``postgresql://`` URL (see store.location).

    ``readonly`` opens a read-only connection (the screen's); it never migrates and needs
    the database to exist. Raises UserError for anything the user must fix. The result is a
    :class:`~timetravel.store.handle.StoreDB`: ``sqlite_utils.Database`` or
    :class:`PgDatabase`.
    """
    location = where if isinstance(where, SqliteLocation | PostgresLocation) else None
    if location is None:
        location = parse_location(where)  # type: ignore[arg-type]
    if isinstance(location, PostgresLocation):
        return open_postgres(location, readonly=readonly)
    return _open_sqlite(location.path, readonly=readonly, create=create)


def _open_sqlite(path: Path, *, readonly: bool, create: bool) -> Database:
    path = path.expanduser()
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a database file")
    exists = path.exists()
    if not exists:
        if readonly or not create:
            demo = data_dir() / "demo" / "timetravel.db"
            hint = f", or read the demo's: --db {demo}" if demo.exists() else ""
            raise UserError(f"{path}: no such database (record something first{hint})")
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
    conn.timetravel_path = str(path)  # type: ignore[attr-defined]
    db = Database(conn)
    if readonly:
        if not tables:
            raise UserError(f"{path}: an empty file, not a timetravel database")
        if migrations.pending(db):
            # Written by an older timetravel: revisions moved into segments in m006, and
            # this version reads only those. Upgrade it first, when it may be written.
            conn.close()
            if not os.access(path, os.W_OK):
                raise UserError(
                    f"{path}: written by an older timetravel and not writable here; run "
                    "timetravel on it once as a user who may write it (that upgrades it)"
                )
            open_database(path).conn.close()
            return _open_sqlite(path, readonly=True, create=False)
        return db
    try:
        if not tables:
            # Only before the first table: a prune then gives freed pages back to the
            # file system without rewriting the file (store.prune).
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrations.pending(db):
            migrations.apply(db)
            _init_meta(db)
    except sqlite3.OperationalError as exc:
        raise UserError(f"{path}: cannot write ({exc})") from None
    return db


def _init_meta(db: StoreDB) -> None:
    keep = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
    with db.conn:
        db.conn.execute(keep, ("format", FORMAT))
        db.conn.execute(keep, ("created_at", to_stored(utc_now())))
        # The key Secret values are hashed with is not kept here (store.secret_key): the
        # first writer sets it up.
        db.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(len(_known_names())),),
        )


class PgDatabase:
    """A PostgreSQL store as the store's code uses one (see store.handle.StoreDB)."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Any = None) -> Any:
        return self.conn.execute(sql, parameters or ())


def open_postgres(location: PostgresLocation, *, readonly: bool) -> PgDatabase:
    """Connect to a PostgreSQL store; unless ``readonly``, migrate it first (under an
    advisory lock: recorders starting together migrate once)."""
    conn = PgConnection(location, read_only=readonly)
    where = location.display()
    applied = pg_schema.applied_names(conn)
    known = _known_names()
    if applied:
        unknown = [name for name in applied if name not in known]
        if unknown:
            conn.close()
            raise UserError(
                f"{where}: written by a newer timetravel (unknown migration {unknown[0]}); "
                "upgrade timetravel"
            )
    elif applied is None and _has_other_tables(conn):
        conn.close()
        raise UserError(f"{where}: a PostgreSQL database, but not a timetravel store")
    db = PgDatabase(conn)
    if readonly:
        if not applied or len(applied) < len(known):
            conn.close()
            raise UserError(
                f"{where}: not migrated to this timetravel's schema; run "
                f"`timetravel migrate --db {where}` (or a recorder) with a role that may"
            )
        return db
    if applied is None or len(applied) < len(known):
        try:
            pg_schema.migrate(conn)
        except UserError:
            conn.close()
            raise
        _init_meta(db)
    return db


def _has_other_tables(conn: PgConnection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchone()
    return bool(row and row[0])


def redaction_key(db: StoreDB) -> Redaction:
    """The key (and scheme) a writer hashes Secret values with (see store.secret_key)."""
    from timetravel.store.secret_key import writer_redaction

    return writer_redaction(db)

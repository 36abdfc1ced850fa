"""``timetravel migrate``: a store brought to this version's schema, explicitly, saying what
was applied (a recorder migrates the store it opens; readers never do)."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from timetravel.errors import UserError
from timetravel.store import pg_schema
from timetravel.store.db import open_database, readonly_uri
from timetravel.store.location import Location, PostgresLocation, as_location
from timetravel.store.migrations import migrations


@dataclass(frozen=True)
class Migrated:
    """What ``timetravel migrate`` did to a store."""

    where: str
    applied: list[str]
    schema: list[str]  # every migration the store now has, in order

    def line(self) -> str:
        latest = f"schema {len(self.schema)} ({self.schema[-1]})" if self.schema else "schema 0"
        if not self.applied:
            return f"{self.where}: already at {latest}; nothing to apply"
        return f"{self.where}: applied {', '.join(self.applied)}; now at {latest}"


def _applied(location: Location) -> list[str]:
    """The migrations a store has, read without writing (none for a new store)."""
    if isinstance(location, PostgresLocation):
        from timetravel.store.postgres import PgConnection

        pg = PgConnection(location, application="timetravel migrate")
        try:
            return pg_schema.applied_names(pg) or []
        finally:
            pg.close()
    path = location.path
    if not path.exists():
        raise UserError(f"{path}: no such database (a recorder creates one)")
    try:
        conn = sqlite3.connect(
            readonly_uri(path, directory_writable=_writable_dir(path), wal_pending=True), uri=True
        )
    except sqlite3.Error:
        return []  # open_database says what is wrong with it
    try:
        rows = conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'timetravel'"
        ).fetchall()
        return [str(r[0]) for r in rows]
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def _writable_dir(path: Path) -> bool:
    return os.access(path.absolute().parent, os.W_OK)


def migrate_store(where: str | Path | Location) -> Migrated:
    """Bring a store to this version's schema, as a recorder does when it opens one;
    returns what was applied. A UserError when this role or user may not change it."""
    location = as_location(where)
    before = _applied(location)
    try:
        db = open_database(location, create=False)
    except UserError:
        raise
    except Exception as exc:  # the driver's refusal: a role that may only read
        if not isinstance(location, PostgresLocation):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{location.display()}: cannot migrate as this role ({reason}); run "
            "`timetravel migrate` as a role that may create tables in its schema"
        ) from None
    db.conn.close()
    have = set(_applied(location))
    after = [m.name for m in migrations._migrations if m.name in have]
    return Migrated(location.display(), [name for name in after if name not in before], after)

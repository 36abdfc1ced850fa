"""The sqlite-utils and datasette plugin: registers timetravel's SQL functions
(store/sqlfunctions.py) on each connection they open, so

    sqlite-utils query timetravel.db "select id, timetravel_json(id) from revisions"

works once timetravel is installed beside them (entry points ``sqlite_utils`` and
``datasette`` in pyproject.toml). Both call a ``prepare_connection(conn)`` hook through
pluggy, which marks an implementation by an attribute its ``HookimplMarker`` sets: the one
hook here carries both marks. Nothing is imported from datasette (not a dependency) nor
from pluggy (sqlite-utils' dependency, not timetravel's): see below.

sqlite-utils runs the hook on every ``Database`` it makes, timetravel's own connections
included: those get no functions (nothing of timetravel calls them, and the functions
would keep the connection alive until closed), and the functions' module is imported only
when a host's connection needs it.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import hookimpl as sqlite_utils_hookimpl

# datasette.hookimpl is pluggy's HookimplMarker("datasette"); made here from the class of
# sqlite-utils' own marker (the pluggy sqlite-utils runs with), so that neither datasette
# nor pluggy is imported by name: timetravel depends on neither.
datasette_hookimpl = type(sqlite_utils_hookimpl)("datasette")


@datasette_hookimpl
@sqlite_utils_hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    """Register ``timetravel_json``, ``timetravel_body`` and ``timetravel_damage`` on a
    connection a plugin host opened (not on timetravel's own)."""
    if getattr(conn, "timetravel_path", None) is not None:
        return
    from timetravel.store.sqlfunctions import register

    register(conn)

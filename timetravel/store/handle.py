"""What the store's code needs of an open database, whichever engine holds it.

``sqlite_utils.Database`` (SQLite) and :class:`~timetravel.store.db.PgDatabase`
(PostgreSQL) both have it: a connection with sqlite3's manners (``execute``,
``executemany``, ``with conn:`` as a transaction) and an ``execute`` shortcut.
"""

from __future__ import annotations

from typing import Any, Protocol


class StoreDB(Protocol):
    @property
    def conn(self) -> Any: ...

    def execute(self, sql: str, parameters: Any = None) -> Any: ...

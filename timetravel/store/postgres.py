"""A PostgreSQL connection that speaks the subset of ``sqlite3.Connection`` the store uses.

The store keeps one code path for both engines: its SQL is written once, in the dialect
both share (``?`` parameters, ``INSERT ... ON CONFLICT``, ``RETURNING``), and this module
is the thin layer under it for PostgreSQL: ``?`` becomes psycopg's ``%s``, ``with conn:``
is a transaction as with sqlite3, and a lost connection is a
:class:`~timetravel.store.db.DatabaseUnavailable` (retried by the recorder) after which the
next statement reconnects.

Statements outside ``with conn:`` run in autocommit, so a screen that reads for hours
never holds a transaction open (and sees what writers commit at once).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from timetravel.errors import UserError
from timetravel.store.location import PostgresLocation

try:  # an optional extra: SQLite needs nothing of it
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised where the extra is missing
    psycopg = None  # type: ignore[assignment]
    pg_errors = None  # type: ignore[assignment]

# Quoted strings and identifiers are copied as they are; only bare ?, :name and % are
# rewritten.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%|::|(?<![\w:]):[A-Za-z_]\w*")


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """SQLite-style parameters as psycopg's: ``?`` as ``%s``, ``:name`` as ``%(name)s``
    (and a literal ``%`` as ``%%``)."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token.startswith(":") and token != "::":
            return f"%({token[1:]})s"
        return token

    return _TOKENS.sub(replace, sql)


def require_driver() -> None:
    if psycopg is None:
        raise UserError(
            "a postgresql:// database needs the PostgreSQL driver: "
            "pip install 'timetravel[postgres]' (psycopg 3)"
        )


class PgCursor:
    """The rows of one statement, as sqlite3's cursor gives them."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall()) if self._cursor.description else []

    def fetchmany(self, size: int = 1) -> list[Any]:
        return list(self._cursor.fetchmany(size)) if self._cursor.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """One PostgreSQL session with sqlite3's manners (see the module docstring)."""

    engine = "postgresql"

    def __init__(self, location: PostgresLocation, *, application: str = "timetravel") -> None:
        require_driver()
        self.location = location
        self.application = application
        self._lock = threading.RLock()
        self._conn: Any = None
        self._transactions: list[Any] = []
        self._owner: int | None = None  # the thread whose transaction is open
        self.connect()

    # -- connection ----------------------------------------------------------------------
    def connect(self) -> None:
        assert psycopg is not None
        try:
            self._conn = psycopg.connect(
                self.location.url,
                autocommit=True,
                application_name=self.application,
                connect_timeout=10,
            )
        except psycopg.OperationalError as exc:
            raise UserError(
                f"{self.location.display()}: cannot connect ({_first_line(exc)})"
            ) from None

    def _ensure(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._transactions:
                raise _unavailable(self.location, "the connection was lost")
            self.connect()
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()

    @property
    def timetravel_path(self) -> str:
        return self.location.display()

    # -- statements ----------------------------------------------------------------------
    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> PgCursor:
        with self._lock:
            conn = self._ensure()
            try:
                # Without parameters psycopg sends the text as it is: % needs no escape.
                params = _params(parameters)
                cursor = conn.execute(translate(sql) if params else sql, params or None)
            except psycopg.OperationalError as exc:
                raise _unavailable(self.location, _first_line(exc)) from None
            return PgCursor(cursor)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        with self._lock:
            conn = self._ensure()
            try:
                with conn.cursor() as cursor:
                    cursor.executemany(translate(sql), [_params(r) for r in rows])
                    return PgCursor(cursor)
            except psycopg.OperationalError as exc:
                raise _unavailable(self.location, _first_line(exc)) from None

    # -- transactions, as `with sqlite3_connection:` -------------------------------------
    def __enter__(self) -> PgConnection:
        self._lock.acquire()
        try:
            conn = self._ensure()
            transaction = conn.transaction()
            transaction.__enter__()
        except BaseException:
            self._lock.release()
            raise
        self._transactions.append(transaction)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        transaction = self._transactions.pop()
        try:
            transaction.__exit__(*exc_info)
        except psycopg.OperationalError as exc:
            raise _unavailable(self.location, _first_line(exc)) from None
        finally:
            self._lock.release()

    def commit(self) -> None:
        """Statements outside a transaction are committed as they run."""

    def rollback(self) -> None:
        """Only ``with conn:`` opens a transaction, and it rolls back on an error."""


def _params(parameters: Sequence[Any] | dict[str, Any]) -> Any:
    if isinstance(parameters, dict):
        return parameters
    return [bytes(p) if isinstance(p, memoryview) else p for p in parameters]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unavailable(location: PostgresLocation, reason: str) -> Exception:
    from timetravel.store.db import DatabaseUnavailable

    return DatabaseUnavailable(
        f"{location.display()}: {reason}; what was being written is not kept, "
        "everything before it is",
        reason,
    )

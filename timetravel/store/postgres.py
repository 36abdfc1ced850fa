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
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
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


# Writes that may wait for the statements after them (see PgConnection.flush), and what
# a writer reads back at once.
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_BATCH = 500  # statements sent at once at most
_BATCH_BYTES = 4 << 20


@lru_cache(maxsize=1024)
def _waits(sql: str) -> bool:
    """Whether a statement in a transaction may wait for the ones after it: a write that
    returns no rows."""
    return _WRITE.match(sql) is not None and not _RETURNING.search(sql)


@lru_cache(maxsize=1024)
def _numbered(sql: str) -> tuple[str, list[Any]]:
    """The statement with PostgreSQL's own parameters (``$1``, ``$2``...) for SQLite's
    ``?`` and ``:name``, and what each is: a position, or a name (one number per name)."""
    order: list[Any] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            order.append(len(order))
            return f"${len(order)}"
        if token.startswith(":") and token != "::":
            if token[1:] not in order:
                order.append(token[1:])
            return f"${order.index(token[1:]) + 1}"
        return token

    return _TOKENS.sub(replace, sql), order


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
            "pip install 'kube-timetravel[postgres]' (psycopg 3)"
        )


class _Rows:
    """The results of one statement of a batch, read at once (see PgConnection.flush)."""

    def __init__(self, cursor: Any = None) -> None:
        self.description = cursor.description if cursor is not None else None
        self.rowcount = int(cursor.rowcount) if cursor is not None else -1
        self._rows: list[Any] = list(cursor.fetchall()) if self.description else []
        self._pos = 0

    def fetchone(self) -> Any:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int = 1) -> list[Any]:
        rows = self._rows[self._pos : self._pos + size]
        self._pos += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return rows


class PgCursor:
    """The rows of one statement, as sqlite3's cursor gives them.

    A write in a transaction may not have been sent yet (see :meth:`PgConnection.flush`):
    asking for its results sends it, with the statements before it."""

    def __init__(self, cursor: Any, owner: PgConnection | None = None) -> None:
        self._cursor = cursor  # a psycopg cursor, or _Rows; None while the statement waits
        self._owner = owner

    def _results(self) -> Any:
        if self._cursor is None and self._owner is not None:
            self._owner.flush()
        return self._cursor if self._cursor is not None else _Rows()

    @property
    def rowcount(self) -> int:
        return int(self._results().rowcount)

    @property
    def description(self) -> Any:
        return self._results().description

    def fetchone(self) -> Any:
        cursor = self._results()
        return cursor.fetchone() if cursor.description else None

    def fetchall(self) -> list[Any]:
        cursor = self._results()
        return list(cursor.fetchall()) if cursor.description else []

    def fetchmany(self, size: int = 1) -> list[Any]:
        cursor = self._results()
        return list(cursor.fetchmany(size)) if cursor.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """One PostgreSQL session with sqlite3's manners (see the module docstring)."""

    engine = "postgresql"

    def __init__(
        self,
        location: PostgresLocation,
        *,
        application: str = "timetravel",
        read_only: bool = False,
    ) -> None:
        require_driver()
        self.location = location
        self.application = application
        # A reader's session refuses writes on the server's side too: whatever code path
        # would write, a screen or an export never changes the team's record.
        self.read_only = read_only
        self._lock = threading.RLock()
        self._conn: Any = None
        self._transactions: list[Any] = []
        self._owner: int | None = None  # the thread whose transaction is open
        # Writes of the open transaction not sent yet, with their cursors (see flush).
        self._pending: list[tuple[str, weakref.ref[PgCursor]]] = []
        self._pending_size = 0
        self._literals = False  # whether values may be written into SQL (see _inlined)
        self._prepared: dict[str, str] = {}  # statement -> its name in this session
        self._can_prepare = True
        self._unprepared: set[str] = set()
        self.connect()

    # -- connection ----------------------------------------------------------------------
    def connect(self) -> None:
        assert psycopg is not None
        extra: dict[str, Any] = (
            {"options": "-c default_transaction_read_only=on"} if self.read_only else {}
        )
        try:
            self._conn = psycopg.connect(
                self.location.url,
                autocommit=True,
                application_name=self.application,
                connect_timeout=10,
                # psycopg's own prepared statements off: its cache sends DEALLOCATE ALL
                # after a DROP, an ALTER or a ROLLBACK, which would drop ours too (flush).
                prepare_threshold=None,
                **extra,
            )
        except psycopg.OperationalError as exc:
            raise UserError(
                f"{self.location.display()}: cannot connect ({_first_line(exc)})"
            ) from None
        # Quoted text is taken as it is (backslashes too) only with this setting, the
        # default since PostgreSQL 9.1: without it no value is written into SQL.
        conforming = self._conn.info.parameter_status("standard_conforming_strings")
        self._literals = conforming == "on"
        self._prepared = {}  # a new session has prepared nothing
        self._unprepared = set()

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
    def execute(
        self,
        sql: str,
        parameters: Sequence[Any] | dict[str, Any] = (),
        *,
        binary: bool = False,
    ) -> PgCursor:
        """Run one statement. ``binary``: the rows in PostgreSQL's binary format (the
        same Python values; blobs cost half on the wire and nothing to decode).

        In a transaction, an INSERT, UPDATE or DELETE whose values can be written as SQL
        literals waits, and goes with the statements after it (see :meth:`flush`)."""
        with self._lock:
            conn = self._ensure()
            if self._transactions and not binary:
                waits = _waits(sql)
                inlined = self._inlined(sql, parameters) if waits or self._pending else None
                if inlined is not None:
                    cursor = PgCursor(None, self)
                    self._pending.append((inlined, weakref.ref(cursor)))
                    self._pending_size += len(inlined)
                    if not waits or len(self._pending) >= _BATCH:
                        self.flush()  # read now: it goes with the writes before it
                    elif self._pending_size >= _BATCH_BYTES:
                        self.flush()
                    return cursor
                self.flush()
            # Without parameters psycopg sends the text as it is: % needs no escape.
            params = _params(parameters)
            try:
                cursor = conn.execute(
                    translate(sql) if params else sql, params or None, binary=binary
                )
            except psycopg.Error as exc:
                raise _translated(self.location, exc) from None
            return PgCursor(cursor)

    def _inlined(self, sql: str, params: Any) -> str | None:
        """The statement as text to send in a batch, its values written in as literals:
        ``EXECUTE`` of a statement this session prepared (the server plans it once, not
        with every row: half its time for a writer's small statements), else the
        statement itself. None when a value has no literal form here."""
        if not self._literals:
            return None
        if not params:
            return sql
        numbered, order = _numbered(sql)
        if isinstance(params, dict):
            if not all(key in params for key in order):
                return None
            values = [params[key] for key in order]
        else:
            if len(order) != len(params):
                return None  # run as it is: the driver says what is wrong
            values = list(params)
        literals = [_LITERALS[type(value)](value) for value in values if type(value) in _LITERALS]
        if len(literals) != len(values) or None in literals:
            return None
        name = self._prepared.get(sql) if self._can_prepare else None
        if name is None and self._can_prepare and sql not in self._unprepared:
            name = self._prepare(numbered)
            if name is None:
                self._unprepared.add(sql)
            else:
                self._prepared[sql] = name
        if name is not None:
            return f"EXECUTE {name}({', '.join(literals)})"  # type: ignore[arg-type]
        if isinstance(params, dict):
            return translate(sql) % dict(zip(order, literals, strict=True))
        return translate(sql) % tuple(literals)

    def _prepare(self, numbered: str) -> str | None:
        """PREPARE a statement in this session (under a savepoint: a statement whose
        parameters' types the server cannot tell is not prepared, and the transaction
        goes on); its name, or None."""
        name = f"tt_{len(self._prepared) + len(self._unprepared) + 1}"
        try:
            self._conn.execute(
                f"SAVEPOINT tt_prepare; PREPARE {name} AS {numbered}; RELEASE SAVEPOINT tt_prepare",
                prepare=False,
            )
        except psycopg.OperationalError as exc:
            raise _unavailable(self.location, _first_line(exc)) from None
        except psycopg.Error:
            try:
                self._conn.execute(
                    "ROLLBACK TO SAVEPOINT tt_prepare; RELEASE SAVEPOINT tt_prepare",
                    prepare=False,
                )
            except psycopg.Error as exc:
                raise _translated(self.location, exc) from None
            return None
        return name

    def flush(self) -> None:
        """Send the writes waiting in this transaction, in order, as one query (one round
        trip for a batch of a writer's INSERTs and UPDATEs, instead of one each). An error
        of one of them is raised here: at the next statement that reads, or at the end
        of the transaction, which then rolls back, as it would have at the statement."""
        with self._lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, []
            self._pending_size = 0
            # Results only for the cursors still held (a writer drops most at once).
            held: list[tuple[int, PgCursor]] = []
            for index, (_, ref) in enumerate(pending):
                waiting = ref()
                if waiting is not None:
                    held.append((index, waiting))
            for _, waiting in held:
                waiting._cursor = _Rows()  # what a failed batch leaves
            try:
                # No parameters: the simple protocol, which takes many statements at once.
                cursor = self._conn.execute(";\n".join(sql for sql, _ in pending), prepare=False)
                at = 0
                for index, waiting in held:
                    while at < index:
                        cursor.nextset()
                        at += 1
                    waiting._cursor = _Rows(cursor)
            except psycopg.errors.InvalidSqlStatementName as exc:
                # A statement this session prepared is gone: a pooler handed the statements
                # to another server session. Not prepared from now on; the write is tried
                # again (a recorder retries an unavailable database).
                self._can_prepare = False
                raise _unavailable(self.location, _first_line(exc)) from None
            except psycopg.Error as exc:
                raise _translated(self.location, exc) from None

    def fetch_each(
        self, sql: str, params: Sequence[Sequence[Any]], *, binary: bool = False
    ) -> list[list[Any]]:
        """The rows of one query for each of many parameter sets, sent together (pipeline
        mode): one round trip for them all, not one each."""
        with self._lock:
            conn = self._ensure()
            self.flush()
            out: list[list[Any]] = []
            try:
                with conn.cursor(binary=binary) as cursor:
                    cursor.executemany(translate(sql), [_params(p) for p in params], returning=True)
                    while True:
                        out.append(list(cursor.fetchall()))
                        if not cursor.nextset():
                            break
            except psycopg.Error as exc:
                raise _translated(self.location, exc) from None
            return out

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        with self._lock:
            conn = self._ensure()
            self.flush()
            try:
                with conn.cursor() as cursor:
                    cursor.executemany(translate(sql), [_params(r) for r in rows])
                    return PgCursor(cursor)
            except psycopg.Error as exc:
                raise _translated(self.location, exc) from None

    # -- transactions, as `with sqlite3_connection:` -------------------------------------
    def __enter__(self) -> PgConnection:
        self._lock.acquire()
        try:
            conn = self._ensure()
            self.flush()  # a savepoint comes after the writes before it
            transaction = conn.transaction()
            transaction.__enter__()
        except BaseException as exc:
            self._lock.release()
            if psycopg is not None and isinstance(exc, psycopg.Error):
                raise _translated(self.location, exc) from None
            raise
        self._transactions.append(transaction)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        transaction = self._transactions.pop()
        failed: BaseException | None = None
        try:
            if exc_info[1] is None:
                try:
                    self.flush()  # the writes still waiting: an error rolls back
                except BaseException as exc:
                    failed = exc
                    exc_info = (type(exc), exc, exc.__traceback__)
            else:
                self._discard()
            transaction.__exit__(*exc_info)
            if failed is not None:
                raise failed
        except psycopg.Error as exc:
            raise _translated(self.location, exc) from None
        finally:
            if not self._transactions:
                self._discard()
            self._lock.release()

    def _discard(self) -> None:
        """Forget the writes waiting: their transaction is being rolled back."""
        for _, ref in self._pending:
            waiting = ref()
            if waiting is not None:
                waiting._cursor = _Rows()
        self._pending = []
        self._pending_size = 0

    def commit(self) -> None:
        """Statements outside a transaction are committed as they run."""

    def rollback(self) -> None:
        """Only ``with conn:`` opens a transaction, and it rolls back on an error."""


def _params(parameters: Sequence[Any] | dict[str, Any]) -> Any:
    if isinstance(parameters, dict):
        return parameters
    return [bytes(p) if isinstance(p, memoryview) else p for p in parameters]


def _text_literal(value: str) -> str | None:
    """Text quoted (standard_conforming_strings on: a backslash is itself), of unknown
    type as psycopg sends a str; None for text PostgreSQL cannot hold (a NUL)."""
    if "\x00" in value:
        return None
    return "'" + value.replace("'", "''") + "'"


def _int_literal(value: int) -> str:
    return str(value) if value >= 0 else f"({value})"  # never "--": a comment


# Values as PostgreSQL literals of the type psycopg would send them as, by exact type
# (any other type is sent as a parameter).
_LITERALS: dict[type, Callable[[Any], str | None]] = {
    type(None): lambda value: "NULL",
    bool: lambda value: "TRUE" if value else "FALSE",
    int: _int_literal,
    str: _text_literal,
    bytes: lambda value: "'\\x" + value.hex() + "'::bytea",
    memoryview: lambda value: "'\\x" + value.hex() + "'::bytea",
}


def _translated(location: PostgresLocation, exc: BaseException) -> BaseException:
    """A lost connection or a role without the right as the store's errors; others as
    they are."""
    if isinstance(exc, psycopg.OperationalError):
        return _unavailable(location, _first_line(exc))
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return _forbidden(location, exc)
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return UserError(f"{location.display()}: opened for reading only; nothing was written")
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _forbidden(location: PostgresLocation, exc: BaseException) -> UserError:
    """A role without the right: one line (a reader role cannot record or migrate)."""
    return UserError(
        f"{location.display()}: {_first_line(exc)}; this role may not do that "
        "(a reader role only reads: see README, For a team)"
    )


def _unavailable(location: PostgresLocation, reason: str) -> Exception:
    from timetravel.store.db import DatabaseUnavailable

    return DatabaseUnavailable(
        f"{location.display()}: {reason}; what was being written is not kept, "
        "everything before it is",
        reason,
    )

"""One writer per database: the lease a recorder holds while it writes.

Two recorders writing one database each keep their own picture of every object's latest
segment, so each overwrites what the other appended: revisions double and some vanish
from their segments (``timetravel check`` finds and repairs that). The lease prevents it.

For a database file the lease is an exclusive ``flock`` on ``<database>-writer`` beside
it: the operating system drops it when the holder dies, however it dies (SIGKILL, a
closed terminal, a crash), so a lease never outlives its recorder and nothing has to
expire. Who holds it (pid, host, start, command) is written into the database's ``meta``
table for the messages of those who find it held, and into the lock file too, which can
be read while the database is busy. ``flock`` is local to one machine: on a network file
system two hosts may each get it (see docs/RELIABILITY.md).

In a PostgreSQL store many recorders write at once, one per source (a cluster, a
repository): each source's lease is a session-level advisory lock, which the server drops
when the holder's connection ends (a killed recorder's socket closes with it), and its
holder is written into ``meta`` as ``writer_lease:<source>``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from timetravel.domain.printable import printable
from timetravel.domain.times import to_stored, utc_now
from timetravel.errors import UserError
from timetravel.store.db import PgDatabase, open_database, readonly_uri
from timetravel.store.location import Location, PostgresLocation, as_location
from timetravel.store.postgres import PgConnection

META_KEY = "writer_lease"
# A prober (``holder``) takes the lock shared for an instant; a recorder starting at that
# very moment retries for this long before it calls the lease held.
_CONTENDED = 1.0


@dataclass(frozen=True)
class Holder:
    """Who writes a database."""

    pid: int
    host: str
    started_at: str
    command: str = "timetravel record"

    def describe(self) -> str:
        return printable(f"pid {self.pid} on {self.host}, since {self.started_at}")

    def short(self) -> str:
        """For a narrow header: pid, and host when it is not this one."""
        here = self.host in ("?", socket.gethostname())
        return printable(f"pid {self.pid}" if here else f"pid {self.pid}@{self.host}")

    @classmethod
    def of(cls, text: str) -> Holder | None:
        try:
            fields = json.loads(text)
            return cls(
                int(fields["pid"]),
                str(fields["host"]),
                str(fields["started_at"]),
                str(fields.get("command") or "timetravel record"),
            )
        except (ValueError, KeyError, TypeError):
            return None


class LeaseHeld(UserError):
    """Another process writes the database (or, in a team store, this source of it)."""

    def __init__(self, where: object, holder: Holder | None, source: str | None = None) -> None:
        who = f"{holder.command} ({holder.describe()})" if holder else "another process"
        what = f"{source} in {where}" if source else str(where)
        one = "one writer per source" if source else "one writer per database"
        super().__init__(
            f"{what}: already recorded by {who}; {one}: stop it, "
            "or wait for it with `timetravel record --standby`"
        )
        self.holder = holder


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-writer")


def _open_lock(db_path: Path) -> int:
    path = lock_path(db_path)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UserError(f"{path}: cannot open the writer lock ({exc.strerror})") from None


def _read_holder(fd: int) -> Holder | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return Holder.of(os.read(fd, 4096).decode("utf-8", "replace"))
    except OSError:
        return None


def holder(where: Path | str | Location, source: str = "") -> Holder | None:
    """Who holds the lease of a database (of ``source`` in a team store) now, or None."""
    location = as_location(where)
    if isinstance(location, PostgresLocation):
        return _advisory_holder(location, source)
    return _file_holder(location.path)


def _file_holder(db_path: Path) -> Holder | None:
    path = lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # never leased, or not readable: nobody this user could wait for
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or Holder(0, "?", "?", "another process")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class Lease:
    """A writer's lease, held from :meth:`acquire` until :meth:`release` or exit."""

    where: object
    source: str | None = None

    def __init__(self, command: str) -> None:
        self.me = Holder(os.getpid(), socket.gethostname(), to_stored(utc_now()), command)

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def holder_now(self) -> Holder | None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def acquire(
        self,
        *,
        standby: bool = False,
        waiting: Callable[[Holder | None], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
        poll: float = 0.5,
    ) -> bool:
        """Take the lease, or raise :class:`LeaseHeld` naming its holder. With ``standby``,
        wait until the holder ends (``waiting`` is told who it is, once); False when
        ``stop`` says to give up first."""
        contended_until = time.monotonic() + _CONTENDED
        told = False
        while not self.try_acquire():
            if stop():
                return False
            if time.monotonic() >= contended_until:
                current = self.holder_now()
                if not standby:
                    raise LeaseHeld(self.where, current, self.source)
                if waiting is not None and not told:
                    waiting(current)
                    told = True
            time.sleep(0.05 if time.monotonic() < contended_until else poll)
        return True

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def writer_lease(
    where: Path | str | Location, source: str = "", *, command: str = "timetravel record"
) -> Lease:
    """The lease a writer of ``source`` takes: the database file's (SQLite: one writer for
    every source), or the source's own in a team store."""
    location = as_location(where)
    if isinstance(location, PostgresLocation):
        return AdvisoryLease(location, source or "database", command=command)
    return WriterLease(location.path, command=command)


def writer_leases(
    where: Path | str | Location, sources: list[str], *, command: str = "timetravel record"
) -> list[Lease]:
    """The leases a writer of ``sources`` takes: the one of a database file, or one per
    source in a team store."""
    location = as_location(where)
    if isinstance(location, PostgresLocation):
        return [AdvisoryLease(location, s, command=command) for s in sources]
    return [WriterLease(location.path, command=command)]


class WriterLease(Lease):
    """The lease of one database file."""

    def __init__(self, db_path: Path, *, command: str = "timetravel record") -> None:
        super().__init__(command)
        self.db_path = db_path
        self.where = db_path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lease if it is free; True when this process holds it."""
        if self._fd is not None:
            return True
        fd = _open_lock(self.db_path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        text = json.dumps(asdict(self.me)).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)
        self._publish()
        return True

    def holder_now(self) -> Holder | None:
        """Who holds it: the lock file says (its holder wrote it), else the database."""
        fd = _open_lock(self.db_path)
        try:
            found = _read_holder(fd)
        finally:
            os.close(fd)
        return found or holder_in_database(self.db_path)

    def _publish(self) -> None:
        """Write who holds the lease into the database, for others' messages."""
        db = open_database(self.db_path)
        try:
            with db.conn:
                db.conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (META_KEY, json.dumps(asdict(self.me))),
                )
        finally:
            db.conn.close()

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def holder_in_database(db_path: Path) -> Holder | None:
    """The last holder the database names (it may have ended since)."""
    try:
        uri = readonly_uri(db_path, directory_writable=True, wal_pending=True)
        conn = sqlite3.connect(uri, uri=True, timeout=2)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return Holder.of(row[0]) if row else None


def _advisory_key(source: str) -> int:
    """A source's advisory lock key: 64 bits of its digest, signed as PostgreSQL's bigint."""
    digest = hashlib.blake2b(f"timetravel:{source}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLease(Lease):
    """The lease of one source in a PostgreSQL store: a session-level advisory lock on a
    connection of its own, which the server drops when that connection ends."""

    def __init__(self, location: PostgresLocation, source: str, *, command: str) -> None:
        super().__init__(command)
        self.location = location
        self.where = location.display()
        self.source = source
        self.key = _advisory_key(source)
        self._conn: PgConnection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = PgConnection(self.location, application=f"timetravel lease {self.source}")
        # Every source's writer shares the whole store's lock, which a repair (the
        # "database" source) takes alone.
        whole = _advisory_key("database")
        args: tuple[int, ...] = (whole,)
        if self.source == "database":
            sql = "SELECT pg_try_advisory_lock(?)"
        else:
            sql = "SELECT pg_try_advisory_lock_shared(?) AND pg_try_advisory_lock(?)"
            args = (whole, self.key)
        row = conn.execute(sql, args).fetchone()
        if not row or not row[0]:
            conn.close()  # the session ends: whatever it got is dropped with it
            return False
        self._conn = conn
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"{META_KEY}:{self.source}", json.dumps(asdict(self.me))),
        )
        return True

    def holder_now(self) -> Holder | None:
        return _advisory_holder(self.location, self.source or "database")

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        conn.close()  # the session ends: the server drops its advisory locks


def _advisory_holder(location: PostgresLocation, source: str) -> Holder | None:
    db = PgDatabase(PgConnection(location, application="timetravel lease probe"))
    key = _advisory_key(source or "database")
    try:
        held = db.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = ? AND objid = ? AND objsubid = 1 AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchone()
        if held is None:
            return None
        row = db.execute(
            "SELECT value FROM meta WHERE key = ?", (f"{META_KEY}:{source or 'database'}",)
        ).fetchone()
        return (Holder.of(row[0]) if row else None) or Holder(0, "?", "?", "another process")
    finally:
        db.conn.close()

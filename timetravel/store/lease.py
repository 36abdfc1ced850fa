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
"""

from __future__ import annotations

import fcntl
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
from timetravel.store.db import open_database, readonly_uri

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
    """Another process writes the database."""

    def __init__(self, db_path: Path, holder: Holder | None) -> None:
        who = f"{holder.command} ({holder.describe()})" if holder else "another process"
        super().__init__(
            f"{db_path}: already recorded by {who}; one writer per database: stop it, "
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


def holder(db_path: Path) -> Holder | None:
    """Who holds the lease of ``db_path`` now, or None when nobody writes it."""
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


class WriterLease:
    """The lease of one database, held from :meth:`acquire` until :meth:`release` or exit."""

    def __init__(self, db_path: Path, *, command: str = "timetravel record") -> None:
        self.db_path = db_path
        self.me = Holder(os.getpid(), socket.gethostname(), to_stored(utc_now()), command)
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
                    raise LeaseHeld(self.db_path, current)
                if waiting is not None and not told:
                    waiting(current)
                    told = True
            time.sleep(0.05 if time.monotonic() < contended_until else poll)
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

    def __enter__(self) -> WriterLease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


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

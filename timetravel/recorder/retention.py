"""``record --keep D``: the recorder prunes its own history as it records.

The recorder holds the writer lease of what it records, so it is the one that may prune
it: at the start and then every hour, history older than D (by the recorder's clock) is
removed (store.prune), one transaction at a time between the recorder's own writes.

A cluster recorder prunes in its writer thread, on the writer's connection, a step after
each batch it writes. Its writer remembers each object's latest segment (and the keyframes
of new objects' siblings), which a prune may rewrite or remove, so the writer is renewed
after each step that changed the store: it reads what it needs again as objects come. A
git-only recorder prunes in a thread of its own: its repositories' writers read what they
need from the store at each sync.

Scope: a database file is the recorder's own (its lease is the file's): all of it. In a
team store (PostgreSQL) it prunes the cluster it records (objects, gaps, Warning events,
the repositories bound to it); runs, audit events and commits belong to every cluster and
are pruned by ``timetravel prune`` over the whole store.

Space: the freed pages of a file are reused by what is recorded next (no ``VACUUM`` while
recording: it would rewrite the file); a file made with auto_vacuum=INCREMENTAL gives them
back after each prune.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from timetravel.domain.times import from_stored, to_stored
from timetravel.errors import UserError
from timetravel.store.db import open_database
from timetravel.store.location import Location
from timetravel.store.prune import Pruner, PruneReport

EVERY = 3600.0  # seconds between prunes
RETRY = 300.0  # seconds before a prune that failed is tried again
# Objects in one prune transaction: the writer waits for it (~0.1 s at 200 objects; an
# hour's prune after the first is a few such steps).
BATCH = 200


class Retention:
    """Prunes history older than ``keep``, a transaction per :meth:`step`."""

    def __init__(
        self,
        keep: timedelta,
        *,
        clock: Callable[[], str],
        cluster: str | None = None,
        every: float = EVERY,
        batch: int = BATCH,
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.keep = keep
        self.clock = clock
        self.cluster = cluster
        self.every = every
        self.batch = batch
        self.report = report
        self.last: PruneReport | None = None  # the last prune finished
        self._pruner: Pruner | None = None
        self._batches: Iterator[str] | None = None
        self._next = time.monotonic()  # the first one at the start

    @property
    def pruning(self) -> bool:
        return self._batches is not None

    def step(self, db: Any) -> bool:
        """Run one prune transaction when a prune is due or under way; True when the store
        may have changed (a writer's remembered segments may be stale: renew it)."""
        if self._batches is None:
            if time.monotonic() < self._next:
                return False
            cut = to_stored(from_stored(self.clock()) - self.keep)
            self._pruner = Pruner(
                db, cut, cluster=self.cluster, batch=self.batch, reclaim="incremental"
            )
            self._batches = self._pruner.batches()
        try:
            next(self._batches)
        except StopIteration:
            self._finished()
        except Exception as exc:  # a failed prune must not stop the recording
            self._batches = None
            self._next = time.monotonic() + RETRY
            self.report(f"prune failed ({exc}); trying again in {RETRY / 60:.0f} min")
        return True

    def _finished(self) -> None:
        assert self._pruner is not None
        self.last = self._pruner.report
        self._batches = None
        self._next = time.monotonic() + self.every
        if self.last.removed:
            self.report(f"kept {_span(self.keep)}: {self.last.lines()[0]}")

    def run(self, where: Location, stop: threading.Event) -> None:
        """Prune on a connection of its own until ``stop`` (a git-only recorder)."""
        db = open_database(where)
        try:
            while not stop.is_set():
                if not self.step(db) or not self.pruning:
                    stop.wait(1.0)
        finally:
            db.conn.close()


def _span(keep: timedelta) -> str:
    days = keep / timedelta(days=1)
    return f"{days:g} days" if days >= 1 else f"{keep.total_seconds() / 3600:g} hours"


def scope(postgres: bool, cluster: str | None) -> str | None:
    """The cluster a recorder's prune keeps to (None: the whole store, a file's), or a
    UserError: a git-only recorder of a team store has no part of its own to prune."""
    if not postgres:
        return None
    if cluster is None:
        raise UserError(
            "--keep in a team store prunes the recorded cluster's history: record a "
            "cluster, or prune the whole store with `timetravel prune --before`"
        )
    return cluster

"""What the screen shows, as plain values: the data layer under ``timetravel ui``.

Pure Python over :class:`~timetravel.store.reader.Reader` and :mod:`timetravel.query.moment`; no
Textual. The screen calls it from worker threads only, so every call may block: a call
borrows a session (a read-only connection and its caches) that no other thread uses
meanwhile. The loads a newer one replaces take a ``stop`` callable and give up
(:class:`~timetravel.query.rows.Superseded`) once it says so.

:class:`ScreenData` is the one object the screen holds: it keeps the sessions and the caches
that outlive a call, and hands each query to the module that answers it (:mod:`.rows` for
the resources at a moment, :mod:`.detail` for one resource, :mod:`.changes` for the change
stream, :mod:`.timeline` for density and marks).

A store may hold several clusters (a team store): the screen shows one at a time,
:attr:`ScreenData.cluster`, and every query here is limited to it (:mod:`.scope`): its
objects and changes, its gaps and observations, runs seen in it, and the desired state of
the repositories bound to it or to none. The store's time range stays the whole store's:
it only bounds the searches and tells the poll that something new arrived.

Nothing here decides desired state, drift or causes: states come from ``moment.compare``,
causes from the :class:`~timetravel.domain.snapshot.ChangeView` values ``moment`` builds,
drift from the same points as ``drift.drift_history``; the screen shows whatever they hold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from timetravel.domain.drift import DriftInterval
from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import ChangeView, Snapshot
from timetravel.domain.times import DEFAULT_WINDOW, from_stored, to_stored, utc_now
from timetravel.query import changes, timeline
from timetravel.query.causes import CauseFinder
from timetravel.query.changes import Reading, stored_range
from timetravel.query.damage import damage_errors, damage_line
from timetravel.query.desired import RENDERING, DesiredState
from timetravel.query.detail import Detail, detail_at, with_drift
from timetravel.query.drift_walk import DriftWalker
from timetravel.query.moment import CompareCache, build_snapshot, change_view
from timetravel.query.rows import (
    LiveSet,
    ResourceSet,
    Rows,
    Stop,
    check,
    count_rows,
    live_at,
    never,
)
from timetravel.query.scope import Scope, check_cluster, first_cluster, scope_of
from timetravel.query.timeline import NOTABLE, Density, Marker
from timetravel.store.db import open_database, read_only_copy
from timetravel.store.location import Location, SqliteLocation, as_location
from timetravel.store.prune import kept_from
from timetravel.store.reader import Reader
from timetravel.store.records import Damage


@dataclass
class _Session:
    """One reading connection and what is cached over it; one thread uses it at a time."""

    reader: Reader
    desired: DesiredState
    causes: CauseFinder | None = None
    generation: int = -1
    desired_generation: int = 0  # the store generation ``desired``'s caches hold
    damage_seen: int = 0  # the reader's damaged reads already collected


class ScreenData:
    """Queries the screen needs, each safe to call from any worker thread.

    Every worker of the screen is a new thread: the connections and their caches (decoded
    keyframes, desired sets, the evidence causes are weighed with) live in a pool of
    sessions that each call borrows, so a load does not start cold.
    """

    def __init__(
        self,
        db_path: Path | str | Location,
        *,
        now: datetime | None = None,
        notable: frozenset[str] = NOTABLE,
        cluster: str | None = None,
    ) -> None:
        """``cluster``: the one to show first (a UserError when the store does not hold
        it); None: the first by name."""
        self.db_path = as_location(db_path)
        # A file (or directory) this user may not write: opened read-only, said in the header.
        self.read_only_copy = isinstance(self.db_path, SqliteLocation) and read_only_copy(
            self.db_path.path
        )
        self.notable = notable
        self._local = threading.local()
        self._now = now
        self._lock = threading.Lock()
        self._generation = 0
        self._pool: list[_Session] = []
        self._live: LiveSet | None = None
        self._sets: dict[tuple[str | None, str], ResourceSet] = {}
        self._compare_cache: CompareCache = {}
        self._rows = Rows(self._compare_cache)
        self._drift = DriftWalker(self._compare_cache)
        self._range: tuple[str | None, str | None] | None = None
        # Objects whose stored versions a load could not decode, by key (see damage_line).
        self._damage: dict[ResourceKey, Damage] = {}
        # Fail fast (a UserError) on a missing, foreign or damaged file, before the screen
        # starts: a first real read of facts, not only the header pages.
        self.reader()
        self._known: tuple[str, ...] = tuple(self._read_clusters())
        self.cluster: str | None = first_cluster(self._known, cluster)
        self.time_range()
        self.resources_at(self.time_range()[1] or self.now())

    # -- plumbing -------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[_Session]:
        """Borrow a session for this thread (calls nested in it share it)."""
        current: _Session | None = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with self._lock:
            session = self._pool.pop() if self._pool else None
        if session is None:
            db = open_database(self.db_path, readonly=True)
            session = _Session(Reader(db), DesiredState(db), desired_generation=self._generation)
        elif session.desired_generation != self._generation:
            session.desired.forget_changes()
            session.desired_generation = self._generation
        self._local.session = session
        try:
            yield session
            self._collect_damage(session)
        finally:
            self._local.session = None
            with self._lock:
                self._pool.append(session)

    def _collect_damage(self, session: _Session) -> None:
        """Keep what the session's reader met that it could not decode (left out of the
        answers; the screen says so)."""
        reader = session.reader
        if reader.damage_reads == session.damage_seen:
            return
        found = reader.damage(since=session.damage_seen)
        session.damage_seen = reader.damage_reads
        with self._lock:
            for damage in found:
                known = self._damage.get(damage.key)
                if known is not None:
                    damage = replace(
                        damage,
                        start=min(known.start, damage.start),
                        end=max(known.end, damage.end),
                        segments=tuple(sorted({*known.segments, *damage.segments})),
                    )
                self._damage[damage.key] = damage

    def damage_line(self) -> str | None:
        """One line naming the objects of the cluster shown whose stored versions the
        screen's reads could not decode (damaged bytes) and left out; None when none."""
        with self._lock:
            cluster = self.cluster
            found = [d for d in self._damage.values() if cluster in (None, d.key.cluster)]
        return damage_line(damage_errors(found))

    def reader(self) -> Reader:
        """The reader of the session this thread holds, else this thread's own."""
        session: _Session | None = getattr(self._local, "session", None)
        if session is not None:
            return session.reader
        reader: Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = Reader(open_database(self.db_path, readonly=True))
            self._local.reader = reader
        return reader

    def causes(self) -> CauseFinder:
        """The session's cause finder (it caches runs; invalidate() renews it)."""
        with self.session() as session:
            if session.causes is None or session.generation != self._generation:
                session.causes = CauseFinder(session.reader.db)
                session.generation = self._generation
            return session.causes

    def _reading(self, session: _Session) -> Reading:
        """What a load reads through while it holds ``session``."""
        return Reading(
            session.reader, session.desired, self.causes(), self._compare_cache, self.scope
        )

    @property
    def scope(self) -> Scope:
        """The cluster shown, as the queries take it (read once at the start of each)."""
        with self._lock:
            return scope_of(self._known, self.cluster)

    def invalidate(self) -> None:
        """Forget cached moments: the store has new facts (a late fact can change the past)."""
        with self._lock:
            self._sets.clear()
            self._live = None
            self._drift.forget()
            self._generation += 1

    def now(self) -> datetime:
        return self._now if self._now is not None else utc_now()

    # -- the store as a whole ---------------------------------------------------------
    def kept_from(self) -> datetime | None:
        """Where the kept history of the cluster shown starts (``timetravel prune``): before
        it nothing is known; None when nothing was pruned."""
        cluster = self.scope.cluster
        with self.session() as session:
            found = kept_from(session.reader.conn, cluster)
        return from_stored(found) if found else None

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        first, last = self._stored_range()
        return (
            from_stored(first) if first else None,
            from_stored(last) if last else None,
        )

    def _stored_range(self) -> tuple[str | None, str | None]:
        """The first and last observation times, moved on from the last ones seen."""
        with self.session() as session:
            found = stored_range(session.reader, self._range)
        self._range = found
        return found

    def newest_ref_update(self) -> tuple[int, datetime | None]:
        """The ref update recorded last: a number that changes with every new one (0: none
        yet), and when it was observed. The poll asks it beside :meth:`time_range`, which
        sees revisions only: a commit must reach the screen without any cluster change."""
        with self.session() as session:
            newest = session.desired.git.newest_update()
            # A set rendered after its commit was recorded is news too (the ids only grow).
            rendered = session.desired.git.newest_set()
        return (newest[0] + rendered, from_stored(newest[1])) if newest else (0, None)

    def _first(self) -> str | None:
        """The first observation time: the one seen last, else read."""
        first = self._range[0] if self._range else None
        return first or self._stored_range()[0]

    # -- clusters ---------------------------------------------------------------------
    def clusters(self) -> list[str]:
        """The clusters the store holds, by name (as last read: see :meth:`refresh_clusters`)."""
        with self._lock:
            return list(self._known)

    def _read_clusters(self) -> list[str]:
        with self.session():
            return [c["name"] for c in self.reader().clusters()]

    def refresh_clusters(self) -> bool:
        """Read the clusters again (a recorder of another one may have joined the store);
        True when they changed. The first to arrive in an empty store is shown."""
        known = tuple(self._read_clusters())
        with self._lock:
            if known == self._known:
                return False
            self._known = known
            if self.cluster is None or self.cluster not in known:
                self.cluster = first_cluster(known, None)
        # Another cluster joined: reads must now be filtered (or no longer need to be).
        self.invalidate()
        return True

    def set_cluster(self, name: str) -> None:
        """Show ``name`` from now on (a UserError when the store does not hold it)."""
        with self._lock:
            check_cluster(self._known, name)
            if name == self.cluster:
                return
            self.cluster = name
        self.invalidate()

    # -- resources at a moment --------------------------------------------------------
    def resources_at(self, at: datetime, stop: Stop = never) -> ResourceSet:
        """Every resource live or declared at ``at``, with its state (rows without causes:
        :meth:`causes_of` explains the rows on screen)."""
        stored = to_stored(at)
        with self._lock:
            scope = scope_of(self._known, self.cluster)
            cached = self._sets.get((scope.cluster, stored))
            base, generation = self._live, self._generation
        if cached is not None:
            return replace(cached, at=at)
        kept = self.kept_from()
        if kept is not None and at < kept:
            # History before the cut was pruned: what was there is not known, and the
            # objects that kept a base revision from then are not all that was.
            empty = ResourceSet(at, (), count_rows(()), (), (), cluster=scope.cluster)
            return empty
        with self.session() as session:
            live = live_at(session.reader, stored, base, stop, cluster=scope.revisions)
            sides, declared = session.desired.merged_at(stored, scope.cluster)
            clusters = (
                [scope.cluster]
                if scope.cluster is not None
                else [c["name"] for c in session.reader.clusters()]
            )
            rows, records = self._rows.of(session.reader, live, declared, clusters, stop)
        positions = {row.key: index for index, row in enumerate(rows)}
        found = ResourceSet(
            at=at,
            rows=rows,
            counts=count_rows(rows),
            clusters=tuple(clusters),
            repos=tuple(
                f"{Path(s.repo.path).name}@{s.repo.branch}" + (RENDERING if s.pending else "")
                for s in sides
            ),
            cluster=scope.cluster,
            records=records,
            positions=positions,
        )
        with self._lock:
            if generation == self._generation:  # nothing new arrived meanwhile
                self._live = live
                if len(self._sets) >= 8:
                    self._sets.pop(next(iter(self._sets)))
                self._sets[(scope.cluster, stored)] = found
        return found

    def causes_of(
        self, resources: ResourceSet, keys: Iterable[ResourceKey], stop: Stop = never
    ) -> dict[ResourceKey, str]:
        """The cause of each row's last change, for the rows asked (those on screen)."""
        out: dict[ResourceKey, str] = {}
        with self.session():
            causes = self.causes()
            for count, key in enumerate(keys):
                if count % 20 == 0:
                    check(stop)
                record = resources.records.get(key)
                if record is not None:
                    # Without the previous revision, as a list of thousands always showed it.
                    out[key] = change_view(record, None, causes).cause
        return out

    def export_snapshot(self, at: datetime, window: timedelta = DEFAULT_WINDOW) -> Snapshot:
        """The snapshot at ``at`` of the cluster shown, as ``timetravel export --cluster``."""
        cluster = self.scope.cluster
        with self.session():
            return build_snapshot(
                self.reader().db, at, window=window, generated_at=self.now(), cluster=cluster
            )

    # -- one resource ---------------------------------------------------------------------
    def detail(
        self,
        key: ResourceKey,
        at: datetime,
        *,
        limit: int = 200,
        drift: bool = True,
        stop: Stop = never,
    ) -> Detail:
        """Desired, actual and diff of ``key`` at ``at``, and its changes up to then.

        ``drift=False`` leaves out the open drift interval, the slow part on a long history:
        the screen reads it apart (:meth:`drift_at`) so the rest shows first.
        """
        with self.session() as session:
            found = detail_at(self._reading(session), key, at, limit=limit, stop=stop)
            if drift and found.view is not None and found.view.state == "drifted":
                found = with_drift(found, self.drift_at(key, at, stop=stop))
            return found

    def drift_at(self, key: ResourceKey, at: datetime, stop: Stop = never) -> DriftInterval | None:
        """The drift interval of ``key`` open at ``at``, if it is drifted then."""
        cluster = self.scope.cluster
        with self.session() as session:
            return self._drift.open_at(
                session.reader, session.desired, self.causes(), key, to_stored(at), stop, cluster
            )

    # -- changes across all resources ---------------------------------------------------
    def next_change_after(self, at: datetime, steps: int = 1) -> datetime | None:
        """The ``steps``-th distinct change time after ``at`` (or the last one there is)."""
        only = self.scope.revisions
        with self.session() as session:
            return changes.next_change_after(session.reader, at, steps, cluster=only)

    def prev_change_before(self, at: datetime, steps: int = 1) -> datetime | None:
        """The ``steps``-th distinct change time before ``at`` (or the first one there is)."""
        only = self.scope.revisions
        with self.session() as session:
            return changes.prev_change_before(
                session.reader, self._first(), at, steps, cluster=only
            )

    def changes_around(
        self, at: datetime, count: int = 60, stop: Stop = never
    ) -> tuple[list[ChangeView], int]:
        """Up to ``count`` changes nearest ``at`` (half before, half after), oldest first,
        and the index of the first one after ``at``."""
        with self.session() as session:
            return changes.changes_around(self._reading(session), self._first(), at, count, stop)

    # -- the timeline -------------------------------------------------------------------
    def density(self, start: datetime, end: datetime, buckets: int) -> Density:
        """How many revisions fall in each of ``buckets`` equal slices of [start, end)."""
        only = self.scope.revisions
        with self.session() as session:
            return timeline.density(session.reader, start, end, buckets, cluster=only)

    def markers(self, start: datetime, end: datetime, stop: Stop = never) -> list[Marker]:
        """Notable moments in [start, end): gaps, and every change that earns a mark."""
        with self.session() as session:
            return timeline.markers(self._reading(session), start, end, stop)

    def next_notable(
        self,
        at: datetime,
        *,
        forward: bool,
        kinds: frozenset[str] | None = None,
        chunk: int = 2000,
        stop: Stop = never,
    ) -> Marker | None:
        """The nearest drift opening or manual edit (``notable`` kinds) after/before ``at``."""
        with self.session() as session:
            return timeline.next_notable(
                self._reading(session),
                self._first(),
                at,
                forward=forward,
                kinds=self.notable if kinds is None else kinds,
                chunk=chunk,
                stop=stop,
            )

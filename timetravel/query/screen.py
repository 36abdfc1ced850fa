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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from timetravel.domain.argocd import APPLICATION
from timetravel.domain.drift import DriftInterval
from timetravel.domain.ignore import RuleSet
from timetravel.domain.model import ResourceKey
from timetravel.domain.notes import Note
from timetravel.domain.snapshot import ChangeView, Snapshot
from timetravel.domain.times import (
    DEFAULT_WINDOW,
    from_micros,
    from_stored,
    to_micros,
    to_stored,
    utc_now,
)
from timetravel.host import collector_paused
from timetravel.query import changes, incremental, provenance, timeline, workload_artifacts
from timetravel.query import compare as compare_states
from timetravel.query import glimpse as glimpses
from timetravel.query import notes as screen_notes
from timetravel.query.causes import CauseFinder
from timetravel.query.changes import Reading, stored_range
from timetravel.query.compare import Difference
from timetravel.query.damage import damage_errors, damage_line
from timetravel.query.desired import DesiredState
from timetravel.query.detail import Detail, detail_at, with_drift
from timetravel.query.drift import drift_history
from timetravel.query.drift_report import Drift, with_drift_intervals
from timetravel.query.drift_walk import DriftWalker
from timetravel.query.glimpse import glimpse as glimpse_rows
from timetravel.query.ignore_policy import IgnorePolicy, policy_at
from timetravel.query.moment import CompareCache, build_snapshot, change_view
from timetravel.query.rows import (
    LiveSet,
    ResourceSet,
    Rows,
    Stop,
    check,
    count_rows,
    never,
)
from timetravel.query.scope import Scope, check_cluster, first_cluster, scope_of
from timetravel.query.timeline import NOTABLE, Density, Marker
from timetravel.query.workload_artifacts import ArtifactHistory, WorkloadArtifacts
from timetravel.store import write_marks
from timetravel.store.builds import builds_mark
from timetravel.store.db import open_database, read_only_copy
from timetravel.store.location import Location, SqliteLocation, as_location
from timetravel.store.prune import kept_from
from timetravel.store.reader import Reader
from timetravel.store.records import Damage, RevisionRecord
from timetravel.store.runs import evidence_mark

# How far back a digest's first run is looked for (the cause panel, the ``p`` key): every
# Pod revision of the span is read, seconds a week on a store of 4,000 Pods.
ARTIFACT_LOOK_BACK = timedelta(days=7)
# How far after the cursor the ``p`` key's history goes (the rollback after an incident).
ARTIFACT_LOOK_AHEAD = timedelta(days=1)


@dataclass
class _Session:
    """One reading connection and what is cached over it; one thread uses it at a time."""

    reader: Reader
    desired: DesiredState
    causes: CauseFinder | None = None
    generation: int = -1
    desired_generation: int = 0  # the store generation ``desired``'s caches hold
    desired_mark: tuple[Any, ...] | None = None  # the git facts then (GitStore.mark)
    # What ``causes`` weighed was read after: (git, runs and audit events), writers' marks.
    causes_marks: tuple[tuple[Any, ...], write_marks.Marks | None] | None = None
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
        ignore: RuleSet | None = None,
    ) -> None:
        """``cluster``: the one to show first (a UserError when the store does not hold
        it); None: the first by name. ``ignore``: timetravel.toml's ``[drift] ignore``
        rules (those of the Applications recorded at each moment always apply)."""
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
        self._moment: incremental.Moment | None = None  # the moment read last
        self._flights: dict[tuple[str | None, str], threading.Event] = {}
        # The moment read last before news came: moved from while nothing was written since.
        self._stale: incremental.Moment | None = None
        self._sets: dict[tuple[str | None, str], ResourceSet] = {}
        # The unknown-provenance rows of the moment asked last, moved by the next step.
        self._marks: provenance.Marks | None = None
        self._compare_cache: CompareCache = {}
        self._rows = Rows(self._compare_cache)
        self._drift = DriftWalker(self._compare_cache)
        self._range: tuple[str | None, str | None] | None = None
        self.ignore = ignore
        # The ignore policy of the moments read last, by (cluster, stored time).
        self._policies: dict[tuple[str | None, str], IgnorePolicy] = {}
        # Objects whose stored versions a load could not decode, by key (see damage_line).
        self._damage: dict[ResourceKey, Damage] = {}
        # Fail fast (a UserError) on a missing, foreign or damaged file, before the screen
        # starts: a first real read of facts, not only the header pages.
        self.reader()
        self._known: tuple[str, ...] = tuple(self._read_clusters())
        self.cluster: str | None = first_cluster(self._known, cluster)
        self.time_range()
        # The newest moment read once (its rows, a glimpse where the store is large: the
        # screen shows in a second at 100,000 objects, not after a whole build of them).
        self.resources_at(self.time_range()[1] or self.now(), glimpse=True)

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
            # News: what git declared is read again only where git has news (a recorder's
            # revisions alone leave it as it was).
            mark = session.desired.git.mark()
            if mark != session.desired_mark:
                session.desired.forget_changes()
                session.desired_mark = mark
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
        """The session's cause finder (it caches runs and what they explain): after news,
        a new one where runs, audit events or git moved, else the one before with what
        the revisions written since can change forgotten (CauseFinder.forget_from)."""
        with self.session() as session:
            if session.causes is None or session.generation != self._generation:
                session.causes = self._causes_after_news(session)
                session.generation = self._generation
            return session.causes

    def _causes_after_news(self, session: _Session) -> CauseFinder:
        reader = session.reader
        # Read before the finder reads anything: what comes after them is news next time.
        evidence = (session.desired.git.mark(), evidence_mark(reader.db))
        writes = reader.write_marks()
        finder, then = session.causes, session.causes_marks
        kept = False
        if finder is not None and then is not None and then[0] == evidence:
            movable, since = written_since(writes, then[1], _END_OF_TIME)
            kept = movable and (since is None or finder.forget_from(since))
        session.causes_marks = (evidence, writes)
        return finder if kept and finder is not None else CauseFinder(reader.db)

    def _reading(self, session: _Session, policy: IgnorePolicy | None = None) -> Reading:
        """What a load reads through while it holds ``session``; ``policy``: the ignore
        rules drift is judged with (none: no rule)."""
        found = Reading(
            session.reader, session.desired, self.causes(), self._compare_cache, self.scope
        )
        return found if policy is None else replace(found, policy=policy)

    @property
    def scope(self) -> Scope:
        """The cluster shown, as the queries take it (read once at the start of each)."""
        with self._lock:
            return scope_of(self._known, self.cluster)

    def invalidate(self) -> None:
        """Forget cached moments: the store has new facts (a late fact can change the past)."""
        with self._lock:
            self._sets.clear()
            self._policies.clear()
            self._live = None
            if self._moment is not None:
                self._stale = self._moment
            self._moment = None
            if self._marks is not None and self._marks.writes is None:
                # Nothing tells what the news changed of them (a store before m015).
                self._marks = None
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
    def resources_at(
        self,
        at: datetime,
        stop: Stop = never,
        *,
        glimpse: bool = False,
        near: ResourceKey | None = None,
    ) -> ResourceSet:
        """Every resource live or declared at ``at``, with its state (rows without causes:
        :meth:`causes_of` explains the rows on screen).

        ``glimpse``: where the moment would be read in full (a far jump), the rows around
        ``near`` only, the rest pending (``ResourceSet.complete`` False: query.glimpse);
        the caller asks again without it for the whole set."""
        if glimpse:
            found = self._glimpse(at, near, stop)
            if found is not None:
                return found
        flying = (self.scope.cluster, to_stored(at))
        while True:
            with self._lock:
                flight = self._flights.get(flying)
                if flight is None:
                    flight = self._flights[flying] = threading.Event()
                    break
            # Another load reads this very moment (the detail's ignore rules ask for it
            # too): wait for it, then take what it kept, rather than read it twice.
            while not flight.wait(0.02):
                check(stop)
        try:
            return self._resources_at(at, stop)
        finally:
            with self._lock:
                self._flights.pop(flying, None)
            flight.set()

    def _glimpse(self, at: datetime, near: ResourceKey | None, stop: Stop) -> ResourceSet | None:
        """The glimpse of ``at`` when reading it would mean a build; None when a set is
        kept or the step from the moment read last is near (then resources_at is quick)."""
        stored = to_stored(at)
        with self._lock:
            scope = scope_of(self._known, self.cluster)
            kept_set = (scope.cluster, stored) in self._sets
            moment, stale = self._moment, self._stale
            flying = (scope.cluster, stored) in self._flights
        if kept_set or flying:
            return None
        kept = self.kept_from()
        if kept is not None and at < kept:
            return None  # before the cut: nothing is known, said at once
        with self.session() as session:
            reader = session.reader
            cut = to_stored(kept) if kept is not None else None
            base, since, _ = _to_move(reader, moment, stale, cut)
            if base is not None and base.live.cluster == scope.revisions:
                if base.at == stored and since is None:
                    return None  # the same moment
                lo, hi = min(base.at, stored), max(base.at, stored)
                touched = reader.touched_between(
                    lo if since is None else min(lo, since),
                    hi,
                    cluster=scope.revisions,
                    limit=incremental.near_limit(base),
                )
                if touched is not None:
                    return None  # near: a step
            policy = self.rules_at(at, stop)
            # A row and a key per object, none with a cycle: collections passing over the
            # hundreds of thousands made (and the rows kept) would cost more than making them.
            with collector_paused():
                return glimpse_rows(
                    reader,
                    session.desired,
                    self._rows,
                    at,
                    stored,
                    scope,
                    _clusters_of(scope, reader),
                    policy,
                    near,
                    stop=stop,
                    least=glimpses.LEAST,
                )

    def _resources_at(self, at: datetime, stop: Stop) -> ResourceSet:
        stored = to_stored(at)
        with self._lock:
            scope = scope_of(self._known, self.cluster)
            cached = self._sets.get((scope.cluster, stored))
            base, stale, generation = self._moment, self._stale, self._generation
        if cached is not None:
            return replace(cached, at=at)
        kept = self.kept_from()
        if kept is not None and at < kept:
            # History before the cut was pruned: what was there is not known, and the
            # objects that kept a base revision from then are not all that was.
            empty = ResourceSet(at, (), count_rows(()), (), (), cluster=scope.cluster)
            return empty
        with self.session() as session:
            clusters = _clusters_of(scope, session.reader)
            # Moved from the moment read last when it is near (incremental.step), else
            # read in full: the same rows either way. What was written since it was read
            # (news or not yet) is read again where it lies at or before it; a write into
            # a writer's past, or a prune, has it read in full (store.write_marks).
            cut = to_stored(kept) if kept is not None else None
            base, since, marks = _to_move(session.reader, base, stale, cut)
            moment = None
            if base is not None:
                moment = incremental.step(
                    session.reader,
                    session.desired,
                    self._rows,
                    base,
                    at,
                    stored,
                    scope,
                    clusters,
                    self._policy_of,
                    stop,
                    since,
                )
            if moment is None:
                moment = incremental.build(
                    session.reader,
                    session.desired,
                    self._rows,
                    at,
                    stored,
                    scope,
                    clusters,
                    self._policy_of,
                    stop,
                )
        moment = replace(moment, marks=marks, kept=cut)
        found = moment.resources
        with self._lock:
            if generation == self._generation:  # nothing new arrived meanwhile
                self._moment, self._live, self._stale = moment, moment.live, None
                # The detail's rules (policy()) without reading the moment again.
                if (scope.cluster, stored) not in self._policies:
                    if len(self._policies) >= 16:
                        self._policies.pop(next(iter(self._policies)))
                    self._policies[(scope.cluster, stored)] = moment.policy
                if len(self._sets) >= 8:
                    self._sets.pop(next(iter(self._sets)))
                self._sets[(scope.cluster, stored)] = found
        return found

    # -- ignore rules ---------------------------------------------------------------------
    def _policy_of(
        self, cluster: str | None, stored: str, live: Iterable[RevisionRecord]
    ) -> IgnorePolicy:
        """The ignore policy of a moment whose live objects are ``live`` (kept a while)."""
        with self._lock:
            known = self._policies.get((cluster, stored))
        if known is not None:
            return known
        found = policy_at(live, self.ignore)
        with self._lock:
            if len(self._policies) >= 16:
                self._policies.pop(next(iter(self._policies)))
            self._policies[(cluster, stored)] = found
        return found

    def policy(self, at: datetime, stop: Stop = never) -> IgnorePolicy:
        """The ignore rules in force at ``at`` for the cluster shown: configured, and
        those of the Argo CD Applications live then."""
        stored = to_stored(at)
        scope = self.scope
        with self._lock:
            known = self._policies.get((scope.cluster, stored))
        if known is not None:
            return known
        # The rules are the Applications': read those alone, not the whole moment (a far
        # jump's detail would otherwise wait for every row).
        return self.rules_at(at, stop)

    def rules_at(self, at: datetime, stop: Stop = never) -> IgnorePolicy:
        """:meth:`policy` for a moment the screen does not show (the timeline's end, the
        last record): from the Applications live then alone, not the whole moment."""
        stored = to_stored(at)
        scope = self.scope
        with self._lock:
            known = self._policies.get((scope.cluster, stored))
        if known is not None:
            return known
        check(stop)
        with self.session() as session:
            # By the cluster shown even where it is the store's only one: then the seek
            # goes by the identities' index (cluster, group, kind, ...), not over every
            # identity (~10 ms at 10,000 objects, asked at every step by the detail).
            applications = session.reader.state_at(
                stored, cluster=scope.cluster or scope.revisions, kind=APPLICATION
            )
        return self._policy_of(scope.cluster, stored, applications)

    def ignore_problems(self) -> list[str]:
        """Configured ignore rules that could not be read (said once on the screen)."""
        return list(self.ignore.problems) if self.ignore is not None else []

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
            db = self.reader().db
            snapshot = build_snapshot(
                db, at, window=window, generated_at=self.now(), cluster=cluster, ignore=self.ignore
            )
            return with_drift_intervals(db, snapshot, ignore=self.ignore)

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
            policy = self.policy(at, stop)
            found = detail_at(
                self._reading(session), key, at, limit=limit, stop=stop, policy=policy
            )
            found = replace(found, notes=self.notes_for(key, at))
            if drift and found.view is not None and found.view.state == "drifted":
                found = with_drift(found, self.drift_at(key, at, stop=stop))
            return found

    def drift_at(self, key: ResourceKey, at: datetime, stop: Stop = never) -> DriftInterval | None:
        """The drift interval of ``key`` open at ``at``, if it is drifted then."""
        cluster = self.scope.cluster
        policy = self.policy(at, stop)  # what the rules in force cover is not drift
        with self.session() as session:
            return self._drift.open_at(
                session.reader,
                session.desired,
                self.causes(),
                key,
                to_stored(at),
                stop,
                cluster,
                policy=policy,
            )

    # -- notes, drift intervals, comparisons (issue 24) ---------------------------------------
    def notes_for(self, key: ResourceKey | None, at: datetime) -> tuple[Note, ...]:
        """The notes about ``key`` up to ``at``, newest first (none: the moment's own)."""
        cluster = self.scope.cluster
        with self.session() as session:
            return screen_notes.notes_for(session.reader.db, key, to_stored(at), cluster)

    def add_note(
        self, at: datetime, text: str, key: ResourceKey | None = None, author: str | None = None
    ) -> Note:
        """Pin a note at ``at`` (about ``key``) in the cluster shown; a UserError (one
        line) when this store may not be written (a read-only copy, a reader role)."""
        return screen_notes.write_note(
            self.db_path,
            at=to_stored(at),
            text=text,
            cluster=self.cluster,
            key=key,
            author=author,
            read_only=self.read_only_copy,
        )

    def drift_intervals(self, key: ResourceKey, until: datetime) -> list[Drift]:
        """Every drift interval of ``key`` up to ``until``, oldest first (the last may be
        open): when it opened and by whom, when and how it closed, how long it lasted."""
        with self.session() as session:
            found = drift_history(
                session.reader.db,
                key,
                to_stored(until),
                causes=self.causes(),
                policy=self.rules_at(until),  # the rules in force then
            )
        return [Drift(key, interval) for interval in found]

    def compare_moments(self, a: datetime, b: datetime) -> list[Difference]:
        """What was added, removed or changed in the cluster shown from ``a`` to ``b``."""
        cluster = self.scope.cluster
        with self.session() as session:
            return compare_states.compare_moments(
                session.reader, to_stored(a), to_stored(b), cluster=cluster
            )

    def compare_clusters(self, at: datetime, other: str) -> list[Difference]:
        """How ``other`` differs from the cluster shown at ``at``."""
        shown = self.cluster or ""
        check_cluster(self.clusters(), other)
        with self.session() as session:
            return compare_states.compare_clusters(session.reader, to_stored(at), shown, other)

    def object_at(self, key: ResourceKey, at: datetime) -> dict[str, Any] | None:
        """The live object ``key`` at ``at`` (None: not live then)."""
        with self.session() as session:
            found = session.reader.object_at(key, to_stored(at))
        return None if found is None or found.deleted else found.obj

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
        # Drift openings judged with the rules in force at the view's end (what a rule
        # covers opens no drift, as in the list).
        policy = self.rules_at(end, stop)
        with self.session() as session:
            return timeline.markers(self._reading(session, policy), start, end, stop)

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
        policy = self.rules_at(at, stop)  # the rules in force at the cursor
        with self.session() as session:
            return timeline.next_notable(
                self._reading(session, policy),
                self._first(),
                at,
                forward=forward,
                kinds=self.notable if kinds is None else kinds,
                chunk=chunk,
                stop=stop,
            )

    # -- artifacts: what a workload ran, and from which build (issue 23) ---------------
    def _look_back(self, at: datetime) -> str:
        """Where a digest's first run and its tags are looked for: the first thing
        recorded, at most ``ARTIFACT_LOOK_BACK`` before ``at``."""
        first = self._first()
        since = to_stored(at - ARTIFACT_LOOK_BACK)
        return max(first, since) if first is not None and first <= to_stored(at) else since

    def artifacts_of(self, key: ResourceKey, at: datetime) -> WorkloadArtifacts | None:
        """The chain of each digest ``key``'s row runs at ``at`` (build, source commit,
        config commit, deploying run or sync, first run); None for a kind without any."""
        cluster = self.scope.cluster
        with self.session() as session:
            return workload_artifacts.artifacts_of(
                session.reader,
                session.reader.db,
                self.causes(),
                key,
                to_stored(at),
                self._look_back(at),
                cluster=cluster,
            )

    def artifact_history(self, key: ResourceKey, at: datetime) -> ArtifactHistory | None:
        """Which digests ``key``'s row ran, from the look-back before ``at`` to a day after
        it (or the last thing recorded, if sooner); None for a kind without any."""
        cluster = self.scope.cluster
        stored = to_stored(at)
        last = self._stored_range()[1]
        ahead = to_stored(at + ARTIFACT_LOOK_AHEAD)
        end = max(min(last, ahead), stored) if last is not None else stored
        with self.session() as session:
            return workload_artifacts.history_of(
                session.reader,
                session.reader.db,
                key,
                stored,
                self._look_back(at),
                end,
                cluster=cluster,
            )

    def unknown_provenance(
        self, resources: ResourceSet, stop: Stop = never
    ) -> Mapping[ResourceKey, tuple[str, ...]]:
        """The rows of ``resources`` running a digest no recorded build produced, with
        those digests (from the objects the set holds: no state is read again). Moved from
        the moment asked last when it is near (query.provenance); the very mapping given
        last when nothing changed, so the list can tell at once."""
        stored = to_stored(resources.at)
        with self._lock:
            base, generation = self._marks, self._generation
        with self.session() as session:
            reader = session.reader
            # What was written since the marks were read, as resources_at tells it; a build
            # recorded since can make any digest's provenance known: built again.
            writes, builds = reader.write_marks(), builds_mark(reader.db)
            since = None
            if base is not None and base.builds != builds:
                base = None
            if base is not None:
                movable, since = written_since(writes, base.writes, base.at)
                base = base if movable else None
            marks = None
            if base is not None:
                marks = provenance.step(
                    reader,
                    reader.db,
                    base,
                    stored,
                    resources.records,
                    resources.cluster,
                    stop,
                    since,
                )
            if marks is None:
                marks = provenance.build(
                    reader, reader.db, stored, resources.records.values(), resources.cluster, stop
                )
        if (marks.writes, marks.builds) != (writes, builds):
            marks = replace(marks, writes=writes, builds=builds)
        with self._lock:
            if generation == self._generation:
                self._marks = marks
        return marks.unknown


# A moment after every other: what was written since, wherever it lies (written_since).
_END_OF_TIME = "9999-12-31T23:59:59.999999Z"


def written_since(
    now: write_marks.Marks | None, then: write_marks.Marks | None, at: str
) -> tuple[bool, str | None]:
    """Whether what was read at ``at`` (stored) when the writers' marks were ``then`` can
    be moved on from, now that they are ``now``; and if so, after which time what was
    written since may lie at or before ``at`` (None: nothing does). Not without marks."""
    if now is None or then is None:
        return False, None
    after = write_marks.unseen_after(then, now, to_micros(at))
    if after == write_marks.LATE:
        return False, None
    return True, None if after is None else from_micros(after)


def _to_move(
    reader: Reader,
    moment: incremental.Moment | None,
    stale: incremental.Moment | None,
    cut: str | None,
) -> tuple[incremental.Moment | None, str | None, write_marks.Marks | None]:
    """The moment a step moves from (the one read last, else the one read before news),
    and after which time what was written since it was read may lie before it; with the
    writers' marks now. None when it must be read in full: pruned since, or a write it
    cannot tell apart (store.write_marks). In a store without marks the moment read last
    is moved from as it is until news comes."""
    marks = reader.write_marks()
    base = moment if moment is not None else stale
    if base is None or base.kept != cut:
        return None, None, marks
    if marks is None and base is moment:
        return base, None, marks
    movable, since = written_since(marks, base.marks, base.at)
    return (base if movable else None), since, marks


def _clusters_of(scope: Scope, reader: Reader) -> list[str]:
    """The clusters a moment's rows are of: the one shown, else every one the store holds."""
    return [scope.cluster] if scope.cluster is not None else [c["name"] for c in reader.clusters()]

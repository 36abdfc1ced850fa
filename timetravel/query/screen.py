"""What the screen shows, as plain values: the data layer under ``timetravel ui``.

Pure Python over :class:`~timetravel.store.reader.Reader` and :mod:`timetravel.query.moment`; no
Textual. The screen calls it from worker threads only, so every call may block: a call
borrows a session (a read-only connection and its caches) that no other thread uses
meanwhile. The loads a newer one replaces take a ``stop`` callable and give up
(:class:`~timetravel.query.rows.Superseded`) once it says so.

Nothing here decides desired state, drift or causes: states come from ``moment.compare``,
causes from the :class:`~timetravel.domain.snapshot.ChangeView` values ``moment`` builds,
drift from the same points as ``drift.drift_history``; the screen shows whatever they hold.
"""

from __future__ import annotations

import copy
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from timetravel.domain.diff import FieldDiff, diff_desired_actual
from timetravel.domain.drift import DriftInterval
from timetravel.domain.managed_fields import field_owners
from timetravel.domain.model import ResourceKey
from timetravel.domain.native_runs import is_failed
from timetravel.domain.paths import find_item
from timetravel.domain.paths import get as get_path
from timetravel.domain.paths import parse as parse_path
from timetravel.domain.snapshot import ChangeView, ResourceView, Snapshot
from timetravel.domain.times import from_stored, to_stored, utc_now
from timetravel.query.causes import CauseFinder
from timetravel.query.desired import DeclaredObject, DesiredState
from timetravel.query.drift_walk import DriftWalker
from timetravel.query.moment import (
    CompareCache,
    build_snapshot,
    change_view,
    changes_in,
    compare,
    live_view,
    missing_view,
)
from timetravel.query.rows import (
    STOP_EVERY,
    LiveSet,
    Rows,
    Stop,
    check,
    count_rows,
    live_at,
    never,
)
from timetravel.query.rows import ResourceRow as ResourceRow  # re-exported
from timetravel.query.rows import ResourceSet as ResourceSet  # re-exported
from timetravel.store.db import open_database
from timetravel.store.gitstore import CommitRecord
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

TICK = timedelta(microseconds=1)
# Far enough to cover any store; stored times are fixed-width text so these compare as text.
END_OF_TIME = "9999-12-31T23:59:59.999999Z"
START_OF_TIME = "0001-01-01T00:00:00.000000Z"
# Most changes whose causes are read for timeline marks in one visible range.
MARK_LIMIT = 3000
# Revisions read per query while looking for the last observation time.
RANGE_PAGE = 1000
# Most revisions counted exactly for a density bar; past it, counts saturate per bucket.
DENSITY_LIMIT = 20000

# Changes explained between two looks at a load's ``stop`` (each parses two bodies).
CHANGES_EVERY = 25

# Marker kinds, most important first: a column of the timeline shows the first one present.
MARK_KINDS = (
    "failed_sync",
    "drift",
    "manual",
    "pipeline",
    "commit",
    "gap",
    "deleted",
    "inferred",
    "status_only",
)
# Kinds `n`/`N` jump between.
NOTABLE = frozenset({"drift", "manual"})


@dataclass(frozen=True)
class Marker:
    """One notable moment on the timeline: what kind, when, about which resource."""

    at: datetime
    kind: str  # one of MARK_KINDS
    key: ResourceKey | None = None
    label: str = ""
    until: datetime | None = None  # the end of a span (a gap)


@dataclass(frozen=True)
class Detail:
    """One resource at one moment: desired, actual, their difference, how it came to be."""

    key: ResourceKey
    at: datetime
    view: ResourceView | None  # None when the resource is not live (deleted, or not yet)
    deleted_at: str | None
    changes: tuple[ChangeView, ...]  # up to ``at``, newest first
    drift_since: ChangeView | None  # the change that opened the current drift, if drifted
    change_times: tuple[datetime, ...] = field(default=())  # every change, oldest first
    drift: DriftInterval | None = None  # the open drift interval at the cursor
    commits: dict[str, CommitRecord] = field(default_factory=dict)  # by sha, for the panel
    field_diffs: tuple[FieldDiff, ...] = ()  # every difference, noise (defaults, status) too
    quiet_actual: dict[str, Any] | None = None  # the live object without its noise fields


@dataclass(frozen=True)
class Density:
    start: datetime
    end: datetime
    counts: tuple[int, ...]
    saturated: bool  # counts were capped: the bar shows "at least"


def with_drift(detail: Detail, interval: DriftInterval | None) -> Detail:
    """``detail`` with the drift interval open at its moment and the change that opened it."""
    if interval is None:
        return replace(detail, drift=None, drift_since=None)
    opened = from_stored(interval.opened_at)
    since = next((c for c in detail.changes if from_stored(c.at) == opened), None)
    return replace(detail, drift=interval, drift_since=since)


def without_paths(obj: dict[str, Any], drop: Iterable[str]) -> dict[str, Any]:
    """A copy of ``obj`` without the fields at ``drop`` (noise hidden from the YAML view)."""
    out: dict[str, Any] = copy.deepcopy(obj)
    for path in drop:
        try:
            segments = parse_path(path)
        except ValueError:
            continue
        if not segments:
            continue
        parent = get_path(out, segments[:-1]) if len(segments) > 1 else out
        last = segments[-1]
        if isinstance(parent, dict) and isinstance(last, str):
            parent.pop(last, None)
        elif isinstance(parent, list):
            position = last if isinstance(last, int) else find_item(parent, last)
            if position is not None and 0 <= position < len(parent):
                parent.pop(position)
    _prune(out, obj)
    return out


def _prune(new: Any, old: Any) -> None:
    """Drop maps that removal left empty (``annotations: {}``) where the original had keys."""
    if not isinstance(new, dict) or not isinstance(old, dict):
        return
    for key in list(new):
        _prune(new[key], old.get(key))
        if new[key] == {} and old.get(key):
            del new[key]


def diff_entries(
    view: ResourceView | None, every: Sequence[FieldDiff] = ()
) -> list[tuple[str, Any, Any, bool]]:
    """The resource's field diff as (path, desired, actual, noise), whatever shape it has."""
    if every:
        return [(d.path, d.desired, d.actual, d.noise) for d in every]
    if view is None:
        return []
    out = []
    for entry in view.diff:
        if isinstance(entry, dict):
            out.append(
                (
                    str(entry.get("path")),
                    entry.get("desired"),
                    entry.get("actual"),
                    bool(entry.get("noise", False)),
                )
            )
        else:
            out.append(
                (
                    str(getattr(entry, "path", "")),
                    getattr(entry, "desired", None),
                    getattr(entry, "actual", None),
                    bool(getattr(entry, "noise", False)),
                )
            )
    return out


def marker_kinds(view: ChangeView) -> list[str]:
    """The timeline marks one change earns. The one place causes become marks."""
    kinds = []
    if getattr(view, "failed_sync", False):
        kinds.append("failed_sync")
    if getattr(view, "drift_opened", False):
        kinds.append("drift")
    if view.cause == "manual":
        kinds.append("manual")
    if view.pipeline_run is not None:
        kinds.append("pipeline")
    if view.commit:
        kinds.append("commit")
    if view.type == "deleted":
        kinds.append("deleted")
    if view.inferred:
        kinds.append("inferred")
    if view.status_only:
        kinds.append("status_only")
    return kinds


def _describe(view: ChangeView) -> str:
    if view.type != "updated":
        return view.type
    if not view.fields:
        return "updated"
    first = view.fields[0].path
    more = len(view.fields) - 1
    return f"{first} (+{more})" if more else first


def summary(view: ChangeView) -> str:
    """One line saying what a change did: ``created``, ``spec.replicas (+2)``."""
    return _describe(view)


P = ParamSpec("P")
R = TypeVar("R")


def _in_session(
    method: Callable[Concatenate[ScreenData, P], R],
) -> Callable[Concatenate[ScreenData, P], R]:
    """Run the method on a borrowed session (see :meth:`ScreenData.session`)."""

    def borrowing(self: ScreenData, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.session():
            return method(self, *args, **kwargs)

    borrowing.__name__, borrowing.__doc__ = method.__name__, method.__doc__
    return borrowing


@dataclass
class _Session:
    """One reading connection and what is cached over it; one thread uses it at a time."""

    reader: Reader
    desired: DesiredState
    causes: CauseFinder | None = None
    generation: int = -1


class ScreenData:
    """Queries the screen needs, each safe to call from any worker thread.

    Every worker of the screen is a new thread: the connections and their caches (decoded
    keyframes, desired sets, the evidence causes are weighed with) live in a pool of
    sessions that each call borrows, so a load does not start cold.
    """

    def __init__(
        self,
        db_path: Path | str,
        *,
        now: datetime | None = None,
        notable: frozenset[str] = NOTABLE,
    ) -> None:
        self.db_path = Path(db_path)
        self.notable = notable
        self._local = threading.local()
        self._now = now
        self._lock = threading.Lock()
        self._generation = 0
        self._pool: list[_Session] = []
        self._live: LiveSet | None = None
        self._sets: dict[str, ResourceSet] = {}
        self._compare_cache: CompareCache = {}
        self._rows = Rows(self._compare_cache)
        self._drift = DriftWalker(self._compare_cache)
        self._range: tuple[str | None, str | None] | None = None
        # Fail fast (a UserError) on a missing, foreign or damaged file, before the screen
        # starts: a first real read of facts, not only the header pages.
        self.reader()
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
            session = _Session(Reader(db), DesiredState(db))
        self._local.session = session
        try:
            yield session
        finally:
            self._local.session = None
            with self._lock:
                self._pool.append(session)

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

    def _changes(self, records: Sequence[RevisionRecord], stop: Stop = never) -> list[ChangeView]:
        """Change views of consecutive records, ``stop`` looked at between chunks."""
        out: list[ChangeView] = []
        for start in range(0, len(records), CHANGES_EVERY):
            check(stop)
            out.extend(
                changes_in(self.reader(), records[start : start + CHANGES_EVERY], self.causes())
            )
        return out

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
    def time_range(self) -> tuple[datetime | None, datetime | None]:
        first, last = self._stored_range()
        return (
            from_stored(first) if first else None,
            from_stored(last) if last else None,
        )

    @_in_session
    def _stored_range(self) -> tuple[str | None, str | None]:
        """The first and last observation times, moved on from the last ones seen.

        ``Reader.time_range`` scans every revision (~0.25 s on a million: min and max in
        one SELECT use no index), and the poll asks every second: once it is known, look
        only for revisions before the first and after the last, which the index finds.
        """
        reader = self.reader()
        first, last = self._range or (None, None)
        if first is None or last is None:
            found = reader.time_range()
        else:
            earlier = reader.changes_between(
                START_OF_TIME, _moved(first, -TICK), with_body=False, limit=1
            )
            if earlier:
                first = earlier[0].observed_at
            found = (first, _latest_from(reader, last))
        self._range = found
        return found

    def clusters(self) -> list[str]:
        with self.session():
            return [c["name"] for c in self.reader().clusters()]

    # -- resources at a moment --------------------------------------------------------
    def resources_at(self, at: datetime, stop: Stop = never) -> ResourceSet:
        """Every resource live or declared at ``at``, with its state (rows without causes:
        :meth:`causes_of` explains the rows on screen)."""
        stored = to_stored(at)
        with self._lock:
            cached = self._sets.get(stored)
            base, generation = self._live, self._generation
        if cached is not None:
            return replace(cached, at=at)
        with self.session() as session:
            live = live_at(session.reader, stored, base, stop)
            sides, declared = session.desired.merged_at(stored)
            clusters = [c["name"] for c in session.reader.clusters()]
            rows, records = self._rows.of(session.reader, live, declared, clusters, stop)
        positions = {row.key: index for index, row in enumerate(rows)}
        found = ResourceSet(
            at=at,
            rows=rows,
            counts=count_rows(rows),
            clusters=tuple(clusters),
            repos=tuple(f"{Path(s.repo.path).name}@{s.repo.branch}" for s in sides),
            records=records,
            positions=positions,
        )
        with self._lock:
            if generation == self._generation:  # nothing new arrived meanwhile
                self._live = live
                if len(self._sets) >= 8:
                    self._sets.pop(next(iter(self._sets)))
                self._sets[stored] = found
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

    def export_snapshot(self, at: datetime, window: timedelta = timedelta(hours=1)) -> Snapshot:
        with self.session():
            return build_snapshot(self.reader().db, at, window=window, generated_at=self.now())

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
            found = self._detail(session, key, at, limit, stop)
            if drift and found.view is not None and found.view.state == "drifted":
                found = with_drift(found, self.drift_at(key, at, stop=stop))
            return found

    def drift_at(self, key: ResourceKey, at: datetime, stop: Stop = never) -> DriftInterval | None:
        """The drift interval of ``key`` open at ``at``, if it is drifted then."""
        with self.session() as session:
            return self._drift.open_at(
                session.reader, session.desired, self.causes(), key, to_stored(at), stop
            )

    def _detail(
        self, session: _Session, key: ResourceKey, at: datetime, limit: int, stop: Stop
    ) -> Detail:
        reader = session.reader
        stored = to_stored(at)
        latest = reader.object_at(key, stored)
        _, declared = session.desired.merged_at(stored)
        match = declared.get((key.group, key.kind, key.namespace, key.name))
        view = self._view(key, latest if latest is not None and not latest.deleted else None, match)
        records: list[RevisionRecord] = []
        all_times: tuple[datetime, ...] = ()
        if latest is not None:
            every = reader.history(latest.resource_id, with_body=False)
            all_times = tuple(from_stored(r.observed_at) for r in reversed(every))
            check(stop)
            records = reader.history(latest.resource_id, until=stored)[:limit]
        changes = tuple(reversed(self._changes(list(reversed(records)), stop)))
        deleted_at = latest.observed_at if latest is not None and latest.deleted else None
        field_diffs: tuple[FieldDiff, ...] = ()
        quiet_actual = None
        if view is not None and view.desired is not None and view.actual is not None:
            owners = (
                field_owners(latest.managed_fields) if latest and latest.managed_fields else None
            )
            field_diffs = tuple(diff_desired_actual(view.desired, view.actual, owners=owners))
            quiet_actual = without_paths(view.actual, (d.path for d in field_diffs if d.noise))
        git = session.desired.git
        commits = {
            sha: found
            for sha in {c.commit for c in changes if c.commit}
            if (found := git.commit(sha)) is not None
        }
        return Detail(
            key=key,
            at=at,
            view=view,
            deleted_at=deleted_at,
            changes=changes,
            drift_since=None,
            change_times=all_times,
            commits=commits,
            field_diffs=field_diffs,
            quiet_actual=quiet_actual,
        )

    def _view(
        self, key: ResourceKey, live: RevisionRecord | None, match: DeclaredObject | None
    ) -> ResourceView | None:
        """The resource as the snapshot shows it: live, declared-but-missing, or neither."""
        if live is not None:
            return live_view(live, match, self._compare_cache)
        return missing_view(key, match) if match is not None else None

    # -- changes across all resources ---------------------------------------------------
    def _before(self, end: datetime, count: int, *, floor: str = START_OF_TIME) -> list[str]:
        """Observation times of up to ``count`` revisions before ``end``, oldest first.

        The store reads forward only, so look back in growing windows.
        """
        reader = self.reader()
        hi = to_stored(end - TICK)
        width = timedelta(minutes=1)
        first = self._range[0] if self._range else None
        first = first or self._stored_range()[0]
        if first is None:
            return []
        lowest = max(first, floor)
        for _ in range(64):
            lo = end - width
            lo_text = max(to_stored(lo), lowest)
            rows = reader.changes_between(lo_text, hi, with_body=False, limit=count * 8 + 1000)
            if len(rows) >= count or lo_text <= lowest:
                if len(rows) > count * 8 + 999:
                    # Too dense to hold: narrow the window instead.
                    width = width / 4
                    continue
                return [r.observed_at for r in rows[-count:]]
            width *= 8
        return [r.observed_at for r in rows[-count:]]

    @_in_session
    def next_change_after(self, at: datetime, steps: int = 1) -> datetime | None:
        """The ``steps``-th distinct change time after ``at`` (or the last one there is)."""
        reader = self.reader()
        found: datetime | None = None
        cursor = at
        for _ in range(max(1, steps)):
            rows = reader.changes_between(
                to_stored(cursor + TICK), END_OF_TIME, with_body=False, limit=1
            )
            if not rows:
                break
            found = cursor = from_stored(rows[0].observed_at)
        return found

    @_in_session
    def prev_change_before(self, at: datetime, steps: int = 1) -> datetime | None:
        """The ``steps``-th distinct change time before ``at`` (or the first one there is)."""
        found: datetime | None = None
        cursor = at
        for _ in range(max(1, steps)):
            times = self._before(cursor, 1)
            if not times:
                break
            found = cursor = from_stored(times[-1])
        return found

    @_in_session
    def changes_around(
        self, at: datetime, count: int = 60, stop: Stop = never
    ) -> tuple[list[ChangeView], int]:
        """Up to ``count`` changes nearest ``at`` (half before, half after), oldest first,
        and the index of the first one after ``at``."""
        reader = self.reader()
        half = max(1, count // 2)
        before_times = self._before(at + TICK, half)
        start = before_times[0] if before_times else to_stored(at)
        before = reader.changes_between(start, to_stored(at))
        after = reader.changes_between(to_stored(at + TICK), END_OF_TIME, limit=half)
        records = before[-half:] + after
        views = self._changes(records, stop)
        return views, len(before[-half:])

    @_in_session
    def density(self, start: datetime, end: datetime, buckets: int) -> Density:
        """How many revisions fall in each of ``buckets`` equal slices of [start, end)."""
        reader = self.reader()
        buckets = max(1, buckets)
        span = (end - start) / buckets
        counts = [0] * buckets
        rows = reader.changes_between(
            to_stored(start), to_stored(end - TICK), with_body=False, limit=DENSITY_LIMIT
        )
        if len(rows) < DENSITY_LIMIT:
            for row in rows:
                index = int((from_stored(row.observed_at) - start) / span)
                counts[min(max(index, 0), buckets - 1)] += 1
            return Density(start, end, tuple(counts), saturated=False)
        cap = max(20, DENSITY_LIMIT // buckets)
        for index in range(buckets):
            lo = start + span * index
            counts[index] = len(
                reader.changes_between(
                    to_stored(lo), to_stored(lo + span - TICK), with_body=False, limit=cap
                )
            )
        return Density(start, end, tuple(counts), saturated=True)

    @_in_session
    def markers(self, start: datetime, end: datetime, stop: Stop = never) -> list[Marker]:
        """Notable moments in [start, end): gaps, and every change that earns a mark."""
        reader = self.reader()
        out = [
            Marker(
                at=max(from_stored(gap.started_at), start),
                kind="gap",
                label=gap.reason,
                until=from_stored(gap.ended_at),
            )
            for gap in reader.gaps_between(to_stored(start), to_stored(end))
        ]
        lo, hi = to_stored(start), to_stored(end - TICK)
        records = reader.changes_between(lo, hi, limit=MARK_LIMIT)
        out.extend(self._marks_of(self._changes(records, stop)))
        out.extend(self._drift_openings(records, stop))
        causes = self.causes()
        for update, commit in causes.git.ref_updates_between(lo, hi):
            out.append(
                Marker(
                    at=from_stored(update.observed_at),
                    kind="commit",
                    label=f"{commit.sha[:7]} {commit.message.strip().splitlines()[0]}",
                )
            )
        for run in causes.runs_between(lo, hi):
            when = run.finished_at or run.started_at or run.reported_at
            if when is None or not lo <= when <= hi:
                continue
            kind = "failed_sync" if is_failed(run) else "pipeline"
            out.append(
                Marker(
                    at=from_stored(when),
                    kind=kind,
                    label=f"{run.provider} {run.pipeline} {run.status or ''}".strip(),
                )
            )
        for seen in reader.observations_between(lo, hi):
            key = None
            if seen.object_kind and seen.object_name:
                key = ResourceKey(
                    seen.cluster,
                    "",
                    seen.object_kind,
                    seen.object_namespace or "",
                    seen.object_name,
                )
            out.append(
                Marker(
                    at=from_stored(seen.observed_at),
                    kind="failed_sync",
                    key=key,
                    label=f"{seen.reason}: {seen.message or ''}"[:120],
                )
            )
        out.sort(key=lambda m: m.at)
        return out

    def _drift_openings(
        self, records: Sequence[RevisionRecord], stop: Stop = never
    ) -> list[Marker]:
        """Changes that took a resource away from what git declared at that moment."""
        out = []
        with self.session() as session:
            desired = session.desired
        for count, record in enumerate(records):
            if count % STOP_EVERY == 0:
                check(stop)
            if record.status_only or record.change != "updated":
                continue
            _, declared = desired.merged_at(record.observed_at)
            match = declared.get(
                (record.key.group, record.key.kind, record.key.namespace, record.key.name)
            )
            if match is None:
                continue
            previous = self.reader().previous(record)
            before, _ = compare(match, previous, self._compare_cache)
            after, _ = compare(match, record, self._compare_cache)
            if after == "drifted" and before != "drifted":
                out.append(
                    Marker(
                        at=from_stored(record.observed_at),
                        kind="drift",
                        key=record.key,
                        label=f"drift opened on {record.key.display()}",
                    )
                )
        return out

    @staticmethod
    def _marks_of(views: Iterable[ChangeView]) -> list[Marker]:
        out = []
        for view in views:
            for kind in marker_kinds(view):
                out.append(
                    Marker(at=from_stored(view.at), kind=kind, key=view.key, label=summary(view))
                )
        return out

    @_in_session
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
        reader = self.reader()
        kinds = self.notable if kinds is None else kinds
        if forward:
            cursor = to_stored(at + TICK)
            for _ in range(50):
                records = reader.changes_between(cursor, END_OF_TIME, limit=chunk)
                marks = self._marks_of(self._changes(records, stop))
                marks += self._drift_openings(records, stop)
                hits = sorted((m for m in marks if m.kind in kinds), key=lambda m: m.at)
                if hits:
                    return hits[0]
                if len(records) < chunk:
                    return None
                cursor = to_stored(from_stored(records[-1].observed_at) + TICK)
            return None
        end = at
        for _ in range(50):
            times = self._before(end, chunk)
            if not times:
                return None
            records = reader.changes_between(times[0], to_stored(end - TICK))
            marks = self._marks_of(self._changes(records, stop))
            marks += self._drift_openings(records, stop)
            hits = sorted((m for m in marks if m.kind in kinds), key=lambda m: m.at)
            if hits:
                return hits[-1]
            end = from_stored(times[0])
        return None


def _moved(stored: str, by: timedelta) -> str:
    return to_stored(from_stored(stored) + by)


def _latest_from(reader: Reader, last: str) -> str:
    """The last observation time, ``last`` or a later one, paging forward from it."""
    while True:
        newer = reader.changes_between(
            _moved(last, TICK), END_OF_TIME, with_body=False, limit=RANGE_PAGE
        )
        if newer:
            last = newer[-1].observed_at
        if len(newer) < RANGE_PAGE:
            return last


def step_in(times: Sequence[datetime], at: datetime, *, forward: bool) -> datetime | None:
    """The nearest time in sorted ``times`` strictly after (or before) ``at``."""
    if forward:
        index = bisect_left(times, at + TICK)
        return times[index] if index < len(times) else None
    index = bisect_left(times, at)
    return times[index - 1] if index > 0 else None

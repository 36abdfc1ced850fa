"""What the screen shows, as plain values: the data layer under ``timetravel ui``.

Pure Python over :class:`~timetravel.store.reader.Reader` and :mod:`timetravel.moment`; no
Textual. The screen calls it from worker threads only, so every call may block: each thread
gets its own read-only connection (SQLite connections are not shared across threads).

Nothing here decides desired state, drift or causes: those arrive in the
:class:`~timetravel.domain.snapshot.ResourceView` and
:class:`~timetravel.domain.snapshot.ChangeView` values that ``moment`` builds, and the screen
shows whatever they hold.
"""

from __future__ import annotations

import copy
import threading
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from timetravel.causes import CauseFinder
from timetravel.desired_state import DesiredState
from timetravel.domain.diff import FieldDiff, diff_desired_actual
from timetravel.domain.drift import DriftInterval
from timetravel.domain.managed_fields import field_owners
from timetravel.domain.model import ResourceKey
from timetravel.domain.native_runs import is_failed
from timetravel.domain.paths import find_item
from timetravel.domain.paths import get as get_path
from timetravel.domain.paths import parse as parse_path
from timetravel.domain.snapshot import ChangeView, ResourceView, Snapshot, count_states
from timetravel.domain.times import from_stored, to_stored, utc_now
from timetravel.drift import drift_history
from timetravel.moment import CompareCache, build_snapshot, changes_in, compare
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
# Most revisions counted exactly for a density bar; past it, counts saturate per bucket.
DENSITY_LIMIT = 20000

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
class ResourceRow:
    """One line of the resource list."""

    key: ResourceKey
    state: str  # in_sync | drifted | missing | unmanaged
    last_change_at: str | None
    last_cause: str | None
    last_type: str | None

    @property
    def search_text(self) -> str:
        k = self.key
        return f"{k.namespace}/{k.kind}/{k.name}".lower()

    def matches(self, query: str) -> bool:
        """The ``/`` filter: words all match; ``state:drifted`` (``kind:``, ``ns:``) by field."""
        for word in query.lower().split():
            name, sep, value = word.partition(":")
            if sep and name == "state":
                if not self.state.startswith(value):
                    return False
            elif sep and name == "kind":
                if self.key.kind.lower() != value:
                    return False
            elif sep and name in ("ns", "namespace"):
                if self.key.namespace.lower() != value:
                    return False
            elif word not in self.search_text:
                return False
        return True


@dataclass(frozen=True)
class ResourceSet:
    """Every resource at one moment, with the moment's snapshot header facts."""

    at: datetime
    rows: tuple[ResourceRow, ...]
    counts: dict[str, int]
    clusters: tuple[str, ...]
    repos: tuple[str, ...]
    snapshot: Snapshot


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


class ScreenData:
    """Queries the screen needs, each safe to call from any worker thread."""

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
        self._snapshots: dict[str, Snapshot] = {}
        self._compare_cache: CompareCache = {}
        # Fail fast (a UserError) on a missing, foreign or damaged file, before the screen
        # starts: a first real read of facts, not only the header pages.
        self.reader()
        self.time_range()
        self.resources_at(self.time_range()[1] or self.now())

    # -- plumbing -------------------------------------------------------------------
    def reader(self) -> Reader:
        """This thread's reader over its own read-only connection."""
        reader: Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = Reader(open_database(self.db_path, readonly=True))
            self._local.reader = reader
        return reader

    def causes(self) -> CauseFinder:
        """This thread's cause finder (it caches runs; invalidate() renews it)."""
        causes: CauseFinder | None = getattr(self._local, "causes", None)
        generation = getattr(self._local, "generation", -1)
        if causes is None or generation != self._generation:
            causes = CauseFinder(self.reader().db)
            self._local.causes = causes
            self._local.generation = self._generation
        return causes

    def _changes(self, records: Sequence[RevisionRecord]) -> list[ChangeView]:
        return changes_in(self.reader(), records, self.causes())

    def invalidate(self) -> None:
        """Forget cached snapshots: the store has new facts (a late fact can change the past)."""
        with self._lock:
            self._snapshots.clear()
            self._generation += 1

    def now(self) -> datetime:
        return self._now if self._now is not None else utc_now()

    # -- the store as a whole ---------------------------------------------------------
    def time_range(self) -> tuple[datetime | None, datetime | None]:
        first, last = self.reader().time_range()
        return (
            from_stored(first) if first else None,
            from_stored(last) if last else None,
        )

    def clusters(self) -> list[str]:
        return [c["name"] for c in self.reader().clusters()]

    # -- resources at a moment --------------------------------------------------------
    def snapshot(self, at: datetime) -> Snapshot:
        """The snapshot at ``at`` (no change window): resources with state and last change."""
        stored = to_stored(at)
        with self._lock:
            cached = self._snapshots.get(stored)
        if cached is not None:
            return cached
        snap = build_snapshot(
            self.reader().db,
            at,
            window=timedelta(0),
            generated_at=self.now(),
            light=True,
            causes=self.causes(),
            cache=self._compare_cache,
        )
        with self._lock:
            if len(self._snapshots) > 8:
                self._snapshots.pop(next(iter(self._snapshots)))
            self._snapshots[stored] = snap
        return snap

    def resources_at(self, at: datetime) -> ResourceSet:
        snap = self.snapshot(at)
        rows = tuple(
            ResourceRow(
                key=view.key,
                state=view.state,
                last_change_at=view.last_change.at if view.last_change else None,
                last_cause=view.last_change.cause if view.last_change else None,
                last_type=view.last_change.type if view.last_change else None,
            )
            for view in snap.resources
        )
        return ResourceSet(
            at=at,
            rows=rows,
            counts=count_states(snap.resources),
            clusters=tuple(str(c["name"]) for c in snap.clusters),
            repos=tuple(f"{Path(r.path).name}@{r.branch}" for r in snap.repos),
            snapshot=snap,
        )

    def export_snapshot(self, at: datetime, window: timedelta = timedelta(hours=1)) -> Snapshot:
        return build_snapshot(self.reader().db, at, window=window, generated_at=self.now())

    # -- one resource ---------------------------------------------------------------------
    def detail(self, key: ResourceKey, at: datetime, *, limit: int = 200) -> Detail:
        """Desired, actual and diff of ``key`` at ``at``, and its changes up to then."""
        reader = self.reader()
        snap = self.snapshot(at)
        view = next((v for v in snap.resources if v.key == key), None)
        latest = reader.object_at(key, to_stored(at))
        records: list[RevisionRecord] = []
        all_times: tuple[datetime, ...] = ()
        if latest is not None:
            every = reader.history(latest.resource_id, with_body=False)
            all_times = tuple(from_stored(r.observed_at) for r in reversed(every))
            records = reader.history(latest.resource_id, until=to_stored(at))[:limit]
        changes = tuple(reversed(self._changes(list(reversed(records)))))
        deleted_at = latest.observed_at if latest is not None and latest.deleted else None
        drift_since = None
        interval = None
        if view is not None and view.state == "drifted":
            intervals = drift_history(reader.db, key, to_stored(at), causes=self.causes())
            if intervals and intervals[-1].closed_at is None:
                interval = intervals[-1]
                opened = from_stored(interval.opened_at)
                drift_since = next((c for c in changes if from_stored(c.at) == opened), None)
        field_diffs: tuple[FieldDiff, ...] = ()
        quiet_actual = None
        if view is not None and view.desired is not None and view.actual is not None:
            owners = (
                field_owners(latest.managed_fields) if latest and latest.managed_fields else None
            )
            field_diffs = tuple(diff_desired_actual(view.desired, view.actual, owners=owners))
            quiet_actual = without_paths(view.actual, (d.path for d in field_diffs if d.noise))
        git = DesiredState(reader.db).git
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
            drift_since=drift_since,
            change_times=all_times,
            drift=interval,
            commits=commits,
            field_diffs=field_diffs,
            quiet_actual=quiet_actual,
        )

    # -- changes across all resources ---------------------------------------------------
    def _before(self, end: datetime, count: int, *, floor: str = START_OF_TIME) -> list[str]:
        """Observation times of up to ``count`` revisions before ``end``, oldest first.

        The store reads forward only, so look back in growing windows.
        """
        reader = self.reader()
        hi = to_stored(end - TICK)
        width = timedelta(minutes=1)
        first, _ = reader.time_range()
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

    def changes_around(self, at: datetime, count: int = 60) -> tuple[list[ChangeView], int]:
        """Up to ``count`` changes nearest ``at`` (half before, half after), oldest first,
        and the index of the first one after ``at``."""
        reader = self.reader()
        half = max(1, count // 2)
        before_times = self._before(at + TICK, half)
        start = before_times[0] if before_times else to_stored(at)
        before = reader.changes_between(start, to_stored(at))
        after = reader.changes_between(to_stored(at + TICK), END_OF_TIME, limit=half)
        records = before[-half:] + after
        views = self._changes(records)
        return views, len(before[-half:])

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

    def markers(self, start: datetime, end: datetime) -> list[Marker]:
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
        out.extend(self._marks_of(self._changes(records)))
        out.extend(self._drift_openings(records))
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

    def _drift_openings(self, records: Sequence[RevisionRecord]) -> list[Marker]:
        """Changes that took a resource away from what git declared at that moment."""
        out = []
        desired = DesiredState(self.reader().db)
        for record in records:
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

    def next_notable(
        self, at: datetime, *, forward: bool, kinds: frozenset[str] | None = None, chunk: int = 2000
    ) -> Marker | None:
        """The nearest drift opening or manual edit (``notable`` kinds) after/before ``at``."""
        reader = self.reader()
        kinds = self.notable if kinds is None else kinds
        if forward:
            cursor = to_stored(at + TICK)
            for _ in range(50):
                records = reader.changes_between(cursor, END_OF_TIME, limit=chunk)
                marks = self._marks_of(self._changes(records)) + self._drift_openings(records)
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
            marks = self._marks_of(self._changes(records)) + self._drift_openings(records)
            hits = sorted((m for m in marks if m.kind in kinds), key=lambda m: m.at)
            if hits:
                return hits[-1]
            end = from_stored(times[0])
        return None


def step_in(times: Sequence[datetime], at: datetime, *, forward: bool) -> datetime | None:
    """The nearest time in sorted ``times`` strictly after (or before) ``at``."""
    if forward:
        index = bisect_left(times, at + TICK)
        return times[index] if index < len(times) else None
    index = bisect_left(times, at)
    return times[index - 1] if index > 0 else None

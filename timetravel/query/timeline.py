"""The timeline under the screen: how busy each slice of a range was, the notable moments in
it (marks), and the nearest notable one before or after the cursor.

A change earns marks by its cause (:func:`marker_kinds`, the one place causes become marks);
drift openings are found by comparing each change with what git declared at that moment; gaps,
ref moves, pipeline runs and failed syncs come from their own records.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from timetravel.domain.model import ResourceKey
from timetravel.domain.native_runs import is_failed
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.times import TICK, from_stored, next_instant, to_stored
from timetravel.query.artifacts import unknown_images
from timetravel.query.changes import (
    END_OF_TIME,
    Reading,
    explain,
    failed_sync,
    summary,
    times_before,
)
from timetravel.query.moment import compare
from timetravel.query.rows import STOP_EVERY, Stop, check, never
from timetravel.store.notes import notes_between
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# Most changes whose causes are read for timeline marks in one visible range.
MARK_LIMIT = 3000
# Most revisions counted exactly for a density bar; past it, counts saturate per bucket.
DENSITY_LIMIT = 20000

# Marker kinds, most important first: a column of the timeline shows the first one present.
MARK_KINDS = (
    "failed_sync",
    "drift",
    "unknown_image",
    "note",
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
class Density:
    """Revisions per equal slice of [start, end), for the timeline's density bar."""

    start: datetime
    end: datetime
    counts: tuple[int, ...]
    saturated: bool  # counts were capped: the bar shows "at least"


def marker_kinds(view: ChangeView) -> list[str]:
    """The timeline marks one change earns. The one place causes become marks."""
    kinds = []
    if failed_sync(view):
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


def density(
    reader: Reader, start: datetime, end: datetime, buckets: int, *, cluster: str | None = None
) -> Density:
    """How many revisions (of ``cluster``; None: of any) fall in each of ``buckets`` equal
    slices of [start, end)."""
    buckets = max(1, buckets)
    span = (end - start) / buckets
    counts = [0] * buckets
    rows = reader.changes_between(
        to_stored(start),
        to_stored(end - TICK),
        with_body=False,
        limit=DENSITY_LIMIT,
        cluster=cluster,
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
                to_stored(lo),
                to_stored(lo + span - TICK),
                with_body=False,
                limit=cap,
                cluster=cluster,
            )
        )
    return Density(start, end, tuple(counts), saturated=True)


def markers(reading: Reading, start: datetime, end: datetime, stop: Stop = never) -> list[Marker]:
    """Notable moments in [start, end), oldest first: gaps, and every change that earns a
    mark, of the reading's cluster."""
    reader = reading.reader
    scope = reading.scope
    out = [
        Marker(
            at=max(from_stored(gap.started_at), start),
            kind="gap",
            label=gap.reason,
            until=from_stored(gap.ended_at),
        )
        for gap in reader.gaps_between(to_stored(start), to_stored(end), cluster=scope.cluster)
    ]
    lo, hi = to_stored(start), to_stored(end - TICK)
    records = reader.changes_between(lo, hi, limit=MARK_LIMIT, cluster=scope.revisions)
    out.extend(_marks_of(explain(reading, records, stop)))
    out.extend(drift_openings(reading, records, stop))
    causes = reading.causes
    for update, commit in reading.desired.ref_updates_between(lo, hi, scope.cluster):
        out.append(
            Marker(
                at=from_stored(update.observed_at),
                kind="commit",
                label=f"{commit.sha[:7]} {commit.message.strip().splitlines()[0]}",
            )
        )
    for run in causes.runs_between(lo, hi, scope.cluster):
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
    for seen in reader.observations_between(lo, hi, cluster=scope.cluster):
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
    out.extend(note_markers(reader, lo, hi, scope.cluster))
    check(stop)
    out.extend(unknown_image_markers(reader, lo, hi, scope.cluster))
    out.sort(key=lambda m: m.at)
    return out


def unknown_image_markers(reader: Reader, lo: str, hi: str, cluster: str | None) -> list[Marker]:
    """A mark where an image digest no recorded build produced starts running in a
    workload in [lo, hi] (stored times): :func:`artifacts.unknown_images`."""
    return [
        Marker(
            at=from_stored(found.at),
            kind="unknown_image",
            key=found.workload,
            label=found.summary,
        )
        for found in unknown_images(reader, lo, hi, cluster)
    ]


def note_markers(reader: Reader, lo: str, hi: str, cluster: str | None) -> list[Marker]:
    """The notes pinned in [lo, hi] (stored times): a mark each, the note's text its label."""
    out = []
    for note in notes_between(reader.db, lo, hi, cluster=cluster):
        key = None
        if note.kind is not None and note.name is not None:
            key = ResourceKey(
                note.cluster or cluster or "",
                note.group or "",
                note.kind,
                note.namespace or "",
                note.name,
            )
        out.append(
            Marker(
                at=from_stored(note.at), kind="note", key=key, label=f"{note.author}: {note.text}"
            )
        )
    return out


def drift_openings(
    reading: Reading, records: Sequence[RevisionRecord], stop: Stop = never
) -> list[Marker]:
    """Changes that took a resource away from what git declared at that moment."""
    out = []
    for count, record in enumerate(records):
        if count % STOP_EVERY == 0:
            check(stop)
        if record.status_only or record.change != "updated":
            continue
        _, declared = reading.desired.merged_at(record.observed_at, reading.scope.cluster)
        match = declared.get(
            (record.key.group, record.key.kind, record.key.namespace, record.key.name)
        )
        if match is None:
            continue
        previous = reading.reader.previous(record)
        before, _ = compare(match, previous, reading.compared, reading.policy)
        after, _ = compare(match, record, reading.compared, reading.policy)
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


def _marks_of(views: Iterable[ChangeView]) -> list[Marker]:
    out = []
    for view in views:
        for kind in marker_kinds(view):
            out.append(
                Marker(at=from_stored(view.at), kind=kind, key=view.key, label=summary(view))
            )
    return out


def next_notable(
    reading: Reading,
    first: str | None,
    at: datetime,
    *,
    forward: bool,
    kinds: frozenset[str],
    chunk: int = 2000,
    stop: Stop = never,
) -> Marker | None:
    """The nearest mark of one of ``kinds`` after (or before) ``at``; ``first`` is the
    store's first observation time."""
    reader = reading.reader
    only = reading.scope.revisions
    if forward:
        cursor = to_stored(at + TICK)
        for _ in range(50):
            records = reader.changes_between(cursor, END_OF_TIME, limit=chunk, cluster=only)
            marks = _marks_of(explain(reading, records, stop))
            marks += drift_openings(reading, records, stop)
            hits = sorted((m for m in marks if m.kind in kinds), key=lambda m: m.at)
            if hits:
                return hits[0]
            if len(records) < chunk:
                return None
            cursor = next_instant(records[-1].observed_at)
        return None
    end = at
    for _ in range(50):
        times = times_before(reader, first, end, chunk, cluster=only)
        if not times:
            return None
        records = reader.changes_between(times[0], to_stored(end - TICK), cluster=only)
        marks = _marks_of(explain(reading, records, stop))
        marks += drift_openings(reading, records, stop)
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

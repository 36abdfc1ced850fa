"""The change stream across every resource, near a moment: the changes just before and after
it, what each one did, and the first and last observation times of the store.

The store reads forward only (by observation time, along an index), so looking back is a
forward read of a growing window (:func:`times_before`), and the last observation time is
found by paging forward from the last one seen rather than by a full scan
(:func:`stored_range`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from timetravel.domain.native_runs import is_failed
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.times import TICK, from_stored, next_instant, previous_instant, to_stored
from timetravel.domain.values import change_summary
from timetravel.query.causes import CauseFinder
from timetravel.query.desired import DesiredState
from timetravel.query.ignore_policy import NO_RULES, IgnorePolicy
from timetravel.query.moment import CompareCache, changes_in
from timetravel.query.rows import Stop, check, never
from timetravel.query.scope import EVERY, Scope
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# Far enough to cover any store; stored times are fixed-width text so these compare as text.
END_OF_TIME = "9999-12-31T23:59:59.999999Z"
START_OF_TIME = "0001-01-01T00:00:00.000000Z"
# Revisions read per query while looking for the last observation time.
RANGE_PAGE = 1000
# Changes explained between two looks at a load's ``stop`` (each parses two bodies).
CHANGES_EVERY = 25


@dataclass(frozen=True)
class Reading:
    """What one load reads through: a borrowed session's reader, desired state and cause
    finder, and the comparisons of desired and actual already made (shared by sessions).

    Valid only while the session is borrowed: the reader's connection is not for other threads.
    """

    reader: Reader
    desired: DesiredState
    causes: CauseFinder
    compared: CompareCache
    scope: Scope = EVERY
    policy: IgnorePolicy = NO_RULES  # the ignore rules drift is judged with (the timeline's)


def explain(
    reading: Reading, records: Sequence[RevisionRecord], stop: Stop = never
) -> list[ChangeView]:
    """Change views of consecutive records, ``stop`` looked at between chunks."""
    out: list[ChangeView] = []
    for start in range(0, len(records), CHANGES_EVERY):
        check(stop)
        out.extend(
            changes_in(reading.reader, records[start : start + CHANGES_EVERY], reading.causes)
        )
    return out


def summary(view: ChangeView) -> str:
    """One line saying what a change did, by its most telling field: ``created``,
    ``api image payments/api:2.3.0 → 2.4.0 (+2)`` (see :func:`change_summary`)."""
    return change_summary(view)


# Where a GitOps controller reports a sync's outcome on its own object, and the outcomes
# that are failures: Argo CD's Application (operationState.phase), Flux's Kustomization
# and HelmRelease (the Ready condition's reason).
_SYNC_PHASES = {"status.operationState.phase": frozenset({"Failed", "Error"})}
_FLUX_FAILED = frozenset(
    {"ReconciliationFailed", "BuildFailed", "HealthCheckFailed", "InstallFailed", "UpgradeFailed"}
)


def failed_sync(view: ChangeView) -> bool:
    """Whether a change tells of a failed sync or run: a failed pipeline run caused it, or a
    GitOps controller reported a failed sync on its Application (Kustomization, HelmRelease)."""
    run = view.pipeline_run
    if run is not None and is_failed(run):
        return True
    for field in view.fields:
        failed = _SYNC_PHASES.get(field.path)
        if failed is not None and field.after in failed:
            return True
        reason = field.path.startswith("status.conditions") and field.path.endswith(".reason")
        if reason and field.after in _FLUX_FAILED:
            return True
    return False


def stored_range(
    reader: Reader, known: tuple[str | None, str | None] | None
) -> tuple[str | None, str | None]:
    """The first and last observation times, moved on from ``known`` (the last ones seen).

    ``Reader.time_range`` scans every revision (~0.25 s on a million: min and max in
    one SELECT use no index), and the poll asks every second: once it is known, look
    only for revisions before the first and after the last, which the index finds.
    """
    first, last = known or (None, None)
    if first is None or last is None:
        return reader.time_range()
    earlier = reader.changes_between(
        START_OF_TIME, previous_instant(first), with_body=False, limit=1
    )
    if earlier:
        first = earlier[0].observed_at
    return (first, _latest_from(reader, last))


def _latest_from(reader: Reader, last: str) -> str:
    """The last observation time, ``last`` or a later one, paging forward from it."""
    while True:
        newer = reader.changes_between(
            next_instant(last), END_OF_TIME, with_body=False, limit=RANGE_PAGE
        )
        if newer:
            last = newer[-1].observed_at
        if len(newer) < RANGE_PAGE:
            return last


def times_before(
    reader: Reader,
    first: str | None,
    end: datetime,
    count: int,
    *,
    floor: str = START_OF_TIME,
    cluster: str | None = None,
) -> list[str]:
    """Observation times of up to ``count`` revisions (of ``cluster``; None: of any)
    before ``end``, oldest first.

    ``first`` is the store's first observation time (none: the store is empty). The store
    reads forward only, so look back in growing windows.
    """
    hi = to_stored(end - TICK)
    width = timedelta(minutes=1)
    if first is None:
        return []
    lowest = max(first, floor)
    for _ in range(64):
        lo = end - width
        lo_text = max(to_stored(lo), lowest)
        rows = reader.changes_between(
            lo_text, hi, with_body=False, limit=count * 8 + 1000, cluster=cluster
        )
        if len(rows) >= count or lo_text <= lowest:
            if len(rows) > count * 8 + 999:
                # Too dense to hold: narrow the window instead.
                width = width / 4
                continue
            return [r.observed_at for r in rows[-count:]]
        width *= 8
    return [r.observed_at for r in rows[-count:]]


def next_change_after(
    reader: Reader, at: datetime, steps: int = 1, *, cluster: str | None = None
) -> datetime | None:
    """The ``steps``-th distinct change time after ``at`` (or the last one there is), of
    ``cluster`` (None: of any)."""
    found: datetime | None = None
    cursor = at
    for _ in range(max(1, steps)):
        rows = reader.changes_between(
            to_stored(cursor + TICK), END_OF_TIME, with_body=False, limit=1, cluster=cluster
        )
        if not rows:
            break
        found = cursor = from_stored(rows[0].observed_at)
    return found


def prev_change_before(
    reader: Reader, first: str | None, at: datetime, steps: int = 1, *, cluster: str | None = None
) -> datetime | None:
    """The ``steps``-th distinct change time before ``at`` (or the first one there is), of
    ``cluster`` (None: of any); ``first`` is the store's first observation time."""
    found: datetime | None = None
    cursor = at
    for _ in range(max(1, steps)):
        times = times_before(reader, first, cursor, 1, cluster=cluster)
        if not times:
            break
        found = cursor = from_stored(times[-1])
    return found


def changes_around(
    reading: Reading, first: str | None, at: datetime, count: int = 60, stop: Stop = never
) -> tuple[list[ChangeView], int]:
    """Up to ``count`` changes nearest ``at`` (half before, half after), oldest first,
    and the index of the first one after ``at``; ``first`` is the store's first
    observation time."""
    reader = reading.reader
    only = reading.scope.revisions
    half = max(1, count // 2)
    before_times = times_before(reader, first, at + TICK, half, cluster=only)
    start = before_times[0] if before_times else to_stored(at)
    before = reader.changes_between(start, to_stored(at), cluster=only)
    after = reader.changes_between(to_stored(at + TICK), END_OF_TIME, limit=half, cluster=only)
    records = before[-half:] + after
    views = explain(reading, records, stop)
    return views, len(before[-half:])

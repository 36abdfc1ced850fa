"""One resource at one moment, as the detail panes show it: desired, actual, the fields where
they differ (noise included, marked), the changes that led there and the commits behind them.

States come from ``moment.compare`` (through ``live_view``), the field diff from
``domain.diff``; the open drift interval is read apart (the slow part on a long history)
and added with :func:`with_drift`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from timetravel.domain.diff import FieldDiff, diff_desired_actual
from timetravel.domain.drift import DriftInterval
from timetravel.domain.managed_fields import field_owners
from timetravel.domain.model import ResourceKey
from timetravel.domain.notes import Note
from timetravel.domain.paths import find_item
from timetravel.domain.paths import get as get_path
from timetravel.domain.paths import parse as parse_path
from timetravel.domain.snapshot import ChangeView, ResourceView
from timetravel.domain.times import from_stored, to_stored
from timetravel.query.changes import END_OF_TIME, Reading, explain
from timetravel.query.desired import DeclaredObject
from timetravel.query.ignore_policy import NO_RULES, IgnorePolicy
from timetravel.query.moment import CompareCache, live_view, missing_view
from timetravel.query.rows import Stop, check, never

# Re-exported: the TUI reads only through ``timetravel.query``, and commits are part of a Detail.
from timetravel.store.gitstore import CommitRecord as CommitRecord
from timetravel.store.records import RevisionRecord


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
    # "declared by 3 files; showing apps/api.yaml" when several files disagree (issue 21)
    conflict: str | None = None
    # Notes about the resource up to the moment, newest first (none: the moment's own)
    notes: tuple[Note, ...] = ()


def detail_at(
    reading: Reading,
    key: ResourceKey,
    at: datetime,
    *,
    limit: int = 200,
    stop: Stop = never,
    policy: IgnorePolicy = NO_RULES,
) -> Detail:
    """Desired, actual and diff of ``key`` at ``at``, and its last ``limit`` changes up to then;
    without the open drift interval (add it with :func:`with_drift`). ``policy``: the
    ignore rules of the moment (the view's ``ignored`` holds what they cover)."""
    reader = reading.reader
    stored = to_stored(at)
    latest = reader.object_at(key, stored)
    _, declared = reading.desired.merged_at(stored, reading.scope.cluster)
    match = declared.get((key.group, key.kind, key.namespace, key.name))
    live = latest if latest is not None and not latest.deleted else None
    view = _view(key, live, match, reading.compared, policy)
    records: list[RevisionRecord] = []
    all_times: tuple[datetime, ...] = ()
    # Not created yet at ``at``: its later history still says when it will be (``]``).
    known = latest if latest is not None else reader.object_at(key, END_OF_TIME)
    if known is not None:
        every = reader.history(known.resource_id, with_body=False)
        all_times = tuple(from_stored(r.observed_at) for r in reversed(every))
    if latest is not None:
        check(stop)
        records = reader.history(latest.resource_id, until=stored)[:limit]
    changes = tuple(reversed(explain(reading, list(reversed(records)), stop)))
    deleted_at = latest.observed_at if latest is not None and latest.deleted else None
    field_diffs: tuple[FieldDiff, ...] = ()
    quiet_actual = None
    if view is not None and view.desired is not None and view.actual is not None:
        owners = field_owners(latest.managed_fields) if latest and latest.managed_fields else None
        field_diffs = tuple(diff_desired_actual(view.desired, view.actual, owners=owners))
        quiet_actual = without_paths(view.actual, (d.path for d in field_diffs if d.noise))
    # Through the desired state's cache: a commit never changes, and a detail names the
    # same ones step after step (on PostgreSQL each read is a round trip).
    desired = reading.desired
    commits = {
        sha: found
        for sha in {c.commit for c in changes if c.commit}
        if (found := desired.commit(sha)) is not None
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
        conflict=match.conflict_note if match is not None else None,
    )


def _view(
    key: ResourceKey,
    live: RevisionRecord | None,
    match: DeclaredObject | None,
    compared: CompareCache,
    policy: IgnorePolicy = NO_RULES,
) -> ResourceView | None:
    """The resource as the snapshot shows it: live, declared-but-missing, or neither."""
    if live is not None:
        return live_view(live, match, compared, policy=policy)
    return missing_view(key, match) if match is not None else None


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

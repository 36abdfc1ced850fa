"""Every drift in a window: per resource, when it opened and by whom, when and how it closed.

The intervals are ``drift.drift_history``'s (the same points the screen and the exports
use). Which resources to look at: those drifted when the window begins (the snapshot's
states there), those that changed in it, and, when the branch moved in it, every resource
either moment declares (a commit can open or close drift without touching the cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from timetravel.domain.argocd import APPLICATION
from timetravel.domain.drift import DriftInterval
from timetravel.domain.ignore import RuleSet
from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import Snapshot
from timetravel.domain.times import from_stored, parse_rfc3339, stored_to_rfc3339, to_stored
from timetravel.query.causes import CauseFinder
from timetravel.query.desired import DesiredState
from timetravel.query.drift import drift_history
from timetravel.query.ignore_policy import policy_at
from timetravel.query.moment import build_snapshot
from timetravel.store import Database
from timetravel.store.reader import Reader


@dataclass(frozen=True)
class Drift:
    key: ResourceKey
    interval: DriftInterval

    @property
    def lasted(self) -> timedelta | None:
        if self.interval.closed_at is None:
            return None
        return from_stored(self.interval.closed_at) - from_stored(self.interval.opened_at)

    def to_json(self) -> dict[str, Any]:
        i = self.interval
        lasted = self.lasted
        return {
            "cluster": self.key.cluster,
            "kind": self.key.kind,
            "namespace": self.key.namespace or None,
            "name": self.key.name,
            "opened_at": stored_to_rfc3339(i.opened_at),
            "opened_by": i.opened_by,
            "opened_cause": i.opened_cause,
            "closed_at": stored_to_rfc3339(i.closed_at) if i.closed_at else None,
            "closed_how": i.closed_how,
            "lasted_seconds": lasted.total_seconds() if lasted is not None else None,
        }


def drifts_between(
    db: Database,
    since: str,
    until: str,
    *,
    cluster: str | None = None,
    namespaces: Sequence[str] = (),
    ignore: RuleSet | None = None,
) -> list[Drift]:
    """Drift intervals overlapping [since, until] (stored time text), oldest first; what
    ignore rules cover is not drift (``ignore`` and the Applications recorded at ``until``)."""
    reader = Reader(db)
    causes = CauseFinder(db)
    policy = policy_at(reader.state_at(until, kind=APPLICATION), ignore)
    start = build_snapshot(
        db, from_stored(since), window=timedelta(0), cluster=cluster, causes=causes
    )
    # Only what git declares can drift: the resources declared when the window begins, and
    # when it ends if the branch moved in between (then any of them may have drifted).
    declared = {r.key for r in start.resources if r.desired is not None}
    if DesiredState(db).ref_updates_between(since, until, cluster):
        end = build_snapshot(
            db, from_stored(until), window=timedelta(0), cluster=cluster, causes=causes
        )
        keys = declared | {r.key for r in end.resources if r.desired is not None}
    else:
        changed = {
            r.key for r in reader.changes_between(since, until, with_body=False, cluster=cluster)
        }
        drifted = {r.key for r in start.resources if r.state == "drifted"}
        keys = declared & (changed | drifted)
    if namespaces:
        keys = {k for k in keys if k.namespace in namespaces}
    out = []
    for key in sorted(keys):
        for interval in drift_history(db, key, until, causes=causes, policy=policy):
            if interval.opened_at <= until and (
                interval.closed_at is None or interval.closed_at >= since
            ):
                out.append(Drift(key, interval))
    out.sort(key=lambda d: (d.interval.opened_at, d.key))
    return out


def with_drift_intervals(
    db: Database, snapshot: Snapshot, *, ignore: RuleSet | None = None
) -> Snapshot:
    """``snapshot`` with every drift interval that overlaps its window (``drift[]``).

    The resources that can have one are found from the snapshot itself: those drifted at
    ``at``, those that changed in the window, and, when a branch moved in it, everything
    declared at either end of the window. Each one's intervals are its whole drift history
    (``drift.drift_history``) cut to the window, judged with the ignore rules in force at
    the window's end (configured, and the Applications recorded then), as
    :func:`drifts_between` judges them.
    """
    since = to_stored(parse_rfc3339(snapshot.window_from))
    until = to_stored(parse_rfc3339(snapshot.window_to))
    declared = {r.key for r in snapshot.resources if r.desired is not None}
    keys = {r.key for r in snapshot.resources if r.state == "drifted"}
    keys |= {c.key for c in snapshot.changes} & declared
    if snapshot.commits:
        # A commit can open or close drift without a change in the cluster.
        keys |= declared
        clusters = {r.key.cluster for r in snapshot.resources}
        desired = DesiredState(db)
        for cluster in clusters:
            for dkey in desired.merged_at(since, cluster)[1]:
                keys.add(ResourceKey(cluster, *dkey))
    if not keys:
        return replace(snapshot, drift=())
    reader = Reader(db)
    policy = policy_at(reader.state_at(until, kind=APPLICATION), ignore)
    causes = CauseFinder(db)
    found = []
    for key in sorted(keys):
        for interval in drift_history(db, key, until, causes=causes, policy=policy):
            if interval.opened_at <= until and (
                interval.closed_at is None or interval.closed_at >= since
            ):
                found.append(Drift(key, interval))
    found.sort(key=lambda d: (d.interval.opened_at, d.key))
    return replace(snapshot, drift=tuple(d.to_json() for d in found))

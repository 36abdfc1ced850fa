"""The drift history of one resource, from its revisions and the branch's moves."""

from __future__ import annotations

from timetravel.domain.drift import DriftInterval, DriftPoint, drift_intervals
from timetravel.domain.model import ResourceKey
from timetravel.query.causes import CauseFinder
from timetravel.query.desired import DesiredState
from timetravel.query.ignore_policy import NO_RULES, IgnorePolicy
from timetravel.query.moment import CompareCache, compare
from timetravel.store import Database
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord


def drift_history(
    db: Database,
    key: ResourceKey,
    until: str,
    *,
    causes: CauseFinder | None = None,
    policy: IgnorePolicy = NO_RULES,
) -> list[DriftInterval]:
    """Every drift interval of ``key`` up to ``until`` (the last may still be open); desired
    state is what the repositories feeding ``key``'s cluster declare; what ``policy``'s
    ignore rules cover is not drift."""
    reader = Reader(db)
    desired = DesiredState(db)
    causes = causes or CauseFinder(db)
    latest = reader.object_at(key, until)
    if latest is None:
        return []
    revisions = list(reversed(reader.history(latest.resource_id, until=until)))
    dkey = (key.group, key.kind, key.namespace, key.name)
    cluster = key.cluster
    moves = sorted({u.observed_at for u, _ in desired.ref_updates_between("", until, cluster)})
    events: list[tuple[str, str, RevisionRecord | None, RevisionRecord | None]] = []
    previous: RevisionRecord | None = None
    for record in revisions:
        events.append((record.observed_at, "change", record, previous))
        previous = record
    for at in moves:
        events.append((at, "commit", None, None))
    events.sort(key=lambda e: (e[0], e[1] == "change"))
    points = []
    cache: CompareCache = {}  # by revision and declaring commit: most events repeat one
    actual: RevisionRecord | None = None
    for at, by, change, before in events:
        cause = actor = None
        if change is not None:
            actual = change
            why = causes.explain(change, before)
            cause, actor = why.cause, why.actor
        version = desired.version_at(dkey, at, cluster)
        if version is None:  # a database without the declared-object index
            declared = desired.merged_at(at, cluster)[1].get(dkey)
        else:
            declared = desired.declared(dkey, at, version, cluster)
        live = actual if actual is not None and actual.change != "deleted" else None
        state, _ = compare(declared, live, cache, policy)
        points.append(DriftPoint(at, state, by, cause, actor))
    return drift_intervals(points)

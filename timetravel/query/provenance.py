"""The rows running a digest no recorded build produced (the list's ``⚠`` and its
``prov:unknown`` filter) at one moment, and moved to a nearby one.

Every live Pod that runs a digest of unknown provenance marks three rows with it: its own,
its workload's (found through its owners, as ``workload_of`` does) and its ReplicaSet's or
Job's. What runs is read from the ``pod_digests`` index, not by decoding every Pod; a
digest is of unknown provenance when no build of it is recorded (a node-local image ID
has none either).

:class:`Marks` keeps what each Pod marks, and for each row how many Pods mark it with
each digest. A step to a nearby moment (:func:`step`, near as ``query.incremental``'s)
takes back what the Pods with a revision in between marked and marks what they run now:
it costs what changed, where building the marks reads every Pod (40,000 at 100,000
objects: ~2 s a moment, on every step of a held key). A ReplicaSet or a Job appearing,
going or changing its own owner in between can move a workload's every Pod: the marks
are then built again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from timetravel.domain.model import ResourceKey
from timetravel.domain.workloads import GROUPS, controller_of
from timetravel.query.artifacts import Workloads
from timetravel.query.rows import STOP_EVERY, Stop, check, never
from timetravel.store import pod_digests, write_marks
from timetravel.store.builds import builds_of_digests
from timetravel.store.handle import StoreDB
from timetravel.store.pod_digests import PodGroup
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# The owners a Pod's workload is found through (their own owner is the workload).
OWNER_KINDS = frozenset({("apps", "ReplicaSet"), ("batch", "Job")})
# A step reads the Pods touched in between; past this many revisions (or a quarter of the
# moment's objects, when that is more) it builds the marks again.
NEAR_REVISIONS = 2000
NEAR_SHARE = 4

# (cluster, kind, namespace, name) of a ReplicaSet or Job -> its object. By cluster: two
# clusters' ReplicaSets of one name own Pods of their own cluster only.
Owners = dict[tuple[str, str, str, str], Mapping[str, Any]]
Marked = tuple[tuple[ResourceKey, ...], tuple[str, ...]]  # the rows a Pod marks, with what


@dataclass(frozen=True)
class Marks:
    """The unknown-provenance rows at one moment, and what a step from it needs."""

    at: str  # stored time
    cluster: str | None  # the cluster whose rows these are (None: every one)
    unknown: Mapping[ResourceKey, tuple[str, ...]]  # row -> its digests of unknown provenance
    pods: Mapping[int, Marked]  # a Pod marking rows, by resource id
    counts: Mapping[ResourceKey, Mapping[str, int]]  # row -> digest -> Pods marking it so
    owners: Owners
    built: Mapping[str, bool]  # digest -> a build of it is recorded (as far as asked)
    # What the store held when they were read (the screen's, for moving them after news):
    # each writer's mark (store.write_marks) and the builds' (store.builds.builds_mark).
    writes: write_marks.Marks | None = None
    builds: tuple[int, int] | None = None


def owners_of(records: Iterable[RevisionRecord]) -> Owners:
    """The ReplicaSets and Jobs among live records, by cluster, kind, namespace, name."""
    out: Owners = {}
    for r in records:
        key = r.key
        if (key.group, key.kind) in OWNER_KINDS and not r.deleted:
            obj = r.obj
            if obj is not None:
                out[key.cluster, key.kind, key.namespace, key.name] = obj
    return out


def build(
    reader: Reader,
    db: StoreDB,
    at: str,
    records: Iterable[RevisionRecord],
    cluster: str | None,
    stop: Stop = never,
) -> Marks:
    """The marks at ``at`` (stored time), of every live Pod among ``records`` (the moment's
    objects: the screen's resource set holds them)."""
    check(stop)
    live = [r for r in records if not r.deleted]
    pods = {r.resource_id: r.key for r in live if r.key.kind == "Pod" and not r.key.group}
    owners = owners_of(live)
    groups = pod_digests.running_at(reader.conn, at, keys=pods)
    check(stop)
    empty = Marks(at, cluster, {}, {}, {}, owners, {})
    return _moved(db, empty, at, {g.resource_id: g for g in groups}, owners, stop)


def step(
    reader: Reader,
    db: StoreDB,
    base: Marks,
    at: str,
    records: Mapping[ResourceKey, RevisionRecord],
    cluster: str | None,
    stop: Stop = never,
    since: str | None = None,
) -> Marks | None:
    """The marks at ``at`` moved from ``base``: only the Pods with a revision in between
    are read again. None when that is not near, or an owner a workload is found through
    changed (the caller builds them instead). ``records``: the moment's objects by key.
    ``since``: revisions written after ``base`` was read may lie after this time and at
    or before ``base.at`` (as ``incremental.step``'s)."""
    if base.cluster != cluster:
        return None
    if at == base.at and since is None:
        return base
    lo, hi = min(base.at, at), max(base.at, at)
    if since is not None:
        lo = min(lo, since)
    limit = max(NEAR_REVISIONS, len(records) // NEAR_SHARE)
    touched = reader.touched_between(lo, hi, cluster=cluster, limit=limit)
    if touched is None:
        return None
    check(stop)
    keys = reader.keys_of(touched)
    if len(keys) != len(touched):
        return None  # an identity pruned meanwhile: build
    owners = base.owners
    moved_owners: Owners | None = None
    pods: dict[int, ResourceKey | None] = {}  # a touched Pod -> its key, None when not live
    for rid in touched:
        key = keys[rid]
        record = records.get(key)
        live = record is not None and not record.deleted
        if (key.group, key.kind) in OWNER_KINDS:
            owner = (key.cluster, key.kind, key.namespace, key.name)
            before = owners.get(owner)
            now = record.obj if live and record is not None else None
            if (before is None) != (now is None):
                return None  # an owner came or went: its Pods' workload may be another
            if before is not None and now is not None:
                if controller_of(before) != controller_of(now):
                    return None
                if moved_owners is None:
                    moved_owners = dict(owners)
                moved_owners[owner] = now
        elif key.kind == "Pod" and not key.group:
            pods[rid] = key if live else None
    live_pods = {rid: key for rid, key in pods.items() if key is not None}
    groups = {
        g.resource_id: g
        for g in pod_digests.running_at(reader.conn, at, keys=live_pods, ids=list(live_pods))
    }
    check(stop)
    changed = {rid: groups.get(rid) for rid in pods}
    return _moved(db, base, at, changed, owners if moved_owners is None else moved_owners, stop)


def _moved(
    db: StoreDB,
    base: Marks,
    at: str,
    changed: Mapping[int, PodGroup | None],
    owners: Owners,
    stop: Stop,
) -> Marks:
    """``base`` with what the Pods of ``changed`` marked taken back and what they run now
    (their group at ``at``; None: not live or running nothing) marked."""
    built = dict(base.built)
    asked = {r[2] for g in changed.values() if g is not None for r in g.running} - built.keys()
    if asked:
        found = builds_of_digests(db, asked)
        built.update((digest, bool(found.get(digest))) for digest in asked)
    pods = dict(base.pods)
    counts = dict(base.counts)
    own: dict[ResourceKey, dict[str, int]] = {}  # the rows' counts this step moves: copies
    resolve = Workloads(owners, by_cluster=True)

    def count(row: ResourceKey, digests: tuple[str, ...], by: int) -> None:
        of_row = own.get(row)
        if of_row is None:
            of_row = own[row] = dict(counts.get(row, {}))
        for digest in digests:
            left = of_row.get(digest, 0) + by
            if left:
                of_row[digest] = left
            else:
                del of_row[digest]

    for done, (rid, group) in enumerate(changed.items()):
        if done % STOP_EVERY == 0:
            check(stop)
        before = pods.pop(rid, None)
        if before is not None:
            for row in before[0]:
                count(row, before[1], -1)
        if group is None or not group.running:
            continue
        digests = tuple(sorted({r[2] for r in group.running if not built[r[2]]}))
        if not digests:
            continue
        rows = _rows_of(group, resolve)
        pods[rid] = (rows, digests)
        for row in rows:
            count(row, digests, +1)
    moved: dict[ResourceKey, tuple[str, ...] | None] = {}
    for row, of_row in own.items():
        if of_row:
            counts[row] = of_row
        else:
            counts.pop(row, None)
        now = tuple(sorted(of_row)) if of_row else None
        if base.unknown.get(row) != now:
            moved[row] = now
    # Nothing moved: the very mapping of before (the screen compares by identity).
    unknown = base.unknown
    if moved:
        unknown = dict(unknown)
        for row, now in moved.items():
            if now is None:
                del unknown[row]
            else:
                unknown[row] = now
    return Marks(at, base.cluster, unknown, pods, counts, owners, built)


def _rows_of(group: PodGroup, resolve: Workloads) -> tuple[ResourceKey, ...]:
    """The rows a Pod marks: its own, its workload's, its ReplicaSet's or Job's."""
    key = group.key
    rows = [key]
    workload = resolve.of(group)
    if workload != key:
        rows.append(workload)
    kind, name, _ = group.owner
    if kind in ("ReplicaSet", "Job") and name:
        parent = ResourceKey(key.cluster, GROUPS.get(kind, ""), kind, key.namespace, name)
        if parent not in rows:
            rows.append(parent)
    return tuple(rows)

"""The resources at a moment, moved from the moment before rather than built again.

Scrubbing is the product's gesture: a held key steps from one change to the next, dozens
of times a second. Building a moment reads every live revision and makes every row
(:func:`build`); a step to a nearby moment (:func:`step`) reads only what differs between
the two:

- the resources with a revision in between (either way: going back undoes them), each
  read again at the new moment with the same seek a full read makes
  (``Reader.touched_between``, ``Reader.states_of``);
- the objects git declares differently at the new moment (another commit of a branch, a
  set rendered since: every declared object whose entry is not the very one it was, and
  not equal to it either: a commit that changed one file leaves the rest as they were);
- the ignore rules, when an Argo CD Application changed in between (they can change any
  row: every row is then made again, from the moved set).

Only the rows of those objects are made again (compared with git: drift), spliced into
the sorted rows of the moment before; counts move by the rows replaced. The result is the
one :func:`build` makes at that moment (``tests/test_incremental_state.py`` walks random
steps and jumps on both engines and compares each with a fresh build).

A step is *near* when at most :func:`near_limit` revisions lie between the two moments:
each resource they touch costs the seek and decoding a full read spends on every live
one, so past a quarter of the live set (and at least a few thousand revisions: a minute
of a busy cluster) reading the state again is as cheap, and the step gives way to it. It
gives way as well when it meets a damaged frame (the moment is read again in full, which
leaves out what it cannot decode, as every full read does), and when the moment before
was of another cluster or another store generation (the caller's business: see
``ScreenData.resources_at``).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from timetravel.domain.model import ResourceKey
from timetravel.query import layered
from timetravel.query.desired import (
    RENDERING,
    DeclaredObject,
    DesiredKey,
    DesiredSide,
    DesiredState,
)
from timetravel.query.ignore_policy import IgnorePolicy
from timetravel.query.rows import (
    STOP_EVERY,
    LiveSet,
    Positions,
    ResourceRow,
    ResourceSet,
    Rows,
    Stop,
    check,
    count_rows,
    missing_key,
    never,
    row_order,
)
from timetravel.query.scope import Scope
from timetravel.store import write_marks
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# What makes a moment's ignore policy from its live records, kept by (cluster, moment):
# ``ScreenData._policy_of``.
PolicyOf = Callable[[str | None, str, Iterable[RevisionRecord]], IgnorePolicy]
# The objects whose rules are every tracked object's (``ignore_policy.policy_at``).
APPLICATION = ("argoproj.io", "Application")

# A step applies at most this many revisions, or a quarter of the live set when that is
# more (see the module's docstring).
NEAR_REVISIONS = 2000
NEAR_SHARE = 4


@dataclass(frozen=True)
class Moment:
    """The resources at one moment and what a step from it needs: the live set, what git
    declared then, the live resources by declared key, the ignore rules."""

    resources: ResourceSet
    live: LiveSet
    declared: Mapping[DesiredKey, DeclaredObject]
    by_dkey: Mapping[DesiredKey, tuple[int, ...]]
    policy: IgnorePolicy
    clusters: tuple[str, ...]
    # What each writer had written when the moment was read (store.write_marks; None: the
    # store keeps no such record): read again after news, they say what the writes since
    # can have changed of it (ScreenData.resources_at).
    marks: write_marks.Marks | None = None
    kept: str | None = None  # where kept history started (``timetravel prune``)

    @property
    def at(self) -> str:
        """The moment, as stored."""
        return self.live.at


def near_limit(base: Moment) -> int:
    """How many revisions a step from ``base`` applies at most."""
    return max(NEAR_REVISIONS, len(base.live.by_resource) // NEAR_SHARE)


def dkey_of(key: ResourceKey) -> DesiredKey:
    return (key.group, key.kind, key.namespace, key.name)


def repos_of(sides: Sequence[DesiredSide]) -> tuple[str, ...]:
    """The header's ``repo@branch`` of each followed branch (a set still rendering said)."""
    return tuple(
        f"{Path(s.repo.path).name}@{s.repo.branch}" + (RENDERING if s.pending else "")
        for s in sides
    )


def _by_dkey(live: Mapping[int, RevisionRecord]) -> dict[DesiredKey, tuple[int, ...]]:
    out: dict[DesiredKey, tuple[int, ...]] = {}
    for rid, record in live.items():
        dkey = dkey_of(record.key)
        known = out.get(dkey)
        out[dkey] = (rid,) if known is None else (*known, rid)
    return out


def _assemble(
    rows: Rows,
    reader: Reader,
    live: LiveSet,
    sides: Sequence[DesiredSide],
    declared: dict[DesiredKey, DeclaredObject],
    policy: IgnorePolicy,
    clusters: Sequence[str],
    scope: Scope,
    at: datetime,
    stop: Stop,
    by_dkey: Mapping[DesiredKey, tuple[int, ...]] | None = None,
) -> Moment:
    """Every row made from the live set (what a build does once it has the set)."""
    made, records = rows.of(reader, live, declared, clusters, stop, policy=policy)
    found = ResourceSet(
        at=at,
        rows=made,
        counts=count_rows(made),
        clusters=tuple(clusters),
        repos=repos_of(sides),
        cluster=scope.cluster,
        records=records,
        positions={row.key: index for index, row in enumerate(made)},
    )
    return Moment(
        found,
        live,
        declared,
        _by_dkey(live.by_resource) if by_dkey is None else by_dkey,
        policy,
        tuple(clusters),
    )


def build(
    reader: Reader,
    desired: DesiredState,
    rows: Rows,
    at: datetime,
    stored: str,
    scope: Scope,
    clusters: Sequence[str],
    policy_of: PolicyOf,
    stop: Stop = never,
) -> Moment:
    """The moment read in full: every live revision, every row."""
    check(stop)
    records = reader.state_at(stored, cluster=scope.revisions)
    live = LiveSet(stored, {record.resource_id: record for record in records}, scope.revisions)
    sides, declared = desired.merged_at(stored, scope.cluster)
    policy = policy_of(scope.cluster, stored, live.by_resource.values())
    return _assemble(rows, reader, live, sides, declared, policy, clusters, scope, at, stop)


def step(
    reader: Reader,
    desired: DesiredState,
    rows: Rows,
    base: Moment,
    at: datetime,
    stored: str,
    scope: Scope,
    clusters: Sequence[str],
    policy_of: PolicyOf,
    stop: Stop = never,
    since: str | None = None,
) -> Moment | None:
    """The moment at ``stored`` moved from ``base``; None when it is not near (too many
    revisions in between, a damaged frame met, another cluster or cluster list): the
    caller builds it instead. ``since``: revisions written after ``base`` was read may
    lie after this time and at or before ``base.at`` (store.write_marks): the resources
    they touch are read again too."""
    if (
        base.live.cluster != scope.revisions
        or base.resources.cluster != scope.cluster
        or base.clusters != tuple(clusters)
    ):
        return None
    rendering = any(r.endswith(RENDERING) for r in base.resources.repos)
    if stored == base.at and since is None and not rendering:
        # The same moment, read again after news that changed nothing of it (a set that
        # was still rendering may have come since: then the declared side is compared).
        return replace(base, resources=replace(base.resources, at=at))
    lo, hi = min(base.at, stored), max(base.at, stored)
    if since is not None:
        lo = min(lo, since)
    damage = reader.damage_reads
    touched = reader.touched_between(lo, hi, cluster=scope.revisions, limit=near_limit(base))
    if touched is None:
        return None
    check(stop)
    found = reader.states_of(touched, stored)
    keys = reader.keys_of(touched)
    if reader.damage_reads != damage or len(keys) != len(touched):
        # A damaged frame in between (or an identity pruned meanwhile): read in full,
        # which leaves out what it cannot decode and says so.
        return None
    check(stop)
    sides, declared = desired.merged_at(stored, scope.cluster)

    # The live set moved, and the declared keys whose rows may differ: the changes are
    # layered over the sets before (query.layered), not copied into new ones.
    before_live, before_dkey = base.live.by_resource, base.by_dkey
    left: list[int] = []
    came: dict[int, RevisionRecord] = {}
    dkeys: dict[DesiredKey, tuple[int, ...]] = {}  # () for a declared key no object has
    dirty: set[DesiredKey] = set()
    applications = False
    for rid in touched:
        record = found.get(rid)
        dkey = dkey_of(keys[rid])
        dirty.add(dkey)
        before = before_live.get(rid)
        if before is not None and _is_application(before):
            applications = True
        ids = dkeys[dkey] if dkey in dkeys else before_dkey.get(dkey, ())
        if record is None or record.deleted:
            if before is None:
                continue
            left.append(rid)
            dkeys[dkey] = tuple(i for i in ids if i != rid)
        else:
            applications = applications or _is_application(record)
            came[rid] = record
            if rid not in ids:
                dkeys[dkey] = (*ids, rid)
    live = layered.moved(before_live, left, came)
    by_dkey = layered.moved(
        before_dkey,
        [dkey for dkey, ids in dkeys.items() if not ids],
        {dkey: ids for dkey, ids in dkeys.items() if ids},
    )
    moved = LiveSet(stored, live, scope.revisions)
    old_declared = base.declared
    if declared is not old_declared:
        for dkey in old_declared.keys() | declared.keys():
            was, now = old_declared.get(dkey), declared.get(dkey)
            if was is not now and not _same_row(was, now):
                dirty.add(dkey)

    policy = base.policy
    if applications:
        policy = policy_of(scope.cluster, stored, live.values())
    if policy.fingerprint != base.policy.fingerprint:
        # Other ignore rules can change any row: every row made again (most from the
        # rows kept by revision), from the live set moved.
        return _assemble(
            rows, reader, moved, sides, declared, policy, clusters, scope, at, stop, by_dkey
        )

    cluster = clusters[0] if clusters else "default"
    old = base.resources
    gone: set[ResourceKey] = set()
    made: dict[ResourceKey, tuple[ResourceRow, RevisionRecord | None]] = {}
    for count, dkey in enumerate(dirty):
        if count % STOP_EVERY == 0:
            check(stop)
        before_ids = base.by_dkey.get(dkey, ())
        gone.update(base.live.by_resource[rid].key for rid in before_ids)
        was = old_declared.get(dkey)
        if not before_ids and was is not None:
            gone.add(missing_key(dkey, was, cluster))
        match = declared.get(dkey)
        ids = by_dkey.get(dkey, ())
        for rid in ids:
            record = live[rid]
            made[record.key] = (rows.live_row(record, match, policy), record)
        if not ids and match is not None:
            key = missing_key(dkey, match, cluster)
            made[key] = rows.missing_row(reader, key, match, stored)
    resources = _splice(old, gone, made, at, repos_of(sides))
    return Moment(resources, moved, declared, by_dkey, policy, tuple(clusters))


def _same_row(was: DeclaredObject | None, now: DeclaredObject | None) -> bool:
    """Whether two declared entries of one key make the same row with the same live object:
    another commit declaring the object as it was (most of a commit's set: one file
    changed), compared as data (~5 us) rather than with the live object (~0.6 ms)."""
    if was is None or now is None:
        return was is now
    return was.repo.cluster == now.repo.cluster and was.obj == now.obj


def _is_application(record: RevisionRecord) -> bool:
    key = record.key
    return (key.group, key.kind) == APPLICATION


def _splice(
    old: ResourceSet,
    gone: set[ResourceKey],
    made: Mapping[ResourceKey, tuple[ResourceRow, RevisionRecord | None]],
    at: datetime,
    repos: tuple[str, ...],
) -> ResourceSet:
    """``old``'s rows without those of ``gone`` and with those ``made``, in order; the
    counts and records moved alike."""
    positions = old.positions
    counts = dict(old.counts)
    for key in gone:
        counts[old.rows[positions[key]].state] -= 1
    for row, _ in made.values():
        counts[row.state] = counts.get(row.state, 0) + 1
    # Layered over the records before, not copied (query.layered: ~10 ms a step at
    # 100,000 objects).
    records = layered.moved(
        old.records, gone, {key: record for key, (_, record) in made.items() if record is not None}
    )
    spliced = None
    if gone == made.keys():
        # The same rows, some in another state or revision: each in its place.
        listed = list(old.rows)
        for key, (row, _) in made.items():
            listed[positions[key]] = row
        rows = tuple(listed)
    else:
        spliced = (positions, frozenset(gone - made.keys()), frozenset(made.keys() - gone))
        # Out by their places, in by bisection: a few rows move among 100,000 (a sort
        # and a filter of them all cost ~300 ms there).
        listed = list(old.rows)
        for index in sorted((positions[key] for key in gone), reverse=True):
            del listed[index]
        for row, _ in made.values():
            insort(listed, row, key=row_order)
        rows = tuple(listed)
        # Found by bisection; which keys are rows, layered from the set before.
        members = positions.members if isinstance(positions, Positions) else positions
        came = {key: True for key in made.keys() - gone}
        positions = Positions(rows, layered.moved(members, gone - made.keys(), came))
    return replace(
        old,
        at=at,
        rows=rows,
        counts=counts,
        records=records,
        positions=positions,
        repos=repos,
        spliced=spliced,
    )

"""Assemble the snapshot of one moment from the store: actual, desired, drift, changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from timetravel.domain.diff import changed_fields, diff_desired_actual
from timetravel.domain.ignore import RuleSet, ignoring
from timetravel.domain.model import HappenedBetween, ResourceKey
from timetravel.domain.snapshot import (
    ChangeView,
    CommitView,
    FieldChange,
    RepoView,
    ResourceView,
    Snapshot,
)
from timetravel.domain.times import (
    DEFAULT_WINDOW,
    stored_to_rfc3339,
    to_rfc3339,
    to_stored,
    utc_now,
    window_around,
)
from timetravel.host import collector_paused
from timetravel.query.causes import CauseFinder
from timetravel.query.chain import chains_in_snapshot
from timetravel.query.damage import damage_errors
from timetravel.query.desired import DeclaredObject, DesiredKey, DesiredState, desired_key
from timetravel.query.ignore_policy import NO_RULES, IgnorePolicy, policy_at
from timetravel.query.scope import check_cluster, scope_of
from timetravel.store import Database
from timetravel.store.notes import notes_between
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord


def _observed_rfc3339(stored: str) -> str:
    """``stored_to_rfc3339`` for a revision's ``observed_at``, without parsing it when it
    has the store's fixed-width form (``2026-11-19T21:30:00.000000Z``): a snapshot makes
    ten thousand of these."""
    if len(stored) == 27 and stored[19] == "." and stored[26] == "Z":
        return stored[:19] + "Z" if stored[20:26] == "000000" else stored
    return stored_to_rfc3339(stored)


def change_view(
    record: RevisionRecord, previous: RevisionRecord | None, causes: CauseFinder | None = None
) -> ChangeView:
    """A stored revision as a change: what it did, which fields moved, and why.

    Creations and deletions list no fields: the whole object is the change. Without
    ``previous`` no fields are listed either (a light view, for lists of thousands), and
    the cause is read from the field managers stored with the revision.
    """
    fields: tuple[FieldChange, ...] = ()
    if record.change == "updated" and previous is not None and previous.obj is not None:
        fields = tuple(
            FieldChange(path, before, after)
            for path, before, after in changed_fields(previous.obj, record.obj or {})
        )
    why = causes.explain(record, previous) if causes is not None else None
    return ChangeView(
        at=_observed_rfc3339(record.observed_at),
        key=record.key,
        api_version=record.api_version,
        type=record.change,
        cause=why.cause if why else "unknown",
        actor=why.actor if why else (record.managers[0] if record.managers else None),
        field_managers=(why.field_managers or record.managers) if why else record.managers,
        commit=why.commit if why else None,
        pipeline_run=why.run if why else None,
        fields=fields,
        inferred=record.inferred,
        status_only=record.status_only,
        evidence=why.evidence if why else None,
        happened_between=None
        if (between := record.happened_between) is None
        else HappenedBetween(
            _observed_rfc3339(between.start), _observed_rfc3339(between.end), between.placed_by
        ),
    )


def changes_in(
    reader: Reader, records: Sequence[RevisionRecord], causes: CauseFinder | None = None
) -> list[ChangeView]:
    """Change views for consecutive records, reading each resource's prior revision once."""
    firsts: dict[int, RevisionRecord] = {}
    for record in records:
        firsts.setdefault(record.resource_id, record)
    before_first = reader.previous_many(list(firsts.values()))
    previous_by_resource: dict[int, RevisionRecord | None] = {}
    out = []
    for record in records:
        if record.resource_id in previous_by_resource:
            previous = previous_by_resource[record.resource_id]
        else:
            previous = before_first[record.id]
        out.append(change_view(record, previous, causes))
        previous_by_resource[record.resource_id] = record
    return out


# The one "difference" of an extraneous object (live, not in git) that Argo CD's
# IgnoreExtraneous covers: the whole object, git having none.
EXTRANEOUS_PATH = "(not in git)"
EXTRANEOUS: dict[str, Any] = {"path": EXTRANEOUS_PATH, "desired": None, "actual": None}

# By (revision, declaring commit, path, rules' fingerprint): (state, drift, ignored).
CompareCache = dict[
    tuple[int, str, str, str],
    tuple[str, tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]],
]


def compare(
    declared: DeclaredObject | None,
    record: RevisionRecord | None,
    cache: CompareCache | None = None,
    policy: IgnorePolicy = NO_RULES,
) -> tuple[str, tuple[dict[str, Any], ...]]:
    """State and drift of one resource: desired (git) against actual (cluster), the
    differences an ignore rule covers left out of both (:func:`compare_ignoring` has them).

    ``cache`` keeps results by (revision, commit, path, rules): scrubbing moves the cursor,
    not most objects, so most comparisons are already known.
    """
    state, drift, _ = compare_ignoring(declared, record, cache, policy)
    return state, drift


def compare_ignoring(
    declared: DeclaredObject | None,
    record: RevisionRecord | None,
    cache: CompareCache | None = None,
    policy: IgnorePolicy = NO_RULES,
) -> tuple[str, tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """:func:`compare`, and the differences ignore rules cover, each with ``ignored_by``
    (the rule, where it was written): shown apart, never dropped."""
    if declared is None:
        # Live, not in git: never drift. Argo CD's IgnoreExtraneous says it is expected:
        # its rule is kept (the screen shows the object as ignored, not merely unmanaged).
        why = policy.extraneous_rule(record) if record is not None else None
        if why is None:
            return "unmanaged", (), ()
        return "unmanaged", (), ({**EXTRANEOUS, "ignored_by": why},)
    if record is None or record.obj is None:
        return "missing", (), ()
    if cache is not None:
        key = (record.id, declared.sha, declared.path, policy.fingerprint)
        known = cache.get(key)
        if known is None:
            known = compare_ignoring(declared, record, None, policy)
            if len(cache) > 200_000:
                cache.clear()
            cache[key] = known
        return known
    live = record.obj
    diffs = [
        d
        for d in diff_desired_actual(declared.obj, live, managed_fields=record.managed_fields)
        if not d.noise
    ]
    covered = {}
    if diffs:
        k = record.key
        rules = policy.rules_for(k.group, k.kind, k.namespace, k.name, live)
        if rules:
            covered = ignoring(rules, [d.path for d in diffs], live, record.managed_fields)
    drift = tuple(d.to_json() for d in diffs if d.path not in covered)
    ignored = tuple(
        {**d.to_json(), "ignored_by": covered[d.path].describe()}
        for d in diffs
        if d.path in covered
    )
    return ("drifted" if drift else "in_sync"), drift, ignored


def _source(match: DeclaredObject) -> dict[str, Any]:
    """Where the declaration is; with ``declared_by`` when several files declare the object
    differently (the one shown is chosen by docs/DESIRED.md's rule)."""
    out: dict[str, Any] = {"repo": match.repo.path, "path": match.path}
    if len(match.declared_by) > 1:
        out["declared_by"] = list(match.declared_by)
    return out


def live_view(
    record: RevisionRecord,
    match: DeclaredObject | None,
    cache: CompareCache | None = None,
    last_change: ChangeView | None = None,
    policy: IgnorePolicy = NO_RULES,
) -> ResourceView:
    """A live resource against what git declares for it (``match``, if anything)."""
    state, drift, ignored = compare_ignoring(match, record, cache, policy)
    return ResourceView(
        key=record.key,
        api_version=record.api_version,
        state=state,
        desired=match.obj if match else None,
        actual=record.lazy_obj(),
        diff=drift,
        ignored=ignored,
        source=_source(match) if match else None,
        last_change=last_change,
    )


def missing_view(
    key: ResourceKey, match: DeclaredObject, last_change: ChangeView | None = None
) -> ResourceView:
    """A resource git declares that is not live."""
    return ResourceView(
        key=key,
        api_version=str(match.obj.get("apiVersion") or ""),
        state="missing",
        desired=match.obj,
        actual=None,
        source=_source(match),
        last_change=last_change,
    )


def _key_of_declared(key: DesiredKey, cluster: str) -> ResourceKey:
    group, kind, namespace, name = key
    return ResourceKey(cluster, group, kind, namespace, name)


def resource_views(
    reader: Reader,
    records: Sequence[RevisionRecord],
    declared: dict[DesiredKey, DeclaredObject],
    clusters: Sequence[str],
    at: str,
    *,
    causes: CauseFinder | None = None,
    with_last_change: bool = True,
    light: bool = False,
    cache: CompareCache | None = None,
    detail_since: str = "",
    known: Mapping[int, ChangeView] | None = None,
    policy: IgnorePolicy = NO_RULES,
) -> list[ResourceView]:
    """Every live or declared resource at ``at`` with its state, drift and last change.

    ``known`` holds change views already made, by revision id (the window's changes): a
    resource whose last change is one of them shares it rather than reading it again.
    """
    known = known or {}

    def detailed(record: RevisionRecord) -> bool:
        # Fields of the last change are read for what git declares and for changes inside
        # the window; for the many other objects the cause is enough.
        dkey = (record.key.group, record.key.kind, record.key.namespace, record.key.name)
        return not light and (dkey in declared or record.observed_at >= detail_since)

    # The revisions before the detailed last changes, read together.
    previous = (
        reader.previous_many([r for r in records if r.id not in known and detailed(r)])
        if with_last_change
        else {}
    )

    def last_change(record: RevisionRecord, detailed: bool) -> ChangeView:
        view = known.get(record.id) if detailed else None
        if view is None:
            before = None
            if detailed:
                before = previous[record.id] if record.id in previous else reader.previous(record)
            view = change_view(record, before, causes)
        return view

    views = []
    seen: set[DesiredKey] = set()
    for record in records:
        dkey = (record.key.group, record.key.kind, record.key.namespace, record.key.name)
        match = declared.get(dkey)
        seen.add(dkey)
        views.append(
            live_view(
                record,
                match,
                cache,
                last_change(record, detailed(record)) if with_last_change else None,
                policy,
            )
        )
    cluster = clusters[0] if clusters else "default"
    for dkey, match in declared.items():
        if dkey in seen:
            continue
        key = _key_of_declared(dkey, match.repo.cluster or cluster)
        # Declared but not live: its last change (if it ever existed) is its deletion.
        last = reader.object_at(key, at) if with_last_change else None
        views.append(missing_view(key, match, last_change(last, True) if last else None))
    views.sort(key=lambda v: (v.key.namespace, v.key.kind, v.key.name, v.key.cluster))
    return views


def build_snapshot(
    db: Database,
    at: datetime,
    *,
    window: timedelta = DEFAULT_WINDOW,
    namespaces: Sequence[str] = (),
    generated_at: datetime | None = None,
    light: bool = False,
    causes: CauseFinder | None = None,
    cache: CompareCache | None = None,
    cluster: str | None = None,
    ignore: RuleSet | None = None,
) -> Snapshot:
    """Everything live or declared at ``at`` and every change in [at - window, at + window].

    A window reaching past the supported range of instants (``times.window_around``) is cut
    at its end: the snapshot's ``window_from`` and ``window_to`` say where.

    ``cluster`` limits it to one cluster of the store (a UserError when the store does not
    hold it): its objects, changes, gaps and runs seen in it, and the desired state of the
    repositories bound to it or to none. None is the only cluster of a store of one, and
    every cluster of a store of several (``scope.one_cluster`` is what a command asks).

    ``light`` leaves the fields out of each resource's last change (the screen's list).

    ``ignore``: the configured ignore rules (timetravel.toml's ``[drift] ignore``); those of
    the Argo CD Applications recorded at ``at`` and of each object's annotations always
    apply. A difference a rule covers is in the resource's ``ignored``, not its drift.
    """
    with collector_paused():
        return _build_snapshot(
            db,
            at,
            window=window,
            namespaces=namespaces,
            generated_at=generated_at,
            light=light,
            causes=causes,
            cache=cache,
            cluster=cluster,
            ignore=ignore,
        )


def _build_snapshot(
    db: Database,
    at: datetime,
    *,
    window: timedelta,
    namespaces: Sequence[str],
    generated_at: datetime | None,
    light: bool,
    causes: CauseFinder | None,
    cache: CompareCache | None,
    cluster: str | None,
    ignore: RuleSet | None = None,
) -> Snapshot:
    reader = Reader(db)
    desired = DesiredState(db)
    causes = causes or CauseFinder(db)
    causes_damage = causes.reader.damage_reads  # a finder passed in may have met some before
    at_stored = to_stored(at)
    first, last, _ = window_around(at, window)  # cut at the ends of the supported range
    start, end = to_stored(first), to_stored(last)
    wanted = set(namespaces)

    def in_scope(namespace: str) -> bool:
        return not wanted or namespace in wanted

    clusters = reader.clusters()
    names = [c["name"] for c in clusters]
    if cluster is not None:
        check_cluster(names, cluster)
    scope = scope_of(names, cluster if cluster is not None or len(names) != 1 else names[0])
    if scope.cluster is not None:
        clusters = [c for c in clusters if c["name"] == scope.cluster]
    only = scope.revisions
    sides, declared = desired.merged_at(at_stored, scope.cluster)
    declared = {k: v for k, v in declared.items() if in_scope(k[2])}
    every = reader.state_at(at_stored, cluster=only)
    # Applications of any namespace hold the rules of the objects they track.
    policy = policy_at(every, ignore)
    records = [r for r in every if in_scope(r.key.namespace)]
    window_changes = reader.changes_between(start, end, keep_segments=True, cluster=only)
    in_window = [r for r in window_changes if in_scope(r.key.namespace)]
    changes = changes_in(reader, in_window, causes)
    resources = resource_views(
        reader,
        records,
        declared,
        [c["name"] for c in clusters],
        at_stored,
        causes=causes,
        light=light,
        cache=cache,
        detail_since=start,
        known={record.id: view for record, view in zip(in_window, changes, strict=True)},
        policy=policy,
    )
    errors: list[dict[str, Any]] = [
        {
            "kind": "gap",
            "cluster": gap.cluster,
            "source": gap.source,
            "from": stored_to_rfc3339(gap.started_at),
            "to": stored_to_rfc3339(gap.ended_at),
            "reason": gap.reason,
        }
        for gap in reader.gaps_between(start, end, cluster=scope.cluster)
    ]
    errors.extend({"kind": "ignore-rule", "message": problem} for problem in policy.problems)
    for side in sides:
        for error in side.errors:
            errors.append({"kind": "manifest", "repo": side.repo.path, **error})
    repos = tuple(
        RepoView(
            path=side.repo.path,
            branch=side.repo.branch,
            commit=side.ref.sha if side.ref else None,
            commit_time=stored_to_rfc3339(side.commit.committed_at) if side.commit else None,
            message=side.commit.message.strip() if side.commit else None,
        )
        for side in sides
    )
    commits = tuple(
        CommitView(
            sha=commit.sha,
            at=stored_to_rfc3339(update.observed_at),
            author=commit.author,
            message=commit.message.strip(),
        )
        for update, commit in desired.ref_updates_between(start, end, scope.cluster)
    )
    runs = tuple(causes.runs_between(start, end, scope.cluster))
    artifacts = (
        ()
        if light
        else tuple(
            chain.to_json()
            for chain in chains_in_snapshot(
                reader, db, at_stored, records, list(zip(in_window, changes, strict=True))
            )
        )
    )
    notes = tuple(
        note.to_json()
        for note in notes_between(db, start, end, cluster=scope.cluster)
        if note.namespace is None or in_scope(note.namespace)
    )
    # Objects whose stored versions could not be decoded: left out above, named here.
    damage = [*reader.damage(), *causes.reader.damage(since=causes_damage)]
    errors.extend(
        damage_errors(
            d
            for d in damage
            if in_scope(d.key.namespace) and scope.cluster in (None, d.key.cluster)
        )
    )
    return Snapshot(
        at=to_rfc3339(at),
        window_from=stored_to_rfc3339(start),
        window_to=stored_to_rfc3339(end),
        generated_at=to_rfc3339(generated_at or utc_now()),
        clusters=tuple(clusters),
        repos=repos,
        resources=tuple(resources),
        changes=tuple(changes),
        commits=commits,
        pipeline_runs=runs,
        errors=tuple(errors),
        artifacts=artifacts,
        notes=notes,
    )


__all__ = [
    "build_snapshot",
    "change_view",
    "changes_in",
    "compare",
    "desired_key",
    "live_view",
    "missing_view",
]

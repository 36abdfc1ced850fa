"""The cause of each recorded change, from the evidence in the store.

Evidence is read when asked, so a pipeline run reported after its deploy, or an audit
log imported next week, changes the answer without re-recording anything.

In a store of several clusters a change is weighed against its own cluster's evidence:
the audit events of its cluster's API server and the runs that deploy to it, with those
that name no cluster (facts from before a store knew several, or a run reported without
``--cluster``), which may be about any.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from timetravel.config import load_rules
from timetravel.domain.attribution import (
    ANNOTATION_COMMIT,
    AUDIT_AFTER,
    AUDIT_BEFORE,
    Attribution,
    AuditFact,
    ChangeFacts,
    FitsCommit,
    ManagerRules,
    attribute,
    primary_touch,
    run_window,
)
from timetravel.domain.audit import AuditEvent, guess_resource
from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.diff import holds_declared
from timetravel.domain.managed_fields import ManagerTouch, advanced
from timetravel.domain.native_runs import RUN_KINDS, runs_from_object
from timetravel.domain.times import from_stored, to_stored
from timetravel.store import Database
from timetravel.store.declared import ObjectKey, object_key
from timetravel.store.gitstore import GitStore, RefUpdate, RepoRecord
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord
from timetravel.store.runs import all_pipeline_runs, audit_events_between

# Cluster-native runs (Argo CD syncs...) are looked for this far before a change.
NATIVE_LOOKBACK = timedelta(hours=6)
NATIVE_AHEAD = timedelta(minutes=10)
# Explanations kept by (revision, previous revision); beyond this many they start over.
EXPLAINED_LIMIT = 50_000
# Commits' desired sets kept decoded, by object, to weigh runs by what they deployed: runs
# near the changes being explained deploy a few commits at a time.
DECLARED_SETS = 8

ObjectRef = tuple[str, str, str]  # audit resource (plural), namespace, name
ClusterFact = tuple[str | None, AuditFact]  # the cluster an audit event names, the event


def _days(first: datetime, last: datetime) -> list[str]:
    """The calendar days (UTC, ISO form) from ``first`` to ``last`` inclusive."""
    day, end = first.date(), last.date()
    if day == end:  # nearly always: the spans looked at are minutes or hours long
        return [day.isoformat()]
    out = []
    while day <= end:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def _day_bounds(day: str) -> tuple[str, str]:
    return f"{day}T00:00:00.000000Z", f"{day}T23:59:59.999999Z"


def _audit_fact(event: AuditEvent) -> AuditFact:
    return AuditFact(
        stage_at=event.stage_at,
        verb=event.verb,
        user=event.user,
        impersonated_user=event.impersonated_user,
        field_manager=event.field_manager,
        subresource=event.subresource,
    )


def _overlaps(run: PipelineRun, start: str, end: str) -> bool:
    first = run.started_at or run.reported_at or ""
    last = run.finished_at or run.reported_at or first
    return first <= end and last >= start


class CauseFinder:
    """Explains changes; one per reading thread (it holds the database connection).

    It reads the evidence (runs, audit events, ref moves) a day at a time and keeps it, and
    keeps each explanation: it answers with the facts stored when it first read them. Make
    a new one to weigh facts that arrived since (a run reported late, an audit log imported).
    """

    def __init__(self, db: Database, rules: ManagerRules | None = None) -> None:
        self.db = db
        self.reader = Reader(db)
        self.git = GitStore(db)
        self.rules = rules or load_rules()
        self.recorded_runs = all_pipeline_runs(db)
        # Runs by the days their window (with slack) touches: a change only weighs the runs
        # of its own day, not every run ever reported.
        self._runs_by_day: dict[str, list[PipelineRun]] = {}
        for run in self.recorded_runs:
            first, last = run_window(run)
            if first is None or last is None:
                continue
            day = from_stored(first).date()
            while day <= from_stored(last).date():
                self._runs_by_day.setdefault(day.isoformat(), []).append(run)
                day += timedelta(days=1)
        # Runs seen in each cluster, by day: (cluster, run).
        self._native: dict[str, list[tuple[str, PipelineRun]]] = {}
        self._run_resources: list[int] | None = None
        self._repos = self.git.repos()
        self._runs_of_cluster: dict[tuple[str, str], list[PipelineRun]] = {}
        self._audit_days: dict[str, dict[ObjectRef, list[ClusterFact]]] = {}
        self._ref_days: dict[str, list[tuple[RepoRecord, list[str], list[RefUpdate]]]] = {}
        # By the change's day (stored text's first ten characters), then its revisions.
        self._explained: dict[tuple[str, int, int | None], Attribution] = {}
        self._shared: dict[tuple[Any, ...], Attribution] = {}  # see _unevidenced
        self._quiet_days: dict[str, bool] = {}
        # What a run's commit declares, for runs that name no targets (see _fits_commit).
        self._sets: OrderedDict[tuple[int, str], dict[ObjectKey, dict[str, Any]]] = OrderedDict()
        self._declared: dict[tuple[str, str, ObjectKey], dict[str, Any] | None] = {}
        self._fitted: dict[tuple[int, str, str], bool] = {}
        self._shas: dict[tuple[int, str], str | None] = {}  # a run's commit, as stored

    def forget_from(self, at: str) -> bool:
        """Forget what revisions observed after ``at`` (stored) can change: the runs seen
        in the cluster from its day on, and what was weighed with them (a change weighs
        the runs of up to six hours before it and minutes after, so from the day before).
        Runs reported, audit events and git are not touched: a caller that saw those move
        makes a new finder. False when it cannot: run-describing objects appeared, and
        with them evidence on every day."""
        before = self._run_resources
        self._run_resources = self.reader.resource_ids_of_kinds(RUN_KINDS)
        if before is not None and set(before) != set(self._run_resources):
            return False
        day = (from_stored(at).date() - timedelta(days=1)).isoformat()
        self._native = {d: v for d, v in self._native.items() if d < day}
        self._quiet_days = {d: v for d, v in self._quiet_days.items() if d < day}
        self._explained = {k: v for k, v in self._explained.items() if k[0] < day}
        return True

    def _day_runs(self, day: str, cluster: str) -> list[PipelineRun]:
        """The recorded runs of ``day`` that may have changed ``cluster`` (kept: a snapshot
        asks for thousands of changes of a day or two)."""
        key = (day, cluster)
        known = self._runs_of_cluster.get(key)
        if known is None:
            known = [r for r in self._runs_by_day.get(day, ()) if r.in_cluster(cluster)]
            self._runs_of_cluster[key] = known
        return known

    def native_runs(self, start: str, end: str, cluster: str | None = None) -> list[PipelineRun]:
        """Argo CD / Flux / Tekton / Argo Workflows runs seen in [start, end], in ``cluster``
        (None: in any cluster).

        Read a day at a time and kept: explaining thousands of changes must not query the
        run-describing objects again for each one.
        """
        first, last = from_stored(start).date(), from_stored(end).date()
        found: dict[tuple[str, str, str], PipelineRun] = {}
        day = first
        while day <= last:
            for seen_in, run in self._native_day(day.isoformat()):
                if cluster is None or seen_in == cluster:
                    found[(run.provider, run.pipeline, run.run_id)] = run
            day += timedelta(days=1)
        return sorted(
            (r for r in found.values() if _overlaps(r, start, end)),
            key=lambda r: r.started_at or "",
        )

    def _native_day(self, day: str) -> list[tuple[str, PipelineRun]]:
        cached = self._native.get(day)
        if cached is not None:
            return cached
        runs: dict[tuple[str, str, str, str], tuple[str, PipelineRun]] = {}
        start, end = f"{day}T00:00:00.000000Z", f"{day}T23:59:59.999999Z"
        if self._run_resources is None:
            self._run_resources = self.reader.resource_ids_of_kinds(RUN_KINDS)
        for record in self.reader.revisions_of(self._run_resources, start, end):
            cluster = record.key.cluster
            for run in runs_from_object(record.key.group, record.key.kind, record.obj, cluster):
                # The latest view of a run wins (it knows how the run ended).
                runs[(cluster, run.provider, run.pipeline, run.run_id)] = (cluster, run)
        found = list(runs.values())
        self._native[day] = found
        return found

    def runs_between(self, start: str, end: str, cluster: str | None = None) -> list[PipelineRun]:
        """Every run, recorded or seen (in ``cluster``; None: in any), overlapping
        [start, end], oldest first. A reported run that names no cluster is in every one."""
        out = [
            r
            for r in self.recorded_runs
            if _overlaps(r, start, end) and (cluster is None or r.in_cluster(cluster))
        ]
        out += self.native_runs(start, end, cluster)
        return sorted(out, key=lambda r: r.started_at or r.reported_at or "")

    def _audits(self, record: RevisionRecord, at: datetime) -> list[AuditFact]:
        """The audit events about ``record``'s object around the moment it was seen."""
        first, last = at - AUDIT_BEFORE, at + AUDIT_AFTER
        days = [by_object for day in _days(first, last) if (by_object := self._audit_day(day))]
        if not days:  # most days of most stores: no audit log imported
            return []
        ref = (guess_resource(record.key.kind), record.key.namespace, record.key.name)
        cluster = record.key.cluster
        near = [
            fact
            for by_object in days
            for named, fact in by_object.get(ref, ())
            if named is None or named == cluster
        ]
        if not near:
            return near
        start, end = to_stored(first), to_stored(last)
        return [fact for fact in near if start <= fact.stage_at <= end]

    def _audit_day(self, day: str) -> dict[ObjectRef, list[ClusterFact]]:
        """One day's audit writes by object, earliest first, each with the cluster it names:
        one query for every change of that day (of every cluster) rather than one per
        change."""
        cached = self._audit_days.get(day)
        if cached is not None:
            return cached
        by_object: dict[ObjectRef, list[ClusterFact]] = {}
        for event in audit_events_between(self.db, *_day_bounds(day), changes_only=True):
            if event.resource is None or event.namespace is None or event.name is None:
                continue  # names no object: no change's evidence
            ref = (event.resource, event.namespace, event.name)
            by_object.setdefault(ref, []).append((event.cluster, _audit_fact(event)))
        self._audit_days[day] = by_object
        return by_object

    def desired_commit(self, at: str, cluster: str | None = None) -> str | None:
        """The commit the first followed branch feeding ``cluster`` (None: any) that had one
        pointed to at ``at``."""
        for repo, times, updates in self._refs_of_day(at[:10]):
            if cluster is not None and repo.cluster not in (None, cluster):
                continue
            position = bisect_right(times, at)
            if position:
                return updates[position - 1].sha
        return None

    def _refs_of_day(self, day: str) -> list[tuple[RepoRecord, list[str], list[RefUpdate]]]:
        """Per followed branch (in the store's order): where it pointed when ``day`` began,
        then its moves during the day, oldest first, with their times to bisect."""
        cached = self._ref_days.get(day)
        if cached is not None:
            return cached
        start, end = _day_bounds(day)
        moves = [update for update, _ in self.git.ref_updates_between(start, end)]
        out = []
        for repo in self._repos:
            begin = self.git.ref_at(repo.id, start)
            updates = [begin] if begin is not None else []
            updates += [u for u in moves if u.repo_id == repo.id]
            out.append((repo, [u.observed_at for u in updates], updates))
        self._ref_days[day] = out
        return out

    def _native_near(self, at: datetime, cluster: str) -> list[PipelineRun]:
        """Runs seen in ``cluster`` near ``at``: another cluster's Argo CD deploys there."""
        first, last = at - NATIVE_LOOKBACK, at + NATIVE_AHEAD
        if not any(self._native_day(day) for day in _days(first, last)):
            return []
        return self.native_runs(to_stored(first), to_stored(last), cluster)

    def explain(self, record: RevisionRecord, previous: RevisionRecord | None) -> Attribution:
        """The cause of ``record``'s change, ``previous`` being the revision before it (None
        when not at hand)."""
        key = (record.observed_at[:10], record.id, previous.id if previous is not None else None)
        known = self._explained.get(key)
        if known is None:
            known = self._explain(record, previous)
            if len(self._explained) >= EXPLAINED_LIMIT:
                self._explained.clear()
            self._explained[key] = known
        return known

    def _explain(self, record: RevisionRecord, previous: RevisionRecord | None) -> Attribution:
        observed = record.observed_at
        day = _stored_day(observed)
        if day is not None and _audit_window_in_day(observed) and self._quiet(day):
            # No run, audit event or cluster-native run can bear on this change.
            return self._unevidenced(record, previous)
        at = from_stored(observed)
        day = day or at.date().isoformat()
        runs = self._day_runs(day, record.key.cluster)
        if _audit_window_in_day(observed) and not self._audit_day(day):
            audits: list[AuditFact] = []  # the audit window stays in a day without audits
        else:
            audits = self._audits(record, at)
        native = self._native_near(at, record.key.cluster) if self._may_have_native() else []
        if runs or native or audits:
            return attribute(
                _facts(record, previous),
                runs=[*runs, *native],
                audits=audits,
                desired_commit=self.desired_commit(observed, record.key.cluster),
                rules=self.rules,
                fits_commit=self._fits_commit(record),
            )
        return self._unevidenced(record, previous)

    def _fits_commit(self, record: RevisionRecord) -> FitsCommit:
        """Whether ``record``'s object holds what a commit declares for it (asked only of a
        deploy tool's write inside the window of a run that names no targets).

        Lazy and kept by (revision, commit, writer): explaining 2,200 changes of 200
        Deployments, 2,000 of them `kubectl apply`s inside one such run's window, went from
        0.18 s to 0.27 s (~40 µs per change asked about); changes no such run covers cost
        nothing more."""

        def fits(commit: str, writer: str) -> bool:
            key = (record.id, commit, writer)
            known = self._fitted.get(key)
            if known is None:
                declared = self.declared_by(commit, record.key.cluster, _object_key(record))
                obj = record.obj
                known = bool(
                    declared is not None
                    and obj is not None
                    and holds_declared(
                        declared, obj, managed_fields=record.managed_fields, writer=writer
                    )
                )
                if len(self._fitted) >= EXPLAINED_LIMIT:
                    self._fitted.clear()
                self._fitted[key] = known
            return known

        return fits

    def declared_by(self, commit: str, cluster: str, key: ObjectKey) -> dict[str, Any] | None:
        """What ``commit`` (whole or abbreviated) declares for ``key`` in the recorded repos
        that hold it and may deploy to ``cluster`` (a later repo wins, as in desired state);
        None when none declares it. Kept by (commit, object)."""
        cache_key = (commit, cluster, key)
        if cache_key in self._declared:
            return self._declared[cache_key]
        found = None
        for repo in self._repos:
            if repo.cluster and repo.cluster != cluster:
                continue
            objects = self._declared_set(repo.id, commit)
            if objects is not None and key in objects:
                found = objects[key]
        if len(self._declared) >= EXPLAINED_LIMIT:
            self._declared.clear()
        self._declared[cache_key] = found
        return found

    def _declared_set(self, repo_id: int, commit: str) -> dict[ObjectKey, dict[str, Any]] | None:
        """The objects of the repo's desired set of ``commit`` by key; None without one."""
        if (repo_id, commit) not in self._shas:
            self._shas[(repo_id, commit)] = self.git.set_commit(repo_id, commit)
        sha = self._shas[(repo_id, commit)]
        if sha is None:
            return None
        known = self._sets.get((repo_id, sha))
        if known is not None:
            self._sets.move_to_end((repo_id, sha))
            return known
        stored = self.git.desired_set(repo_id, sha)
        if stored is None:
            return None
        objects: dict[ObjectKey, dict[str, Any]] = {}
        for item in stored.objects:
            key = object_key(item.get("obj"))
            if key is not None:
                objects[key] = item["obj"]
        self._sets[(repo_id, sha)] = objects
        while len(self._sets) > DECLARED_SETS:
            self._sets.popitem(last=False)
        return objects

    def _quiet(self, day: str) -> bool:
        """Whether a change of ``day`` (its audit window inside the day) has no evidence to
        weigh: no run reported for the day, no audit event, no cluster-native run at all.
        Kept by day: a snapshot asks for thousands of changes of the same day or two."""
        quiet = self._quiet_days.get(day)
        if quiet is None:
            quiet = (
                day not in self._runs_by_day
                and not self._audit_day(day)
                and not self._may_have_native()
            )
            self._quiet_days[day] = quiet
        return quiet

    def _unevidenced(self, record: RevisionRecord, previous: RevisionRecord | None) -> Attribution:
        """The answer without runs or audit events: it rests on the primary manager, the
        managers, the commit annotation and (for a GitOps manager only) the commit git
        declared, so thousands of changes share a few such answers."""
        managers = _sole_writer(record, previous)
        if managers is None:
            touched = _touched(record, previous)
            touch = primary_touch(touched, record.status_only)
            manager = touch.manager if touch else None
            managers = tuple(dict.fromkeys(t.manager for t in touched))
        else:
            manager = managers[0] if managers else None
        commit = None
        if manager is not None and self.rules.kind_of(manager) == "gitops":
            commit = self.desired_commit(record.observed_at, record.key.cluster)
        shared = (manager, managers, _annotation(record, ANNOTATION_COMMIT), commit)
        known = self._shared.get(shared)
        if known is None:
            known = attribute(_facts(record, previous), desired_commit=commit, rules=self.rules)
            if len(self._shared) >= EXPLAINED_LIMIT:
                self._shared.clear()
            self._shared[shared] = known
        return known

    def _may_have_native(self) -> bool:
        """Whether any run-describing object (Argo CD Application...) was ever recorded."""
        if self._run_resources is None:
            self._run_resources = self.reader.resource_ids_of_kinds(RUN_KINDS)
        return bool(self._run_resources)


def _object_key(record: RevisionRecord) -> ObjectKey:
    key = record.key
    return (key.group, key.kind, key.namespace, key.name)


def _facts(record: RevisionRecord, previous: RevisionRecord | None) -> ChangeFacts:
    return ChangeFacts(
        at=record.observed_at,
        kind=record.key.kind,
        namespace=record.key.namespace,
        name=record.key.name,
        change=record.change,
        status_only=record.status_only,
        touched=tuple(_touched(record, previous)),
        annotations=_annotations(record),
    )


def _touched(record: RevisionRecord, previous: RevisionRecord | None) -> list[ManagerTouch]:
    """The managedFields entries that wrote ``record``'s change."""
    if previous is None and record.change != "created":
        # No previous revision at hand: the managers the writer saw advance are stored
        # with the revision, and their entries are the ones that wrote.
        entries = [
            entry
            for entry in record.managed_fields
            if str(entry.get("manager") or "") in record.managers
        ]
        return advanced(None, entries)
    return advanced(
        previous.managed_fields if previous is not None else None, record.managed_fields
    )


def _sole_writer(record: RevisionRecord, previous: RevisionRecord | None) -> tuple[str, ...] | None:
    """The managers that wrote an update or a deletion whose previous revision is not at
    hand, when that is at most one manager: read from the revision's stored ``managers``
    alone, which name exactly the entries ``_touched`` would find (so the primary one is
    the only one). None when the managedFields must be read (~7 µs each, for thousands of
    changes in a snapshot)."""
    if previous is not None or record.change == "created" or len(record.managers) > 1:
        return None
    return record.managers


def _annotations(record: RevisionRecord) -> dict[str, str]:
    meta: dict[str, Any] = (record.obj or {}).get("metadata") or {}
    return {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}


def _annotation(record: RevisionRecord, name: str) -> str | None:
    """``_annotations(record).get(name)`` without copying every annotation, and without
    parsing the object when its recorded JSON does not hold the name at all."""
    if not record.obj_read and record.body is not None and name.encode() not in record.body:
        return None
    meta: dict[str, Any] = (record.obj or {}).get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return str(annotations[name]) if name in annotations else None


def _stored_day(stored: str) -> str | None:
    """The UTC day of a time in the store's fixed-width form, read off the text; None for
    any other form (parse it then)."""
    if len(stored) == 27 and stored[10] == "T" and stored[26] == "Z":
        return stored[:10]
    return None


def _clock(offset: timedelta) -> str:
    """The time of day ``offset`` after midnight, as the store's fixed-width text has it."""
    return (datetime(2000, 1, 1) + offset).strftime("%H:%M:%S.%f")


# A change seen between these times of day has its whole audit window in its own day.
_AUDIT_DAY = (_clock(AUDIT_BEFORE), _clock(timedelta(days=1) - AUDIT_AFTER))


def _audit_window_in_day(stored: str) -> bool:
    """Whether [``stored`` - AUDIT_BEFORE, ``stored`` + AUDIT_AFTER] stays within the UTC day
    of ``stored``, read off the fixed-width text (False for any other form)."""
    if _stored_day(stored) is None:
        return False
    return _AUDIT_DAY[0] <= stored[11:26] < _AUDIT_DAY[1]

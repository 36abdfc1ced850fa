"""The cause of each recorded change, from the evidence in the store.

Evidence is read when asked, so a pipeline run reported after its deploy, or an audit
log imported next week, changes the answer without re-recording anything.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from timetravel.config import load_rules
from timetravel.domain.attribution import (
    AUDIT_AFTER,
    AUDIT_BEFORE,
    Attribution,
    AuditFact,
    ChangeFacts,
    ManagerRules,
    RunFact,
    attribute,
)
from timetravel.domain.audit import guess_resource
from timetravel.domain.ci_env import PipelineRunRecord
from timetravel.domain.managed_fields import advanced
from timetravel.domain.native_runs import RUN_KINDS, runs_from_object
from timetravel.domain.times import from_stored, to_stored
from timetravel.store import Database
from timetravel.store.gitstore import GitStore
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord
from timetravel.store.runs import all_pipeline_runs, audit_events_for

# Cluster-native runs (Argo CD syncs...) are looked for this far before a change.
NATIVE_LOOKBACK = timedelta(hours=6)


def run_fact(record: PipelineRunRecord) -> RunFact:
    return RunFact(
        provider=record.provider,
        pipeline=record.pipeline,
        run_id=record.run_id,
        commit=record.commit,
        url=record.url,
        status=record.status,
        actor=record.actor,
        started_at=record.started_at,
        finished_at=record.finished_at,
        reported_at=record.reported_at,
        targets=tuple(str(t) for t in record.targets),
        service_account=record.service_account,
    )


def _overlaps(run: RunFact, start: str, end: str) -> bool:
    first = run.started_at or run.reported_at or ""
    last = run.finished_at or run.reported_at or first
    return first <= end and last >= start


class CauseFinder:
    """Explains changes; one per reading thread (it holds the database connection)."""

    def __init__(self, db: Database, rules: ManagerRules | None = None) -> None:
        self.db = db
        self.reader = Reader(db)
        self.git = GitStore(db)
        self.rules = rules or load_rules()
        self.recorded_runs = [run_fact(r) for r in all_pipeline_runs(db)]
        # Runs by the days their window (with slack) touches: a change only weighs the runs
        # of its own day, not every run ever reported.
        self._runs_by_day: dict[str, list[RunFact]] = {}
        for run in self.recorded_runs:
            first, last = run.window()
            if first is None or last is None:
                continue
            day = from_stored(first).date()
            while day <= from_stored(last).date():
                self._runs_by_day.setdefault(day.isoformat(), []).append(run)
                day += timedelta(days=1)
        self._native: dict[str, list[RunFact]] = {}
        self._run_resources: list[int] | None = None
        self._repos = self.git.repos()

    def native_runs(self, start: str, end: str) -> list[RunFact]:
        """Argo CD / Flux / Tekton / Argo Workflows runs seen in the cluster in [start, end].

        Read a day at a time and kept: explaining thousands of changes must not query the
        run-describing objects again for each one.
        """
        first, last = from_stored(start).date(), from_stored(end).date()
        found: dict[tuple[str, str, str], RunFact] = {}
        day = first
        while day <= last:
            for run in self._native_day(day.isoformat()):
                found[(run.provider, run.pipeline, run.run_id)] = run
            day += timedelta(days=1)
        return sorted(
            (r for r in found.values() if _overlaps(r, start, end)),
            key=lambda r: r.started_at or "",
        )

    def _native_day(self, day: str) -> list[RunFact]:
        cached = self._native.get(day)
        if cached is not None:
            return cached
        runs: dict[tuple[str, str, str], RunFact] = {}
        start, end = f"{day}T00:00:00.000000Z", f"{day}T23:59:59.999999Z"
        if self._run_resources is None:
            self._run_resources = self.reader.resource_ids_of_kinds(RUN_KINDS)
        for record in self.reader.revisions_of(self._run_resources, start, end):
            for run in runs_from_object(record.key.group, record.key.kind, record.obj):
                # The latest view of a run wins (it knows how the run ended).
                runs[(run.provider, run.pipeline, run.run_id)] = run
        found = list(runs.values())
        self._native[day] = found
        return found

    def runs_between(self, start: str, end: str) -> list[RunFact]:
        """Every run, recorded or seen, overlapping [start, end], oldest first."""
        out = [r for r in self.recorded_runs if _overlaps(r, start, end)]
        out += self.native_runs(start, end)
        return sorted(out, key=lambda r: r.started_at or r.reported_at or "")

    def _audits(self, record: RevisionRecord) -> list[AuditFact]:
        at = from_stored(record.observed_at)
        events = audit_events_for(
            self.db,
            guess_resource(record.key.kind),
            record.key.namespace,
            record.key.name,
            to_stored(at - AUDIT_BEFORE),
            to_stored(at + AUDIT_AFTER),
            changes_only=True,
        )
        return [
            AuditFact(
                stage_at=to_stored(e.stage_at),
                verb=e.verb,
                user=e.user,
                impersonated_user=e.impersonated_user,
                field_manager=e.field_manager,
                subresource=e.subresource,
            )
            for e in events
        ]

    def desired_commit(self, at: str) -> str | None:
        for repo in self._repos:
            ref = self.git.ref_at(repo.id, at)
            if ref is not None:
                return ref.sha
        return None

    def explain(self, record: RevisionRecord, previous: RevisionRecord | None) -> Attribution:
        meta: dict[str, Any] = (record.obj or {}).get("metadata") or {}
        annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
        touched = advanced(
            previous.managed_fields if previous is not None else None, record.managed_fields
        )
        if previous is None and record.change != "created":
            # No previous revision at hand: the managers the writer saw advance are stored
            # with the revision.
            touched = [t for t in touched if t.manager in record.managers]
        facts = ChangeFacts(
            at=record.observed_at,
            kind=record.key.kind,
            namespace=record.key.namespace,
            name=record.key.name,
            change=record.change,
            status_only=record.status_only,
            touched=tuple(touched),
            annotations=annotations,
        )
        at = from_stored(record.observed_at)
        native = self.native_runs(
            to_stored(at - NATIVE_LOOKBACK), to_stored(at + timedelta(minutes=10))
        )
        return attribute(
            facts,
            runs=[*self._runs_by_day.get(at.date().isoformat(), ()), *native],
            audits=self._audits(record),
            desired_commit=self.desired_commit(record.observed_at),
            rules=self.rules,
        )

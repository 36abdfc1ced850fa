"""Why each change happened, from field managers, pipeline runs and the audit log."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from timetravel.demo.objects import Live, deployment, with_server_defaults
from timetravel.domain.audit import AuditEvent, read_audit
from timetravel.domain.ci_env import PipelineRunFacts, Target
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_stored
from timetravel.export.json_export import render_json
from timetravel.query.drift import drift_history
from timetravel.query.moment import build_snapshot
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.events import import_events
from timetravel.recorder.git import GitSource
from timetravel.store.db import open_database
from timetravel.store.runs import insert_audit_events, upsert_pipeline_run

from .gitrepo import GitOpsRepo


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every test here runs against both engines (a file, a PostgreSQL database)."""
    return any_db


T0 = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)
API = ResourceKey("prod", "apps", "Deployment", "payments", "api")


class Cluster:
    """Writes to one Deployment, with managedFields, imported as watch events."""

    def __init__(self, db, image: str = "api:1.0", replicas: int = 3) -> None:
        self.db = db
        self.spec = deployment("payments", "api", image, replicas)
        self.live = Live(with_server_defaults(self.spec), "uid-api")
        self.rv = 100
        self.write(T0, "argocd-controller", ("spec",), operation="Apply", event="ADDED")

    def write(
        self,
        at,
        manager,
        paths,
        *,
        mutate=None,
        operation="Update",
        subresource="",
        event="MODIFIED",
        annotations=None,
    ) -> None:
        if mutate:
            mutate(self.live.obj)
        if annotations:
            self.live.obj["metadata"].setdefault("annotations", {}).update(annotations)
        self.rv += 1
        served = self.live.write(
            self.rv, to_stored(at), manager, paths, operation=operation, subresource=subresource
        )
        line = json.dumps({"type": event, "object": served, "observed_at": at.isoformat()})
        assert not import_events(self.db, [line], cluster="prod").bad


def set_image(image):
    def mutate(obj):
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return mutate


def set_replicas(n):
    def mutate(obj):
        obj["spec"]["replicas"] = n

    return mutate


def changes(db, at=T0 + timedelta(minutes=30), window=timedelta(hours=1)):
    snapshot = json.loads(render_json(build_snapshot(db, at, window=window)))
    return [c for c in snapshot["changes"] if c["name"] == "api"]


def run(run_id, commit, start, *, targets=("Deployment/payments/api",), reported=None):
    return PipelineRunFacts(
        provider="github-actions",
        pipeline="deploy-payments",
        run_id=run_id,
        reported_at=reported or start + timedelta(minutes=5),
        commit=commit,
        status="success",
        actor="carol",
        started_at=start,
        finished_at=start + timedelta(minutes=5),
        targets=tuple(Target(*t.split("/")) for t in targets),
        url=f"https://ci.example.com/runs/{run_id}",
    )


def test_run_reported_after_the_deploy_still_claims_it(db_path: Path) -> None:
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=3),
        "kubectl-client-side-apply",
        ("spec",),
        mutate=set_image("api:2.0"),
    )
    assert changes(db)[-1]["cause"] == "manual", "before the run is reported: a person's tool"
    # CI reports at the end of the job, minutes after the deploy, through the real CLI.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "record-run",
            "--db",
            str(db_path),
            "--provider",
            "github-actions",
            "--pipeline",
            "deploy-payments",
            "--run-id",
            "77",
            "--commit",
            "a" * 40,
            "--status",
            "success",
            "--started-at",
            (T0 + timedelta(minutes=1)).isoformat(),
            "--finished-at",
            (T0 + timedelta(minutes=6)).isoformat(),
            "--target",
            "Deployment/payments/api",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    last = changes(db)[-1]
    assert last["cause"] == "pipeline"
    assert last["pipeline_run"]["run_id"] == "77"
    assert last["commit"] == "a" * 40


def test_runs_for_another_time_or_commit_do_not_claim_it(db_path: Path) -> None:
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=3),
        "kubectl-client-side-apply",
        ("spec",),
        mutate=set_image("api:2.0"),
        annotations={"timetravel.io/commit": "b" * 40},
    )
    upsert_pipeline_run(db, run("earlier", "b" * 40, T0 - timedelta(hours=2)))
    upsert_pipeline_run(db, run("other-commit", "c" * 40, T0))
    upsert_pipeline_run(
        db, run("other-target", "b" * 40, T0, targets=("Deployment/checkout/checkout",))
    )
    assert changes(db)[-1]["cause"] == "manual"
    upsert_pipeline_run(db, run("right", "b" * 40, T0 + timedelta(minutes=1)))
    last = changes(db)[-1]
    assert (last["cause"], last["pipeline_run"]["run_id"]) == ("pipeline", "right")


def test_autoscaler_scale_versus_a_person_scaling(db_path: Path) -> None:
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=5),
        "kube-controller-manager",
        ("spec.replicas",),
        mutate=set_replicas(6),
        subresource="scale",
    )
    cluster.write(
        T0 + timedelta(minutes=10),
        "kubectl-scale",
        ("spec.replicas",),
        mutate=set_replicas(2),
        subresource="scale",
    )
    scaled = [c for c in changes(db) if c["type"] == "updated"]
    assert [(c["cause"], c["actor"]) for c in scaled] == [
        ("controller", "kube-controller-manager"),
        ("manual", "kubectl-scale"),
    ]
    assert all(
        c["fields"] == [{"path": "spec.replicas", "before": b, "after": a}]
        for c, (b, a) in zip(scaled, [(3, 6), (6, 2)], strict=True)
    )


def audit_line(at, user, manager, *, impersonated=None, verb="update"):
    event = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"id-{user}-{at.timestamp()}",
        "stage": "ResponseComplete",
        "requestURI": f"/apis/apps/v1/namespaces/payments/deployments/api?fieldManager={manager}",
        "verb": verb,
        "user": {"username": user},
        "objectRef": {
            "resource": "deployments",
            "namespace": "payments",
            "name": "api",
            "apiGroup": "apps",
            "apiVersion": "v1",
        },
        "responseStatus": {"code": 200},
        "stageTimestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    if impersonated:
        event["impersonatedUser"] = {"username": impersonated}
    return json.dumps(event)


def test_audit_user_overrides_the_field_manager_and_shows_impersonation(db_path) -> None:
    db = open_database(db_path)
    cluster = Cluster(db)
    edit_at = T0 + timedelta(minutes=5)
    cluster.write(edit_at, "kubectl-edit", ("spec.replicas",), mutate=set_replicas(6))
    assert changes(db)[-1]["actor"] == "kubectl-edit"
    patch_at = T0 + timedelta(minutes=9)
    cluster.write(patch_at, "kubectl-patch", ("spec.replicas",), mutate=set_replicas(4))
    lines = [
        audit_line(edit_at - timedelta(seconds=1), "alice@acme.io", "kubectl-edit"),
        audit_line(
            patch_at - timedelta(seconds=1),
            "admin@acme.io",
            "kubectl-patch",
            impersonated="dave@acme.io",
            verb="patch",
        ),
    ]
    insert_audit_events(db, [e for e in read_audit(lines) if isinstance(e, AuditEvent)])
    edit, patch = [c for c in changes(db) if c["type"] == "updated"]
    assert (edit["cause"], edit["actor"]) == ("manual", "alice@acme.io")
    assert patch["actor"] == "admin@acme.io as dave@acme.io"


def test_evidence_from_the_day_before_explains_a_change_just_after_midnight(
    tmp_path: Path, db_path: Path
) -> None:
    # Causes read audit events and branch moves a day at a time: the evidence for a write
    # seconds after midnight is on the day before.
    midnight = datetime(2026, 11, 20, tzinfo=UTC)
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("payments/api.yaml", deployment("payments", "api", "api:1.0", 3))
    repo.commit("api", T0 - timedelta(days=1))
    repo.write("payments/api.yaml", deployment("payments", "api", "api:1.0", 4))
    repo.commit("four replicas", midnight - timedelta(minutes=1))
    GitSource(db_path, repo.path, clock=MonotonicClock(), progress=False).sync()
    db = open_database(db_path)
    cluster = Cluster(db)
    edit_at = midnight + timedelta(seconds=5)
    cluster.write(edit_at, "kubectl-edit", ("spec.replicas",), mutate=set_replicas(6))
    sync_at = midnight + timedelta(seconds=30)
    cluster.write(
        sync_at, "argocd-controller", ("spec.replicas",), mutate=set_replicas(4), operation="Apply"
    )
    lines = [audit_line(edit_at - timedelta(seconds=10), "alice@acme.io", "kubectl-edit")]
    insert_audit_events(db, [e for e in read_audit(lines) if isinstance(e, AuditEvent)])
    edit, sync = [c for c in changes(db, at=midnight) if c["type"] == "updated"]
    assert (edit["cause"], edit["actor"]) == ("manual", "alice@acme.io")
    assert (sync["cause"], sync["commit"]) == ("gitops", repo.repo.head.commit.hexsha)


def test_manual_edit_then_argocd_self_heal(tmp_path: Path, db_path: Path) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("payments/api.yaml", deployment("payments", "api", "api:1.0", 3))
    repo.commit("api", T0 - timedelta(days=1))
    GitSource(db_path, repo.path, clock=MonotonicClock(), progress=False).sync()
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=5),
        "kubectl-scale",
        ("spec.replicas",),
        mutate=set_replicas(5),
        subresource="scale",
    )
    cluster.write(
        T0 + timedelta(minutes=7),
        "argocd-controller",
        ("spec.replicas",),
        mutate=set_replicas(3),
        operation="Apply",
    )
    updated = [c for c in changes(db) if c["type"] == "updated"]
    assert [c["cause"] for c in updated] == ["manual", "gitops"]
    assert updated[1]["commit"] == repo.repo.head.commit.hexsha
    intervals = drift_history(db, API, to_stored(T0 + timedelta(hours=1)))
    assert len(intervals) == 1
    interval = intervals[0]
    assert interval.opened_at == to_stored(T0 + timedelta(minutes=5))
    assert interval.closed_at == to_stored(T0 + timedelta(minutes=7))
    assert (interval.opened_cause, interval.closed_how) == ("manual", "sync")


def test_annotations_other_tools_set_name_the_run(db_path: Path) -> None:
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=3),
        "kubectl-client-side-apply",
        ("spec",),
        mutate=set_image("api:2.0"),
        annotations={"app.gitlab.com/app": "acme-payments", "app.gitlab.com/env": "prod"},
    )
    gitlab = PipelineRunFacts(
        provider="gitlab-ci",
        pipeline="acme/payments",
        run_id="9001",
        reported_at=T0 + timedelta(minutes=6),
        commit="d" * 40,
        status="success",
        started_at=T0 + timedelta(minutes=1),
        finished_at=T0 + timedelta(minutes=6),
    )
    other = PipelineRunFacts(
        provider="gitlab-ci",
        pipeline="acme/checkout",
        run_id="9002",
        reported_at=T0 + timedelta(minutes=6),
        commit="e" * 40,
        status="success",
        started_at=T0 + timedelta(minutes=1),
        finished_at=T0 + timedelta(minutes=6),
    )
    upsert_pipeline_run(db, other)
    assert changes(db)[-1]["cause"] == "manual", "another project's pipeline does not claim it"
    upsert_pipeline_run(db, gitlab)
    last = changes(db)[-1]
    assert (last["cause"], last["pipeline_run"]["run_id"]) == ("pipeline", "9001")


def test_changes_without_runs_or_audits_keep_their_own_commits(
    tmp_path: Path, db_path: Path
) -> None:
    # With no run or audit event near them, changes by the same managers share one
    # explanation (a snapshot explains thousands); the commit git declared at each change
    # and the commit each object was annotated with must still be its own.
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("payments/api.yaml", deployment("payments", "api", "api:1.0", 3))
    first = repo.commit("api", T0 - timedelta(days=1))
    repo.write("payments/api.yaml", deployment("payments", "api", "api:1.0", 4))
    second = repo.commit("four replicas", T0 + timedelta(minutes=10))
    GitSource(db_path, repo.path, clock=MonotonicClock(), progress=False).sync()
    db = open_database(db_path)
    cluster = Cluster(db)
    for minute, replicas in ((5, 5), (15, 4)):
        cluster.write(
            T0 + timedelta(minutes=minute),
            "argocd-controller",
            ("spec.replicas",),
            mutate=set_replicas(replicas),
            operation="Apply",
        )
    for minute, commit in ((20, "c1"), (25, "c2")):
        cluster.write(
            T0 + timedelta(minutes=minute),
            "kubectl-edit",
            ("spec.replicas",),
            mutate=set_replicas(minute),
            annotations={"timetravel.io/commit": commit},
        )
    updated = [c for c in changes(db) if c["type"] == "updated"]
    assert [(c["cause"], c["commit"]) for c in updated] == [
        ("gitops", first),
        ("gitops", second),
        ("manual", "c1"),
        ("manual", "c2"),
    ]


@pytest.mark.parametrize(
    ("manager", "kind"),
    [
        ("external-secrets", "controller"),  # rotates Secrets from a vault
        ("cert-manager-cainjector", "controller"),
        ("kyverno", "controller"),
        ("argocd-controller", "gitops"),
        ("kubectl-edit", "manual"),
        ("external-secrets-but-a-person", "unknown"),
    ],
)
def test_well_known_controllers_by_their_bare_names(manager: str, kind: str) -> None:
    from timetravel.domain.attribution import ManagerRules

    assert ManagerRules().kind_of(manager) == kind

"""A run that reports only its commit and times (a CI job running ``kubectl apply -f``)
claims the changes that bring objects to what that commit declares (issue #17, item 3).

Real parts: a git repository recorded by the git recorder, watch events imported through
the real writer, runs recorded by the ``record-run`` command, audit events imported.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from timetravel.commands.record_run import record_run
from timetravel.demo.objects import deployment, with_server_defaults
from timetravel.domain.audit import AuditEvent, read_audit
from timetravel.domain.diff import holds_declared
from timetravel.export.markdown import render_markdown
from timetravel.query.moment import build_snapshot
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.store.db import open_database
from timetravel.store.runs import insert_audit_events

from .gitrepo import GitOpsRepo
from .test_attribution import T0, Cluster, audit_line, changes, set_image, set_replicas


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every test here runs against both engines (a file, a PostgreSQL database)."""
    return any_db


RUN_START = T0 + timedelta(minutes=1)
RUN_END = T0 + timedelta(minutes=6)


def gitops(tmp_path: Path, db_path: Path) -> tuple[str, str]:
    """A repository declaring the api Deployment (api:1.0, then api:2.0), recorded."""
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("payments/api.yaml", deployment("payments", "api", "api:1.0", 3))
    first = repo.commit("api 1.0", T0 - timedelta(days=1))
    repo.write("payments/api.yaml", deployment("payments", "api", "api:2.0", 3))
    second = repo.commit("api 2.0", T0 - timedelta(minutes=30))
    GitSource(db_path, repo.path, clock=MonotonicClock(), progress=False).sync()
    return first, second


def report_run(
    db_path: Path,
    run_id: str,
    commit: str,
    *extra: str,
    start: datetime = RUN_START,
    end: datetime = RUN_END,
) -> None:
    """``timetravel record-run`` as the last step of a deploy job: a commit and times."""
    result = CliRunner().invoke(
        record_run,
        [
            "--db",
            str(db_path),
            "--no-env",
            "--provider",
            "github-actions",
            "--pipeline",
            "deploy-payments",
            "--run-id",
            run_id,
            "--commit",
            commit,
            "--status",
            "success",
            "--started-at",
            start.isoformat(),
            "--finished-at",
            end.isoformat(),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output


def updated(db: Any) -> list[dict[str, Any]]:
    return [c for c in changes(db) if c["type"] == "updated"]


def evidence(db: Any) -> list[str | None]:
    """The evidence of each update of the api Deployment, oldest first (the snapshot's
    JSON leaves it out; the Markdown report and the cause panel show it)."""
    snapshot = build_snapshot(db, T0 + timedelta(minutes=30), window=timedelta(hours=1))
    return [c.evidence for c in snapshot.changes if c.key.name == "api" and c.type == "updated"]


def test_client_side_apply_of_the_commit_is_claimed_by_a_run_reported_late(
    tmp_path: Path, db_path: Path
) -> None:
    _, deployed = gitops(tmp_path, db_path)
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=3),
        "kubectl-client-side-apply",
        ("spec", "metadata.annotations"),
        mutate=set_image("api:2.0"),
    )
    [before] = updated(db)
    assert (before["cause"], before["pipeline_run"]) == ("manual", None)
    # The job reports itself at its end, after the recorder wrote the change down.
    report_run(db_path, "7712", deployed)
    [after] = updated(db)
    assert after["cause"] == "pipeline"
    assert after["pipeline_run"]["run_id"] == "7712"
    assert after["commit"] == deployed
    assert evidence(db) == [f"fields now match commit {deployed[:7]} deployed by run #7712"]


def test_the_evidence_is_in_the_report(tmp_path: Path, db_path: Path) -> None:
    _, deployed = gitops(tmp_path, db_path)
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=3),
        "kubectl-client-side-apply",
        ("spec",),
        mutate=set_image("api:2.0"),
    )
    report_run(db_path, "7712", deployed)
    snapshot = build_snapshot(db, T0 + timedelta(minutes=30), window=timedelta(hours=1))
    report = render_markdown(snapshot).decode()
    assert f"fields now match commit {deployed[:7]} deployed by run #7712" in report


def test_server_side_apply_is_claimed_but_an_old_kubectl_update_is_not(
    tmp_path: Path, db_path: Path
) -> None:
    _, deployed = gitops(tmp_path, db_path)
    db = open_database(db_path)
    cluster = Cluster(db)
    # An old kubectl wrote every edit as "kubectl" (operation Update): a person's edit,
    # even one that happens to give the commit's image.
    cluster.write(
        T0 + timedelta(minutes=2),
        "kubectl",
        ("spec.template.spec.containers",),
        mutate=set_image("api:2.0"),
    )
    cluster.write(
        T0 + timedelta(minutes=3),
        "kubectl-scale",
        ("spec.replicas",),
        mutate=set_replicas(5),
        subresource="scale",
    )
    # `kubectl apply --server-side` of the commit: manager "kubectl", operation Apply.
    cluster.write(
        T0 + timedelta(minutes=4),
        "kubectl",
        ("spec",),
        mutate=set_replicas(3),
        operation="Apply",
    )
    report_run(db_path, "7713", deployed)
    causes = [(c["cause"], (c["pipeline_run"] or {}).get("run_id")) for c in updated(db)]
    assert causes == [("manual", None), ("manual", None), ("pipeline", "7713")]
    assert evidence(db)[-1] == f"fields now match commit {deployed[:7]} deployed by run #7713"


def test_a_persons_edit_in_the_window_stays_manual_and_is_named_by_the_audit_log(
    tmp_path: Path, db_path: Path
) -> None:
    _, deployed = gitops(tmp_path, db_path)
    db = open_database(db_path)
    cluster = Cluster(db)
    apply_at = T0 + timedelta(minutes=2)
    cluster.write(apply_at, "kubectl-client-side-apply", ("spec",), mutate=set_image("api:2.0"))
    edit_at = T0 + timedelta(minutes=3)
    cluster.write(edit_at, "kubectl-edit", ("spec.replicas",), mutate=set_replicas(6))
    # Put back by hand: the object holds the commit again, but a person's edit is theirs.
    revert_at = T0 + timedelta(minutes=3, seconds=30)
    cluster.write(revert_at, "kubectl-edit", ("spec.replicas",), mutate=set_replicas(3))
    # Someone applies a file of their own (an image the commit does not declare).
    local_at = T0 + timedelta(minutes=4)
    cluster.write(local_at, "kubectl-client-side-apply", ("spec",), mutate=set_image("api:2.1"))
    report_run(db_path, "7714", deployed)
    lines = [
        audit_line(edit_at - timedelta(seconds=1), "alice@acme.io", "kubectl-edit", verb="patch"),
        audit_line(
            local_at - timedelta(seconds=1),
            "bob@acme.io",
            "kubectl-client-side-apply",
            verb="patch",
        ),
    ]
    insert_audit_events(db, [e for e in read_audit(lines) if isinstance(e, AuditEvent)])
    apply, edit, revert, local = updated(db)
    assert (apply["cause"], apply["pipeline_run"]["run_id"]) == ("pipeline", "7714")
    assert (edit["cause"], edit["actor"], edit["pipeline_run"]) == (
        "manual",
        "alice@acme.io",
        None,
    )
    assert (revert["cause"], revert["pipeline_run"]) == ("manual", None)
    assert (local["cause"], local["actor"], local["pipeline_run"]) == (
        "manual",
        "bob@acme.io",
        None,
    )


def test_an_abbreviated_commit_claims_and_an_unknown_one_does_not(
    tmp_path: Path, db_path: Path
) -> None:
    _, deployed = gitops(tmp_path, db_path)
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(T0 + timedelta(minutes=3), "helm", ("spec",), mutate=set_image("api:2.0"))
    report_run(db_path, "1", "0" * 40)  # a commit no recorded repository holds
    assert updated(db)[0]["cause"] != "pipeline"
    report_run(db_path, "2", deployed[:7], start=RUN_START + timedelta(seconds=1))
    [change] = updated(db)
    assert (change["cause"], change["pipeline_run"]["run_id"]) == ("pipeline", "2")
    assert evidence(db) == [f"fields now match commit {deployed[:7]} deployed by run #2"]


def test_a_run_of_the_older_commit_does_not_claim_the_new_image(
    tmp_path: Path, db_path: Path
) -> None:
    older, deployed = gitops(tmp_path, db_path)
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=3),
        "kubectl-client-side-apply",
        ("spec",),
        mutate=set_image("api:2.0"),
    )
    report_run(db_path, "old", older)
    assert updated(db)[0]["cause"] == "manual"
    report_run(db_path, "new", deployed)
    assert updated(db)[0]["pipeline_run"]["run_id"] == "new"


def test_runs_that_name_targets_keep_todays_rules(tmp_path: Path, db_path: Path) -> None:
    _, deployed = gitops(tmp_path, db_path)
    db = open_database(db_path)
    cluster = Cluster(db)
    cluster.write(
        T0 + timedelta(minutes=3),
        "kubectl-client-side-apply",
        ("spec",),
        mutate=set_image("api:2.0"),
    )
    # A run that names its targets speaks for those only, whatever its commit declares.
    report_run(db_path, "web", deployed, "--target", "Deployment/payments/web")
    assert updated(db)[0]["cause"] == "manual"
    # One that names none is matched by the content of its commit...
    report_run(db_path, "any", deployed, start=RUN_START + timedelta(seconds=30))
    assert updated(db)[0]["pipeline_run"]["run_id"] == "any"
    assert evidence(db) == [f"fields now match commit {deployed[:7]} deployed by run #any"]
    # ...and one naming the object wins over it, with today's evidence, though it started
    # no later (the same second, reported after it).
    start = RUN_START + timedelta(seconds=30)
    report_run(db_path, "named", deployed, "--target", "Deployment/payments/api", start=start)
    assert updated(db)[0]["pipeline_run"]["run_id"] == "named"
    assert evidence(db) == ["pipeline run github-actions deploy-payments#named"]


# -- the comparison, on its own --------------------------------------------------------

WRITER = "kubectl-client-side-apply"


def live(
    declared: dict[str, Any], owned_by: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``declared`` as the API server keeps it, and managedFields giving ``owned_by``'s
    env vars to their managers (the declared fields to the writer)."""
    obj = with_server_defaults(declared)
    container = obj["spec"]["template"]["spec"]["containers"][0]
    entries: dict[str, dict[str, Any]] = {
        WRITER: {"manager": WRITER, "operation": "Update", "fieldsV1": {"f:spec": {}}}
    }
    for name, manager in owned_by.items():
        container.setdefault("env", []).append({"name": name, "value": "x"})
        entry = entries.setdefault(
            manager,
            {"manager": manager, "operation": "Update", "time": "2026-11-19T20:00:00Z"},
        )
        env = (
            entry.setdefault("fieldsV1", {})
            .setdefault("f:spec", {})
            .setdefault("f:template", {})
            .setdefault("f:spec", {})
            .setdefault("f:containers", {})
            .setdefault('k:{"name":"api"}', {})
            .setdefault("f:env", {})
        )
        env[f'k:{{"name":"{name}"}}'] = {".": {}, "f:name": {}, "f:value": {}}
    return obj, list(entries.values())


@settings(max_examples=60, deadline=None)
@given(
    image=st.sampled_from(["api:1.0", "api:2.0"]),
    replicas=st.integers(min_value=0, max_value=5),
    live_replicas=st.integers(min_value=0, max_value=5),
    cpu=st.sampled_from(["250m", "0.25", "500m"]),
    extra=st.dictionaries(
        st.sampled_from(["DEBUG", "TRACE", "REGION"]),
        st.sampled_from([WRITER, "kubectl-edit", "vault-injector"]),
        max_size=3,
    ),
)
def test_holds_declared_means_every_declared_field_and_nothing_the_writer_added(
    image: str, replicas: int, live_replicas: int, cpu: str, extra: dict[str, str]
) -> None:
    declared = deployment("payments", "api", image, replicas, cpu=cpu)
    obj, managed = live(declared, extra)
    obj["spec"]["replicas"] = live_replicas
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["requests"]["cpu"] = "250m"
    same_cpu = cpu in ("250m", "0.25")  # a quantity compares by value
    expected = live_replicas == replicas and same_cpu and WRITER not in extra.values()
    before = copy.deepcopy(obj)
    assert holds_declared(declared, obj, managed_fields=managed, writer=WRITER) is expected
    assert obj == before

"""Audit events and pipeline runs name their cluster (issue #18, many clusters in one store).

Two clusters, ``prod`` and ``staging``, each with a Deployment ``payments/api`` changed at
the same moment by the same tool: only the cluster's own audit log and its own deploy run
may say who did it. Facts that name no cluster (written before they could, or into a store
of one cluster) bear on any cluster, as they always did.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from timetravel.cli import cli
from timetravel.domain.attribution import Attribution, ManagerRules
from timetravel.domain.model import Observation
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.errors import UserError
from timetravel.query.causes import CauseFinder
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter

from .conftest import deployment

CREATED = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)
CHANGED = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)  # the write, by the API server's clock
SEEN = CHANGED + timedelta(milliseconds=400)  # when each recorder saw it
WRITER = "kubectl-client-side-apply"  # a person's `kubectl apply`, or a deploy job's
M009 = "m009_facts_name_their_cluster"
KEY = "ab" * 32


@pytest.fixture
def db_path(any_db: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """Every test here runs against both engines (a file, a PostgreSQL database)."""
    monkeypatch.setenv("TIMETRAVEL_SECRET_KEY", KEY)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return any_db


def record_clusters(where: Path | str, clusters: Sequence[str] = ("prod", "staging")) -> None:
    """In each cluster: payments/api created by Argo CD, then scaled 2 -> 5 by WRITER at
    CHANGED (its managedFields entry advanced), seen at SEEN, as a recorder writes them."""
    db = open_database(where)
    writer = RevisionWriter(db)
    for cluster in clusters:
        before = deployment(rv="100", replicas=2)
        after = copy.deepcopy(before)
        after["metadata"]["resourceVersion"] = "101"
        after["spec"]["replicas"] = 5
        after["metadata"]["managedFields"].append(
            {
                "manager": WRITER,
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": to_rfc3339(CHANGED),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            }
        )
        writer.write(
            [
                Observation(cluster, "ADDED", before, to_stored(CREATED)),
                Observation(cluster, "MODIFIED", after, to_stored(SEEN)),
            ]
        )
    db.conn.close()


def audit_log(path: Path, user: str = "alice@example.com", audit_id: str = "a1") -> Path:
    """An API server's audit log (the log backend's audit.k8s.io/v1 Event lines, as in
    ../shared/testdata/k8s-audit): ``user``'s patch of payments/api at CHANGED, and the
    get that kubectl made before it."""
    stamp = to_rfc3339(CHANGED + timedelta(milliseconds=150))

    def event(audit: str, verb: str, uri: str, code: int) -> dict[str, Any]:
        return {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": audit,
            "stage": "ResponseComplete",
            "requestURI": uri,
            "verb": verb,
            "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": ["10.20.0.7"],
            "userAgent": "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
            "objectRef": {
                "resource": "deployments",
                "namespace": "payments",
                "name": "api",
                "apiGroup": "apps",
                "apiVersion": "v1",
            },
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": stamp,
            "stageTimestamp": stamp,
            "annotations": {
                "authorization.k8s.io/decision": "allow",
                "authorization.k8s.io/reason": "",
            },
        }

    base = "/apis/apps/v1/namespaces/payments/deployments/api"
    lines = [
        event(f"{audit_id}-get", "get", base, 200),
        event(audit_id, "patch", f"{base}?fieldManager={WRITER}", 200),
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="timetravel", env=env)


def cause(where: Path | str, cluster: str) -> Attribution:
    """What a reader (a new CauseFinder) says caused ``cluster``'s scaling of payments/api."""
    db = open_database(where, readonly=True)
    try:
        reader = Reader(db)
        seen = to_stored(SEEN)
        [record] = reader.changes_between(seen, seen, cluster=cluster)
        assert (record.key.cluster, record.key.name, record.change) == (cluster, "api", "updated")
        return CauseFinder(db, ManagerRules()).explain(record, reader.previous(record))
    finally:
        db.conn.close()


def stored(where: Path | str, table: str, *columns: str) -> list[tuple[Any, ...]]:
    db = open_database(where, readonly=True)
    try:
        names = ", ".join(columns)
        rows = db.execute(f"SELECT {names} FROM {table} ORDER BY {names}").fetchall()
        return [tuple(row) for row in rows]
    finally:
        db.conn.close()


def record_run(
    where: Path | str, run_id: str, *extra: str, env: dict[str, str] | None = None
) -> Result:
    return run(
        "record-run",
        "--db",
        str(where),
        "--provider",
        "test-ci",  # no CI system's variables fill anything (the tests may run in one)
        "--pipeline",
        "deploy",
        "--run-id",
        run_id,
        "--commit",
        "3f2c9e1",
        "--target",
        "Deployment/payments/api",
        "--started-at",
        to_rfc3339(CHANGED - timedelta(minutes=1)),
        "--finished-at",
        to_rfc3339(CHANGED + timedelta(minutes=1)),
        "--status",
        "success",
        *extra,
        env=env,
    )


# -- audit logs ----------------------------------------------------------------------------


def test_prods_audit_log_explains_prods_change_and_not_stagings(
    db_path: Path | str, tmp_path: Path
) -> None:
    record_clusters(db_path)
    log = audit_log(tmp_path / "prod-audit.log")
    result = run("import-audit", "--db", str(db_path), "--cluster", "prod", "-q", str(log))
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("imported 1 audit events (1 changes)")
    assert "warning" not in result.stderr
    assert stored(db_path, "audit_events", "audit_id", "cluster") == [("a1", "prod")]
    prod = cause(db_path, "prod")
    assert (prod.cause, prod.actor) == ("manual", "alice@example.com")
    staging = cause(db_path, "staging")
    assert staging.actor == WRITER  # the field manager: nothing says who, in staging
    assert "alice" not in staging.evidence


def test_a_log_without_cluster_into_a_store_of_several_is_refused_in_one_line(
    db_path: Path | str, tmp_path: Path
) -> None:
    record_clusters(db_path)
    log = audit_log(tmp_path / "audit.log")
    result = run("import-audit", "--db", str(db_path), "-q", str(log))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "timetravel: error: this store records clusters prod, staging: say which cluster "
        "the audit log is from with --cluster\n"
    )
    assert stored(db_path, "audit_events", "audit_id") == []


def test_a_store_of_one_cluster_takes_a_log_without_cluster_as_before(
    db_path: Path | str, tmp_path: Path
) -> None:
    record_clusters(db_path, ["prod"])
    log = audit_log(tmp_path / "audit.log")
    result = run("import-audit", "--db", str(db_path), "-q", str(log))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    assert stored(db_path, "audit_events", "audit_id", "cluster") == [("a1", None)]
    prod = cause(db_path, "prod")
    assert (prod.cause, prod.actor) == ("manual", "alice@example.com")
    # A cluster recorded later: the log that named none may be about it too, until it is
    # imported again saying whose it is.
    record_clusters(db_path, ["staging"])
    assert cause(db_path, "staging").actor == "alice@example.com"
    again = run("import-audit", "--db", str(db_path), "--cluster", "prod", "-q", str(log))
    assert again.exit_code == 0, again.output
    assert "1 already in the database" in again.stderr
    assert stored(db_path, "audit_events", "audit_id", "cluster") == [("a1", "prod")]
    assert cause(db_path, "staging").actor == WRITER
    assert cause(db_path, "prod").actor == "alice@example.com"


def test_a_cluster_the_store_does_not_record_yet_is_taken_with_a_warning(
    db_path: Path | str, tmp_path: Path
) -> None:
    record_clusters(db_path)
    log = audit_log(tmp_path / "qa-audit.log")
    result = run("import-audit", "--db", str(db_path), "--cluster", "qa", "-q", str(log))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "timetravel: warning: this store records no cluster 'qa' yet (it records prod, "
        "staging); the events are filed under 'qa'"
    ]
    assert stored(db_path, "audit_events", "audit_id", "cluster") == [("a1", "qa")]
    assert cause(db_path, "prod").actor == WRITER
    assert cause(db_path, "staging").actor == WRITER


# -- pipeline runs -------------------------------------------------------------------------


def test_a_run_deploying_to_staging_explains_stagings_change_only(db_path: Path | str) -> None:
    record_clusters(db_path)
    result = record_run(db_path, "41", "--cluster", "staging", "--no-env")
    assert result.exit_code == 0, result.output
    assert "cluster staging" in result.stdout
    assert result.stderr == ""
    assert stored(db_path, "pipeline_runs", "run_id", "clusters") == [("41", '["staging"]')]
    staging = cause(db_path, "staging")
    assert staging.cause == "pipeline"
    assert staging.run is not None and staging.run.run_id == "41"
    assert staging.run.clusters == ("staging",)
    prod = cause(db_path, "prod")
    assert prod.cause != "pipeline" and prod.run is None
    # What a snapshot of each cluster lists among its runs.
    db = open_database(db_path, readonly=True)
    try:
        finder = CauseFinder(db, ManagerRules())
        window = (to_stored(CHANGED - timedelta(hours=1)), to_stored(CHANGED + timedelta(hours=1)))
        assert [r.run_id for r in finder.runs_between(*window, "staging")] == ["41"]
        assert finder.runs_between(*window, "prod") == []
        assert [r.run_id for r in finder.runs_between(*window)] == ["41"]
    finally:
        db.conn.close()


def test_reports_of_one_run_add_up_their_clusters_from_flags_and_environment(
    db_path: Path | str,
) -> None:
    record_clusters(db_path)
    first = record_run(db_path, "42", env={"TIMETRAVEL_CLUSTER": "staging"})
    assert first.exit_code == 0, first.output
    assert "cluster staging" in first.stdout
    assert "from the environment: cluster" in first.stdout
    assert cause(db_path, "prod").run is None
    # --no-env: the variable is not read; a report naming no cluster keeps those known.
    plain = record_run(db_path, "42", "--no-env", env={"TIMETRAVEL_CLUSTER": "qa"})
    assert plain.exit_code == 0, plain.output
    assert stored(db_path, "pipeline_runs", "clusters") == [('["staging"]',)]
    second = record_run(db_path, "42", "--cluster", "prod", "--cluster", "qa", "--no-env")
    assert second.exit_code == 0, second.output
    assert second.stderr == "timetravel: warning: this store records no cluster 'qa' yet\n"
    assert "clusters prod, qa, staging" in second.stdout
    assert stored(db_path, "pipeline_runs", "clusters") == [('["prod","qa","staging"]',)]
    assert cause(db_path, "prod").cause == cause(db_path, "staging").cause == "pipeline"


def test_a_run_naming_no_cluster_explains_a_change_in_any(db_path: Path | str) -> None:
    record_clusters(db_path)
    result = record_run(db_path, "43", "--no-env")
    assert result.exit_code == 0, result.output
    assert stored(db_path, "pipeline_runs", "clusters") == [(None,)]
    for cluster in ("prod", "staging"):
        explained = cause(db_path, cluster)
        assert explained.run is not None and explained.run.run_id == "43"


def test_runs_seen_in_a_cluster_are_that_clusters() -> None:
    from timetravel.domain.native_runs import runs_from_object

    app = {
        "metadata": {"name": "payments"},
        "spec": {"destination": {"namespace": "payments"}},
        "status": {
            "operationState": {
                "startedAt": "2026-11-19T21:29:00Z",
                "finishedAt": "2026-11-19T21:30:30Z",
                "phase": "Succeeded",
                "operation": {"sync": {"revision": "3f2c9e1"}},
            }
        },
    }
    [seen] = runs_from_object("argoproj.io", "Application", app, "staging")
    assert seen.clusters == ("staging",)
    assert seen.in_cluster("staging") and not seen.in_cluster("prod")
    [unplaced] = runs_from_object("argoproj.io", "Application", app)
    assert unplaced.clusters == () and unplaced.in_cluster("prod")


# -- a store of the previous schema --------------------------------------------------------


def _as_before_m009(where: Path | str) -> None:
    """Take the store back to the schema the previous release made (m008): no cluster
    columns, no audit time index, m009 not applied; then write a run and an audit event
    as that release wrote them."""
    db = open_database(where)
    migrations = "_migrations" if isinstance(where, str) else "_sqlite_migrations"
    with db.conn:
        db.execute("DROP INDEX audit_by_time")
        db.execute("ALTER TABLE audit_events DROP COLUMN cluster")
        db.execute("ALTER TABLE pipeline_runs DROP COLUMN clusters")
        db.execute(f"DELETE FROM {migrations} WHERE name = ?", (M009,))
        stamp = to_stored(CHANGED + timedelta(milliseconds=150))
        uri = f"/apis/apps/v1/namespaces/payments/deployments/api?fieldManager={WRITER}"
        db.execute(
            'INSERT INTO audit_events (audit_id, stage, stage_at, verb, "user", user_groups, '
            "field_manager, api_group, api_version, resource, namespace, name, response_code, "
            "request_uri, level, imported_at) "
            "VALUES (?, 'ResponseComplete', ?, 'patch', 'alice@example.com', '[]', ?, 'apps', "
            "'v1', 'deployments', 'payments', 'api', 200, ?, 'Metadata', ?)",
            ("old-1", stamp, WRITER, uri, stamp),
        )
        db.execute(
            "INSERT INTO pipeline_runs (provider, pipeline, run_id, commit_sha, status, "
            "started_at, finished_at, targets, reported_at, source) "
            "VALUES ('test-ci', 'deploy', '7', '3f2c9e1', 'success', ?, ?, ?, ?, 'record-run')",
            (
                to_stored(CHANGED - timedelta(minutes=1)),
                to_stored(CHANGED + timedelta(minutes=1)),
                '["Deployment/payments/api"]',
                to_stored(CHANGED + timedelta(minutes=1)),
            ),
        )
    db.conn.close()


def test_a_store_of_the_previous_schema_keeps_its_facts_matching_as_before(
    db_path: Path | str,
) -> None:
    record_clusters(db_path)
    _as_before_m009(db_path)
    if isinstance(db_path, str):  # a team store's readers wait for a writer to migrate it
        with pytest.raises(UserError, match="not migrated"):
            open_database(db_path, readonly=True)
    migrated = run("migrate", "--db", str(db_path))
    assert migrated.exit_code == 0, migrated.output
    assert f"applied {M009}; now at schema " in migrated.stdout
    assert stored(db_path, "audit_events", "audit_id", "cluster") == [("old-1", None)]
    assert stored(db_path, "pipeline_runs", "run_id", "clusters") == [("7", None)]
    # Facts that name no cluster bear on both, as they did before the migration.
    for cluster in ("prod", "staging"):
        explained = cause(db_path, cluster)
        assert explained.cause == "pipeline"
        assert explained.actor == "alice@example.com"
        assert explained.run is not None and explained.run.run_id == "7"


# -- copies --------------------------------------------------------------------------------


def test_a_copy_of_one_cluster_takes_its_facts_and_those_of_none(
    db_path: Path | str, tmp_path: Path
) -> None:
    record_clusters(db_path)
    for name, cluster in (("prod", "prod"), ("staging", "staging")):
        log = audit_log(tmp_path / f"{name}.log", user=f"{name}-admin", audit_id=name)
        result = run("import-audit", "--db", str(db_path), "--cluster", cluster, "-q", str(log))
        assert result.exit_code == 0, result.output
    for run_id, extra in (("1", ["--cluster", "prod"]), ("2", ["--cluster", "staging"]), ("3", [])):
        assert record_run(db_path, run_id, "--no-env", *extra).exit_code == 0
    assert record_run(db_path, "1", "--no-env", "--cluster", "qa").exit_code == 0

    staging = tmp_path / "staging.db"
    result = run("copy", "--from", str(db_path), "--to", str(staging), "--cluster", "staging", "-q")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(staging) as conn:
        assert conn.execute("SELECT audit_id, cluster FROM audit_events ORDER BY 1").fetchall() == [
            ("staging", "staging")
        ]
        assert conn.execute("SELECT run_id, clusters FROM pipeline_runs ORDER BY 1").fetchall() == [
            ("2", '["staging"]'),
            ("3", None),
        ]
    explained = cause(staging, "staging")
    assert explained.actor == "staging-admin"
    assert explained.run is not None and explained.run.run_id == "2"

    whole = tmp_path / "whole.db"
    # The target heard of run 2 already, later, deploying to qa: both reports' clusters count.
    assert record_run(whole, "2", "--no-env", "--cluster", "qa").exit_code == 0
    for _ in range(2):  # a copy run twice adds nothing
        result = run("copy", "--from", str(db_path), "--to", str(whole), "-q")
        assert result.exit_code == 0, result.output
        audit = ("audit_id", "cluster")
        assert stored(whole, "audit_events", *audit) == stored(db_path, "audit_events", *audit)
        assert stored(whole, "pipeline_runs", "run_id", "clusters") == [
            ("1", '["prod","qa"]'),
            ("2", '["qa","staging"]'),
            ("3", None),
        ]
    assert "nothing new to copy" in result.stderr, result.output
    assert cause(whole, "prod").actor == "prod-admin"
    assert cause(whole, "staging").actor == "staging-admin"

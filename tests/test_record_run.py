"""`timetravel record-run` from faked CI environments, and the pipeline-run store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.ci_env import PipelineRunFacts, Target
from timetravel.domain.times import from_stored, to_stored
from timetravel.errors import UserError
from timetravel.store.db import open_database
from timetravel.store.runs import (
    all_pipeline_runs,
    get_pipeline_run,
    pipeline_runs_between,
    upsert_pipeline_run,
)

from .test_ci_env import GITHUB, GITLAB, JENKINS, SHA


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every test here runs against both engines (a file, a PostgreSQL database)."""
    return any_db


def run_cli(
    db_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # A clean environment: the test may itself run inside a CI job whose variables
    # must not leak into the command under test.
    base = {"PATH": os.environ.get("PATH", ""), "HOME": tempfile.mkdtemp(), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "timetravel", "record-run", "--db", str(db_path), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def rows(db_path: Path | str) -> list[dict[str, Any]]:
    """Every stored run (none when the database was never created)."""
    try:
        db = open_database(db_path, readonly=True)
    except UserError:
        return []
    try:
        cursor = db.conn.execute("SELECT * FROM pipeline_runs ORDER BY id")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        db.conn.close()


def recent(stored: str | None) -> bool:
    return stored is not None and abs(from_stored(stored) - datetime.now(UTC)) < timedelta(
        minutes=5
    )


def test_github_actions_start_then_finish(db_path: Path) -> None:
    first = run_cli(db_path, "--target", "Deployment/payments/api", env=GITHUB)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("\n") == 1
    assert first.stdout.startswith("recorded github-actions run deploy-prod #7712345 (commit ")
    assert "from the github-actions environment" in first.stdout
    [row] = rows(db_path)
    assert row["provider"] == "github-actions"
    assert row["pipeline"] == "deploy-prod"
    assert row["run_id"] == "7712345"
    assert row["url"] == "https://github.example.com/acme/payments-gitops/actions/runs/7712345"
    assert row["commit_sha"] == SHA
    assert row["actor"] == "alice"
    assert row["status"] is None
    assert recent(row["started_at"])  # reported while running: started by now
    assert row["finished_at"] is None
    assert json.loads(row["targets"]) == ["Deployment/payments/api"]
    assert row["source"] == "record-run"

    second = run_cli(db_path, "--status", "SUCCESS", "--target", "Service/payments/api", env=GITHUB)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("updated github-actions run deploy-prod #7712345")
    [after] = rows(db_path)
    assert after["id"] == row["id"]
    assert after["status"] == "success"
    assert after["started_at"] == row["started_at"]  # kept from the first report
    assert recent(after["finished_at"])
    assert after["finished_at"] >= after["started_at"]
    assert after["commit_sha"] == SHA and after["actor"] == "alice"
    assert json.loads(after["targets"]) == ["Deployment/payments/api", "Service/payments/api"]
    assert after["reported_at"] >= row["reported_at"]


def test_gitlab_fills_start_and_status(db_path: Path) -> None:
    result = run_cli(db_path, env={**GITLAB, "CI_JOB_STATUS": "success"})
    assert result.returncode == 0, result.stderr
    [row] = rows(db_path)
    assert (row["provider"], row["pipeline"], row["run_id"]) == (
        "gitlab-ci",
        "acme/payments-gitops",
        "90210",
    )
    assert row["url"] == GITLAB["CI_PIPELINE_URL"]
    assert row["actor"] == "bob"
    assert row["started_at"] == "2026-11-19T21:25:00.000000Z"
    assert row["status"] == "success"
    assert recent(row["finished_at"])  # a final status reported now: finished by now


def test_jenkins_flags_win(db_path: Path) -> None:
    result = run_cli(
        db_path,
        "--pipeline",
        "deploy-prod-eu",
        "--actor",
        "release-bot",
        "--status",
        "FAILURE",
        "--started-at",
        "2026-11-19T20:30:00Z",
        "--finished-at",
        "2026-11-19T21:42:10+01:00",
        "--service-account",
        "ci/deployer",
        env=JENKINS,
    )
    assert result.returncode == 0, result.stderr
    [row] = rows(db_path)
    assert (row["provider"], row["pipeline"], row["run_id"]) == ("jenkins", "deploy-prod-eu", "118")
    assert row["url"] == JENKINS["BUILD_URL"]
    assert row["commit_sha"] == SHA
    assert row["actor"] == "release-bot"
    assert row["status"] == "failed"
    assert row["started_at"] == "2026-11-19T20:30:00.000000Z"
    assert row["finished_at"] == "2026-11-19T20:42:10.000000Z"  # +01:00 read as such
    assert row["service_account"] == "system:serviceaccount:ci:deployer"


def test_all_flags_and_no_env(db_path: Path) -> None:
    result = run_cli(
        db_path,
        "--no-env",
        "--provider",
        "tekton",
        "--pipeline",
        "deploy",
        "--run-id",
        "deploy-run-x7k2p",
        "--commit",
        "ABCDEF1",
        "--target",
        "ClusterRole/deployer",
        env=GITHUB,
    )
    assert result.returncode == 0, result.stderr
    assert "environment" not in result.stdout
    [row] = rows(db_path)
    assert (row["url"], row["actor"]) == (None, None)  # GitHub's variables were not read
    assert row["commit_sha"] == "abcdef1"
    assert json.loads(row["targets"]) == ["ClusterRole/deployer"]


def test_missing_required_fields(db_path: Path) -> None:
    result = run_cli(db_path, "--status", "success")
    assert result.returncode == 2
    assert result.stderr == (
        "timetravel: error: missing --provider, --pipeline, --run-id, --commit "
        "(not given and no CI environment detected)\n"
    )
    no_commit = {k: v for k, v in JENKINS.items() if k != "GIT_COMMIT"}
    result = run_cli(db_path, env=no_commit)
    assert result.returncode == 2
    assert result.stderr == (
        "timetravel: error: missing --commit (not given and not in the jenkins environment)\n"
    )
    # Another provider's run id is not this one's: the GitHub variables are not used.
    result = run_cli(db_path, "--provider", "tekton", env=GITHUB)
    assert result.returncode == 2
    assert "missing --pipeline, --run-id, --commit" in result.stderr
    assert rows(db_path) == []


def test_bad_values_are_one_line_errors(db_path: Path) -> None:
    for args, message in [
        (("--target", "Deployment/Payments/api"), "'Payments' is not a namespace name"),
        (("--commit", "main", "--started-at", "-1h"), "--commit 'main': expected a git commit SHA"),
    ]:
        result = run_cli(db_path, *args, env=GITHUB)
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("timetravel: error: ")
        assert message in result.stderr
        assert "Traceback" not in result.stderr


# -- the store ---------------------------------------------------------------------------


def t(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-19T{text}+00:00")


def facts(run_id: str, reported: str, **fields: Any) -> PipelineRunFacts:
    return PipelineRunFacts(
        provider="github-actions",
        pipeline="deploy-prod",
        run_id=run_id,
        reported_at=t(reported),
        **fields,
    )


def test_upsert_fills_and_never_loses_values(db_path: Path) -> None:
    db = open_database(db_path)
    first = upsert_pipeline_run(
        db,
        facts(
            "1",
            "21:00:00",
            commit=SHA,
            url="https://ci/1",
            actor="alice",
            started_at=t("21:00:00"),
            targets=(Target("Deployment", "payments", "api"),),
        ),
    )
    second = upsert_pipeline_run(
        db,
        facts(
            "1",
            "21:10:00",
            status="success",
            finished_at=t("21:09:30"),
            actor="alice-bot",
            source="cluster",
            targets=(Target("Deployment", "payments", "api"), Target("Service", "payments", "api")),
        ),
    )
    assert first == second
    # An out-of-order, older report changes what it says but not the latest report time.
    upsert_pipeline_run(db, facts("1", "20:59:00", service_account="system:serviceaccount:ci:x"))
    run = get_pipeline_run(db, "github-actions", "deploy-prod", "1")
    assert run is not None
    assert (run.commit, run.url, run.status) == (SHA, "https://ci/1", "success")
    assert run.actor == "alice-bot"  # a non-null later value replaces
    assert run.started_at == "2026-11-19T21:00:00.000000Z"
    assert run.finished_at == "2026-11-19T21:09:30.000000Z"
    assert run.service_account == "system:serviceaccount:ci:x"
    assert run.targets == (
        Target("Deployment", "payments", "api"),
        Target("Service", "payments", "api"),
    )
    assert run.reported_at == "2026-11-19T21:10:00.000000Z"
    assert run.source == "record-run,cluster"
    assert get_pipeline_run(db, "github-actions", "deploy-prod", "2") is None


def test_runs_between_and_all(db_path: Path) -> None:
    db = open_database(db_path)
    upsert_pipeline_run(
        db, facts("a", "21:11:00", started_at=t("21:00:00"), finished_at=t("21:10:00"))
    )
    upsert_pipeline_run(db, facts("b", "21:25:00", started_at=t("21:20:00")))  # still running
    upsert_pipeline_run(db, facts("c", "22:00:30", finished_at=t("22:00:00")))  # no start known
    upsert_pipeline_run(db, facts("d", "23:00:00"))  # neither: the report time stands in

    def between(start: str, end: str) -> list[str]:
        return [r.run_id for r in pipeline_runs_between(db, to_stored(t(start)), to_stored(t(end)))]

    assert between("21:05:00", "21:21:00") == ["a", "b"]
    assert between("21:10:00", "21:10:00") == ["a"]  # bounds are inclusive
    assert between("21:11:00", "21:19:59") == []
    assert between("21:24:00", "21:30:00") == ["b"]  # open run: until its last report
    assert between("21:26:00", "21:59:59") == []
    assert between("21:59:00", "22:01:00") == ["c"]
    assert between("22:30:00", "23:30:00") == ["d"]
    assert [
        r.run_id
        for r in pipeline_runs_between(
            db, "2026-11-19T00:00:00.000000Z", "2026-11-20T00:00:00.000000Z"
        )
    ] == [
        "a",
        "b",
        "c",
        "d",
    ]
    assert [r.run_id for r in all_pipeline_runs(db)] == ["a", "b", "c", "d"]
    assert all_pipeline_runs(db)[0].window == (
        "2026-11-19T21:00:00.000000Z",
        "2026-11-19T21:10:00.000000Z",
    )

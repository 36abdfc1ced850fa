"""DORA's four keys from a recorded week, checked against the figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.builds import BuildFacts
from timetravel.domain.ci_env import PipelineRunFacts, Target
from timetravel.domain.model import Observation
from timetravel.domain.times import to_stored
from timetravel.query.delivery import delivery_figures, percentile
from timetravel.store.builds import upsert_build
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.runs import upsert_pipeline_run
from timetravel.store.writer import RevisionWriter

REPO = "registry.example.com/payments/api"
MON = datetime(2026, 11, 16, tzinfo=UTC)


def digest(letter: str) -> str:
    return "sha256:" + letter * 64


def day(n: int, hour: int, minute: int = 0) -> datetime:
    return MON + timedelta(days=n, hours=hour, minutes=minute)


def pod(name: str, template_hash: str, letter: str, uid: str, rv: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "payments",
            "uid": uid,
            "resourceVersion": str(rv),
            "labels": {"app": "api", "pod-template-hash": template_hash},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"api-{template_hash}",
                    "uid": "rs",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "api", "image": f"{REPO}:{letter}"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "api", "imageID": f"{REPO}@{digest(letter)}", "state": {"running": {}}}
            ],
        },
    }


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    return any_db


def record_week(db_path: Path | str) -> None:
    """A week of one Deployment's Pods, builds and a failed sync, as worked out below."""
    timeline = [  # (when, event, pod name, template hash, digest letter)
        (day(-1, 10), "ADDED", "api-aaa-1", "aaa", "a"),  # running before the week
        (day(1, 10), "ADDED", "api-bbb-1", "bbb", "b"),  # Tue: B
        (day(1, 10, 5), "DELETED", "api-aaa-1", "aaa", "a"),
        (day(2, 12), "ADDED", "api-ccc-1", "ccc", "c"),  # Wed: C
        (day(2, 12, 5), "DELETED", "api-bbb-1", "bbb", "b"),
        (day(2, 12, 20), "ADDED", "api-bbb-2", "bbb", "b"),  # rolled back to B
        (day(2, 12, 25), "DELETED", "api-ccc-1", "ccc", "c"),
        (day(3, 9), "ADDED", "api-ddd-1", "ddd", "d"),  # Thu: D, whose sync fails
        (day(3, 9, 10), "DELETED", "api-bbb-2", "bbb", "b"),
        (day(3, 11), "ADDED", "api-eee-1", "eee", "e"),  # fixed forward with E (no build)
        (day(3, 11, 5), "DELETED", "api-ddd-1", "ddd", "d"),
    ]
    db = open_database(db_path)
    try:
        writer = RevisionWriter(db)
        for rv, (when, event, name, template_hash, letter) in enumerate(timeline, 100):
            obj = pod(name, template_hash, letter, uid=f"uid-{name}", rv=rv)
            writer.write([Observation("prod", event, obj, to_stored(when))])
        for letter, committed in (("b", day(1, 8)), ("c", day(2, 11)), ("d", day(3, 8, 30))):
            upsert_build(
                db,
                BuildFacts(
                    REPO,
                    digest(letter),
                    reported_at=committed,
                    commit="ab" * 20,
                    commit_at=committed,
                ),
            )
        upsert_pipeline_run(
            db,
            PipelineRunFacts(
                provider="argocd",
                pipeline="payments",
                run_id="sync-1",
                reported_at=day(3, 9, 30),
                status="failed",
                started_at=day(3, 9, 2),
                finished_at=day(3, 9, 30),
                targets=(Target("Deployment", "payments", "api"),),
            ),
        )
    finally:
        db.conn.close()


def test_a_hand_computed_week(db_path: Path | str) -> None:
    record_week(db_path)
    db = open_database(db_path, readonly=True)
    try:
        figures = delivery_figures(Reader(db), db, to_stored(MON), to_stored(day(7, 0)))
    finally:
        db.conn.close()

    assert [(d.at, d.digest) for d in figures.deployments] == [
        (to_stored(day(1, 10)), digest("b")),
        (to_stored(day(2, 12)), digest("c")),
        (to_stored(day(3, 9)), digest("d")),
        (to_stored(day(3, 11)), digest("e")),
    ]
    assert [(d.at, d.digest) for d in figures.rollbacks] == [
        (to_stored(day(2, 12, 20)), digest("b"))
    ]
    assert {d.workload.name for d in figures.deployments} == {"api"}  # through the owner chain
    assert figures.per_day == pytest.approx(4 / 7)
    # Lead times 2 h (B), 1 h (C), 30 min (D); E has no build, so none.
    assert figures.lead_times == [timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2)]
    assert percentile(figures.lead_times, 0.5) == timedelta(hours=1)
    assert percentile(figures.lead_times, 0.9) == timedelta(hours=2)
    # C was rolled back within the hour, D's sync failed: 2 of 4.
    failed = {d.digest: d.failed_by for d in figures.failed}
    assert failed == {
        digest("c"): ["rolled back at 2026-11-18T12:20:00Z"],
        digest("d"): ["argocd payments #sync-1 failed"],
    }
    assert figures.change_failure_rate == 0.5
    # Recovered by the rollback 20 min later, and by E two hours later.
    assert figures.recovery_times == [timedelta(minutes=20), timedelta(hours=2)]
    out = figures.to_json()
    assert out["lead_time_for_changes"] == {
        "counted": 3,
        "without_commit_time": 1,
        "median_seconds": 3600.0,
        "p90_seconds": 7200.0,
    }
    assert out["change_failure_rate"]["rate"] == 0.5


def test_percentile_is_nearest_rank() -> None:
    values = [timedelta(seconds=s) for s in (5, 1, 4, 2, 3)]
    assert percentile(values, 0.5) == timedelta(seconds=3)
    assert percentile(values, 0.9) == timedelta(seconds=5)
    assert percentile(values, 0.2) == timedelta(seconds=1)
    assert percentile([], 0.5) is None


def test_the_report_command_prints_the_figures_and_their_deployments(
    tmp_path: Path, db_path: Path | str
) -> None:
    import json
    import os
    import subprocess
    import sys

    from markdown_it import MarkdownIt

    record_week(db_path)

    def report(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "timetravel",
                "report",
                "--db",
                str(db_path),
                "--since",
                "2026-11-16T00:00:00Z",
                "--until",
                "2026-11-23T00:00:00Z",
                *args,
            ],
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8"},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    as_json = report("-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["deployment_frequency"] == {"deployments": 4, "per_day": round(4 / 7, 3)}
    assert data["failed_deployment_recovery_time"]["median_seconds"] == 1200.0
    assert len(data["deployments"]) == 4 and len(data["rollbacks"]) == 1
    markdown = report()
    assert markdown.returncode == 0, markdown.stderr
    assert "| Change failure rate | 50% | 2 of 4 deployments failed |" in markdown.stdout
    rendered = MarkdownIt("gfm-like").render(markdown.stdout)
    assert rendered.count("<tr>") == 1 + 4 + 1 + 5  # two tables: headers, figures, deployments
    page = report("--format", "html")
    assert page.returncode == 0 and page.stdout.startswith("<!DOCTYPE html>")
    assert "rolled back at" in page.stdout
    bad = report("--failure-window", "soon")
    assert bad.returncode == 2 and bad.stderr.startswith("timetravel: error:")

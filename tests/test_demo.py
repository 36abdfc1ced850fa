"""`timetravel demo`: built through the real ingest paths, with the story it promises."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from timetravel.commands.demo import demo as demo_command
from timetravel.demo.build import Demo, build
from timetravel.demo.live import LiveDemo
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import DEFAULT_WINDOW, utc_now
from timetravel.query.screen import ScreenData
from timetravel.store.db import open_database
from timetravel.store.reader import Reader


def _demo_no_ui(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "demo",
            "--no-ui",
            "--dir",
            str(tmp_path / "demo"),
            *options,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_demo_no_ui_builds_the_incident(tmp_path: Path) -> None:
    # A Sunday: the whole week, outage included, has happened (before Friday 04:40 the
    # outage is still ahead and the demo rightly has no gap).
    result = _demo_no_ui(tmp_path, "--now", "2026-11-22T12:00:00Z")
    assert result.returncode == 0, result.stderr
    db_path = Path(result.stdout.strip())
    assert db_path.exists()
    db = open_database(db_path, readonly=True)
    counts = {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in (
            "commits",
            "ref_updates",
            "pipeline_runs",
            "audit_events",
            "gaps",
            "observations",
        )
    }
    assert all(n > 0 for n in counts.values()), counts
    incident = result.stderr.split("incident at ")[1].split()[1:3]
    at = f"{incident[0]}T{incident[1]}"
    exported = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "export",
            "--db",
            str(db_path),
            "--at",
            at,
            "--window",
            "1h",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    snapshot = json.loads(exported.stdout)
    api = next(r for r in snapshot["resources"] if r["name"] == "api" and r["kind"] == "Deployment")
    assert api["state"] == "drifted"
    causes = {(c["name"], c["cause"], c["actor"]) for c in snapshot["changes"]}
    assert ("api", "manual", "alice@acme.io") in causes, "the hand edit, named by the audit log"
    assert any(c["cause"] == "pipeline" and c["pipeline_run"] for c in snapshot["changes"])
    secret = next(r for r in snapshot["resources"] if r["kind"] == "Secret")
    assert all(v.startswith("redacted:") for v in secret["actual"]["data"].values())


def test_live_demo_keeps_the_environment_changing(tmp_path: Path) -> None:
    result = _demo_no_ui(tmp_path)  # the week up to now, as `timetravel demo --live` builds it
    db_path = Path(result.stdout.strip())

    def revisions() -> int:
        db = open_database(db_path, readonly=True)
        try:
            return int(db.execute("SELECT count(*) FROM revisions").fetchone()[0])
        finally:
            db.conn.close()

    before = revisions()
    feeder = LiveDemo(db_path, every=0.1)
    thread = feeder.start()
    deadline = time.monotonic() + 20
    while revisions() < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    feeder.stop.set()
    thread.join(timeout=10)
    assert revisions() >= before + 3


# -- one consistent story (issue 22 item 8) ------------------------------------------------

WEEK_DONE = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday: the whole week happened
API = ResourceKey("prod-eu1", "apps", "Deployment", "payments", "api")
WORKER = ResourceKey("prod-eu1", "apps", "Deployment", "payments", "worker")


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("week") / "demo", now=WEEK_DONE, zone=ZoneInfo("UTC"))


def test_the_line_counts_the_runs_the_incidents_export_counts(week: Demo, tmp_path: Path) -> None:
    # It said "3 pipeline runs" (the week's CI runs) where the export counts 4: the two CI
    # runs and the two Argo CD syncs near the incident.
    data = ScreenData(week.db_path)
    snapshot = data.export_snapshot(week.story.incident, window=DEFAULT_WINDOW)
    providers = sorted(run.provider for run in snapshot.pipeline_runs)
    ci, syncs = week.story.runs_near_incident(DEFAULT_WINDOW)
    assert (ci, syncs) == (2, 2)
    assert len(providers) == ci + syncs
    assert providers.count("argocd") == syncs
    result = CliRunner().invoke(
        demo_command, ["--no-ui", "--dir", str(tmp_path / "d"), "--now", "2026-11-22T12:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    assert "2 CI runs and 2 Argo CD syncs within 1h of it" in result.output
    assert "pipeline runs" not in result.output


def test_the_revert_goes_back_to_the_image_that_ran_before(week: Demo) -> None:
    revert = next(c for c in week.story.commits if c.message.startswith("Revert"))
    assert revert.message == "Revert payments api to 2.3.0"
    reader = ScreenData(week.db_path).reader()
    images = []
    for record in reversed(reader.history(reader.object_at(API, "9999").resource_id)):
        obj = record.obj
        if obj is not None:
            image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
            if not images or images[-1] != image:
                images.append(image)
    assert [i.rsplit(":", 1)[1] for i in images] == ["2.3.0", "2.4.0", "2.3.0"]


def test_the_secret_rotation_is_a_controllers(week: Demo) -> None:
    data = ScreenData(week.db_path)
    secret = ResourceKey("prod-eu1", "", "Secret", "payments", "payments-db")
    detail = data.detail(secret, WEEK_DONE)
    rotation = detail.changes[0]
    assert (rotation.type, rotation.cause, rotation.actor) == (
        "updated",
        "controller",
        "external-secrets",
    )


def test_live_demo_scales_the_recorded_worker_without_recreating_it(
    tmp_path: Path,
) -> None:
    # It began with the worker deleted and created again: it wrote a worker made afresh,
    # with another uid and without what git and Argo CD had set.
    built = build(tmp_path / "demo", now=utc_now(), zone=ZoneInfo("UTC"))
    db = open_database(built.db_path, readonly=True)
    reader = Reader(db)
    before = reader.object_at(WORKER, "9999")
    assert before is not None
    known = len(reader.history(before.resource_id))
    db.conn.close()
    feeder = LiveDemo(built.db_path, every=1.1)  # managedFields times are to the second
    thread = feeder.start()
    deadline = time.monotonic() + 20
    new: list = []
    while len(new) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
        db = open_database(built.db_path, readonly=True)
        history = Reader(db).history(before.resource_id)
        new = history[: len(history) - known]  # newest first
        db.conn.close()
    feeder.stop.set()
    thread.join(timeout=10)
    assert len(new) >= 3
    assert {r.change for r in new} == {"updated"}
    assert {r.uid for r in new} == {before.uid}
    data = ScreenData(built.db_path)
    changed = data.detail(WORKER, utc_now()).changes[: len(new)]
    for change in changed:
        paths = {f.path.split(".")[0] + "." + f.path.split(".")[1] for f in change.fields}
        assert paths <= {"spec.replicas", "status.replicas", "status.readyReplicas"}, paths
        assert change.cause == "controller"

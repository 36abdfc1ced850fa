"""`timetravel demo`: built through the real ingest paths, with the story it promises."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from timetravel.demo.live import LiveDemo
from timetravel.store.db import open_database


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

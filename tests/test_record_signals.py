"""Ctrl-C during `timetravel record`'s git backfill: a clean stop, then a resumed recording.

A real `timetravel record` in a subprocess follows a real history (podinfo's, from
../shared/testdata/gitops-real/, cloned into tmp_path: plain manifests, then kustomize roots
and overlays over bases with generators). SIGINT goes to the whole process group, as a
terminal's Ctrl-C does, so the git and `kubectl kustomize` children get it too. It ends
with exit 0 and no traceback, and recording again gives the same exports as a recording
that was never interrupted.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "gitops-real"
BUNDLE = SHARED / "podinfo.bundle"
# The first 450 first-parent commits: kustomize/ comes at the 357th, the overlays at the 399th.
COMMITS = 450
SEED = 21

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not BUNDLE.exists(), reason=f"{BUNDLE} is absent: the shared test data (../shared)"
    ),
]


@pytest.fixture(scope="module")
def podinfo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """podinfo's history cut at its 450th first-parent commit, in a checkout of its own (the
    shared bundle is only read)."""
    repo = tmp_path_factory.mktemp("repos") / "podinfo"
    subprocess.run(
        ["git", "clone", "--quiet", "-b", "master", str(BUNDLE), str(repo)],
        check=True,
        capture_output=True,
    )
    firsts = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--first-parent", "--reverse", "master"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "reset", "--quiet", "--hard", firsts[COMMITS - 1]], check=True)
    # Followed as the local branch, not as the bundle's remote-tracking one.
    subprocess.run([*git, "remote", "remove", "origin"], check=True)
    return repo


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIMETRAVEL_", "KUBE"))}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
    )
    return env


def _start(repo: Path, db: Path, home: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "timetravel", "record", "--repo", str(repo), "--db", str(db)],
            env=_env(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            # A group of its own, signalled as a terminal signals its foreground job.
            start_new_session=True,
        )


def _ctrl_c(process: subprocess.Popen[bytes]) -> int:
    os.killpg(process.pid, signal.SIGINT)
    try:
        return process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def _ref_updates(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM ref_updates").fetchone()[0])
    except sqlite3.Error:
        return 0  # not made yet, or busy: look again


def _rendered(db: Path) -> int:
    """How many desired sets are stored: a backfill records its commits first and renders
    their sets afterwards, the newest first."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM desired_sets").fetchone()[0])
    except sqlite3.Error:
        return 0  # not made yet, or busy: look again


def _pending(db: Path) -> int:
    """Commits the branch pointed to whose desired set is not rendered yet (-1: unknown)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(
                conn.execute(
                    "SELECT count(DISTINCT sha) FROM ref_updates r WHERE NOT EXISTS "
                    "(SELECT 1 FROM desired_sets d WHERE d.repo_id = r.repo_id "
                    "AND d.sha = r.sha)"
                ).fetchone()[0]
            )
    except sqlite3.Error:
        return -1


def _wait(condition: Any, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"record exited {process.returncode} before {what}: {log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} in 300 s: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def _record_all(repo: Path, db: Path, home: Path, log: Path) -> None:
    """Record until the backfill is done (commits, then every render) and it follows the
    branch, then Ctrl-C."""
    process = _start(repo, db, home, log)
    _wait(lambda: "recording git only" in log.read_text(), "end of the backfill", process, log)
    _wait(lambda: _pending(db) == 0, "every desired set rendered", process, log)
    assert _ctrl_c(process) == 0, log.read_text()


def _exports(db: Path, home: Path) -> list[dict[str, Any]]:
    """JSON exports at moments across the history (plain manifests, the first kustomize
    root, the overlays, after the head), without the time each was generated and with a
    Secret value's keyed hash as ``redacted`` (each store has a key of its own)."""
    found = []
    for at in (
        "2018-09-01T00:00:00Z",
        "2019-06-01T00:00:00Z",
        "2020-06-01T00:00:00Z",
        "2021-01-01",
    ):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "timetravel",
                "export",
                "--db",
                str(db),
                "--at",
                at,
                "--window",
                "120d",
            ],
            env=_env(home),
            capture_output=True,
            check=True,
        )
        snapshot = json.loads(re.sub(rb'"redacted:[0-9a-f]+"', b'"redacted"', result.stdout))
        snapshot.pop("generated_at")
        found.append(snapshot)
    return found


def test_ctrl_c_during_backfill_stops_cleanly_and_resumes(podinfo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    interrupted, whole = tmp_path / "interrupted.db", tmp_path / "whole.db"
    log = tmp_path / "interrupted.log"
    # Seeded: a point in the renders, which run newest first (kustomize roots and overlays
    # from the 357th commit on, so the first ~90 renders run kustomize, the rest do not).
    point = random.Random(SEED).randint(30, COMMITS - 60)
    process = _start(podinfo, interrupted, home, log)
    _wait(lambda: _rendered(interrupted) >= point, f"{point} desired sets", process, log)
    code = _ctrl_c(process)
    said = log.read_text()
    assert code == 0, said
    assert "Traceback" not in said and "Aborted" not in said, said
    # Every commit is recorded before any render; what is left is renders only.
    assert _ref_updates(interrupted) == COMMITS, said
    assert point <= _rendered(interrupted) < COMMITS

    _record_all(podinfo, interrupted, home, tmp_path / "resumed.log")
    assert "Traceback" not in (tmp_path / "resumed.log").read_text()
    _record_all(podinfo, whole, home, tmp_path / "whole.log")
    assert _ref_updates(interrupted) == _ref_updates(whole) == COMMITS
    assert _exports(interrupted, home) == _exports(whole, home)


def test_sigterm_before_the_backfill_ends_cleanly(podinfo: Path, tmp_path: Path) -> None:
    """SIGTERM (what `kill` and a pod's stop send) as soon as it starts: exit 0, nothing
    half-written, and a second run records everything."""
    home = tmp_path / "home"
    db, log = tmp_path / "t.db", tmp_path / "t.log"
    process = _start(podinfo, db, home, log)
    # Once it runs its own code (the database is made after the handlers are installed; a
    # signal before Python has loaded it ends any program), at a seeded point soon after.
    _wait(db.exists, "database", process, log)
    time.sleep(random.Random(SEED).uniform(0.0, 1.0))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    _record_all(podinfo, db, home, tmp_path / "again.log")
    assert _ref_updates(db) == COMMITS

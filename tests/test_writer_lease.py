"""One writer per database: a second recorder is refused (or stands by), a screen's
recorder ends with the screen, and the header says who records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from timetravel.recorder import background
from timetravel.store import lease
from timetravel.store.db import open_database

from .apidouble import ApiDouble
from .gitrepo import GitOpsRepo
from .recording import configmap, wait_for

WHEN = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _repo(tmp_path: Path) -> GitOpsRepo:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("app/cm.yaml", configmap("settings"))
    repo.commit("first", WHEN)
    return repo


def _record(db_path: Path, *args: str, log: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "timetravel", "record", "--db", str(db_path), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if log is None else log.open("w"),
        text=True,
    )


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _holds(db_path: Path, pid: int) -> bool:
    holder = lease.holder(db_path)
    return holder is not None and holder.pid == pid


def test_a_second_recorder_is_refused_naming_the_first(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    repo = _repo(tmp_path)
    with _processes() as procs:
        first = _record(db_path, "--repo", str(repo.path))
        procs.append(first)
        wait_for(lambda: _holds(db_path, first.pid), what="the first recorder's lease")
        second = _record(db_path, "--repo", str(repo.path))
        procs.append(second)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("timetravel: error: ")
        assert f"pid {first.pid}" in lines[0]
        assert "already recorded by" in lines[0]
        assert "Traceback" not in err
        # The database says so too, for a screen reading a copy of it.
        db = open_database(db_path, readonly=True)
        row = db.execute("SELECT value FROM meta WHERE key = 'writer_lease'").fetchone()
        db.conn.close()
        assert json.loads(row[0])["pid"] == first.pid


def test_import_events_is_refused_while_a_recorder_writes(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    repo = _repo(tmp_path)
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"type": "ADDED", "object": configmap("x")}) + "\n")
    with _processes() as procs:
        first = _record(db_path, "--repo", str(repo.path))
        procs.append(first)
        wait_for(lambda: _holds(db_path, first.pid), what="the recorder's lease")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "timetravel",
                "import-events",
                "--db",
                str(db_path),
                str(events),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert f"pid {first.pid}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        first.terminate()
        first.wait(timeout=30)
    # Once the recorder is gone, the import goes through.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "import-events",
            "-q",
            "--db",
            str(db_path),
            str(events),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_standby_takes_over_when_the_recorder_is_killed(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    kubeconfig = tmp_path / "kubeconfig"
    with ApiDouble(bookmark_interval=0.1) as double, _processes() as procs:
        double.write_kubeconfig(kubeconfig)
        double.create(configmap("before"))
        common = ["--kubeconfig", str(kubeconfig), "--resources", "configmaps"]
        first = _record(db_path, *common, "--status-every", "0")
        procs.append(first)
        wait_for(lambda: _holds(db_path, first.pid), what="the first recorder's lease")
        log = tmp_path / "standby.log"
        standby = _record(db_path, *common, "--status-every", "0", "--standby", log=log)
        procs.append(standby)
        wait_for(lambda: "standing by" in log.read_text(), what="the standby to wait")
        assert f"pid {first.pid}" in log.read_text()
        assert standby.poll() is None, "the standby recorder exited instead of waiting"
        assert _holds(db_path, first.pid)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        wait_for(lambda: _holds(db_path, standby.pid), what="the standby to take the lease")
        double.create(configmap("after"))

        def recorded(name: str) -> bool:
            db = open_database(db_path, readonly=True)
            try:
                return bool(
                    db.execute(
                        "SELECT 1 FROM resources WHERE name = ? AND kind = 'ConfigMap'", (name,)
                    ).fetchone()
                )
            finally:
                db.conn.close()

        wait_for(lambda: recorded("after"), what="the standby to record a new change")
        standby.terminate()
        assert standby.wait(timeout=30) == 0


_PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from timetravel.recorder import background
    plan = background.plan(Path(sys.argv[1]), repos=(sys.argv[2],))
    recorder = background.BackgroundRecorder(plan)
    recorder.start()
    print(recorder.process.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP])
def test_the_screens_recorder_ends_with_the_screen(tmp_path: Path, how: signal.Signals) -> None:
    db_path = tmp_path / "tt.db"
    repo = _repo(tmp_path)
    open_database(db_path).conn.close()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(db_path), str(repo.path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        wait_for(lambda: _holds(db_path, child_pid), what="the screen's recorder to record")
        parent.send_signal(how)
        parent.wait(timeout=10)
        wait_for(lambda: not _alive(child_pid), timeout=20, what="the orphaned recorder to end")
        assert lease.holder(db_path) is None
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by init) counts as ended.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def test_the_screen_only_reads_while_another_recorder_writes(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    repo = _repo(tmp_path)
    with _processes() as procs:
        first = _record(db_path, "--repo", str(repo.path))
        procs.append(first)
        wait_for(lambda: _holds(db_path, first.pid), what="the first recorder's lease")
        assert background.reader_status(db_path) == f"recorded by pid {first.pid}"
        plan = background.plan(db_path, repos=(str(repo.path),))
        assert plan is not None
        screens = background.BackgroundRecorder(plan)
        screens.log_path = tmp_path / "ui-recorder.log"
        screens.start()
        try:
            time.sleep(1.5)
            assert screens.status() == f"recorded by pid {first.pid}"
            assert _holds(db_path, first.pid), "the screen's recorder took the database"
            first.terminate()
            first.wait(timeout=30)
            assert screens.process is not None
            ours = screens.process.pid
            wait_for(lambda: _holds(db_path, ours), what="the screen's recorder to take over")
            assert screens.status() == f"git-only (pid {ours})"
        finally:
            screens.stop()
    assert background.reader_status(db_path) == "read-only"

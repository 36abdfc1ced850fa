"""The recorder behind the screen: `timetravel ui` records while it shows.

The recorder runs as a child process (`timetravel record`) writing to the same database;
the screen only reads. By default it records the current kubeconfig context when there is
one and the current directory's repository when it is a git checkout; a cluster that
cannot be reached leaves it recording git alone. Its status is read back for the header.

One recorder writes a database (store.lease): when another already records it, the
screen's recorder stands by (the screen only reads, and its header names the one that
records) and takes over when that one ends.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from timetravel.config import ENV_DB
from timetravel.host import state_dir
from timetravel.store import lease
from timetravel.store.location import Location, PostgresLocation, SqliteLocation, as_location

# What `record --standby` says while it waits (commands/record.py).
_STANDING_BY = re.compile(r"standing by: .* is recorded by pid (\d+) on ([^,]+),")


@dataclass(frozen=True)
class RecordingPlan:
    db_path: Location
    cluster: bool
    kube_args: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    # -v and --log-format for the recorder's log (the screen's own flags).
    log_args: tuple[str, ...] = ()

    def argv(self, *, with_cluster: bool) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "timetravel",
            "record",
            # The database comes in the environment (see env): a URL may hold a password,
            # and a command line is visible to every user of the machine.
            "--status-every",
            "30",
            # The recorder ends with the screen, whatever ends the screen.
            "--parent-pid",
            str(os.getpid()),
            # Another recorder may write the database: then this one waits, the screen
            # only reads, and this one takes over when that one ends.
            "--standby",
        ]
        if with_cluster:
            argv += list(self.kube_args)
        for repo in self.repos:
            argv += ["--repo", repo]
        for branch in self.branches:
            argv += ["--branch", branch]
        return argv + list(self.log_args)

    def env(self) -> dict[str, str]:
        where = self.db_path
        value = where.url if isinstance(where, PostgresLocation) else str(where.path)
        return {**os.environ, ENV_DB: value}


def _git_toplevel(directory: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _kubeconfig_path() -> str | None:
    """The kubeconfig kubectl would use (first of $KUBECONFIG, else ~/.kube/config), if any."""
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    path = Path(first).expanduser() if first else Path("~/.kube/config").expanduser()
    return str(path) if path.exists() else None


def plan(
    db_path: Location | Path,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespaces: tuple[str, ...] = (),
    repos: tuple[str, ...] = (),
    branches: tuple[str, ...] = (),
    cwd: Path | None = None,
    log_args: tuple[str, ...] = (),
) -> RecordingPlan | None:
    """What `ui` should record, or None when there is nothing to record."""
    kube_args: list[str] = []
    if kubeconfig:
        kube_args += ["--kubeconfig", kubeconfig]
    if context:
        kube_args += ["--context", context]
    for namespace in namespaces:
        kube_args += ["--namespace", namespace]
    if not kube_args:
        # `record` with only --repo records git alone: name the kubeconfig to get the cluster.
        found = _kubeconfig_path()
        kube_args = ["--kubeconfig", found] if found else []
    cluster = bool(kube_args)
    if not repos:
        top = _git_toplevel(cwd or Path.cwd())
        repos = (top,) if top else ()
    if not cluster and not repos:
        return None
    return RecordingPlan(as_location(db_path), cluster, tuple(kube_args), repos, branches, log_args)


def reader_status(db_path: Location | Path) -> str:
    """The header's words for a screen that records nothing itself: who records, if any
    (of a team store, many record: it says read-only)."""
    where = as_location(db_path)
    if not isinstance(where, SqliteLocation):
        return "read-only"
    holder = lease.holder(where)
    return f"recorded by {holder.short()}" if holder is not None else "read-only"


class BackgroundRecorder:
    """A `timetravel record` child process and what it last said."""

    def __init__(self, plan: RecordingPlan) -> None:
        self.plan = plan
        self.process: subprocess.Popen[bytes] | None = None
        self.with_cluster = plan.cluster
        # One log per screen: two screens' recorders must not interleave their lines. In
        # the XDG state dir, and kept when the screen ends: what the recorder said is
        # worth reading afterwards (logs older than a week go at the next start).
        self.log_path = state_dir() / f"ui-recorder-{os.getpid()}.log"
        self.started = 0.0
        self.gave_up: str | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _forget_old_logs(self.log_path.parent)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            self.plan.argv(with_cluster=self.with_cluster),
            env=self.plan.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.started = time.monotonic()

    def last_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return _as_text(lines[-1]) if lines else ""

    def status(self) -> str:
        """recording, git-only or read-only (with why), for the header."""
        if self.gave_up:
            return f"read-only ({self.gave_up})"
        process = self.process
        if process is None:
            return "read-only"
        code = process.poll()
        if code is None:
            standing_by = self._standing_by()
            if standing_by:
                return standing_by
            return ("recording" if self.with_cluster else "git-only") + f" (pid {process.pid})"
        reason = self.last_line().removeprefix("timetravel: error: ")
        if self.with_cluster and self.plan.repos:
            # The cluster cannot be reached: keep recording git.
            self.with_cluster = False
            self.start()
            return f"git-only ({reason})" if reason else "git-only"
        self.gave_up = reason or f"recorder exited {code}"
        return f"read-only ({self.gave_up})"

    def _standing_by(self) -> str | None:
        """ "recorded by ..." while ours stands by for another recorder."""
        where = self.plan.db_path
        if isinstance(where, SqliteLocation):
            holder = lease.holder(where)
            pid = self.process.pid if self.process else None
            return f"recorded by {holder.short()}" if holder and holder.pid != pid else None
        # A team store leases each source: ours said whom it waits for.
        line = self.last_line()
        match = _STANDING_BY.search(line)
        if match is None:
            return None
        return f"recorded by pid {match.group(1)}@{match.group(2)}"

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


# A recorder's log left by a screen is removed at a later screen's start after this long.
_KEEP_LOGS = 7 * 86400


def _forget_old_logs(folder: Path) -> None:
    cutoff = time.time() - _KEEP_LOGS
    for old in folder.glob("ui-recorder-*.log"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            continue


def _as_text(line: str) -> str:
    """A log line as the text format writes it (``timetravel: error: ...``), whichever
    format the recorder was asked for (``--log-format json`` writes objects)."""
    if not line.startswith("{"):
        return line
    try:
        entry = json.loads(line)
        level, message = str(entry["level"]), str(entry["message"])
    except (ValueError, KeyError, TypeError):
        return line
    return (
        f"timetravel: {level}: {message}"
        if level in ("warning", "error")
        else (f"timetravel: {message}")
    )

"""Following a branch live: one long-lived watch of the ref files wakes the recorder, so a
move is recorded without waiting for the poll, even one made while a sync is under way.

The poll is set to a minute in these tests: a move they wait for must come through the
watch. The waits are bounded and generous; how fast a move arrives is measured by
``bench/git_follow.py``, not here.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import git

from timetravel.errors import UserError
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.sources.refs import RefWatch, ref_files
from timetravel.store.db import open_database

from .gitrepo import GitOpsRepo

MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
POLL = 60.0  # longer than any wait below: only the watch can make these tests pass
WAIT = 20.0


def config_map(name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "payments"},
        "data": {"value": value},
    }


def git_commit(path: Path, message: str) -> str:
    """``git add -A && git commit`` as a person types it; the new head."""
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True, capture_output=True)
    subprocess.run(
        ["git", "-C", str(path), "commit", "--quiet", "-m", message],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def recorded(db_path: Path) -> list[tuple[str, int]]:
    """(sha, backfilled) of every ref update, in the order recorded (none while the
    database is still being made)."""
    try:
        db = open_database(db_path, readonly=True)
    except UserError:
        return []
    try:
        rows = db.execute("SELECT sha, backfilled FROM ref_updates ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # its tables are not made yet
        return []
    finally:
        db.conn.close()
    return [(str(sha), int(backfilled)) for sha, backfilled in rows]


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@contextmanager
def following(source: GitSource) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive(), "the recorder stops when asked"


def test_a_move_during_a_sync_is_recorded_without_waiting_for_the_poll(
    tmp_path: Path, db_path: Path
) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/flags.yaml", config_map("flags", "0"))
    first = repo.commit("initial", MONDAY)
    during: list[str] = []

    class CommitDuringSync(GitSource):
        """Commits again once the first live sync has read the head: the ref moves while
        that sync records the commit before."""

        def _head(self) -> str | None:
            head = super()._head()
            if self.commits_recorded and not during:
                repo.write("apps/flags.yaml", config_map("flags", "2"))
                during.append(git_commit(repo.path, "flags 2"))
            return head

    source = CommitDuringSync(
        db_path, repo.path, clock=MonotonicClock(), poll_interval=POLL, progress=False
    )
    with following(source):
        assert wait_for(lambda: recorded(db_path) == [(first, 1)])
        repo.write("apps/flags.yaml", config_map("flags", "1"))
        second = git_commit(repo.path, "flags 1")
        assert wait_for(lambda: len(recorded(db_path)) >= 3), recorded(db_path)
    assert during, "the second commit was made during a sync"
    assert recorded(db_path) == [(first, 1), (second, 0), (during[0], 0)]
    assert not source.errors


def test_a_linked_worktree_is_followed_through_the_common_refs(
    tmp_path: Path, db_path: Path
) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/flags.yaml", config_map("flags", "0"))
    base = repo.commit("initial", MONDAY)
    worktree = tmp_path / "feature"
    repo.repo.git.worktree("add", "-b", "feature", str(worktree))
    assert (worktree / ".git").is_file(), "a gitdir: file, not a directory"

    files = ref_files(git.Repo(worktree))
    common = (repo.path / ".git").resolve()
    assert files.tops == (common / "worktrees" / "feature", common)
    assert files.trees == (common / "refs",), "never the object store"

    source = GitSource(
        db_path, worktree, clock=MonotonicClock(), poll_interval=POLL, progress=False
    )
    assert source.branch.branch == "feature"
    with following(source):
        assert wait_for(lambda: recorded(db_path) == [(base, 1)])
        (worktree / "apps" / "flags.yaml").write_text("kind: ConfigMap\n")
        moved = git_commit(worktree, "feature flags")
        assert wait_for(lambda: recorded(db_path)[-1:] == [(moved, 0)]), recorded(db_path)
    assert not source.errors


def test_the_watch_wakes_for_refs_and_packed_refs_not_for_objects(tmp_path: Path) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/flags.yaml", config_map("flags", "0"))
    head = repo.commit("initial", MONDAY)
    moved, stop = threading.Event(), threading.Event()
    errors: list[str] = []

    def run(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo.path), *args], check=True, capture_output=True)

    with RefWatch(repo.repo, moved, stop, on_error=errors.append):
        # Both watches are in place once a change of each kind has been seen.
        run("update-ref", "refs/tags/ready", head)
        assert wait_for(moved.is_set), "refs/ is watched"
        moved.clear()
        run("symbolic-ref", "HEAD", "refs/heads/main")
        assert wait_for(moved.is_set), "HEAD is watched"
        # A `git add` writes objects and the index only: nothing to wake for. Waiting out
        # a quiet spell is a negative check, not a measure of speed (a wake takes ~10 ms).
        time.sleep(0.3)
        moved.clear()
        (repo.path / "apps" / "new.yaml").write_text("kind: ConfigMap\n")
        run("add", "-A")
        run("hash-object", "-w", "apps/new.yaml")
        time.sleep(0.5)
        assert not moved.is_set(), "woken by a write to the object store"
        run("pack-refs", "--all", "--prune")
        assert wait_for(moved.is_set), "packed-refs is watched"
        moved.clear()
        run("update-ref", "refs/remotes/origin/main", head)
        assert wait_for(moved.is_set), "remote-tracking refs are watched"
    assert not errors

"""Watching a repository's refs: a wake-up for every move of a branch, and nothing else.

Only the files that say where refs point are watched: ``HEAD`` and ``packed-refs`` in the
git directory (and in the common directory of a linked worktree), everything under
``refs/`` (heads, remotes, tags) and ``reftable/``. Never the object store: a ``git add``
writes objects, and waking for it would only find that no ref moved.

The watch lives as long as the recorder follows the branch, so a ref that moves while the
recorder is busy (a ``git commit`` right after the previous one) still wakes it: the
event is set again, and the next look starts as soon as the current one ends. Before, the
watcher was made again after each look and a move in between was seen only by the next
periodic poll. ``bench/git_follow.py`` measures a move reaching the database: p95 69 ms
after ``git commit`` returns (5.6 s before; BENCHMARKS.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import git
from watchfiles._rust_notify import RustNotify

# A commit writes its ref in a few steps (the lock file, the rename, the reflog) within a
# millisecond or two; changes are handed over once the files have been quiet for STEP_MS,
# and after DEBOUNCE_MS at the latest, so one commit makes one wake-up.
DEBOUNCE_MS = 50
STEP_MS = 10
# Files in the git directory itself that say where a ref points.
TOP_FILES = frozenset({"HEAD", "packed-refs"})
# A wait ends after this long without changes, to look again (``stop`` is looked at every
# STEP_MS anyway).
WAIT_MS = 5_000


@dataclass(frozen=True)
class RefFiles:
    """Where a repository keeps its refs: directories watched alone (for ``HEAD`` and
    ``packed-refs``) and directories watched with everything under them."""

    tops: tuple[Path, ...]
    trees: tuple[Path, ...]


def ref_files(repo: git.Repo) -> RefFiles:
    """The ref files of ``repo``, asked of git itself: a linked worktree (``.git`` is a
    ``gitdir:`` file) keeps its ``HEAD`` in its own git directory and the branches in the
    common one."""
    try:
        out = repo.git.rev_parse("--path-format=absolute", "--git-dir", "--git-common-dir")
        git_dir, common_dir = (Path(line).resolve() for line in out.splitlines()[:2])
    except git.GitCommandError:  # git before 2.31 has no --path-format: GitPython's answer
        git_dir, common_dir = Path(repo.git_dir).resolve(), Path(repo.common_dir).resolve()
    tops = tuple(dict.fromkeys((git_dir, common_dir)))
    trees = tuple(
        path
        for top in tops
        for path in (top / "refs", top / "reftable")
        if path.is_dir()  # a worktree's own refs/ exists only once bisect or rebase made it
    )
    return RefFiles(tops, trees)


def _top_file(path: Path) -> bool:
    return path.name in TOP_FILES


def _not_a_lock(path: Path) -> bool:
    # The lock file is written first and renamed over the ref: the rename is the move.
    return path.suffix != ".lock"


class _Either:
    """Set when either event is: the caller's stop, or the watch's own end."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)


class RefWatch:
    """Sets ``moved`` whenever a ref file of the repository changes, from the moment the
    ``with`` block is entered until ``stop`` is set or the block ends.

    The watches are in place when ``__enter__`` returns (a change made after it is never
    missed, even before the first look), and changes that arrive while nobody waits are
    kept until the next wait. A watch that fails (the system's limit on watches, a
    directory removed) reports through ``on_error`` and ends; the caller's periodic poll
    still sees every move, only later.
    """

    def __init__(
        self,
        repo: git.Repo,
        moved: threading.Event,
        stop: threading.Event,
        *,
        on_error: Callable[[str], None],
    ) -> None:
        self.files = ref_files(repo)
        self.moved = moved
        self.on_error = on_error
        self._halt = threading.Event()
        self._until = _Either(stop, self._halt)
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> RefWatch:
        # One watch for the top directories alone, one for the trees under refs/: a watch
        # is recursive or not for all its paths.
        for paths, recursive, keep in (
            (self.files.tops, False, _top_file),
            (self.files.trees, True, _not_a_lock),
        ):
            if not paths:
                continue
            try:
                # The documented backend of watchfiles.watch: made here, so the watch is in
                # place before the caller's first look rather than whenever a thread starts.
                notify = RustNotify([str(p) for p in paths], False, False, 0, recursive, False)
            except (OSError, RuntimeError) as exc:
                self._failed(paths, exc)
                continue
            thread = threading.Thread(
                target=self._watch,
                args=(notify, paths, keep),
                name=f"timetravel-refs-{'tree' if recursive else 'top'}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _failed(self, paths: tuple[Path, ...], exc: BaseException) -> None:
        self.on_error(f"watching {', '.join(map(str, paths))}: {exc}")

    def _watch(
        self,
        notify: RustNotify,
        paths: tuple[Path, ...],
        keep: Callable[[Path], bool],
    ) -> None:
        with notify:
            while True:
                try:
                    changes = notify.watch(DEBOUNCE_MS, STEP_MS, WAIT_MS, self._until)
                except (OSError, RuntimeError) as exc:
                    self._failed(paths, exc)
                    return
                if changes == "stop":
                    return
                if isinstance(changes, set) and any(keep(Path(path)) for _, path in changes):
                    self.moved.set()

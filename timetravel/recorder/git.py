"""The GitOps repository as a source of desired state: backfill, then follow the branch.

On first sight the branch's first-parent history is recorded, each commit desired from
its committer time (marked backfilled). Afterwards every move of the tracked ref is a ref
update at the moment it was observed: one long-lived watch of the ref files
(:mod:`timetravel.sources.refs`) wakes us when a ref moves, and the move is in the database
~50 ms after ``git commit`` returns (``bench/git_follow.py``: p95 69 ms; 5.6 s with the
poll alone); a periodic poll covers what file events miss, and a periodic ``git fetch``
(only when the branch tracks a remote) brings what was pushed. ``git fetch`` updates
remote-tracking refs only; nothing else in the repository is ever written.

A repository given by its URL is followed from a bare cache clone
(:mod:`timetravel.sources.remote`), fetched every ``fetch_interval``. A fetch that fails
(the server gone, a refused token, a timeout) is a gap in the repository's record, from
the last fetch that worked until the next one that does: written at the first failure,
extended at each further one, closed when a fetch works again. The recorder goes on.
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import git

from timetravel.domain.desired import within
from timetravel.domain.manifests import ParsedFile
from timetravel.domain.normalize import Redaction, is_secret, normalize
from timetravel.domain.times import next_instant, to_stored
from timetravel.errors import UserError
from timetravel.host import data_dir
from timetravel.recorder.progress import Progress
from timetravel.sources.desired import CommitInfo, DesiredReader, DesiredSet, first_parent_history
from timetravel.sources.git import TrackedBranch, open_checkout, resolve_branch
from timetravel.sources.refs import RefWatch
from timetravel.sources.remote import (
    GitCredentials,
    RemoteError,
    RemoteRepo,
    is_remote,
    remote_path,
    repo_folder,
)
from timetravel.store.db import open_database, redaction_key
from timetravel.store.declared import ObjectKey, object_key
from timetravel.store.gitstore import (
    GitStore,
    RefUpdate,
    RepoRecord,
    SqliteBlobCache,
    desired_item,
)
from timetravel.store.location import Location

FETCH_TIMEOUT = 120
# Commits whose renders a backfill runs ahead, together: enough to keep every core busy.
PREFETCH_BATCH = 64
# Commits and ref updates a transaction, when a history is recorded before its renders.
COMMIT_BATCH = 500
# How often a quiet follow loop looks at ``stop`` (seconds).
STOP_CHECK = 0.2
# How long a failure of a child process waits for the signal that may have killed it to
# reach ``stop`` (seconds).
STOP_GRACE = 1.0


@dataclass(frozen=True)
class _Step:
    """One ref update to record: the commit, since when it was desired, and how we know."""

    commit: CommitInfo
    observed_at: str
    backfilled: bool
    forced: bool


def _stored(dt: datetime) -> str:
    return to_stored(dt)


def _printable(text: str) -> str:
    """A path (or a message naming one) as stored text. The reader keeps a file name that is
    not UTF-8 with surrogate escapes, to reach the file again; stored text must be UTF-8, so
    such bytes become U+FFFD here rather than failing the whole commit."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _after(stored: str, floor: str) -> str:
    """``stored``, or a microsecond after ``floor`` when ``stored`` is not later."""
    if stored > floor:
        return stored
    return next_instant(floor)


class _NoSecretsCache:
    """The persistent parse cache, without files that declare a Secret.

    A parse holds the manifest as written, values included: one that holds a Secret's
    ``data`` or ``stringData`` must not reach the database (desired sets are stored
    normalized, which redacts them). Such files are parsed again after a restart instead.
    """

    def __init__(self, inner: SqliteBlobCache) -> None:
        self.inner = inner

    def get(self, sha: str) -> ParsedFile | None:
        return self.inner.get(sha)

    def put(self, sha: str, parsed: ParsedFile) -> None:
        if not any(is_secret(obj) for obj in parsed.objects):
            self.inner.put(sha, parsed)


class _Encoder:
    """Consecutive commits' objects as the store keeps them: normalized, encoded.

    The reader hands out the very same dict for an object that did not change since the last
    commit, and its stored form depends on nothing else but its path: it is reused by
    identity, so a commit costs what changed in it rather than everything it declares.
    """

    def __init__(self, key: Redaction) -> None:
        self.key = key
        # id -> (object, path, stored form or None when not stored); holding the object keeps
        # its id its own.
        self._last: dict[int, tuple[dict[str, Any], str, bytes | None, ObjectKey | None]] = {}

    def commit(self, desired: DesiredSet) -> tuple[list[bytes], list[ObjectKey | None]]:
        """The stored entries of a commit's objects (those with a name), and their keys."""
        current: dict[int, tuple[dict[str, Any], str, bytes | None, ObjectKey | None]] = {}
        entries: list[bytes] = []
        keys: list[ObjectKey | None] = []
        for item in desired.objects:
            obj = item.obj
            known = self._last.get(id(obj))
            if known is None or known[1] != item.path:
                known = (obj, item.path, *self._encode(item.path, obj))
            current[id(obj)] = known
            if known[2] is not None:
                entries.append(known[2])
                keys.append(known[3])
        self._last = current
        return entries, keys

    def _encode(self, path: str, obj: dict[str, Any]) -> tuple[bytes | None, ObjectKey | None]:
        if not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
            return None, None
        normalized = normalize(obj, self.key)
        return desired_item(_printable(path), normalized), object_key(normalized)


class _Stopped(Exception):
    """``stop`` came during a backfill: the commit under way is rolled back."""


class GitSource:
    """Records one repository branch into one database.

    ``repo_path`` may be a folder inside a checkout (``~/gitops/clusters/prod``): then only
    what that folder declares is desired (:func:`~timetravel.domain.desired.within`), and
    the store keeps the folder as a repository of its own (its path is the folder's), so
    one repository feeds several clusters, a folder each, each bound to its cluster.
    ``folder`` names such a folder too (``--path``), of a checkout or of a repository
    given by its URL (``https://...``, ``ssh://...``, ``git@host:path``): that one is
    cloned into ``cache_root`` (default ``<data dir>/git-cache``) with ``credentials``,
    and a clone that fails is a UserError.
    """

    def __init__(
        self,
        db_path: Path | Location,
        repo_path: str | Path,
        branch: str | None = None,
        *,
        cluster: str | None = None,
        fetch_interval: float = 60.0,
        poll_interval: float = 5.0,
        clock: Callable[[], str],
        progress: bool = True,
        folder: str | None = None,
        credentials: GitCredentials | None = None,
        cache_root: Path | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.db_path = db_path
        self.clock = clock
        self.log = log
        self.remote: RemoteRepo | None = None
        # Fetch before the first look: a cache made by an earlier run is behind.
        self._fetch_first = False
        if isinstance(repo_path, str) and is_remote(repo_path):
            self.remote = RemoteRepo(repo_path, cache_root or data_dir() / "git-cache", credentials)
            cloned = self._clone(branch)
            self.repo = self.remote.open()
            self.folder = repo_folder(folder)
            name = branch or self.remote.default_branch()
            self.branch = TrackedBranch(
                self.remote.url, name, f"refs/heads/{name}", "origin", self.remote.url
            )
            self.path = remote_path(self.remote.url, self.folder)
            if cloned or self.remote.head(name) is None:
                # A new clone's manifests, or a branch this cache has not fetched before.
                self._clone_fetch(name, fetch=not cloned)
            else:
                self._fetch_first = True
        else:
            place = Path(repo_path).expanduser()
            self.repo, self.folder = open_checkout(place / repo_folder(folder) if folder else place)
            self.branch = resolve_branch(self.repo, branch)
            # What the store calls this source: the checkout, or the folder of it followed.
            self.path = (
                str(Path(self.branch.path) / self.folder) if self.folder else self.branch.path
            )
        self.cluster = cluster
        # The cluster whose choice among conflicting declarations ([desired.clusters] of the
        # repository's timetravel.toml) is recorded: the one recorded beside this repository,
        # bound to it or not (`record` sets it); else the bound cluster.
        self.follows_cluster: str | None = None
        self.fetch_interval = fetch_interval if self.branch.remote else 0.0
        self.poll_interval = poll_interval
        self.progress = progress
        self.errors: list[str] = []
        self.commits_recorded = 0
        self.rendered = 0  # desired sets rendered (a backfill renders after recording)
        # Commits recorded whose desired set is not rendered yet (for /metrics).
        self.renders_pending = 0
        # For /metrics: time.monotonic() of the last look at the branch that worked, and
        # of the last fetch that did; failures counted.
        self.synced_at: float | None = None
        self.fetched_at: float | None = None
        self.fetch_errors = 0
        self.sync_errors = 0
        # time.monotonic() of the last fetch tried; a clone made just now is one.
        fresh = self.remote is not None and not self._fetch_first
        self._last_fetch = time.monotonic() if fresh else -math.inf
        # Since when fetches work (the stored time of the last one that did), and the gap
        # written since the first one that failed after it.
        self._good_at = self.clock()
        self._gap: int | None = None

    @property
    def source(self) -> str:
        """What gaps and the writer lease call this repository: ``repo:<path>#<branch>``."""
        return f"repo:{self.path}#{self.branch.branch}"

    def _clone(self, branch: str | None) -> bool:
        assert self.remote is not None
        try:
            return self.remote.clone(branch)
        except RemoteError as exc:
            raise UserError(f"{self.remote.url}: git clone failed: {exc}") from None

    def _clone_fetch(self, branch: str, *, fetch: bool) -> None:
        assert self.remote is not None
        try:
            if fetch:
                self.remote.fetch(branch)
            else:
                self.remote.prefetch(branch)
        except RemoteError as exc:
            what = f"git fetch of {branch}" if fetch else "git clone"
            raise UserError(f"{self.remote.url}: {what} failed: {exc}") from None

    def _head(self) -> str | None:
        try:
            return str(self.repo.commit(self.branch.tracked_ref).hexsha)
        except (git.BadName, ValueError, git.GitCommandError):
            return None

    def _setup(self) -> tuple[GitStore, RepoRecord, DesiredReader, _Encoder]:
        db = open_database(self.db_path)
        store = GitStore(db)
        record = store.ensure_repo(
            self.path,
            self.branch.branch,
            self.branch.tracked_ref,
            self.branch.remote_url,
            self.cluster,
        )
        cluster = self.follows_cluster or self.cluster
        reader = DesiredReader(
            self.repo,
            blob_cache=_NoSecretsCache(SqliteBlobCache(db)),
            cluster=cluster,
            folder=self.folder,
            # What the cluster was seen to serve wins over the list of tools' groups.
            served_groups=store.recorded_groups(cluster),
        )
        return store, record, reader, _Encoder(redaction_key(db))

    def sync(
        self, *, live: bool = False, stop: threading.Event | None = None, render: bool = True
    ) -> int:
        """Record what is new since the last look; returns how many ref updates were recorded.

        ``live`` says the recorder was watching when the ref moved, so the move happened
        now; otherwise (first sight, or catching up after downtime) each new first-parent
        commit became desired at its committer time, marked backfilled.

        More than one new commit (a backfill) is recorded in two passes: the commits and
        ref updates, then each commit's desired set, the newest first. ``render=False``
        stops after the first: ``record`` starts watching the cluster then and renders in
        the git thread (:meth:`run`), which also renders what an earlier run left.

        When ``stop`` is set (SIGINT, SIGTERM) the walk ends: commits are recorded in whole
        batches and each desired set is one transaction, so the next sync resumes where
        this one stopped. The set under way when ``stop`` came is rolled back rather than
        written: the same Ctrl-C reaches the git and kustomize children, whose cut-short
        answers must not be stored as the commit's desired state. Returns 0 then.
        """
        if self._fetch_first:
            self._fetch_first = False
            self.fetch()
        store, record, reader, encoder = self._setup()
        try:
            return self._sync(store, record, reader, encoder, live, stop, render)
        except Exception:
            # _Stopped, or a child (git, kustomize) cut short by the same signal: rolled
            # back. The child may die of the Ctrl-C before the main thread's handler has set
            # ``stop``: give the handler a moment rather than take that for a failure.
            if stop is not None and (stop.is_set() or stop.wait(STOP_GRACE)):
                return 0
            raise
        finally:
            store.conn.close()

    def _plan(self, last: RefUpdate | None, head: str, live: bool) -> list[_Step]:
        if last is None:
            history = first_parent_history(self.repo, head)
            return [_Step(info, _stored(info.committed_at), True, False) for info in history]
        # A ref update seen now is after the last one recorded, even if the system clock
        # stepped back since: desired state at T is read in observed_at order.
        now = _after(self.clock(), last.observed_at)
        new = self._first_parents_since(last.sha, head)
        if new is None:
            # History was rewritten (a force-push): the new head replaces the old one.
            return [_Step(first_parent_history(self.repo, f"{head}^!")[0], now, False, True)]
        if live:
            return [_Step(new[-1], now, False, False)] if new else []
        steps = []
        floor = last.observed_at
        for info in new:
            # A commit older than what we already saw cannot have become desired earlier.
            floor = max(_stored(info.committed_at), floor)
            steps.append(_Step(info, floor, True, False))
        return steps

    def _first_parents_since(self, last: str, head: str) -> list[CommitInfo] | None:
        """The commits after ``last`` on ``head``'s first-parent history, oldest first; None
        when ``last`` is not on it (or is gone): the history was rewritten.

        Only the new commits are walked: the whole history of a branch of 2,000 commits
        takes ~0.5 s to list, longer than a live move may take to be recorded.
        """
        try:
            new = first_parent_history(self.repo, f"{last}..{head}")
        except (git.GitCommandError, ValueError):
            return None  # ``last`` is not in the repository any more
        if not new or new[0].parents[:1] != (last,):
            # Nothing new (the branch went back), or the walk did not start from ``last``.
            return None
        return new

    def _sync(
        self,
        store: GitStore,
        record: RepoRecord,
        reader: DesiredReader,
        encoder: _Encoder,
        live: bool,
        stop: threading.Event | None = None,
        render: bool = True,
    ) -> int:
        head = self._head()
        if head is None:
            self.errors.append(f"{self.branch.path}: {self.branch.tracked_ref} not found")
            self.sync_errors += 1
            return 0
        last = store.last_ref_update(record.id)
        steps = [] if last is not None and last.sha == head else self._plan(last, head, live)
        pending = store.pending_sets(record.id) if render else []
        if len(steps) == 1 and not pending and render:
            # A live move: its commit, set and ref update in one transaction, so no moment
            # is ever without its desired state (bench/git_follow.py measures this path).
            self._record_one(store, record, reader, encoder, steps[0], last, stop)
        elif steps or pending:
            # A history: every commit and ref update first, then the renders (the slow
            # part: `kubectl kustomize`), the newest commit first. The screen and the
            # cluster recorder need not wait for the renders; a moment whose set is not
            # rendered yet says so (query/desired.py: pending).
            self._record_commits(store, record, steps, last, stop)
            if render:
                self._render_pending(store, record, reader, encoder, stop)
            else:
                self.renders_pending = len(store.pending_sets(record.id))
        self.commits_recorded += len(steps)
        self.synced_at = time.monotonic()
        return len(steps)

    def _add_step(
        self, store: GitStore, record: RepoRecord, step: _Step, previous: str | None
    ) -> None:
        info = step.commit
        store.add_commit(
            info.sha,
            _stored(info.committed_at),
            _stored(info.authored_at),
            info.author,
            info.committer,
            info.message,
            list(info.parents),
        )
        store.add_ref_update(
            record.id,
            step.observed_at,
            info.sha,
            previous,
            backfilled=step.backfilled,
            forced=step.forced,
        )

    def _record_one(
        self,
        store: GitStore,
        record: RepoRecord,
        reader: DesiredReader,
        encoder: _Encoder,
        step: _Step,
        last: RefUpdate | None,
        stop: threading.Event | None,
    ) -> None:
        with store.conn:
            if not store.has_desired_set(record.id, step.commit.sha):
                self._store_desired(store, record, reader, encoder, step.commit.sha)
            self._add_step(store, record, step, last.sha if last else None)
            if stop is not None and stop.is_set():
                raise _Stopped  # rolls it back: its renders may be cut short

    def _record_commits(
        self,
        store: GitStore,
        record: RepoRecord,
        steps: list[_Step],
        last: RefUpdate | None,
        stop: threading.Event | None,
    ) -> None:
        """The steps' commits and ref updates, a batch a transaction, in order: a stop between
        batches leaves a history that ends at a commit, resumed from there."""
        previous = last.sha if last else None
        for first in range(0, len(steps), COMMIT_BATCH):
            if stop is not None and stop.is_set():
                raise _Stopped
            with store.conn:
                for step in steps[first : first + COMMIT_BATCH]:
                    self._add_step(store, record, step, previous)
                    previous = step.commit.sha

    def _render_pending(
        self,
        store: GitStore,
        record: RepoRecord,
        reader: DesiredReader,
        encoder: _Encoder,
        stop: threading.Event | None,
    ) -> None:
        """The desired set of each commit the branch pointed to that has none yet, the newest
        first; each one transaction, so a stop loses only the one under way."""
        pending = [sha for _, sha in store.pending_sets(record.id)]
        self.renders_pending = len(pending)
        progress = Progress(
            f"git {Path(self.branch.path).name}@{self.branch.branch}",
            total=len(pending),
            unit="commits",
            enabled=self.progress and len(pending) > 20,
        )
        said = self.log is not None and not progress.enabled and len(pending) > 20
        if said and self.log is not None:
            self.log(
                f"{self.source}: rendering the desired state of {len(pending):,} commits, "
                "the newest first"
            )
        started = time.monotonic()
        for number, sha in enumerate(pending):
            if stop is not None and stop.is_set():
                raise _Stopped
            if number % PREFETCH_BATCH == 0 and len(pending) > 1:
                # The next commits' kustomize renders, on every core at once (a backfill of
                # kustomize trees is bound by `kubectl kustomize`: BENCHMARKS.md).
                reader.prefetch(pending[number : number + PREFETCH_BATCH])
            with store.conn:
                if not store.has_desired_set(record.id, sha):
                    self._store_desired(store, record, reader, encoder, sha)
                if stop is not None and stop.is_set():
                    raise _Stopped  # rolls this set back: its renders may be cut short
            self.rendered += 1
            self.renders_pending -= 1
            progress.advance()
        progress.close()
        if said and self.log is not None:
            took = time.monotonic() - started
            self.log(
                f"{self.source}: desired state of {len(pending):,} commits rendered in {took:.0f} s"
            )

    def _store_desired(
        self,
        store: GitStore,
        record: RepoRecord,
        reader: DesiredReader,
        encoder: _Encoder,
        sha: str,
    ) -> None:
        desired = within(reader.read_commit(sha), self.folder)
        entries, keys = encoder.commit(desired)
        errors: list[dict[str, Any]] = [
            {"path": _printable(e.path), "message": _printable(e.message)} for e in desired.errors
        ]
        # Not errors of reading, but never silent either: each is an entry of export errors[]
        # with its own kind (the manifest entries have none; the snapshot names them).
        errors += [
            {"kind": "skipped", "path": _printable(s.path), "message": _printable(s.reason)}
            for s in desired.skipped
        ]
        errors += [
            {
                "kind": "conflict",
                "path": _printable(c.chosen),
                "message": _printable(c.message),
                "object": dict(zip(("group", "kind", "namespace", "name"), c.key, strict=True)),
                "declared_by": [_printable(p) for p in c.paths],
            }
            for c in desired.conflicts
        ]
        store.put_desired_set(record.id, sha, entries, cast("list[dict[str, str]]", errors), keys)

    def fetch(self) -> None:
        """``git fetch`` the tracked branch; a failure is counted (and for a repository
        followed by its URL, recorded as a gap), never raised."""
        self._last_fetch = time.monotonic()
        if self.remote is not None:
            self._fetch_remote(self.remote)
            return
        if not self.branch.remote:
            return
        try:
            subprocess.run(
                [
                    "git",
                    "-C",
                    self.branch.path,
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    self.branch.remote,
                ],
                check=True,
                capture_output=True,
                timeout=FETCH_TIMEOUT,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            self.errors.append(f"git fetch {self.branch.remote}: {exc}")
            self.fetch_errors += 1
        else:
            self.fetched_at = time.monotonic()

    def _fetch_remote(self, remote: RemoteRepo) -> None:
        try:
            remote.fetch(self.branch.branch)
        except RemoteError as exc:
            self.fetch_errors += 1
            reason = f"git fetch failed: {exc}"
            self.errors.append(f"{self.path}: {reason}")
            self._failed(reason)
        else:
            self.fetched_at = time.monotonic()
            self._worked()

    def _failed(self, reason: str) -> None:
        """A fetch failed: the gap since the last one that worked is written (the first
        failure) or extended to now."""
        now = self.clock()
        db = open_database(self.db_path)
        try:
            store = GitStore(db)
            if self._gap is None:
                self._gap = store.open_gap(self.cluster, self.source, self._good_at, now, reason)
                if self.log is not None:
                    every = (
                        f"{self.fetch_interval:g} s" if self.fetch_interval else "at the next look"
                    )
                    self.log(
                        f"{self.source}: {reason}; recorded as a gap, trying again every {every}"
                    )
            else:
                store.extend_gap(self._gap, now)
        finally:
            db.conn.close()

    def _worked(self) -> None:
        """A fetch worked: an open gap ends now."""
        now = self.clock()
        if self._gap is not None:
            db = open_database(self.db_path)
            try:
                GitStore(db).extend_gap(self._gap, now)
            finally:
                db.conn.close()
            self._gap = None
            if self.log is not None:
                self.log(f"{self.source}: git fetch works again; the gap is closed")
        self._good_at = now

    def run(self, stop: threading.Event) -> None:
        """Backfill, then follow the branch until ``stop`` is set.

        The ref files are watched from before the backfill until the end (one watch, never
        made again): a move while a sync is under way sets ``moved`` again, so the next sync
        starts as soon as this one ends instead of at the next poll. The poll stays, for
        what file events miss (a network file system, a watch the system refused).
        """
        moved = threading.Event()
        with RefWatch(self.repo, moved, stop, on_error=self.errors.append):
            try:
                self.sync(stop=stop)  # what an earlier pass left to render, the newest first
            except (git.GitCommandError, ValueError, OSError) as exc:
                # Told and tried again at the next look, as the follow loop does.
                self.errors.append(f"{self.branch.path}: {exc}")
                self.sync_errors += 1
            self._follow(stop, moved)

    def _follow(self, stop: threading.Event, moved: threading.Event) -> None:
        next_poll = time.monotonic() + self.poll_interval
        while not stop.is_set():
            now = time.monotonic()
            fetch_at = self._last_fetch + self.fetch_interval if self.fetch_interval else math.inf
            due = min(next_poll, fetch_at)
            # In slices, to see ``stop`` soon; a move ends the wait at once.
            if not moved.wait(min(STOP_CHECK, max(0.0, due - now))) and time.monotonic() < due:
                continue
            if stop.is_set():
                return
            # Cleared before the look: a move from now on makes another one.
            moved.clear()
            now = time.monotonic()
            if now >= fetch_at:
                self.fetch()
            next_poll = now + self.poll_interval
            try:
                self.sync(live=True)
            except (git.GitCommandError, ValueError, OSError) as exc:
                self.errors.append(f"{self.branch.path}: {exc}")
                self.sync_errors += 1

"""A backfill records a history's commits first and renders their desired sets afterwards.

Rendering (``kubectl kustomize``) is the slow part of recording a long history: the commits
and ref updates go in first, so the screen, the cluster recorder and the exports can start
at once; each commit's desired set follows, the newest first. A moment whose commit is not
rendered yet says so (``pending``), never "nothing declared"; once every set is in, every
answer equals that of a store that rendered each commit as it was recorded. Both engines.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.times import to_stored
from timetravel.notify.evaluate import CURSOR, evaluate
from timetravel.query.desired import DesiredState
from timetravel.query.moment import build_snapshot
from timetravel.query.screen import ScreenData
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.store import alerts as outbox
from timetravel.store.db import open_database
from timetravel.store.gitstore import GitStore

from .conftest import deployment
from .gitrepo import GitOpsRepo

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
COMMITS = 14


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    return any_db


def _manifest(name: str, image: str, replicas: int) -> dict[str, Any]:
    obj = deployment(name, image=image)
    obj["metadata"] = {"name": name, "namespace": "shop"}
    obj.pop("status", None)
    obj["spec"]["replicas"] = replicas
    return obj


class _History:
    """A real repository of COMMITS commits, a day apart, that add, change and remove
    objects; ``reference`` is a store that recorded (and rendered) each commit as it came."""

    def __init__(self, tmp_path: Path, seed: int) -> None:
        rng = random.Random(seed)
        self.repo = GitOpsRepo(tmp_path / "gitops")
        self.reference = tmp_path / "reference.db"
        follower: GitSource | None = None
        self.shas: list[str] = []
        self.times: list[datetime] = []
        present: set[str] = set()
        for number in range(COMMITS):
            name = rng.choice(["api", "web", "worker", "cart"])
            if name in present and rng.random() < 0.25:
                self.repo.remove(f"apps/{name}.yaml")
                present.discard(name)
            else:
                image = f"registry.example.com/shop/{name}:1.{number}"
                self.repo.write(f"apps/{name}.yaml", _manifest(name, image, rng.randint(1, 5)))
                present.add(name)
            if not present:  # a commit must change something: keep one object
                self.repo.write("apps/api.yaml", _manifest("api", "api:0", 1))
                present.add("api")
            when = START + timedelta(days=number)
            self.shas.append(self.repo.commit(f"change {number}", when))
            self.times.append(when)
            # One new commit a sync: the path that renders as it records.
            follower = follower or _source(self.reference, self.repo.path)
            assert follower.sync() == 1

    def moments(self) -> list[str]:
        """Before the first commit, at each, between each two, after the last."""
        found = [to_stored(START - timedelta(hours=1))]
        for when in self.times:
            found += [to_stored(when), to_stored(when + timedelta(hours=5))]
        return found


def _source(db: Path | str, repo: Path) -> GitSource:
    return GitSource(db, repo, clock=MonotonicClock(), progress=False)


class _StopAfter(GitSource):
    """The real source, with ``stop`` set as its ``renders``-th desired set is stored (as a
    Ctrl-C in the middle of that render would: that set is rolled back)."""

    def __init__(self, db: Path | str, repo: Path, renders: int, stop: threading.Event) -> None:
        super().__init__(db, repo, clock=MonotonicClock(), progress=False)
        self.renders, self.stop_event, self.stored = renders, stop, 0

    def _store_desired(self, *args: Any) -> None:
        super()._store_desired(*args)
        self.stored += 1
        if self.stored == self.renders:
            self.stop_event.set()


def _answers(db_path: Path | str, moments: list[str]) -> list[Any]:
    """What the store says git declared at each moment: every object (path, body, commit)
    and, per object, the version index's answer decoded."""
    db = open_database(db_path, readonly=True)
    try:
        desired = DesiredState(db)
        found = []
        for at in moments:
            sides, merged = desired.merged_at(at)
            objects = {k: (v.path, v.obj, v.sha) for k, v in merged.items()}
            versions = {}
            for key in sorted(merged):
                version = desired.version_at(key, at)
                assert version is not None
                declared = desired.declared(key, at, version)
                versions[key] = None if declared is None else declared.obj
            found.append(
                (
                    [(s.ref.sha if s.ref else None, s.pending, s.errors) for s in sides],
                    objects,
                    versions,
                )
            )
        return found
    finally:
        db.conn.close()


def test_commits_are_recorded_first_and_a_moment_not_rendered_says_so(
    tmp_path: Path, db_path: Path | str
) -> None:
    history = _History(tmp_path, seed=1)
    source = _source(db_path, history.repo.path)
    assert source.sync(render=False) == COMMITS
    db = open_database(db_path)
    try:
        git = GitStore(db)
        assert len(git.ref_updates(git.repos()[0].id)) == COMMITS
        # Every commit waits for its render, the newest first.
        assert [sha for _, sha in git.pending_sets()] == history.shas[::-1]
        side = DesiredState(db).at(to_stored(history.times[-1]))[0]
        assert side.pending and side.ref is not None and side.ref.sha == history.shas[-1]
        assert side.objects == {}
        assert side.errors[0]["kind"] == "pending"
        assert history.shas[-1][:12] in side.errors[0]["message"]
        # The export says it in errors[] and names the repository.
        snapshot = build_snapshot(db, history.times[-1], window=timedelta(hours=1))
        pending = [e for e in snapshot.errors if e.get("kind") == "pending"]
        assert len(pending) == 1 and pending[0]["repo"] == str(history.repo.path)
        # Before the first commit nothing was declared, and nothing is pending.
        before = DesiredState(db).at(to_stored(START - timedelta(hours=1)))[0]
        assert before.ref is None and not before.pending
    finally:
        db.conn.close()

    source.sync()  # renders every pending set
    db = open_database(db_path)
    try:
        assert GitStore(db).pending_sets() == []
        side = DesiredState(db).at(to_stored(history.times[-1]))[0]
        assert not side.pending and side.objects
        assert not [e for e in side.errors if e.get("kind") == "pending"]
    finally:
        db.conn.close()
    assert _answers(db_path, history.moments()) == _answers(history.reference, history.moments())


@pytest.mark.parametrize("renders", [1, 5, COMMITS - 1])
def test_a_stop_during_the_renders_keeps_the_newest_and_a_resume_renders_the_rest(
    tmp_path: Path, db_path: Path | str, renders: int
) -> None:
    history = _History(tmp_path, seed=renders)
    stop = threading.Event()
    stopping = _StopAfter(db_path, history.repo.path, renders, stop)
    # Stopped: 0 (as after a Ctrl-C), the set under way rolled back.
    assert stopping.sync(stop=stop) == 0
    db = open_database(db_path)
    try:
        git = GitStore(db)
        left = [sha for _, sha in git.pending_sets()]
        # The newest renders - 1 are in; the render the stop came in went back.
        assert left == history.shas[::-1][renders - 1 :]
        newest = DesiredState(db).at(to_stored(history.times[-1]))[0]
        assert (not newest.pending) == (renders > 1)
    finally:
        db.conn.close()
    # Recording again renders what is left (nothing new to record).
    assert _source(db_path, history.repo.path).sync() == 0
    assert _answers(db_path, history.moments()) == _answers(history.reference, history.moments())


def test_the_screen_says_rendering_and_sees_each_render(
    tmp_path: Path, db_path: Path | str
) -> None:
    history = _History(tmp_path, seed=7)
    source = _source(db_path, history.repo.path)
    source.sync(render=False)
    data = ScreenData(db_path, now=history.times[-1] + timedelta(hours=1))
    at = history.times[-1] + timedelta(hours=1)
    name = f"{history.repo.path.name}@main"
    assert data.resources_at(at).repos == (f"{name} (rendering)",)
    before, _ = data.newest_ref_update()
    source.sync()
    after, _ = data.newest_ref_update()
    assert after != before, "a rendered set is news to the screen's poll"
    data.invalidate()
    shown = data.resources_at(at)
    assert shown.repos == (name,)
    assert shown.counts["in_sync"] + shown.counts["missing"] > 0


def test_alerts_wait_for_the_renders(tmp_path: Path, db_path: Path | str) -> None:
    """No drift pass compares with a desired state that is not rendered yet (it would open
    drift on every object): the pass waits, then runs as usual."""
    history = _History(tmp_path, seed=3)
    source = _source(db_path, history.repo.path)
    source.sync(render=False)
    now = history.times[-1] + timedelta(days=1)
    db = open_database(db_path)
    try:
        waited = evaluate(db, now)
        assert waited.events == 0 and waited.found == ()
        assert outbox.cursor(db.conn, CURSOR) == "", "the pass moved nothing"
    finally:
        db.conn.close()
    source.sync()
    db = open_database(db_path)
    try:
        evaluate(db, now)
        assert outbox.cursor(db.conn, CURSOR) != ""
    finally:
        db.conn.close()


class _ChildKilled(GitSource):
    """The real source, whose render fails as a git child killed by Ctrl-C does (its
    output cut: ValueError) a little before the main thread's handler sets ``stop``."""

    def __init__(self, db: Path | str, repo: Path, stop: threading.Event) -> None:
        super().__init__(db, repo, clock=MonotonicClock(), progress=False)
        self.stop_event = stop

    def _store_desired(self, *args: Any) -> None:
        threading.Timer(0.2, self.stop_event.set).start()
        raise ValueError("SHA is empty")


def test_a_child_killed_by_the_signal_before_stop_is_set_is_a_stop_not_a_failure(
    tmp_path: Path, db_path: Path | str
) -> None:
    history = _History(tmp_path, seed=9)
    stop = threading.Event()
    source = _ChildKilled(db_path, history.repo.path, stop)
    assert source.sync(stop=stop) == 0
    assert stop.is_set()
    # Without the signal it is a failure, raised as it is.
    other = _ChildKilled(db_path, history.repo.path, threading.Event())
    other.stop_event = threading.Event()  # never set by anyone the source waits on
    with pytest.raises(ValueError, match="SHA is empty"):
        other.sync(stop=threading.Event())

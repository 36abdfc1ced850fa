"""One declared object over many commits (``declared_changes``) against whole desired sets.

Property: for any history of a real repository (objects added, changed, moved between
files, declared twice, removed, a force-push), the version ``DesiredState.version_at``
names and the object ``declared`` returns are what decoding the commit's whole set says.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from timetravel.domain.times import to_stored
from timetravel.query.desired import DesiredState
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.store.db import open_database
from timetravel.store.declared import index_existing_sets

from .gitrepo import GitOpsRepo

START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
NAMES = ["api", "worker", "web"]
FILES = ["apps/a.yaml", "apps/b.yaml"]


def config_map(name: str, value: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "payments"},
        "data": {"value": str(value)},
    }


# A commit: for each file, which objects it declares (name -> value), or nothing.
commit = st.fixed_dictionaries(
    {path: st.dictionaries(st.sampled_from(NAMES), st.integers(0, 2), max_size=3) for path in FILES}
)


def _write(repo: GitOpsRepo, files: dict[str, dict[str, int]]) -> None:
    for path, objects in files.items():
        if objects:
            repo.write(path, *(config_map(name, value) for name, value in objects.items()))
        elif (repo.path / path).exists():
            (repo.path / path).unlink()


def _sync(db_path: Path, repo: GitOpsRepo) -> None:
    GitSource(db_path, repo.path, clock=MonotonicClock(), progress=False).sync(live=True)


def _check(db_path: Path, times: list[str]) -> int:
    desired = DesiredState(open_database(db_path, readonly=True))
    assert desired.git.indexed
    checked = 0
    for name in NAMES:
        key = ("", "ConfigMap", "payments", name)
        by_version: dict[Any, Any] = {}
        for at in times:
            whole = desired.merged_at(at)[1].get(key)
            version = desired.version_at(key, at)
            assert version is not None
            found = desired.declared(key, at, version)
            assert (found is None) == (whole is None)
            if whole is not None and found is not None:
                assert (found.obj, found.path) == (whole.obj, whole.path)
            # Equal versions, equal declared objects; and different ones differ.
            seen = (whole.obj, whole.path) if whole is not None else None
            assert by_version.setdefault(version, seen) == seen
            checked += 1
        values = list(by_version.values())
        assert len(values) == len({repr(v) for v in values})
    return checked


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(commit, min_size=1, max_size=7), st.integers(0, 6), st.integers(0, 6))
def test_one_objects_versions_are_the_whole_sets(
    commits: list[dict[str, dict[str, int]]], synced_after: int, reset_to: int
) -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        repo = GitOpsRepo(tmp / "gitops")
        db_path = tmp / "tt.db"
        shas = []
        for i, files in enumerate(commits):
            _write(repo, files)
            repo.write("README.md", {"commit": i})  # every commit has a change
            shas.append(repo.commit(f"commit {i}", START + timedelta(minutes=i)))
            if i == synced_after:
                _sync(db_path, repo)  # a later sync is a second writer: it must continue
        # A force-push back to an earlier commit, then one more commit on top.
        repo.repo.git.reset("--hard", shas[min(reset_to, len(shas) - 1)])
        _write(repo, commits[0])
        repo.write("README.md", {"commit": "after reset"})
        repo.commit("after reset", START + timedelta(hours=1))
        _sync(db_path, repo)
        db = open_database(db_path)
        times = [
            str(row[0])
            for row in db.execute("SELECT observed_at FROM ref_updates ORDER BY observed_at")
        ]
        times.append(to_stored(START - timedelta(minutes=1)))  # before anything
        assert _check(db_path, times) == len(NAMES) * len(times)
        # The migration's index of stored sets is the writers' index.
        written = db.execute("SELECT * FROM declared_changes ORDER BY set_id, rowid").fetchall()
        with db.conn:
            db.execute("DELETE FROM declared_changes")
            index_existing_sets(db)
        rebuilt = db.execute("SELECT * FROM declared_changes ORDER BY set_id, rowid").fetchall()
        assert sorted(rebuilt) == sorted(written)
        db.conn.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_without_the_index_version_at_declines_and_drift_walks_the_sets(tmp_path: Path) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/a.yaml", config_map("api", 1))
    repo.commit("one", START)
    repo.write("apps/a.yaml", config_map("api", 2))
    repo.commit("two", START + timedelta(minutes=1))
    db_path = tmp_path / "tt.db"
    _sync(db_path, repo)
    db = open_database(db_path)
    with db.conn:  # as a database written before m005
        db.execute("DROP TABLE declared_changes")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_declared_changes'")
    db.conn.close()
    # Read as it is (open_database would upgrade it first, see test_segments).
    desired = DesiredState(Database(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)))
    at = to_stored(START + timedelta(minutes=2))
    assert desired.version_at(("", "ConfigMap", "payments", "api"), at) is None
    assert desired.merged_at(at)[1][("", "ConfigMap", "payments", "api")].obj["data"] == {
        "value": "2"
    }
    # Opened for writing, the migration indexes the sets already stored.
    db = open_database(db_path)
    rows = db.execute("SELECT set_id, name, item_hash IS NULL FROM declared_changes").fetchall()
    assert [(name, gone) for _, name, gone in rows] == [("api", 0), ("api", 0)]

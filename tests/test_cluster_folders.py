"""One GitOps repository feeding several clusters, a folder each (``clusters/prod``,
``clusters/staging``): a recorder beside each cluster follows its own folder, and each
cluster's desired state is what its folder declares.

The recorders are the real ``timetravel record`` processes, watching API doubles on
loopback and a real repository, writing one after the other into one store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.times import utc_now
from timetravel.errors import UserError
from timetravel.query.desired import DesiredState
from timetravel.query.moment import build_snapshot
from timetravel.query.screen import ScreenData
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.store.db import open_database
from timetravel.store.gitstore import GitStore
from timetravel.store.reader import Reader

from .apidouble import ApiDouble
from .gitrepo import GitOpsRepo

MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def config(timeout: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api-config", "namespace": "payments"},
        "data": {"TIMEOUT_MS": timeout},
    }


@pytest.fixture
def gitops(tmp_path: Path) -> GitOpsRepo:
    """Three clusters' folders of one repository, each declaring its own api-config."""
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("clusters/prod/api-config.yaml", config("800"))
    repo.write("clusters/staging/api-config.yaml", config("1000"))
    repo.write("clusters/dev/api-config.yaml", config("1"))
    repo.commit("three clusters", MONDAY)
    return repo


@pytest.fixture
def doubles(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A prod and a staging API server, each running its api-config; their kubeconfigs."""
    with ApiDouble() as prod, ApiDouble() as staging:
        prod.create(config("800"))
        staging.create(config("5000"))  # someone raised it by hand: staging drifts
        yield {
            "prod": prod.write_kubeconfig(tmp_path / "prod.kubeconfig", context="prod"),
            "staging": staging.write_kubeconfig(tmp_path / "staging.kubeconfig", context="staging"),
        }


def record_once(db: Path, kubeconfig: Path, folder: Path) -> None:
    """Run ``timetravel record`` for one cluster and its folder until both are in the store."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from timetravel.cli import main; sys.argv[0] = 'timetravel'; main()",
            "record",
            "--db",
            str(db),
            "--kubeconfig",
            str(kubeconfig),
            "--resources",
            "configmaps",
            "--status-every",
            "0",
            "--repo",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if _recorded(db, str(folder)):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert _recorded(db, str(folder)), "the recorder recorded nothing in 60 s"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _recorded(db_path: Path, folder: str) -> bool:
    """The folder's repository has a desired set, and its cluster an api-config."""
    if not db_path.exists():
        return False
    try:
        db = open_database(db_path, readonly=True)
    except UserError:
        return False
    try:
        store = GitStore(db)
        repo = next((r for r in store.repos() if r.path == folder), None)
        if repo is None or repo.cluster is None:
            return False
        last = store.last_ref_update(repo.id)
        if last is None or store.desired_set(repo.id, last.sha) is None:
            return False
        now = Reader(db).state_at("9999-12-31T23:59:59.999999Z", cluster=repo.cluster)
        return any(r.key.name == "api-config" for r in now)
    except Exception:  # the recorder is still making the database
        return False
    finally:
        db.conn.close()


def test_each_recorder_follows_its_clusters_folder(
    tmp_path: Path, gitops: GitOpsRepo, doubles: dict[str, Path]
) -> None:
    db = tmp_path / "team.db"
    folders = {name: (gitops.path / "clusters" / name).resolve() for name in ("prod", "staging")}
    for name in ("prod", "staging"):
        record_once(db, doubles[name], folders[name])

    store = open_database(db, readonly=True)
    repos = {r.path: r.cluster for r in GitStore(store).repos()}
    assert repos == {str(folders["prod"]): "prod", str(folders["staging"]): "staging"}
    now = utc_now() + timedelta(seconds=1)
    for name, declared, state in (("prod", "800", "in_sync"), ("staging", "1000", "drifted")):
        snapshot = build_snapshot(store, now, cluster=name)
        assert [r.path for r in snapshot.repos] == [str(folders[name])]
        (api,) = [r for r in snapshot.resources if r.key.name == "api-config"]
        assert api.key.cluster == name
        assert api.desired is not None and api.desired["data"] == {"TIMEOUT_MS": declared}
        assert api.source == {
            "repo": str(folders[name]),
            "path": f"clusters/{name}/api-config.yaml",
        }
        assert api.state == state
        # The screen reads the same: its cluster's folder, and nothing of dev's.
        data = ScreenData(db, cluster=name)
        rows = data.resources_at(now).rows
        assert [(r.key.cluster, r.key.name, r.state) for r in rows] == [(name, "api-config", state)]
        assert data.resources_at(now).repos == (f"{name}@main",)
    store.conn.close()


def test_a_folder_declares_only_what_is_in_it(tmp_path: Path, gitops: GitOpsRepo) -> None:
    """The library path: a folder followed is a repository of its own in the store."""
    db = tmp_path / "tt.db"
    for name in ("prod", "staging"):
        GitSource(
            db,
            gitops.path / "clusters" / name,
            cluster=name,
            clock=MonotonicClock(),
            progress=False,
        ).sync()
    store = open_database(db, readonly=True)
    git = GitStore(store)
    for repo in git.repos():
        last = git.last_ref_update(repo.id)
        assert last is not None
        found = git.desired_set(repo.id, last.sha)
        assert found is not None
        assert [item["path"] for item in found.objects] == [
            f"clusters/{repo.cluster}/api-config.yaml"
        ]
    # A repository bound to no cluster feeds every one; one bound to another feeds none.
    GitSource(db, gitops.path / "clusters" / "dev", clock=MonotonicClock(), progress=False).sync()
    desired = DesiredState(store)
    feeding_prod = [Path(r.path).name for r in desired.repos("prod")]
    assert feeding_prod == ["prod", "dev"]
    assert [Path(r.path).name for r in desired.repos(None)] == ["prod", "staging", "dev"]
    store.conn.close()
    with pytest.raises(UserError, match="not a git repository"):
        GitSource(db, tmp_path / "elsewhere", clock=MonotonicClock())

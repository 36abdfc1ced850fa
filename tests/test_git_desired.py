"""Desired state from real git repositories, and drift against recorded actual state."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import git
import pytest
import yaml

from timetravel.domain.times import to_stored
from timetravel.errors import UserError
from timetravel.export.json_export import render_json
from timetravel.query.desired import DesiredState
from timetravel.query.moment import build_snapshot
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.events import import_events
from timetravel.recorder.git import GitSource
from timetravel.sources.desired import first_parent_history
from timetravel.store.db import open_database

from .conftest import SHARED, deployment
from .gitrepo import GitOpsRepo


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every test here runs against both engines (a file, a PostgreSQL database)."""
    return any_db


MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def manifest(
    name: str = "api",
    image: str = "registry.example.com/payments/api:1.0.0",
    replicas: int | None = 2,
    env: dict[str, str] | None = None,
) -> dict:
    obj = deployment(name, image=image, env=env or {"LOG_LEVEL": "info"})
    meta = obj["metadata"]
    obj["metadata"] = {
        "name": meta["name"],
        "namespace": meta["namespace"],
        "labels": meta["labels"],
    }
    del obj["status"]
    if replicas is None:
        del obj["spec"]["replicas"]
    else:
        obj["spec"]["replicas"] = replicas
    return obj


def source(db_path: Path, repo_path: Path, **kw) -> GitSource:
    return GitSource(db_path, repo_path, clock=MonotonicClock(), progress=False, **kw)


def test_backfill_records_first_parent_history_at_committer_time(tmp_path, db_path) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/api.yaml", manifest(image="api:1.0"))
    first = repo.commit("api 1.0", MONDAY)
    repo.write("apps/api.yaml", manifest(image="api:1.1"))
    second = repo.commit("api 1.1", MONDAY + timedelta(days=1))
    assert source(db_path, repo.path).sync() == 2
    db = open_database(db_path)
    desired = DesiredState(db)
    sides = desired.at(to_stored(MONDAY + timedelta(hours=1)))
    assert sides[0].ref.sha == first and sides[0].ref.backfilled
    obj = next(iter(sides[0].objects.values())).obj
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "api:1.0"
    later = desired.at(to_stored(MONDAY + timedelta(days=2)))[0]
    assert later.ref.sha == second
    assert desired.at(to_stored(MONDAY - timedelta(hours=1)))[0].ref is None
    assert source(db_path, repo.path).sync() == 0, "nothing new: nothing recorded twice"


def _ref_updates(db_path: Path) -> int:
    """How many ref updates are recorded (0 while the database is still being made)."""
    try:
        db = open_database(db_path, readonly=True)
    except UserError:
        return 0
    try:
        return int(db.execute("SELECT count(*) FROM ref_updates").fetchone()[0])
    except sqlite3.OperationalError:  # its tables are not made yet
        return 0
    finally:
        db.conn.close()


def test_new_commit_is_seen_live_within_seconds(tmp_path, db_path) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/api.yaml", manifest())
    repo.commit("initial", MONDAY)
    git_source = source(db_path, repo.path, poll_interval=0.5)
    stop = threading.Event()
    thread = threading.Thread(target=git_source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        # The backfill has recorded the first commit: what comes next is seen live.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _ref_updates(db_path):
            time.sleep(0.05)
        repo.write("apps/api.yaml", manifest(image="api:2.0"))
        sha = repo.commit("api 2.0", MONDAY + timedelta(days=1))
        seen_by = time.monotonic() + 10
        db = open_database(db_path)
        while time.monotonic() < seen_by:
            rows = db.execute("SELECT sha, backfilled FROM ref_updates ORDER BY id").fetchall()
            if rows[-1][0] == sha:
                break
            time.sleep(0.1)
        assert rows[-1] == (sha, 0), "a move seen live is not backfilled"
    finally:
        stop.set()
        thread.join(timeout=10)


def test_force_push_is_recorded_and_old_commits_stay(tmp_path, db_path) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/api.yaml", manifest())
    base = repo.commit("initial", MONDAY)
    repo.write("apps/api.yaml", manifest(image="api:bad"))
    bad = repo.commit("bad", MONDAY + timedelta(hours=1))
    source(db_path, repo.path).sync()
    repo.repo.git.reset("--hard", base)
    repo.write("apps/api.yaml", manifest(image="api:good"))
    good = repo.commit("good", MONDAY + timedelta(hours=2))
    source(db_path, repo.path).sync(live=True)
    db = open_database(db_path)
    rows = db.execute("SELECT sha, previous_sha, forced FROM ref_updates ORDER BY id").fetchall()
    assert rows[-1] == (good, bad, 1)
    assert db.execute("SELECT count(*) FROM commits WHERE sha = ?", [bad]).fetchone()[0] == 1


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    source_bundle = SHARED / "testdata/gitops/argocd-example-apps.bundle"
    if not source_bundle.exists():
        pytest.skip(f"{source_bundle} is not there: the shared test data lies beside the checkout")
    target = tmp_path_factory.mktemp("aea") / "argocd-example-apps"
    git.Repo.clone_from(str(source_bundle), target, branch="master")
    return target


def test_the_real_gitops_history_backfills_and_matches_git_show(bundle, tmp_path) -> None:
    db_path = tmp_path / "aea.db"
    recorded = source(db_path, bundle).sync()
    history = first_parent_history(git.Repo(bundle), "master")
    assert recorded == len(history) == 52
    db = open_database(db_path)
    desired = DesiredState(db)
    path = "guestbook/guestbook-ui-deployment.yaml"
    checked = 0
    for info in history[::7]:
        at = to_stored(info.committed_at + timedelta(seconds=1))
        side = desired.at(at)[0]
        assert side.ref.sha == info.sha
        shown = subprocess.run(
            ["git", "-C", str(bundle), "show", f"{info.sha}:{path}"],
            capture_output=True,
            text=True,
            check=False,
        )
        ours = [o for o in side.objects.values() if o.path == path]
        if shown.returncode != 0:
            assert ours == []
            continue
        expected = yaml.safe_load(shown.stdout)
        got = ours[0].obj
        assert got["spec"] == expected["spec"]
        assert got["metadata"]["name"] == expected["metadata"]["name"]
        checked += 1
    assert checked >= 3
    head = desired.at(to_stored(history[-1].committed_at + timedelta(seconds=1)))[0]
    helm_errors = [e for e in head.errors if e["path"].startswith("helm-guestbook")]
    if shutil.which("helm") is None:
        assert helm_errors and "helm" in helm_errors[0]["message"]
    if shutil.which("kubectl"):
        names = {o.obj["metadata"]["name"] for o in head.objects.values()}
        assert "pre-post-sync-kustomize-guestbook-ui" in names
    snapshot = json.loads(
        render_json(build_snapshot(db, history[-1].committed_at + timedelta(seconds=1)))
    )
    assert any(e["kind"] == "manifest" for e in snapshot["errors"])
    assert snapshot["repos"][0]["commit"] == history[-1].sha


def drift_setup(tmp_path: Path, db_path: Path) -> tuple:
    """git declares api, worker (replicas left to an HPA) and cleanup; the cluster differs."""
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/api.yaml", manifest("api"))
    repo.write("apps/worker.yaml", manifest("worker", replicas=None))
    repo.write("apps/cleanup.yaml", manifest("cleanup"))
    repo.write("apps/gone.yaml", manifest("gone"))
    repo.commit("apps", MONDAY)
    repo.remove("apps/cleanup.yaml")
    repo.commit("retire cleanup", MONDAY + timedelta(hours=2))
    source(db_path, repo.path).sync()

    def live(name, **kw):
        obj = deployment(name, **kw)
        spec = obj["spec"]["template"]["spec"]
        # what the API server defaults on every Deployment
        spec.update(
            dnsPolicy="ClusterFirst",
            restartPolicy="Always",
            schedulerName="default-scheduler",
            securityContext={},
            terminationGracePeriodSeconds=30,
        )
        spec["containers"][0].update(
            terminationMessagePath="/dev/termination-log",
            terminationMessagePolicy="File",
            imagePullPolicy="IfNotPresent",
        )
        obj["spec"].update(progressDeadlineSeconds=600, revisionHistoryLimit=10)
        obj["metadata"]["managedFields"] = [
            {
                "manager": "argocd-controller",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "time": "2026-11-16T09:00:05Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:spec": {
                        "f:template": {
                            "f:spec": {
                                "f:containers": {
                                    f'k:{{"name":"{name}"}}': {"f:image": {}, "f:env": {}}
                                }
                            }
                        }
                    }
                },
            }
        ]
        return obj

    api = live("api", uid="u-api")
    api_edited = live("api", uid="u-api", env={"LOG_LEVEL": "info", "DEBUG": "true"})
    api_edited["metadata"]["managedFields"].append(
        {
            "manager": "kubectl-edit",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": "2026-11-16T12:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {
                    "f:template": {
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"api"}': {
                                    "f:env": {
                                        'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}}
                                    }
                                }
                            }
                        }
                    }
                }
            },
        }
    )
    worker = live("worker", uid="u-worker", replicas=7)
    worker["metadata"]["managedFields"].append(
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": "2026-11-16T10:00:00Z",
            "fieldsType": "FieldsV1",
            "subresource": "scale",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    )
    cleanup = live("cleanup", uid="u-cleanup")
    gone = live("gone", uid="u-gone")
    events = [
        ("ADDED", api, "2026-11-16T09:00:10Z"),
        ("ADDED", worker, "2026-11-16T09:00:10Z"),
        ("ADDED", cleanup, "2026-11-16T09:00:10Z"),
        ("ADDED", gone, "2026-11-16T09:00:10Z"),
        ("MODIFIED", api_edited, "2026-11-16T12:00:00Z"),
        ("DELETED", gone, "2026-11-16T13:00:00Z"),
    ]
    db = open_database(db_path)
    import_events(
        db,
        [json.dumps({"type": t, "object": o, "observed_at": at}) for t, o, at in events],
        cluster="prod",
    )
    return db


def states_at(db, at: datetime) -> dict[str, dict]:
    snapshot = json.loads(render_json(build_snapshot(db, at)))
    return {r["name"]: r for r in snapshot["resources"]}


def test_drift_cases(tmp_path, db_path) -> None:
    db = drift_setup(tmp_path, db_path)
    morning = states_at(db, MONDAY + timedelta(hours=1))
    assert morning["api"]["state"] == "in_sync", morning["api"]["diff"]  # defaults are not drift
    assert morning["worker"]["state"] == "in_sync"  # replicas owned by the autoscaler
    assert morning["cleanup"]["state"] == "in_sync"
    assert morning["gone"]["state"] == "in_sync"
    noon = states_at(db, MONDAY + timedelta(hours=3, minutes=30))
    assert noon["api"]["state"] == "drifted"
    assert [d["path"] for d in noon["api"]["diff"]] == [
        "spec.template.spec.containers[api].env[DEBUG]"
    ]
    assert noon["cleanup"]["state"] == "unmanaged", "deleted from git: no longer desired"
    afternoon = states_at(db, MONDAY + timedelta(hours=4, minutes=30))
    assert afternoon["gone"]["state"] == "missing", "deleted from the cluster"
    assert afternoon["gone"]["actual"] is None
    assert afternoon["gone"]["last_change"]["type"] == "deleted"


def test_quantities_are_compared_by_value(tmp_path, db_path) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    declared = manifest("api")
    declared["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "0.5", "memory": "268435456"}
    }
    declared["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "8080"}]
    repo.write("api.yaml", declared)
    repo.commit("api", MONDAY)
    source(db_path, repo.path).sync()
    db = open_database(db_path)
    live = deployment("api")  # cpu 500m, memory 256Mi, containerPort 8080
    import_events(
        db,
        [json.dumps({"type": "ADDED", "object": live, "observed_at": "2026-11-16T09:30:00Z"})],
        cluster="prod",
    )
    assert states_at(db, MONDAY + timedelta(hours=1))["api"]["state"] == "in_sync"

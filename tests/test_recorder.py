"""The recorder over HTTP with the real kubernetes client, against the API double."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from timetravel.errors import UserError
from timetravel.sources.kube import Kube, connect
from timetravel.store.db import open_database

from .apidouble import ApiDouble
from .conftest import deployment
from .recording import configmap, count, make_recorder, recording, revisions, stored, wait_for


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every recorder test runs against both engines (a file, a PostgreSQL database)."""
    return any_db


@pytest.fixture
def double():
    with ApiDouble(bookmark_interval=0.1) as d:
        yield d


def for_double(obj: dict) -> dict:
    """Strip what the API server sets itself, so the double can create the object."""
    meta = {
        k: v
        for k, v in obj["metadata"].items()
        if k not in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")
    }
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = meta
    return out


def changes_of(db_path: Path, name: str) -> list[tuple[str, int]]:
    return [(change, inferred) for _, _, n, change, inferred in revisions(db_path) if n == name]


def test_create_update_delete_across_kinds_and_namespaces(double, tmp_path, db_path) -> None:
    double.create(configmap("settings", "payments"))
    with recording(double, db_path, tmp_path) as recorder:
        wait_for(
            lambda: ("ConfigMap", "payments", "settings", "created", 1) in revisions(db_path),
            what="initial list",
        )
        double.create(for_double(deployment("api", "checkout")), manager="argocd-controller")
        double.patch(
            "v1",
            "ConfigMap",
            "payments",
            "settings",
            lambda o: o["data"].update(k="changed"),
            manager="kubectl-edit",
        )
        double.create(configmap("flags", "frontend"))
        double.delete("v1", "ConfigMap", "frontend", "flags")
        wait_for(
            lambda: changes_of(db_path, "flags") == [("created", 0), ("deleted", 0)],
            what="flags create+delete",
        )
        wait_for(lambda: changes_of(db_path, "api") == [("created", 0)], what="deployment")
        wait_for(
            lambda: changes_of(db_path, "settings") == [("created", 1), ("updated", 0)],
            what="settings edit",
        )
        assert recorder.stats.errors == 0
    db = open_database(db_path, readonly=True)
    managers = [r.managers for r in stored(db)]
    db.conn.close()
    assert sum("kubectl-edit" in m for m in managers) == 1, managers


def test_ready_once_every_type_has_listed(double, tmp_path, db_path) -> None:
    with recording(double, db_path, tmp_path, listed=False) as recorder:
        assert recorder.ready.wait(20)
        listed = {r.path for r in double.requests if r.verb == "list"}
        assert recorder.stats.types > 5
        assert len(listed) == recorder.stats.types


def test_status_says_listing_until_every_type_has_listed(double, tmp_path, db_path) -> None:
    lines = io.StringIO()
    with recording(double, db_path, tmp_path, status_stream=lines, status_every=0.05) as rec:
        wait_for(lambda: "recording" in lines.getvalue(), what="a status line once listed")
        assert rec.ready.is_set()
    said = [
        "listing" if "listing (" in line else "recording" for line in lines.getvalue().splitlines()
    ]
    assert said == sorted(said), "never listing again once recording"
    unstarted = make_recorder(double, db_path, tmp_path, status_stream=io.StringIO())
    unstarted.status_every = 1
    unstarted._status()
    assert "discovering" in unstarted.status_stream.getvalue()


def test_crd_installed_later_is_picked_up(double, tmp_path, db_path) -> None:
    with recording(double, db_path, tmp_path, rediscover_every=0.2):
        wait_for(lambda: count(db_path, "SELECT count(*) FROM recorder_state") == 1, what="start")
        double.add_crd("argoproj.io", "v1alpha1", "Application", "applications")
        time.sleep(0.8)  # the next discovery starts a reflector for the new type
        double.create(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": "payments", "namespace": "argocd"},
                "spec": {"destination": {"namespace": "payments"}},
            },
            manager="argocd-server",
        )
        wait_for(
            lambda: any(r[0] == "Application" for r in revisions(db_path)), what="the Application"
        )


def test_compaction_while_watching_relists_and_records_a_gap(double, tmp_path, db_path) -> None:
    for i in range(5):
        double.create(configmap(f"cm{i}"))
    with recording(double, db_path, tmp_path, read_timeout=1.0) as recorder:
        wait_for(lambda: len(revisions(db_path)) >= 5, what="initial list")
        double.stall = True  # the watch goes silent; changes pile up unseen
        double.patch(
            "v1",
            "ConfigMap",
            "payments",
            "cm1",
            lambda o: o["data"].update(k="x"),
            manager="kubectl-edit",
        )
        double.delete("v1", "ConfigMap", "payments", "cm2")
        double.compact()
        double.drop_watches()
        double.stall = False
        wait_for(
            lambda: changes_of(db_path, "cm2") == [("created", 1), ("deleted", 1)],
            what="inferred delete",
        )
        wait_for(
            lambda: changes_of(db_path, "cm1") == [("created", 1), ("updated", 1)],
            what="inferred update",
        )
        assert recorder.stats.relists >= 1
    gaps = count(db_path, "SELECT count(*) FROM gaps WHERE reason LIKE 'watch expired%'")
    assert gaps >= 1


def test_dropped_connections_lose_and_duplicate_nothing(double, tmp_path, db_path) -> None:
    # A real list never returns resourceVersion 0; one earlier write makes the double alike.
    double.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})
    with recording(double, db_path, tmp_path) as recorder:
        # Every reflector watching, so the drops below cut connections that exist.
        wait_for(lambda: double.open_watches() >= recorder.stats.types, what="the watches")
        for i in range(60):
            double.create(configmap(f"cm{i}"))
            if i % 15 == 7:
                double.drop_watches()
        for i in range(0, 60, 2):
            double.patch(
                "v1",
                "ConfigMap",
                "payments",
                f"cm{i}",
                lambda o: o["data"].update(k="v2"),
                manager="kubectl-edit",
            )
        wait_for(lambda: len(revisions(db_path)) >= 91, what="all events")
        time.sleep(0.5)
        assert recorder.stats.errors >= 1, "the drops must have been noticed"
    rows = revisions(db_path)
    assert len(rows) == 91
    for i in range(60):
        expected = [("created", 0), ("updated", 0)] if i % 2 == 0 else [("created", 0)]
        assert changes_of(db_path, f"cm{i}") == expected


def test_server_replaying_everything_creates_no_duplicates(double, tmp_path, db_path) -> None:
    for i in range(10):
        double.create(configmap(f"cm{i}"))
    double.ignore_resource_version = True
    with recording(double, db_path, tmp_path):
        wait_for(lambda: len(revisions(db_path)) >= 10, what="list")
        for _ in range(3):
            double.drop_watches()
            time.sleep(0.3)
        double.patch(
            "v1",
            "ConfigMap",
            "payments",
            "cm3",
            lambda o: o["data"].update(k="z"),
            manager="kubectl-edit",
        )
        wait_for(lambda: len(changes_of(db_path, "cm3")) == 2, what="the edit")
        time.sleep(0.5)
    assert len(revisions(db_path)) == 11


def test_only_get_list_watch_are_used(double, tmp_path, db_path) -> None:
    double.create(configmap("a"))
    with recording(double, db_path, tmp_path):
        wait_for(lambda: len(revisions(db_path)) >= 1, what="list")
        double.patch(
            "v1",
            "ConfigMap",
            "payments",
            "a",
            lambda o: o["data"].update(k="b"),
            manager="kubectl-edit",
        )
        wait_for(lambda: len(revisions(db_path)) >= 2, what="watch")
    verbs = {r.verb for r in double.requests}
    assert verbs <= {"get", "list", "watch"}
    assert {"list", "watch"} <= verbs


def test_unreachable_and_unauthorized_are_user_errors(double, tmp_path, db_path) -> None:
    kubeconfig = double.write_kubeconfig(tmp_path / "kc")
    text = kubeconfig.read_text().replace(double.token, "wrong-token")
    bad = tmp_path / "bad-kc"
    bad.write_text(text)
    recorder = make_recorder(double, db_path, tmp_path)
    recorder.kube = Kube(connect(str(bad)))
    with pytest.raises(UserError, match="unauthorized"):
        recorder.run()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "record",
            "--db",
            str(db_path),
            "--kubeconfig",
            str(tmp_path / "missing"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "no such kubeconfig" in result.stderr
    assert "Traceback" not in result.stderr


def start_cli_recorder(double: ApiDouble, db_path: Path, tmp_path: Path) -> subprocess.Popen:
    kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "timetravel",
            "record",
            "--db",
            str(db_path),
            "--kubeconfig",
            str(kubeconfig),
            "--status-every",
            "0",
            "--read-timeout",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigterm_flushes_and_exits_0(double, tmp_path, db_path) -> None:
    double.create(configmap("a"))
    proc = start_cli_recorder(double, db_path, tmp_path)
    try:
        wait_for(
            lambda: count(db_path, "SELECT count(*) FROM revisions") >= 1,
            what="first revision",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert count(db_path, "SELECT count(*) FROM recorder_state WHERE stopped_at IS NOT NULL") == 1


def test_sigkill_then_restart_records_downtime_as_inferred_with_a_gap(
    double, tmp_path, db_path
) -> None:
    for i in range(4):
        double.create(configmap(f"cm{i}"))
    proc = start_cli_recorder(double, db_path, tmp_path)
    try:
        wait_for(
            lambda: count(db_path, "SELECT count(*) FROM revisions") >= 4,
            what="initial list",
        )
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    # While the recorder is down: an edit, a delete, a create, then history is compacted.
    double.patch(
        "v1",
        "ConfigMap",
        "payments",
        "cm0",
        lambda o: o["data"].update(k="down"),
        manager="kubectl-edit",
    )
    double.delete("v1", "ConfigMap", "payments", "cm1")
    double.create(configmap("new"))
    double.compact()
    before = revisions(db_path)
    with recording(double, db_path, tmp_path):
        wait_for(lambda: changes_of(db_path, "new") == [("created", 1)], what="relist")
        wait_for(lambda: changes_of(db_path, "cm1")[-1:] == [("deleted", 1)], what="delete")
    after = revisions(db_path)
    assert after[: len(before)] == before
    assert changes_of(db_path, "cm0") == [("created", 1), ("updated", 1)]
    assert changes_of(db_path, "cm2") == [("created", 1)], "unchanged objects are not duplicated"
    gaps = count(db_path, "SELECT count(*) FROM gaps WHERE reason LIKE 'recorder ended%'")
    assert gaps == 1

"""Argo CD's ``compare-options: IgnoreExtraneous``: an object live in the cluster that git
does not declare is expected. It is never drift, and the rule that says so is kept on the
resource (shown as ignored), whether the annotation is on the object or on the Application
tracking it; an extraneous object without it stays a plain unmanaged one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from timetravel.demo.objects import configmap, deployment
from timetravel.domain.model import Observation
from timetravel.domain.times import to_stored
from timetravel.query.moment import build_snapshot
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter

from .gitrepo import GitOpsRepo

T0 = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)
OPTIONS = "argocd.argoproj.io/compare-options"


def tracked(obj: dict[str, Any], **annotations: str) -> dict[str, Any]:
    meta = obj["metadata"]
    meta["labels"] = {**meta.get("labels", {}), "app.kubernetes.io/instance": "payments"}
    if annotations:
        meta["annotations"] = {**meta.get("annotations", {}), **annotations}
    return obj


def application(**annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "payments", "namespace": "argocd", "annotations": annotations},
        "spec": {"destination": {"namespace": "payments"}},
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "tt.db"
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("payments/api.yaml", tracked(deployment("payments", "api", "api:1.0", 3)))
    repo.commit("api", T0 - timedelta(days=1))
    GitSource(db, repo.path, clock=MonotonicClock(), progress=False).sync()
    return db


def resources(store: Path, observations: list[Observation]) -> dict[str, Any]:
    db = open_database(store)
    try:
        RevisionWriter(db).write(observations)
        snapshot = build_snapshot(db, T0 + timedelta(minutes=5))
    finally:
        db.conn.close()
    return {f"{r.key.kind}/{r.key.name}": r for r in snapshot.resources}


def seen(obj: dict[str, Any]) -> Observation:
    return Observation("default", "ADDED", obj, to_stored(T0))


def test_the_annotation_on_the_object_makes_it_ignored_not_drift(store: Path) -> None:
    extra = tracked(
        configmap("payments", "generated", {"a": "1"}),
        **{OPTIONS: "ServerSideDiff=true, IgnoreExtraneous"},
    )
    plain = tracked(configmap("payments", "leftover", {"a": "1"}))
    found = resources(
        store,
        [seen(tracked(deployment("payments", "api", "api:1.0", 3))), seen(extra), seen(plain)],
    )
    generated = found["ConfigMap/generated"]
    assert generated.state == "unmanaged" and generated.diff == ()
    (why,) = generated.ignored
    assert why["path"] == "(not in git)"
    assert why["ignored_by"] == f"annotation {OPTIONS}: IgnoreExtraneous"
    assert generated.to_json()["ignored"] == [why]
    # Without the option: unmanaged, nothing ignored.
    assert found["ConfigMap/leftover"].state == "unmanaged"
    assert found["ConfigMap/leftover"].ignored == ()
    assert found["Deployment/api"].state == "in_sync"


def test_the_option_on_the_application_covers_what_it_tracks(store: Path) -> None:
    found = resources(
        store,
        [
            seen(application(**{OPTIONS: "IgnoreExtraneous"})),
            seen(tracked(configmap("payments", "generated", {"a": "1"}))),
            seen(configmap("payments", "not-tracked", {"a": "1"})),
        ],
    )
    (why,) = found["ConfigMap/generated"].ignored
    assert why["ignored_by"] == f"Application payments: {OPTIONS}: IgnoreExtraneous"
    assert found["ConfigMap/not-tracked"].ignored == ()
    assert found["ConfigMap/generated"].state == "unmanaged"

"""Ignore rules at work: an Argo CD Application's ignoreDifferences, a timetravel.toml rule
and Flux's ssa: Ignore turn expected differences into ignored ones, shown with their rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from timetravel.demo.objects import deployment
from timetravel.domain.ignore import rules_from_config
from timetravel.domain.model import Observation
from timetravel.domain.times import to_stored
from timetravel.query.moment import build_snapshot
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter

from .gitrepo import GitOpsRepo

T0 = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)


def application(ignore: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "payments", "namespace": "argocd"},
        "spec": {"destination": {"namespace": "payments"}, "ignoreDifferences": ignore},
    }


def live(replicas: int, image: str, **annotations: str) -> dict[str, Any]:
    obj = deployment("payments", "api", image, replicas)
    obj["metadata"]["labels"] = {
        **obj["metadata"].get("labels", {}),
        "app.kubernetes.io/instance": "payments",
    }
    if annotations:
        obj["metadata"]["annotations"] = {**obj["metadata"].get("annotations", {}), **annotations}
    return obj


@pytest.fixture
def store(tmp_path: Path, any_db: Path | str) -> Path | str:
    repo = GitOpsRepo(tmp_path / "gitops")
    declared = live(3, "api:1.0")
    repo.write("payments/api.yaml", declared)
    repo.commit("api", T0 - timedelta(days=1))
    GitSource(any_db, repo.path, clock=MonotonicClock(), progress=False).sync()
    return any_db


def snapshot_of(store: Path | str, observations: list[Observation], **options: Any) -> Any:
    db = open_database(store)
    try:
        RevisionWriter(db).write(observations)
        snapshot = build_snapshot(db, T0 + timedelta(minutes=10), **options)
    finally:
        db.conn.close()
    return next(r for r in snapshot.resources if r.key.kind == "Deployment"), snapshot


def test_an_application_ignoring_replicas_keeps_an_autoscaled_deployment_in_sync(
    store: Path | str,
) -> None:
    app = application([{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}])
    api, _ = snapshot_of(
        store,
        [
            Observation("default", "ADDED", app, to_stored(T0)),
            Observation("default", "ADDED", live(7, "api:1.0"), to_stored(T0)),
        ],
    )
    assert api.state == "in_sync" and api.diff == ()
    (ignored,) = api.ignored
    assert (ignored["path"], ignored["desired"], ignored["actual"]) == ("spec.replicas", 3, 7)
    assert ignored["ignored_by"] == "Application argocd/payments: /spec/replicas"
    assert api.to_json()["ignored"] == [ignored]


def test_what_no_rule_covers_is_still_drift(store: Path | str) -> None:
    app = application([{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}])
    api, snapshot = snapshot_of(
        store,
        [
            Observation("default", "ADDED", app, to_stored(T0)),
            Observation("default", "ADDED", live(7, "api:2.0"), to_stored(T0)),
        ],
    )
    assert api.state == "drifted"
    assert [d["path"] for d in api.diff] == ["spec.template.spec.containers[api].image"]
    assert [d["path"] for d in api.ignored] == ["spec.replicas"]
    from timetravel.export.markdown import render_markdown

    report = render_markdown(snapshot).decode()
    assert (
        "1 difference from git ignored by a rule: `spec.replicas` (Application argocd/payments: /spec/replicas)"
        in report
    )


def test_configured_rules_and_flux_annotations(store: Path | str) -> None:
    rules = rules_from_config(
        {
            "ignore": [
                {
                    "kind": "Deployment",
                    "namespace": "pay*",
                    "paths": ["spec.template.spec.containers[*].image"],
                }
            ]
        }
    )
    api, _ = snapshot_of(
        store, [Observation("default", "ADDED", live(3, "api:2.0"), to_stored(T0))], ignore=rules
    )
    assert api.state == "in_sync" and api.ignored[0]["ignored_by"].startswith("timetravel.toml:")
    flux, _ = snapshot_of(
        store,
        [
            Observation(
                "default",
                "MODIFIED",
                live(9, "api:3.0", **{"kustomize.toolkit.fluxcd.io/ssa": "Ignore"}),
                to_stored(T0 + timedelta(minutes=1)),
            )
        ],
    )
    assert flux.state == "in_sync"
    assert {d["path"] for d in flux.ignored} == {
        'metadata.annotations["kustomize.toolkit.fluxcd.io/ssa"]',
        "spec.replicas",
        "spec.template.spec.containers[api].image",
    }


def test_a_rule_not_understood_is_an_error_in_the_snapshot(store: Path | str) -> None:
    app = application([{"group": "apps", "kind": "Deployment", "jqPathExpressions": ["reduce ."]}])
    _, snapshot = snapshot_of(store, [Observation("default", "ADDED", app, to_stored(T0))])
    assert {
        "kind": "ignore-rule",
        "message": "Application argocd/payments: ignoreDifferences 1: jq path 'reduce .' not understood",
    } in snapshot.errors

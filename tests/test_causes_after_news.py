"""The causes the screen weighs after news (ScreenData.causes, CauseFinder.forget_from).

A recorder's news is mostly revisions of now: the cause finder the screen keeps (runs,
audit events and git read a day at a time, every change explained once) stays, with what
those revisions can change forgotten. A run reported, an audit event, a ref move or a
run-describing object's revision makes what it weighs differ: every detail after such
news is the one a fresh screen shows.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.demo_store import DEMO_NOW
from tests.recording import configmap
from timetravel.demo.build import Demo
from timetravel.domain.audit import AuditEvent, read_audit
from timetravel.domain.model import Observation, ResourceKey
from timetravel.domain.times import to_stored
from timetravel.query.causes import CauseFinder
from timetravel.query.screen import ScreenData
from timetravel.store.db import open_database
from timetravel.store.runs import insert_audit_events
from timetravel.store.writer import RevisionWriter

Change = tuple[str, str, str | None, str | None]


def changes_of(data: ScreenData, key: ResourceKey) -> list[Change]:
    detail = data.detail(key, DEMO_NOW, drift=False)
    return [(c.at, c.cause, c.actor, c.evidence) for c in detail.changes]


def fresh(store: Path, key: ResourceKey) -> list[Change]:
    return changes_of(ScreenData(store, now=DEMO_NOW), key)


def audit_line(key: ResourceKey, at: datetime, user: str, manager: str) -> str:
    """A kubectl request the API server logged about ``key``'s Deployment."""
    uri = f"/apis/apps/v1/namespaces/{key.namespace}/deployments/{key.name}"
    return json.dumps(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": f"id-{user}-{at.timestamp()}",
            "stage": "ResponseComplete",
            "requestURI": f"{uri}/scale?fieldManager={manager}",
            "verb": "patch",
            "user": {"username": user},
            "objectRef": {
                "resource": "deployments",
                "namespace": key.namespace,
                "name": key.name,
                "apiGroup": "apps",
                "apiVersion": "v1",
                "subresource": "scale",
            },
            "responseStatus": {"code": 200},
            "stageTimestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    )


def test_the_causes_after_news_are_a_fresh_screens(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "demo.db"
    shutil.copy(demo.db_path, store)
    data = ScreenData(store, now=DEMO_NOW)
    # The demo's checkout Deployment: scaled by hand on the 18th, by whom not known.
    key = next(
        r.key
        for r in data.resources_at(DEMO_NOW).rows
        if (r.key.kind, r.key.name) == ("Deployment", "checkout")
    )
    before = changes_of(data, key)
    scaled = next(at for at, cause, _, _ in before if cause == "manual")
    finder = data.causes()
    db = open_database(store)
    writer = RevisionWriter(db)
    try:
        # Revisions of now: the finder stays, and explains as a fresh one does.
        writer.write([Observation(key.cluster, "ADDED", configmap("news"), to_stored(DEMO_NOW))])
        data.invalidate()
        assert changes_of(data, key) == fresh(store, key) == before
        assert data.causes() is finder
        # The API server's log of that scale imported: who did it is weighed.
        at = datetime.fromisoformat(scaled.replace("Z", "+00:00"))
        line = audit_line(key, at, "oncall@acme.io", "kubectl-scale")
        insert_audit_events(db, [e for e in read_audit([line]) if isinstance(e, AuditEvent)])
        data.invalidate()
        after = changes_of(data, key)
        assert after == fresh(store, key)
        assert after != before  # the user is named
        assert data.causes() is not finder
        # A run-describing object's revision in the past (an Argo CD Application): the
        # runs seen in the cluster move; the same as a fresh screen.
        application = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "late-app", "namespace": "argocd", "uid": "uid-late-app"},
            "spec": {"project": "default"},
            "status": {"operationState": {"phase": "Succeeded", "startedAt": scaled}},
        }
        writer.write([Observation(key.cluster, "ADDED", application, to_stored(at))])
        data.invalidate()
        assert changes_of(data, key) == fresh(store, key)
    finally:
        db.conn.close()


def synced_application(name: str, synced: datetime) -> dict[str, Any]:
    """An Argo CD Application whose last sync started at ``synced``."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"destination": {"namespace": "payments"}},
        "status": {
            "operationState": {
                "phase": "Succeeded",
                "startedAt": synced.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "finishedAt": (synced + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        },
    }


def test_a_finder_that_forgot_sees_the_runs_written_since(demo: Demo, tmp_path: Path) -> None:
    """A sync of an Application recorded after the finder read its day: unseen until the
    finder forgets from before it, then the runs a new finder sees. A new run-describing
    object it cannot forget its way past (evidence on every day): it says so."""
    store = tmp_path / "demo.db"
    shutil.copy(demo.db_path, store)
    db = open_database(store)
    writer = RevisionWriter(db)
    start, end = to_stored(DEMO_NOW - timedelta(hours=2)), to_stored(DEMO_NOW)
    synced = DEMO_NOW - timedelta(minutes=30)
    try:
        finder = CauseFinder(db)
        before = finder.native_runs(start, end)
        existing = {r.pipeline for r in finder.native_runs("2026-11-01T00:00:00.000000Z", end)}
        assert "payments" in existing
        writer.write(
            [
                Observation(
                    "prod-eu1",
                    "MODIFIED",
                    synced_application("payments", synced),
                    to_stored(synced),
                )
            ]
        )
        assert finder.native_runs(start, end) == before  # read a day at a time, and kept
        assert finder.forget_from(to_stored(synced - timedelta(seconds=1)))
        after = finder.native_runs(start, end)
        assert after == CauseFinder(db).native_runs(start, end)
        assert len(after) == len(before) + 1
        # An Application never recorded before: the finder cannot be kept.
        writer.write(
            [
                Observation(
                    "prod-eu1", "ADDED", synced_application("late-app", synced), to_stored(synced)
                )
            ]
        )
        assert not finder.forget_from(to_stored(synced - timedelta(seconds=1)))
    finally:
        db.conn.close()

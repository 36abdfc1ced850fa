"""The JSON export validates against shared/snapshot.schema.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema

from timetravel.export.json_export import render_json
from timetravel.ingest import import_events
from timetravel.moment import build_snapshot
from timetravel.store.db import open_database

from .conftest import SHARED, deployment


def schema() -> dict:
    return json.loads((SHARED / "snapshot.schema.json").read_text())


def test_export_validates_and_has_every_required_part(tmp_path: Path) -> None:
    db = open_database(tmp_path / "e.db")
    v1 = deployment(rv="1")
    v2 = deployment(rv="2", image="registry.example.com/payments/api:1.1.0")
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "payments", "resourceVersion": "3"},
    }
    lines = [
        json.dumps({"type": "ADDED", "object": v1, "observed_at": "2026-11-19T21:00:00Z"}),
        json.dumps({"type": "ADDED", "object": namespace, "observed_at": "2026-11-19T21:00:00Z"}),
        json.dumps({"type": "MODIFIED", "object": v2, "observed_at": "2026-11-19T21:20:00Z"}),
    ]
    import_events(db, lines, cluster="prod")
    at = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)
    snapshot = json.loads(render_json(build_snapshot(db, at, window=timedelta(hours=1))))
    jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker()).validate(
        snapshot
    )
    assert snapshot["at"] == "2026-11-19T21:30:00Z"
    by_name = {r["name"]: r for r in snapshot["resources"]}
    assert by_name["payments"]["namespace"] is None
    api = by_name["api"]
    assert api["state"] == "unmanaged" and api["desired"] is None
    assert "resourceVersion" not in api["actual"]["metadata"]
    assert api["last_change"]["type"] == "updated"
    image_path = "spec.template.spec.containers[api].image"
    assert [f["path"] for f in api["last_change"]["fields"]] == [image_path]
    assert [c["type"] for c in snapshot["changes"]] == ["created", "created", "updated"]

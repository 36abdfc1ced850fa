"""The JSON export validates against shared/snapshot.schema.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema

from timetravel.domain.snapshot import RawJSON
from timetravel.export.json_export import render_json
from timetravel.query.moment import build_snapshot
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database

from .conftest import ROOT, deployment


def schema() -> dict:
    # The project's copy of the contract: test_docs checks it is the shared one.
    return json.loads((ROOT / "docs" / "snapshot.schema.json").read_text())


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


def test_the_json_export_embeds_unread_objects_as_recorded(tmp_path: Path) -> None:
    """Objects no step of the snapshot read are written as their recorded text, and the
    document says exactly what the parsed snapshot says."""
    db = open_database(tmp_path / "e.db")
    lines = [
        json.dumps(
            {
                "type": "ADDED",
                "object": deployment(f"app{i}", rv=str(i + 1)),
                "observed_at": "2026-11-19T08:00:00Z",
            }
        )
        for i in range(5)
    ]
    import_events(db, lines, cluster="prod")
    snapshot = build_snapshot(
        db, datetime(2026, 11, 19, 21, 30, tzinfo=UTC), window=timedelta(minutes=5)
    )
    unread = [r for r in snapshot.resources if isinstance(r.actual_as_given(), RawJSON)]
    # Outside the window and undeclared: only the first of five changes that share an
    # explanation has its object read (for its annotations).
    assert len(unread) == 4
    text = render_json(snapshot)
    document = json.loads(text)
    assert document == json.loads(json.dumps(snapshot.to_json()))
    for resource in document["resources"]:
        line = json.dumps(resource["actual"], sort_keys=True, separators=(",", ":"))
        assert f'"actual": {line}'.encode() in text, "one line, canonical"

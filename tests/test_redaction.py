"""No Secret value, nor a copy of it, ever reaches the database files or an export."""

from __future__ import annotations

import base64
import json
from datetime import UTC
from pathlib import Path

import pytest

from timetravel.domain.normalize import LAST_APPLIED
from timetravel.domain.timeparse import parse_time
from timetravel.domain.times import utc_now
from timetravel.export.json_export import render_json
from timetravel.query.moment import build_snapshot
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database

PLAINTEXTS = ["hunter2-database-password", "sk_live_51HyperSecretStripeKey", "rotated-pw-0002"]


def secret_versions(api_version: str = "v1") -> list[dict]:
    def secret(rv: str, password: str, token: str) -> dict:
        body = {
            "apiVersion": api_version,
            "kind": "Secret",
            "metadata": {
                "name": "payments-db",
                "namespace": "payments",
                "resourceVersion": rv,
                "uid": "s-1",
            },
            "type": "Opaque",
            "data": {"password": base64.b64encode(password.encode()).decode()},
            "stringData": {"api-token": token},
        }
        applied = {k: v for k, v in body.items() if k != "metadata"}
        applied["metadata"] = {"name": "payments-db", "namespace": "payments"}
        body["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(applied)}
        return body

    return [
        secret("1", PLAINTEXTS[0], PLAINTEXTS[1]),
        secret("2", PLAINTEXTS[2], PLAINTEXTS[1]),
    ]


def forbidden_bytes() -> list[bytes]:
    out = []
    for text in PLAINTEXTS:
        raw = text.encode()
        out += [raw, base64.b64encode(raw), base64.b64encode(raw).rstrip(b"=")]
    return out


def test_database_files_hold_no_secret_value(tmp_path: Path) -> None:
    db_path = tmp_path / "s.db"
    db = open_database(db_path)
    lines = [
        json.dumps(
            {
                "type": "ADDED" if i == 0 else "MODIFIED",
                "object": obj,
                "observed_at": f"2026-11-19T21:0{i}:00Z",
            }
        )
        for i, obj in enumerate(secret_versions())
    ]
    report = import_events(db, lines, cluster="c")
    assert report.written == 2, "the rotation must still be a visible change"
    db.conn.close()
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        for needle in forbidden_bytes():
            assert needle not in data, f"{needle!r} found in {path.name}"


def test_export_holds_no_secret_value_but_shows_the_rotation(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db")
    versions = secret_versions()
    import_events(
        db,
        [
            json.dumps(
                {"type": "ADDED", "object": versions[0], "observed_at": "2026-11-19T21:00:00Z"}
            ),
            json.dumps(
                {"type": "MODIFIED", "object": versions[1], "observed_at": "2026-11-19T21:30:00Z"}
            ),
        ],
        cluster="c",
    )
    at = parse_time("2026-11-19T21:45:00Z", now=utc_now(), tz=UTC)
    data = render_json(build_snapshot(db, at))
    for needle in forbidden_bytes():
        assert needle not in data
    snapshot = json.loads(data)
    actual = snapshot["resources"][0]["actual"]
    assert actual["data"]["password"].startswith("redacted:")
    change = next(c for c in snapshot["changes"] if c["type"] == "updated")
    paths = {f["path"] for f in change["fields"]}
    assert "data.password" in paths
    assert 'stringData["api-token"]' not in paths and "stringData.api-token" not in paths


@pytest.mark.parametrize("api_version", ["v1beta1", "V1", "/v1", " v1"])
def test_a_secret_of_any_core_version_is_stored_redacted_not_left_to_the_export_guard(
    tmp_path: Path, api_version: str
) -> None:
    # The snapshot is read unguarded: the hashes come from the store, not from the exports'
    # own check (which would show ``redacted:withheld`` for a value that reached the store).
    db = open_database(tmp_path / "s.db")
    versions = secret_versions(api_version)
    report = import_events(
        db,
        [
            json.dumps({"type": t, "object": o, "observed_at": f"2026-11-19T21:{m}:00Z"})
            for t, o, m in (("ADDED", versions[0], "00"), ("MODIFIED", versions[1], "30"))
        ],
        cluster="c",
    )
    assert report.written == 2
    snapshot = build_snapshot(db, parse_time("2026-11-19T21:45:00Z", now=utc_now(), tz=UTC))
    (resource,) = snapshot.resources
    assert resource.key.group == "" and resource.key.kind == "Secret"
    password = resource.actual["data"]["password"]
    assert password.startswith("redacted:") and password != "redacted:withheld"
    data = render_json(snapshot)
    for needle in forbidden_bytes():
        assert needle not in data
    change = next(c for c in snapshot.changes if c.type == "updated")
    assert "data.password" in {f.path for f in change.fields}, "the rotation still shows"

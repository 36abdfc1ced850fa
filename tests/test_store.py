"""The database file: creation, permissions, refusal of what is not ours."""

from __future__ import annotations

import copy
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.managed_fields import stored_entries
from timetravel.domain.model import Gap, Observation
from timetravel.errors import UserError
from timetravel.store import db as store_db
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.recorder_state import RecorderState, latest_time
from timetravel.store.segments import SEGMENT_SIZE
from timetravel.store.writer import RevisionWriter

from .conftest import deployment
from .recording import stored


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every test here runs against both engines (a file, a PostgreSQL database)."""
    return any_db


def test_new_database_is_private_and_in_wal_mode(file_db: Path) -> None:
    db_path = file_db  # a file's own troubles
    db = open_database(db_path)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    RevisionWriter(db).write(
        [Observation("c", "ADDED", deployment(), "2026-11-19T21:00:00.000000Z")]
    )
    for suffix in ("-wal", "-shm"):
        side = Path(str(db_path) + suffix)
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600


def test_reopen_keeps_facts_and_key(db_path: Path) -> None:
    db = open_database(db_path)
    key = store_db.redaction_key(db)
    RevisionWriter(db).write(
        [Observation("c", "ADDED", deployment(), "2026-11-19T21:00:00.000000Z")]
    )
    db.conn.close()
    again = open_database(db_path)
    assert store_db.redaction_key(again) == key
    assert len(Reader(again).state_at("2026-11-19T22:00:00.000000Z")) == 1


def test_foreign_sqlite_file_is_refused_untouched(file_db: Path) -> None:
    db_path = file_db  # a file's own troubles
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(UserError, match="not a timetravel one"):
        open_database(db_path)
    assert db_path.read_bytes() == before


def test_corrupt_file_is_refused(file_db: Path) -> None:
    db_path = file_db  # a file's own troubles
    db_path.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(UserError, match="not a SQLite database"):
        open_database(db_path)


def test_database_from_newer_version_is_refused(file_db: Path) -> None:
    db_path = file_db  # a file's own troubles
    db = open_database(db_path)
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('timetravel', 'm999_from_the_future', '2030-01-01')"
    )
    db.conn.commit()
    db.conn.close()
    with pytest.raises(UserError, match="newer timetravel"):
        open_database(db_path)
    with pytest.raises(UserError, match="newer timetravel"):
        open_database(db_path, readonly=True)


def test_readonly_needs_an_existing_database(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such database"):
        open_database(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()


def test_dedupe_same_resource_version_and_same_content(db_path: Path) -> None:
    db = open_database(db_path)
    writer = RevisionWriter(db)
    base = deployment(rv="10")
    resync = deployment(rv="10")
    same_content_new_rv = deployment(rv="11")
    changed = deployment(rv="12", replicas=5)
    result = writer.write(
        [
            Observation("c", "ADDED", base, "2026-11-19T21:00:00.000000Z"),
            Observation("c", "MODIFIED", resync, "2026-11-19T21:01:00.000000Z"),
            Observation("c", "MODIFIED", same_content_new_rv, "2026-11-19T21:02:00.000000Z"),
            Observation("c", "MODIFIED", changed, "2026-11-19T21:03:00.000000Z"),
        ]
    )
    assert (result.written, result.unchanged) == (2, 2)


def test_status_only_change_is_marked(db_path: Path) -> None:
    db = open_database(db_path)
    writer = RevisionWriter(db)
    base = deployment(rv="1")
    status = deployment(rv="2")
    status["status"]["readyReplicas"] = 1
    spec = deployment(rv="3", image="registry.example.com/payments/api:2.0.0")
    writer.write(
        [
            Observation("c", "ADDED", base, "2026-11-19T21:00:00.000000Z"),
            Observation("c", "MODIFIED", status, "2026-11-19T21:01:00.000000Z"),
            Observation("c", "MODIFIED", spec, "2026-11-19T21:02:00.000000Z"),
        ]
    )
    rows = [(r.change, int(r.status_only)) for r in stored(db)]
    assert rows == [("created", 0), ("updated", 1), ("updated", 0)]


def test_new_uid_under_same_name_is_delete_then_create(db_path: Path) -> None:
    db = open_database(db_path)
    writer = RevisionWriter(db)
    writer.write(
        [
            Observation("c", "ADDED", deployment(uid="one", rv="1"), "2026-11-19T21:00:00.000000Z"),
            Observation("c", "ADDED", deployment(uid="two", rv="5"), "2026-11-19T21:05:00.000000Z"),
        ]
    )
    rows = [(r.change, r.uid, int(r.inferred)) for r in stored(db)]
    assert rows == [("created", "one", 0), ("deleted", "one", 1), ("created", "two", 0)]


def test_deltas_decode_to_the_exact_objects(db_path: Path) -> None:
    db = open_database(db_path)
    writer = RevisionWriter(db)
    observed = []
    for i in range(40):
        obj = deployment(rv=str(i + 1), replicas=i % 7 + 1)
        obj["status"]["observedGeneration"] = i
        at = f"2026-11-19T21:{i:02d}:00.000000Z"
        observed.append((at, obj))
        writer.write([Observation("c", "MODIFIED" if i else "ADDED", obj, at)])
    keyframes = db.execute("SELECT count(*) FROM keyframes").fetchone()
    assert keyframes[0] < 10, "deltas should be used for small changes"
    segments = db.execute("SELECT count FROM segments ORDER BY first_at").fetchall()
    assert [n for (n,) in segments] == [SEGMENT_SIZE] * (40 // SEGMENT_SIZE) + (
        [40 % SEGMENT_SIZE] if 40 % SEGMENT_SIZE else []
    )
    reader = Reader(db)
    for at, obj in observed:
        record = reader.state_at(at)[0]
        assert record.obj is not None
        assert record.obj["spec"]["replicas"] == obj["spec"]["replicas"]
        assert record.obj["status"] == obj["status"]
        assert "managedFields" not in record.obj["metadata"]
        assert record.managed_fields[0]["manager"] == "argocd-controller"


def edited_by_hand(obj: dict[str, Any], time: str, rv: str) -> dict[str, Any]:
    """``obj`` after `kubectl edit` at ``time`` changed its replicas."""
    out = copy.deepcopy(obj)
    out["metadata"]["resourceVersion"] = rv
    out["spec"]["replicas"] += 1
    out["metadata"]["managedFields"].append(
        {
            "manager": "kubectl-edit",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    )
    return out


def test_revisions_keep_managed_fields_and_the_managers_that_wrote(db_path: Path) -> None:
    db = open_database(db_path)
    created = deployment(rv="1")
    edit = edited_by_hand(created, "2026-11-19T21:05:00Z", "2")
    again = edited_by_hand(created, "2026-11-19T21:07:00Z", "3")
    again["spec"]["replicas"] += 1
    RevisionWriter(db).write(
        [
            Observation("c", "ADDED", created, "2026-11-19T21:00:00.000000Z"),
            Observation("c", "MODIFIED", edit, "2026-11-19T21:05:01.000000Z"),
        ]
    )
    # A writer that starts afresh reads what it compares against back from the store.
    RevisionWriter(db).write([Observation("c", "MODIFIED", again, "2026-11-19T21:07:01.000000Z")])
    records = stored(db, with_body=True)
    assert [(r.change, r.managers, r.server_time) for r in records] == [
        ("created", ("argocd-controller",), "2026-11-16T08:00:00Z"),
        ("updated", ("kubectl-edit",), "2026-11-19T21:05:00Z"),
        ("updated", ("kubectl-edit",), "2026-11-19T21:07:00Z"),
    ]
    for record, obj in zip(records, (created, edit, again), strict=True):
        assert record.managed_fields == stored_entries(obj)
    assert all("fieldsType" not in e for r in records for e in r.managed_fields)


def test_recorder_state_finds_the_gap_a_restart_leaves(db_path: Path) -> None:
    db = open_database(db_path)
    state = RecorderState(db, "cluster:prod")
    assert state.start("2026-11-19T21:00:00.000000Z", detail="https://prod") is None
    state.beat("2026-11-19T21:00:30.000000Z")
    # Killed after that beat: the gap runs from it to the next start.
    again = RecorderState(db, "cluster:prod")
    assert again.start("2026-11-19T21:10:00.000000Z") == Gap(
        "prod",
        "cluster:prod",
        "2026-11-19T21:00:30.000000Z",
        "2026-11-19T21:10:00.000000Z",
        "recorder ended without stopping (killed?)",
    )
    again.stop("2026-11-19T21:20:00.000000Z")
    gap = RecorderState(db, "cluster:prod").start("2026-11-19T21:30:00.000000Z")
    assert gap is not None
    assert (gap.started_at, gap.reason) == ("2026-11-19T21:20:00.000000Z", "recorder stopped")
    assert RecorderState(db, "cluster:prod").start("2026-11-19T21:30:00.000000Z") is None


def test_latest_time_counts_only_what_the_recorder_wrote(db_path: Path) -> None:
    db = open_database(db_path)
    assert latest_time(db, "prod", "cluster:prod") is None
    state = RecorderState(db, "cluster:prod")
    state.start("2026-11-19T21:00:00.000000Z")
    state.beat("2026-11-19T21:00:30.000000Z")
    writer = RevisionWriter(db)
    writer.write(
        [
            Observation("prod", "ADDED", deployment(rv="1"), "2026-11-19T21:01:00.000000Z"),
            # Imported facts carry other clocks' times: not the recorder's.
            Observation(
                "prod",
                "MODIFIED",
                deployment(rv="2", replicas=4),
                "2026-11-19T23:00:00.000000Z",
                source="import",
            ),
        ]
    )
    assert latest_time(db, "prod", "cluster:prod") == "2026-11-19T21:01:00.000000Z"
    writer.record_gap(
        Gap("prod", "watch:", "2026-11-19T21:01:00.000000Z", "2026-11-19T21:02:00.000000Z", "x")
    )
    assert latest_time(db, "prod", "cluster:prod") == "2026-11-19T21:02:00.000000Z"
    state.stop("2026-11-19T21:03:00.000000Z")
    assert latest_time(db, "prod", "cluster:prod") == "2026-11-19T21:03:00.000000Z"
    assert latest_time(db, "staging", "cluster:staging") is None

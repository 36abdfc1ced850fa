"""Writing after damaged bytes (issue 20, item 4): a recorder or `import-events` that meets
an object whose latest segment fails its checksum keeps recording it, in a segment of its
own, and every other object as before; never a traceback, never a lost observation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from timetravel.domain.model import Observation
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter

from .recording import configmap

T0 = "2026-11-20T10:00:00.000000Z"
T1 = "2026-11-20T10:05:00.000000Z"
T2 = "2026-11-20T10:10:00.000000Z"


def _write(where: Path | str, *observations: Observation) -> None:
    db = open_database(where)
    try:
        RevisionWriter(db).write(observations)
    finally:
        db.conn.close()


def _obs(obj: dict[str, Any], at: str, event: str = "MODIFIED") -> Observation:
    return Observation("prod", event, obj, at)


def _damage_latest_segment(where: Path | str, name: str) -> None:
    """Flip a byte in the middle of ``name``'s latest segment (its zstd frame)."""
    db = open_database(where)
    try:
        row = db.execute(
            "SELECT s.id, s.body FROM segments s JOIN resources r ON r.id = s.resource_id "
            "WHERE r.name = ? ORDER BY s.first_at DESC, s.id DESC LIMIT 1",
            (name,),
        ).fetchone()
        body = bytearray(row[1])
        body[len(body) // 2] ^= 0x10
        with db.conn:
            db.execute("UPDATE segments SET body = ? WHERE id = ?", (bytes(body), row[0]))
    finally:
        db.conn.close()


def _state(where: Path | str, at: str) -> dict[str, dict[str, Any]]:
    db = open_database(where, readonly=True)
    try:
        return {r.key.name: json.loads(r.body or b"{}")["object"] for r in Reader(db).state_at(at)}
    finally:
        db.conn.close()


def _store(where: Path | str) -> None:
    _write(
        where,
        _obs(configmap("web", k="1"), T0, "ADDED"),
        _obs(configmap("api", k="1"), T0, "ADDED"),
    )
    _damage_latest_segment(where, "web")


def test_a_write_after_a_damaged_latest_segment_is_kept(any_db: Path | str) -> None:
    _store(any_db)
    # The damaged object is left out of the answer at T1 (the reader's one line is tested
    # in test_damaged_frames); the other is there.
    assert set(_state(any_db, T1)) == {"api"}
    _write(
        any_db,
        _obs(configmap("web", k="2"), T2),
        _obs(configmap("api", k="2"), T2),
    )
    after = _state(any_db, T2)
    assert after["web"]["data"] == {"k": "2"}
    assert after["api"]["data"] == {"k": "2"}
    # A second write of the same content is the same content: nothing new.
    db = open_database(any_db)
    try:
        result = RevisionWriter(db).write([_obs(configmap("web", k="2"), T2)])
    finally:
        db.conn.close()
    assert result.written == 0


def test_a_relist_after_a_damaged_latest_segment_infers_the_delete(any_db: Path | str) -> None:
    _store(any_db)
    db = open_database(any_db)
    try:
        writer = RevisionWriter(db)
        live = writer.live_objects("prod", "", "ConfigMap")
        assert {k.name for k in live} == {"web", "api"}
        assert live[next(k for k in live if k.name == "web")] is None  # no version known
        assert writer.last_object(next(k for k in live if k.name == "web")) is None
        result = writer.write([_obs(configmap("web", k="9"), T2, "DELETED")])
    finally:
        db.conn.close()
    assert result.by_change == {"deleted": 1}
    assert set(_state(any_db, T2)) == {"api"}


def test_import_events_over_a_damaged_object_is_no_traceback(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    _store(db_path)
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps({"type": "MODIFIED", "object": configmap(name, k="3")}) + "\n"
            for name in ("web", "api")
        )
    )
    result = subprocess.run(
        [
            *(sys.executable, "-m", "timetravel", "import-events", "--db", str(db_path)),
            *("-q", "--cluster", "prod", str(events)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    db = open_database(db_path, readonly=True)
    try:
        assert db.execute("SELECT count(*) FROM revisions").fetchone()[0] == 4
    finally:
        db.conn.close()

"""SQL readers (issue 25, item 8): timetravel_json and friends return every revision's body
as the reader API does, through sqlite-utils' CLI (the plugin entry point), a plain sqlite3
connection and datasette's hook, damaged frames included."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from timetravel.demo.build import build
from timetravel.store import sqlfunctions, sqlplugin
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's store: a week recorded through the real ingest paths, Secrets included,
    checkpointed into one file."""
    db_path = build(tmp_path_factory.mktemp("demo"), now=NOW, zone=UTC).db_path
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db_path


@pytest.fixture
def store(recorded: Path, tmp_path: Path) -> Path:
    """A copy of the recorded store, for a test to damage."""
    copy = tmp_path / "timetravel.db"
    shutil.copyfile(recorded, copy)
    return copy


def reader_bodies(db_path: Path) -> dict[int, str]:
    """Every revision's body by id, as the reader API decodes it."""
    db = open_database(db_path, readonly=True)
    try:
        reader = Reader(db)
        out: dict[int, str] = {}
        for (resource_id,) in db.conn.execute("SELECT id FROM resources").fetchall():
            for record in reader.history(resource_id):
                assert record.body is not None
                out[record.id] = record.body.decode()
        return out
    finally:
        db.conn.close()


def sqlite_utils_query(db_path: Path, sql: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "sqlite_utils", "query", str(db_path), sql],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_the_plugin_is_registered_for_both_hosts() -> None:
    for group in ("sqlite_utils", "datasette"):
        found = [e for e in entry_points(group=group) if e.value == "timetravel.store.sqlplugin"]
        assert found, (
            f"no {group} entry point: reinstall the package (pip install -e .) so the "
            "plugin entry points of pyproject.toml are registered"
        )


def test_sqlite_utils_reads_every_revision_as_the_reader_does(recorded: Path) -> None:
    expected = reader_bodies(recorded)
    conn = sqlite3.connect(recorded)
    (revisions,) = conn.execute("SELECT count(*) FROM revisions").fetchone()
    conn.close()
    assert len(expected) == revisions > 50
    rows = sqlite_utils_query(
        recorded,
        "select r.id, r.segment_id, timetravel_json(r.id) as by_id, "
        "timetravel_json(r.segment_id, r.id) as by_segment, "
        "timetravel_body(s.body, k.body, r.id) as by_blobs, "
        "timetravel_damage(r.id) as damage, s.count, "
        "s.keyframe_id in (select id from revisions where segment_id = s.id) as own_keyframe "
        "from revisions r join segments s on s.id = r.segment_id "
        "join keyframes k on k.id = s.keyframe_id order by r.id",
    )
    assert {row["id"]: row["by_id"] for row in rows} == expected
    for row in rows:
        assert row["by_segment"] == row["by_blobs"] == row["by_id"]
        assert row["damage"] is None
    # What the store holds is compressed against something else, which the functions undo:
    # revisions after the first of a segment (compressed with the ones before them) and
    # segments compressed against a keyframe of another revision, or another object's.
    assert sum(row["count"] > 1 for row in rows) > 50
    assert sum(not row["own_keyframe"] for row in rows) > 10


def test_sql_json_functions_apply_to_the_body(recorded: Path) -> None:
    rows = sqlite_utils_query(
        recorded,
        "select name, observed_at, "
        "json_extract(timetravel_json(segment_id, id), '$.object.spec.replicas') as replicas "
        "from revision_objects where kind = 'Deployment' and name = 'api' order by observed_us",
    )
    assert rows and all(isinstance(row["replicas"], int) for row in rows)
    # Secrets as stored: every value redacted.
    secrets = sqlite_utils_query(
        recorded,
        "select timetravel_json(id) as body from revision_objects where kind = 'Secret'",
    )
    assert secrets
    for row in secrets:
        data = json.loads(row["body"])["object"].get("data", {})
        assert data and all(str(v).startswith("redacted:") for v in data.values()), data


def test_register_on_a_plain_sqlite3_connection(recorded: Path) -> None:
    expected = reader_bodies(recorded)
    conn = sqlite3.connect(f"file:{recorded}?mode=ro", uri=True)
    try:
        sqlfunctions.register(conn)
        got = dict(conn.execute("SELECT id, timetravel_json(id) FROM revisions").fetchall())
        assert got == expected
        assert conn.execute("SELECT timetravel_json(123456789)").fetchone() == (None,)
        assert conn.execute("SELECT timetravel_json(NULL), timetravel_json('x')").fetchone() == (
            None,
            None,
        )
        assert conn.execute("SELECT timetravel_body(x'00', x'00', 1)").fetchone() == (None,)
    finally:
        conn.close()


def flip_byte(db_path: Path, table: str, row_id: int) -> None:
    conn = sqlite3.connect(db_path)
    with conn:
        (blob,) = conn.execute(f"SELECT body FROM {table} WHERE id = ?", (row_id,)).fetchone()
        damaged = bytearray(blob)
        damaged[len(damaged) // 2] ^= 0x40
        conn.execute(f"UPDATE {table} SET body = ? WHERE id = ?", (bytes(damaged), row_id))
    conn.close()


def test_a_damaged_segment_is_null_and_says_so_the_rest_reads(store: Path) -> None:
    expected = reader_bodies(store)
    conn = sqlite3.connect(store)
    (segment_id,) = conn.execute(
        "SELECT id FROM segments WHERE count > 2 ORDER BY id LIMIT 1"
    ).fetchone()
    hit = {
        r for (r,) in conn.execute("SELECT id FROM revisions WHERE segment_id = ?", (segment_id,))
    }
    conn.close()
    flip_byte(store, "segments", segment_id)
    rows = sqlite_utils_query(
        store,
        "select id, timetravel_json(id) as body, timetravel_damage(id) as damage from revisions",
    )
    for row in rows:
        if row["id"] in hit:
            assert row["body"] is None
            assert row["damage"] == sqlfunctions.DAMAGED
        else:
            assert row["body"] == expected[row["id"]]
            assert row["damage"] is None
    # The reader API leaves the same object out, and names it.
    db = open_database(store, readonly=True)
    try:
        reader = Reader(db)
        for (resource_id,) in db.conn.execute("SELECT id FROM resources").fetchall():
            reader.history(resource_id)
        assert [d.segments for d in reader.damage()] == [(segment_id,)]
    finally:
        db.conn.close()


def test_a_damaged_keyframe_fails_every_segment_compressed_with_it(store: Path) -> None:
    conn = sqlite3.connect(store)
    (keyframe_id,) = conn.execute(
        "SELECT keyframe_id FROM segments GROUP BY keyframe_id ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    hit = {
        r
        for (r,) in conn.execute(
            "SELECT r.id FROM revisions r JOIN segments s ON s.id = r.segment_id "
            "WHERE s.keyframe_id = ?",
            (keyframe_id,),
        )
    }
    conn.close()
    assert len(hit) > 1
    flip_byte(store, "keyframes", keyframe_id)
    conn = sqlite3.connect(store)
    sqlfunctions.register(conn)
    try:
        rows = conn.execute("SELECT id, timetravel_json(id), timetravel_damage(id) FROM revisions")
        for revision_id, body, damage in rows:
            assert (body is None, damage is not None) == (revision_id in hit, revision_id in hit)
    finally:
        conn.close()


def test_a_segment_rewritten_by_a_writer_is_read_again(store: Path) -> None:
    # The decoded segments are kept by their bytes: a row that changes is decoded again.
    conn = sqlite3.connect(store)
    sqlfunctions.register(conn)
    try:
        (revision_id, segment_id) = conn.execute(
            "SELECT id, segment_id FROM revisions ORDER BY id LIMIT 1"
        ).fetchone()
        assert conn.execute("SELECT timetravel_json(?)", (revision_id,)).fetchone()[0]
        conn.execute("UPDATE segments SET body = x'00' WHERE id = ?", (segment_id,))
        assert conn.execute("SELECT timetravel_json(?)", (revision_id,)).fetchone() == (None,)
    finally:
        conn.close()


def test_datasettes_hook_registers_the_functions_without_datasette(recorded: Path) -> None:
    pluggy = pytest.importorskip("pluggy")
    # Datasette's hookspec, as it declares it; the plugin module never imports datasette.
    spec = pluggy.HookspecMarker("datasette")

    class Spec:
        @spec
        def prepare_connection(self, conn: Any, database: Any, datasette: Any) -> None:
            """Datasette's hook."""

    manager = pluggy.PluginManager("datasette")
    manager.add_hookspecs(Spec)
    manager.register(sqlplugin)
    conn = sqlite3.connect(f"file:{recorded}?mode=ro", uri=True)
    try:
        manager.hook.prepare_connection(conn=conn, database="timetravel", datasette=None)
        (body,) = conn.execute("SELECT timetravel_json(min(id)) FROM revisions").fetchone()
        assert json.loads(body)["object"]["kind"]
    finally:
        conn.close()
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, timetravel.store.sqlplugin; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'datasette'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_timetravels_own_connections_get_no_functions(recorded: Path) -> None:
    db = open_database(recorded, readonly=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such function"):
            db.conn.execute("SELECT timetravel_json(1)")
    finally:
        db.conn.close()

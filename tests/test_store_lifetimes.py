"""resources.first_at/gone_at (m004) only prune; records parse their body halves on demand."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timetravel.domain.model import Observation, ResourceKey
from timetravel.domain.times import to_stored
from timetravel.store import codec
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord
from timetravel.store.writer import RevisionWriter

from .recording import stored

START = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)


def pod(name: str, uid: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns-a" if name < "p2" else "ns-b",
            "uid": uid,
            "resourceVersion": str(version),
            "managedFields": [
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-11-19T20:00:00Z",
                    "fieldsV1": {"f:status": {"f:phase": {}}},
                }
            ],
        },
        "status": {"phase": f"Running-{version % 3}"},
    }


# (name, event, uid generation, seconds from START): times may go backwards, as an import
# of a file written out of order does.
step = st.tuples(
    st.sampled_from(["p0", "p1", "p2", "p3"]),
    st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
    st.integers(min_value=0, max_value=2),
    st.integers(min_value=0, max_value=600),
)


def _write(db: Any, steps: list[tuple[str, str, int, int]]) -> list[str]:
    writer = RevisionWriter(db)
    times = []
    for version, (name, event, generation, seconds) in enumerate(steps, start=1):
        at = to_stored(START + timedelta(seconds=seconds))
        times.append(at)
        obj = pod(name, f"{name}-uid-{generation}", version)
        writer.write([Observation("c", event, obj, at)])
    return times


def _all_identities(reader: Reader) -> Reader:
    reader._lifetimes = False  # the plain query: a seek for every identity ever seen
    return reader


def _state(reader: Reader, at: str, **options: Any) -> list[tuple[int, int]]:
    return [(r.resource_id, r.id) for r in reader.state_at(at, **options)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=40), st.lists(st.integers(0, 700), max_size=12))
def test_lifetimes_prune_nothing_that_is_live(
    steps: list[tuple[str, str, int, int]], probes: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp) / "tt.db")
        times = _write(db, steps)
        pruned, plain = Reader(db), _all_identities(Reader(db))
        moments = times + [to_stored(START + timedelta(seconds=s)) for s in probes]
        for at in moments:
            for options in ({}, {"include_deleted": True}, {"namespace": "ns-b"}):
                assert _state(pruned, at, **options) == _state(plain, at, **options)


def test_a_database_before_m004_opened_read_only_still_answers(tmp_path: Path) -> None:
    path = tmp_path / "tt.db"
    db = open_database(path)
    _write(db, [("p0", "ADDED", 0, 10), ("p1", "ADDED", 0, 20), ("p1", "DELETED", 0, 30)])
    db.execute("DROP INDEX resources_by_namespace")
    db.execute("DROP INDEX resources_in_list_order")  # m014, after m004
    db.execute("ALTER TABLE resources DROP COLUMN first_at")
    db.execute("ALTER TABLE resources DROP COLUMN gone_at")
    db.conn.close()
    reader = Reader(open_database(path, readonly=True))
    at = to_stored(START + timedelta(seconds=25))
    assert [r.key.name for r in reader.state_at(at)] == ["p0", "p1"]


def _record(body: bytes) -> RevisionRecord:
    key = ResourceKey("c", "", "Pod", "ns", "p")
    return RevisionRecord(
        1, 1, key, "v1", "t", "updated", "1", "u", False, False, "w", None, None, body
    )


def test_record_halves_equal_the_whole_body() -> None:
    managed = [{"manager": "kubectl", "fieldsV1": {"f:data": {"f:object": {}}}}]
    obj = {"kind": "ConfigMap", "data": {"object": '","object":{'}, "z": [1, {"object": 2}]}
    raw = codec.dumps({"object": obj, "managedFields": managed})
    record = _record(raw)
    assert record.obj == obj
    assert record.managed_fields == managed


def test_record_falls_back_when_the_separator_is_nested() -> None:
    # Not something the writer produces: a key "object" inside managedFields. The split
    # at its first occurrence cannot parse, so the whole body is parsed instead.
    managed = [{"manager": "m", "fieldsV1": {"a": 1, "object": {"b": 2}}}]
    obj = {"kind": "Pod", "spec": {"x": 1}}
    record = _record(codec.dumps({"object": obj, "managedFields": managed}))
    assert record.obj == obj
    assert record.managed_fields == managed
    assert _record(orjson.dumps({"object": obj})).obj == obj
    assert _record(orjson.dumps({"object": obj})).managed_fields == []


def test_a_body_from_its_halves_is_the_canonical_dump() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "p"}, "status": {"phase": "Running"}}
    managed = [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]
    expected = codec.dumps({"object": obj, "managedFields": managed})
    assert codec.body(codec.dumps(obj), codec.dumps(managed)) == expected
    assert codec.body(codec.dumps(obj), codec.dumps([])) == codec.dumps(
        {"object": obj, "managedFields": []}
    )


def _changes(db: Any) -> list[tuple[str, str | None]]:
    return [(r.change, r.uid) for r in stored(db)]


def test_uid_kept_where_it_appears_and_a_new_one_still_found_after_restart(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path / "tt.db")
    at = [to_stored(START + timedelta(seconds=s)) for s in range(4)]
    RevisionWriter(db).write(
        [
            Observation("c", "ADDED", pod("p0", "uid-1", 1), at[0]),
            Observation("c", "MODIFIED", pod("p0", "uid-1", 2), at[1]),
        ]
    )
    # A fresh writer (a restarted recorder) must still know the live object's uid.
    RevisionWriter(db).write([Observation("c", "ADDED", pod("p0", "uid-2", 3), at[2])])
    assert _changes(db) == [
        ("created", "uid-1"),
        ("updated", None),
        ("deleted", "uid-1"),
        ("created", "uid-2"),
    ]


def test_a_restarted_writer_dedupes_against_the_stored_body(tmp_path: Path) -> None:
    # Hashes are not stored: a fresh writer takes them of the latest stored body, so they
    # must come out as the writer that stored it made them.
    db = open_database(tmp_path / "tt.db")
    at = [to_stored(START + timedelta(seconds=s)) for s in range(3)]
    RevisionWriter(db).write([Observation("c", "ADDED", pod("p0", "uid-1", 1), at[0])])
    again = pod("p0", "uid-1", 1)
    again["metadata"]["resourceVersion"] = "99"  # a resync: same content, new version
    result = RevisionWriter(db).write([Observation("c", "MODIFIED", again, at[1])])
    assert (result.written, result.unchanged) == (0, 1)


def test_previous_many_equals_previous_one_by_one(tmp_path: Path) -> None:
    db = open_database(tmp_path / "tt.db")
    # Equal observation times too: the tie goes by id, as previous() has it.
    _write(
        db,
        [
            ("p0", "ADDED", 0, 10),
            ("p0", "MODIFIED", 0, 10),
            ("p1", "ADDED", 0, 5),
            ("p0", "MODIFIED", 0, 20),
            ("p1", "DELETED", 0, 30),
            ("p1", "ADDED", 1, 40),
        ],
    )
    reader = Reader(db)
    records = reader.changes_between("0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z")
    batch = reader.previous_many(records)
    for record in records:
        one = reader.previous(record)
        assert (batch[record.id].id if batch[record.id] else None) == (one.id if one else None)
        if one is not None:
            assert batch[record.id].obj == one.obj  # type: ignore[union-attr]
    assert sum(1 for found in batch.values() if found is None) == 2


def test_state_decodes_when_the_keyframe_cache_is_smaller_than_the_state(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path / "tt.db")
    steps = [(f"p{i}", "ADDED", 0, i) for i in range(6)]
    steps += [(f"p{i}", "MODIFIED", 0, 10 + i) for i in range(6)]
    _write(db, steps)
    at = to_stored(START + timedelta(seconds=100))
    roomy, tiny = Reader(db), Reader(db, keyframe_cache=1)
    assert [r.obj for r in tiny.state_at(at)] == [r.obj for r in roomy.state_at(at)]
    assert all(r.obj is not None for r in tiny.state_at(at))


def test_history_without_bodies_reads_the_same_revisions_and_no_blob(tmp_path: Path) -> None:
    db = open_database(tmp_path / "tt.db")
    _write(db, [("p0", "ADDED", 0, 1), ("p0", "MODIFIED", 0, 2), ("p0", "DELETED", 0, 3)])
    reader = Reader(db)
    full, light = reader.history(1), reader.history(1, with_body=False)
    assert [r.id for r in light] == [r.id for r in full]
    assert [r.managers for r in light] == [r.managers for r in full]
    assert all(r.body is None and r.obj is None for r in light)
    assert all(r.body is not None for r in full)
    window = reader.changes_between(
        "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", with_body=False
    )
    assert [r.id for r in window] == sorted(r.id for r in full) and window[0].body is None

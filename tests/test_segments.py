"""Segments (store/segments.py, migration m006): revisions of one object stored together.

Every view of the store (the time index, states, histories, the revision before one) must
agree with the revisions written, whatever order they came in: late ones, equal times,
restarts, more than a segment's worth. And a database of the older one-row-per-revision
layout must come through m006 with every revision, id and body intact.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from timetravel.domain.model import Observation
from timetravel.domain.normalize import normalize
from timetravel.domain.times import to_micros, to_stored
from timetravel.store import codec
from timetravel.store.db import open_database, redaction_key
from timetravel.store.migrations import m004_resource_lifetimes, migrations
from timetravel.store.reader import Reader
from timetravel.store.segments import SEGMENT_SIZE
from timetravel.store.writer import RevisionWriter

from .recording import stored

START = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)


def pod(name: str, version: int, uid: str = "u") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"{name}-{uid}",
            "resourceVersion": str(version),
        },
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": "Running", "restartCount": version},
    }


# (object, event, seconds, new uid?) — seconds drawn small so times repeat and come late.
step = st.tuples(
    st.sampled_from(["p0", "p1", "p2"]),
    st.sampled_from(["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]),
    st.integers(0, 60),
    st.booleans(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(step, min_size=1, max_size=3 * SEGMENT_SIZE + 5),
    st.lists(st.integers(1, 6), min_size=1, max_size=8),
    st.lists(st.integers(-1, 62), max_size=10),
)
def test_every_view_agrees_with_the_revisions_written(
    steps: list[tuple[str, str, int, bool]], batches: list[int], probes: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp) / "tt.db")
        key = redaction_key(db)
        expected_objects: dict[str, dict[str, Any]] = {}  # resourceVersion -> normalized
        written = 0
        position = 0
        for size in batches * (len(steps) // len(batches) + 1):
            chunk = steps[position : position + size]
            if not chunk:
                break
            observations = []
            for version, (name, event, seconds, new_uid) in enumerate(chunk, start=position + 1):
                obj = pod(name, version, "b" if new_uid and event == "ADDED" else "a")
                expected_objects[str(version)] = normalize(obj, key)
                at = to_stored(START + timedelta(seconds=seconds))
                observations.append(Observation("c", event, obj, at))
            # A fresh writer now and then: a restarted recorder reads the latest back.
            written += RevisionWriter(db).write(observations).written
            position += size

        records = stored(db, with_body=True)
        assert len(records) == written == len({r.id for r in records})
        for r in records:
            if r.change != "deleted" or not r.inferred:
                assert r.obj == expected_objects[str(r.resource_version)]
        reader = Reader(db)
        ordered = sorted(records, key=lambda r: (r.observed_at, r.id))
        assert [
            r.id
            for r in reader.changes_between(to_stored(START), to_stored(START + timedelta(hours=1)))
        ] == [r.id for r in ordered]
        by_resource: dict[int, list[Any]] = {}
        for r in ordered:
            by_resource.setdefault(r.resource_id, []).append(r)
        for rid, history in by_resource.items():
            assert [r.id for r in reader.history(rid)] == [r.id for r in reversed(history)]
            before = [None, *history[:-1]]
            for r, previous in zip(history, before, strict=True):
                found = reader.previous(r)
                assert (found.id if found else None) == (previous.id if previous else None)
            many = reader.previous_many(history)
            assert {k: (v.id if v else None) for k, v in many.items()} == {
                r.id: (p.id if p else None) for r, p in zip(history, before, strict=True)
            }
        for probe in probes:
            at = to_stored(START + timedelta(seconds=probe, microseconds=1))
            live = []
            for history in by_resource.values():
                upto = [r for r in history if r.observed_at <= at]
                if upto and not upto[-1].deleted:
                    live.append(upto[-1].id)
            assert sorted(r.id for r in reader.state_at(at)) == sorted(live)
            for history in by_resource.values():
                upto = [r for r in history if r.observed_at <= at]
                found = reader.object_at(history[0].key, at)
                assert (found.id if found else None) == (upto[-1].id if upto else None)
        db.conn.close()


def test_a_kept_segment_is_read_again_once_a_writer_added_to_it(tmp_path: Path) -> None:
    """The reader keeps the last window's segments for previous_many; a late revision
    written into one of them since must be seen, not the segment as it was decoded."""
    db = open_database(tmp_path / "t.db")
    writer = RevisionWriter(db)
    t = [to_stored(START + timedelta(seconds=s)) for s in range(10)]
    writer.write(
        [
            Observation("c", "ADDED", pod("p0", 1), t[0]),
            Observation("c", "MODIFIED", pod("p0", 2), t[4]),
            Observation("c", "MODIFIED", pod("p0", 3), t[8]),
        ]
    )
    reader = Reader(db)
    window = reader.changes_between(t[3], t[9], keep_segments=True)
    assert [r.observed_at for r in window] == [t[4], t[8]]
    before = reader.previous_many(window)
    assert [before[r.id].observed_at for r in window] == [t[0], t[4]]  # type: ignore[union-attr]

    writer.write([Observation("c", "MODIFIED", pod("p0", 4), t[6])])  # late: between them
    after = reader.previous_many(window)
    assert [after[r.id].observed_at for r in window] == [t[0], t[6]]  # type: ignore[union-attr]
    assert Reader(db).previous(window[1]).observed_at == t[6]  # type: ignore[union-attr]


# -- the layout before m006 -------------------------------------------------------------


def _old_layout(path: Path) -> Database:
    """A database as timetravel wrote it before m006: one row per revision."""
    db = open_database(path.with_name("fresh.db"))  # for a valid meta table to copy
    db.conn.close()
    old = Database(path)
    migrations.apply(old, stop_before="m006_segments")
    source = Database(path.with_name("fresh.db"))
    for row in source.execute("SELECT key, value FROM meta").fetchall():
        old.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", row)
    source.conn.close()
    return old


def _old_revision(
    db: Database,
    rid: int,
    at: str,
    change: str,
    obj: dict[str, Any],
    keyframe: tuple[int, bytes] | None,
) -> tuple[int, bytes]:
    raw = codec.body(codec.dumps(obj), codec.dumps([{"manager": "kubelet", "time": at}]))
    blob = (
        codec.compress_keyframe(raw) if keyframe is None else codec.compress_delta(raw, keyframe[1])
    )
    cur = db.execute(
        "INSERT INTO revisions (resource_id, observed_at, change, resource_version, uid, source, "
        "managers, content_hash, spec_hash, keyframe_id, raw_size, body) "
        "VALUES (?, ?, ?, ?, ?, 'watch', '[\"kubelet\"]', x'00', x'00', ?, ?, ?)",
        (
            rid,
            at,
            change,
            obj["metadata"]["resourceVersion"],
            obj["metadata"]["uid"] if change != "updated" else None,
            None if keyframe is None else keyframe[0],
            len(raw),
            blob,
        ),
    )
    return int(cur.lastrowid or 0), raw


def test_m006_keeps_every_revision_id_and_body_of_the_old_layout(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = _old_layout(path)
    times = [to_stored(START + timedelta(seconds=s)) for s in range(40)]
    with old.conn:
        for name in ("p0", "p1"):
            old.execute(
                "INSERT INTO resources (cluster, api_group, api_version, kind, namespace, name) "
                "VALUES ('c', '', 'v1', 'Pod', 'ns', ?)",
                (name,),
            )
        written: list[tuple[int, int, str, str, bytes]] = []
        keyframe: tuple[int, bytes] | None = None
        # p0: more revisions than a segment holds, against one keyframe; p1: its first
        # against p0's keyframe (a sibling), then deleted; and one that came late.
        for i in range(SEGMENT_SIZE + 5):
            obj = pod("p0", i + 1)
            change = "created" if i == 0 else "updated"
            rev_id, raw = _old_revision(old, 1, times[i + 2], change, obj, keyframe)
            keyframe = keyframe or (rev_id, raw)
            written.append((rev_id, 1, times[i + 2], change, raw))
        for i, (at, change) in enumerate([(times[30], "created"), (times[31], "deleted")]):
            rev_id, raw = _old_revision(old, 2, at, change, pod("p1", 100 + i), keyframe)
            written.append((rev_id, 2, at, change, raw))
        rev_id, raw = _old_revision(old, 1, times[0], "updated", pod("p0", 200), keyframe)
        written.append((rev_id, 1, times[0], "updated", raw))
        old.execute("UPDATE resources SET first_at = ?, gone_at = NULL WHERE id = 1", [times[0]])
        old.execute("UPDATE resources SET first_at = ?, gone_at = ? WHERE id = 2", times[30:32])
    old.conn.close()

    db = open_database(path)  # migrates
    records = stored(db, with_body=True)
    assert [(r.id, r.resource_id, r.observed_at, r.change, r.body) for r in records] == written
    reader = Reader(db)
    p0 = reader.history(1)
    assert [r.observed_at for r in p0] == sorted((w[2] for w in written if w[1] == 1), reverse=True)
    assert [r.key.name for r in reader.state_at(times[39])] == ["p0"]
    # The writer goes on after the old ids, and dedupes against the migrated latest body.
    last = pod("p0", SEGMENT_SIZE + 5)
    result = RevisionWriter(db).write(
        [
            Observation("c", "MODIFIED", last, times[39]),
            Observation("c", "MODIFIED", pod("p0", 999), times[39]),
        ]
    )
    assert (result.written, result.unchanged) == (1, 1)
    assert stored(db)[-1].id > max(w[0] for w in written)


def test_m007_moves_the_text_time_index_to_microseconds(tmp_path: Path) -> None:
    path = tmp_path / "m006.db"
    old = _old_layout(path)
    # Times with and without a fraction, a leap day, the epoch's far side of 2038: what a
    # text index sorted, the integer one must sort the same way.
    moments = [
        START + timedelta(microseconds=1),
        START + timedelta(days=100, seconds=3, microseconds=999_999),
        datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC),
        datetime(2040, 1, 1, tzinfo=UTC),
    ]
    with old.conn:
        old.execute(
            "INSERT INTO resources (cluster, api_group, api_version, kind, namespace, name) "
            "VALUES ('c', '', 'v1', 'Pod', 'ns', 'p0')"
        )
        keyframe = None
        for i, moment in enumerate(reversed(moments)):  # written late, as a relist can
            change = "created" if i == 0 else "updated"
            rev_id, raw = _old_revision(old, 1, to_stored(moment), change, pod("p0", i), keyframe)
            keyframe = keyframe or (rev_id, raw)
    migrations.apply(old, stop_before="m007_integer_time_index")
    # The file as the version with m006 alone left it: a text index.
    columns = [row[1] for row in old.execute("PRAGMA table_info(revisions)").fetchall()]
    assert columns == ["observed_at", "id", "segment_id"]
    text_order = old.execute("SELECT id FROM revisions ORDER BY observed_at, id").fetchall()
    old.conn.close()

    db = open_database(path)  # migrates
    rows = db.execute(
        "SELECT id, observed_us, observed_at FROM revision_objects ORDER BY observed_us, id"
    ).fetchall()
    assert [(row[0],) for row in rows] == text_order
    assert [row[1] for row in rows] == [to_micros(to_stored(m)) for m in moments]
    # The view shows the instant as the other tables store times (to the microsecond).
    assert [row[2] for row in rows] == [to_stored(m) for m in moments]
    assert [r.observed_at for r in stored(db)] == [to_stored(m) for m in reversed(moments)]


def test_m004_backfills_lifetimes_of_the_old_layout(tmp_path: Path) -> None:
    old = _old_layout(tmp_path / "old.db")
    t = [to_stored(START + timedelta(seconds=s)) for s in range(50)]
    with old.conn:
        for name in ("p0", "p1", "p2"):
            old.execute(
                "INSERT INTO resources (cluster, api_group, api_version, kind, namespace, name) "
                "VALUES ('c', '', 'v1', 'Pod', 'ns', ?)",
                (name,),
            )
        for rid, at, change in [
            (1, t[10], "created"),
            (1, t[20], "updated"),
            (1, t[30], "deleted"),
            (2, t[15], "created"),
            (3, t[5], "created"),
            (3, t[25], "deleted"),
            (3, t[40], "created"),
        ]:
            _old_revision(old, rid, at, change, pod(f"p{rid}", 1), None)
        old.execute("DROP INDEX resources_by_namespace")
        old.execute("DROP INDEX IF EXISTS resources_in_list_order")  # m014, after m004
        old.execute("ALTER TABLE resources DROP COLUMN first_at")
        old.execute("ALTER TABLE resources DROP COLUMN gone_at")
        m004_resource_lifetimes(old)
    assert old.execute("SELECT id, first_at, gone_at FROM resources ORDER BY id").fetchall() == [
        (1, t[10], t[30]),
        (2, t[15], None),
        (3, t[5], None),
    ]


def test_an_old_layout_opened_read_only_is_upgraded_first(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = _old_layout(path)
    at = to_stored(START)
    with old.conn:
        old.execute(
            "INSERT INTO resources (cluster, api_group, api_version, kind, namespace, name, "
            "first_at) VALUES ('c', '', 'v1', 'Pod', 'ns', 'p0', ?)",
            (at,),
        )
        _old_revision(old, 1, at, "created", pod("p0", 1), None)
    old.conn.close()
    reader = Reader(open_database(path, readonly=True))  # the screen's and export's way
    assert [(r.key.name, r.resource_version) for r in reader.state_at(at)] == [("p0", "1")]

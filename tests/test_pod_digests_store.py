"""``pod_digests`` kept true by everything that changes revisions: migration m013 (from an
empty store and from one written at m012), retention, ``timetravel copy`` and ``check
--repair``; on SQLite and on a real PostgreSQL server (tests/fixtures/postgres.py).

"True" is checked two ways each time: the rows equal what a fill from the stored revisions
makes, and ``digest_history`` / ``digest_events`` equal the decoding path's answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.domain.model import Observation
from timetravel.domain.times import to_micros
from timetravel.query.artifacts import (
    digest_events,
    digest_events_from_revisions,
    digest_history,
    digest_history_from_revisions,
)
from timetravel.store import pod_digests
from timetravel.store.check import check, repair
from timetravel.store.copy import Scope, copy_store
from timetravel.store.db import open_database
from timetravel.store.migrate import migrate_store
from timetravel.store.prune import prune
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter

from .test_pod_digests_property import (
    IMAGE_IDS,
    IMAGES,
    OWNER_OBJECTS,
    OWNERS,
    PODS,
    at,
    index_rows,
    observations,
)

WINDOWS = [(0, 60), (0, 5), (10, 30), (25, 26), (30, 60), (44, 59), (50, 50)]


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    return any_db


def history() -> list[dict[str, Any]]:
    """Three Pods over an hour in two clusters: rollouts, crashes, deletions, a Pod
    re-created under its name, owners coming and going, and two revisions delivered
    late (their minutes go back)."""
    steps: list[dict[str, Any]] = []
    for n, owner in enumerate(OWNER_OBJECTS[:3]):
        steps.append(
            {
                "what": "owner",
                "cluster": "east",
                "namespace": "pay",
                "owner": owner,
                "deleted": False,
                "minute": n,
            }
        )
    minutes = [1, 3, 6, 8, 12, 15, 19, 22, 25, 25, 28, 33, 31, 37, 41, 44, 47, 45, 52, 56]
    for n, minute in enumerate(minutes):
        pod = PODS[n % 3]
        state = ["running", "running", "waiting", "running", "terminated"][n % 5]
        containers = [
            {
                "name": "app",
                "image": IMAGES[n % 2],
                "image_id": IMAGE_IDS[(n // 3) % 4],
                "state": state,
                "init": False,
            }
        ]
        if n % 4 == 1:
            containers.append(
                {
                    "name": "sidecar",
                    "image": IMAGES[2],
                    "image_id": IMAGE_IDS[6],
                    "state": "running",
                    "init": False,
                }
            )
        steps.append(
            {
                "what": "pod",
                "cluster": "west" if n % 7 == 6 else "east",
                "namespace": "pay",
                "name": pod,
                "event": "DELETED" if n % 9 == 8 else "MODIFIED",
                "uid": "u2" if n > 12 else "u1",
                "owner": OWNERS[n % 4],
                "hash": "7d9f",
                "containers": containers,
                "minute": minute,
            }
        )
    steps.append({**steps[1], "deleted": True, "minute": 40})
    return steps


def write(where: Path | str, steps: list[dict[str, Any]], batch: int = 5) -> Any:
    db = open_database(where)
    writer = RevisionWriter(db, cache_size=3)
    found = observations(steps)
    for start in range(0, len(found), batch):
        writer.write(found[start : start + batch])
    return db


def assert_true(db: Any, windows: list[tuple[int, int]] = WINDOWS) -> list[tuple[Any, ...]]:
    """The index is what a fill makes, and answers as decoding does; returns its rows."""
    kept = index_rows(db.conn)
    with db.conn:
        db.conn.execute("DELETE FROM pod_digests")
        pod_digests.fill(db.conn)
    assert index_rows(db.conn) == kept
    reader = Reader(db)
    for a, b in windows:
        for cluster in (None, "east", "west"):
            start, end = at(a), at(b)
            assert digest_history(reader, start, end, cluster=cluster) == (
                digest_history_from_revisions(reader, start, end, cluster=cluster)
            )
            assert digest_events(reader, start, end, cluster=cluster) == (
                digest_events_from_revisions(reader, start, end, cluster=cluster)
            )
    return kept


def test_the_writer_keeps_it(db_path: Path | str) -> None:
    db = write(db_path, history())
    rows = assert_true(db)
    assert len({(r[1], r[2]) for r in rows}) >= 8  # groups: the history changes often
    assert any(r[3] is None for r in rows)  # a stop
    # What runs is stored once however often it recurs.
    runs = db.conn.execute("SELECT count(*) FROM pod_runs").fetchone()[0]
    assert runs == len({r[3] for r in rows if r[3] is not None}) < len(rows)
    db.conn.close()


def test_m013_from_an_empty_store_and_from_the_previous_schema(db_path: Path | str) -> None:
    if isinstance(db_path, Path):
        db_path.touch(mode=0o600)  # an empty file: `timetravel migrate` makes it a store
    done = migrate_store(db_path)
    assert "m013_pod_digests" in done.applied  # an empty store: every migration
    db = write(db_path, history())
    kept = index_rows(db.conn)
    # The store as m012 left it (m013 adds only its two tables), with its revisions.
    with db.conn:
        db.conn.execute("DROP TABLE pod_digests")
        db.conn.execute("DROP TABLE pod_runs")
        table = "_migrations" if isinstance(db_path, str) else "_sqlite_migrations"
        db.conn.execute(f"DELETE FROM {table} WHERE name = 'm013_pod_digests'")
    db.conn.close()
    again = migrate_store(db_path)
    assert again.applied == ["m013_pod_digests"]
    db = open_database(db_path)
    assert assert_true(db) == kept
    db.conn.close()


def test_prune_keeps_what_is_in_force(db_path: Path | str) -> None:
    db = write(db_path, history())
    reader = Reader(db)
    # What the decoding path answers from the cut on, before the prune.
    after = [(a, b) for a, b in WINDOWS if a >= 30]
    expected = {
        (a, b): (
            digest_history_from_revisions(reader, at(a), at(b)),
            digest_events_from_revisions(reader, at(a), at(b)),
        )
        for a, b in after
    }
    before = index_rows(db.conn)
    prune(db, at(30), reclaim="none")
    rows = assert_true(db)
    assert rows != before and all(r[1] >= min(x[1] for x in rows) for r in rows)
    reader = Reader(db)
    for (a, b), (spans, events) in expected.items():
        assert digest_history(reader, at(a), at(b)) == spans
        assert digest_events(reader, at(a), at(b)) == events
    # A second prune later on, and one that removes Pods whole.
    prune(db, at(46), reclaim="none")
    assert_true(db)
    prune(db, at(70), reclaim="none")
    assert_true(db)
    db.conn.close()


@pytest.mark.parametrize("target_engine", ["sqlite", "postgresql"])
def test_copy_writes_it_in_the_target(
    tmp_path: Path, target_engine: str, request: pytest.FixtureRequest
) -> None:
    source = write(tmp_path / "source.db", history())
    if target_engine == "sqlite":
        where: Path | str = tmp_path / "target.db"
    else:
        where = request.getfixturevalue("postgres_server").new_database()
    target = open_database(where)
    # Part of it first (since minute 30), then the whole, in small batches: bases, a
    # copy completed later, revisions older than the target's latest (laid out again).
    copy_store(source, target, Scope(since=at(30)), batch=4)
    assert_true(target)
    copy_store(source, target, batch=4)
    copy_store(source, target, batch=4)  # again: adds nothing
    assert_true(target)
    src, dst = Reader(source), Reader(target)
    for a, b in WINDOWS:
        assert digest_history(dst, at(a), at(b)) == digest_history(src, at(a), at(b))
        assert digest_events(dst, at(a), at(b)) == digest_events(src, at(a), at(b))
    source.conn.close()
    target.conn.close()


def test_repair_lays_out_the_pods_it_rewrites(tmp_path: Path) -> None:
    """Two writers on one file (before the lease): the same Pod revisions stored twice,
    each writer keeping the index as it saw it; repair leaves it as the revisions say."""
    path = tmp_path / "tt.db"
    open_database(path).conn.close()
    first = RevisionWriter(open_database(path))
    second = RevisionWriter(open_database(path))
    for obs in observations([s for s in history() if s["what"] == "pod"]):
        for writer in (first, second):
            writer.write([Observation(obs.cluster, obs.event, obs.obj, obs.observed_at)])
    db = open_database(path)
    report = check(db)
    assert report.damaged
    repair(db, report)
    assert_true(db)
    result = CliRunner().invoke(cli, ["check", "--db", str(path)])
    assert "no damage found" in result.output, result.output
    db.conn.close()


def test_check_finds_a_stale_index_and_repair_lays_it_out(db_path: Path | str) -> None:
    """The index is derived: rows that disagree with the revisions (lost, or one too many)
    are found by `check`, named, and laid out again by repair; a sound store is clean."""
    db = write(db_path, history())
    assert check(db).clean
    kept = index_rows(db.conn)
    pods = sorted({r[0] for r in kept})
    with db.conn:
        db.conn.execute("DELETE FROM pod_digests WHERE resource_id = ?", (pods[0],))
        first = next(r for r in kept if r[0] == pods[1])
        db.conn.execute(
            "INSERT INTO pod_digests (at_us, revision_id, resource_id, run_id) "
            "VALUES (?, ?, ?, NULL)",
            (to_micros(at(59)), first[2] + 100_000, pods[1]),
        )
    report = check(db)
    assert sorted(report.stale_pod_digests) == pods[:2]
    assert not report.clean and not report.damaged
    assert any("running digests (pod_digests)" in line for line in report.lines())
    result = repair(db, report)
    assert result.pod_digests == 2
    assert index_rows(db.conn) == kept
    assert check(db).clean
    db.conn.close()

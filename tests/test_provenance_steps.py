"""The unknown-provenance rows moved by a step are the rows built at that moment
(``query.provenance``, issue 26: a step costs what changed, not every Pod).

Property: for random histories of Pods (containers running digests, some of them built,
Pods deleted and made again, owned by ReplicaSets and Jobs that come, go and change their
own owner, in two clusters with the same names), written through the real writer, a walk
of random moments, each reached by a step from the marks before where it is near, gives at
every moment exactly the marks built there from nothing; on SQLite and PostgreSQL. The
demo's week is walked the same way, and the screen's data layer hands back the very
mapping it gave when a step changed none.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.demo_store import DEMO_NOW
from tests.test_incremental_state import _new_store, change_times
from tests.test_pod_digests_property import (
    DIGESTS,
    OWNER_OBJECTS,
    at,
    histories,
    observations,
)
from timetravel.domain.builds import BuildFacts
from timetravel.domain.times import to_stored
from timetravel.query import provenance
from timetravel.query.screen import ScreenData
from timetravel.store.builds import upsert_build
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter


def walk(where: str, moments: list[str], cluster: str | None) -> dict[str, int]:
    """Each moment stepped to from the marks before (built where not near), compared with
    the marks built there; how many were steps, and how many rows were marked."""
    db = open_database(where, readonly=True)
    tally = {"steps": 0, "marked": 0, "moved": 0}
    try:
        reader = Reader(db)
        marks: provenance.Marks | None = None
        for stored in moments:
            records = {r.key: r for r in reader.state_at(stored, cluster=cluster)}
            want = provenance.build(reader, db, stored, records.values(), cluster)
            got = None
            if marks is not None:
                got = provenance.step(reader, db, marks, stored, records, cluster)
            if got is None:
                got = provenance.build(reader, db, stored, records.values(), cluster)
            else:
                tally["steps"] += 1
                tally["moved"] += got.unknown != marks.unknown  # type: ignore[union-attr]
            assert dict(got.unknown) == dict(want.unknown), stored
            assert got.pods == want.pods and got.counts == want.counts, stored
            tally["marked"] += len(got.unknown)
            marks = got
    finally:
        db.conn.close()
    return tally


def write(where: str, history: list[dict[str, Any]]) -> None:
    db = open_database(where)
    try:
        RevisionWriter(db).write(observations(history))
        # One digest of the four was built: the others are of unknown provenance.
        upsert_build(
            db,
            BuildFacts(
                "registry.example.com/pay/api", DIGESTS[0], datetime(2026, 11, 2, tzinfo=UTC)
            ),
        )
    finally:
        db.conn.close()


STANDING: dict[str, Any] = {
    "what": "pod",
    "cluster": "east",
    "namespace": "ops",
    "name": "standing-0",
    "event": "ADDED",
    "uid": "u-standing",
    "owner": None,
    "hash": None,
    "containers": [
        {
            "name": "app",
            "image": "registry.example.com/ops/tool:1",
            "image_id": f"registry.example.com/ops/tool@{DIGESTS[1]}",
            "state": "running",
            "init": False,
        }
    ],
    "minute": 0,
}


def test_steps_over_random_pod_histories_equal_fresh_marks(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    made = iter(range(10_000))
    tally = {"steps": 0, "marked": 0, "moved": 0}

    @settings(
        max_examples=50 if engine == "sqlite" else 20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        history=histories,
        minutes=st.lists(st.integers(-1, 42), min_size=2, max_size=12),
        cluster=st.sampled_from([None, "east"]),
    )
    def check(history: list[dict[str, Any]], minutes: list[int], cluster: str | None) -> None:
        where = _new_store(engine, tmp_path, request, next(made))
        # A Pod running an unbuilt digest throughout: no example marks nothing (twenty
        # examples on PostgreSQL marked 0-15 rows now and then, the tally below failed).
        write(where, [STANDING, *history])
        # Every change forward and back, then random moments: steps that cross changes.
        changed = sorted({step["minute"] for step in history})
        found = walk(where, [at(m) for m in [*changed, *changed[::-1], *minutes]], cluster)
        for name, count in found.items():
            tally[name] += count

    check()
    # Not vacuous: steps were taken, rows were marked, and steps moved the marks (fewer
    # examples on PostgreSQL, each a new database).
    least = 3 if engine == "sqlite" else 1
    assert tally["steps"] >= 20 and tally["marked"] >= 20 and tally["moved"] >= least, tally


def test_an_owner_that_comes_goes_or_changes_its_owner_moves_its_untouched_pods(
    tmp_path: Path,
) -> None:
    """The Pod has no revision in between: only its Job moved (made, owned by a CronJob,
    then its owner dropped, then deleted), and with it the Pod's workload."""
    pod = {
        "what": "pod",
        "cluster": "east",
        "namespace": "ops",
        "name": "worker-0",
        "event": "ADDED",
        "uid": "u1",
        "owner": ("Job", "nightly-123"),
        "hash": None,
        "containers": [
            {
                "name": "app",
                "image": "nginx",
                "image_id": DIGESTS[2],
                "state": "running",
                "init": False,
            }
        ],
        "minute": 0,
    }

    def job(minute: int, index: int, deleted: bool = False) -> dict[str, Any]:
        return {
            "what": "owner",
            "cluster": "east",
            "namespace": "ops",
            "owner": OWNER_OBJECTS[index],
            "deleted": deleted,
            "minute": minute,
        }

    where = str(tmp_path / "owners.db")
    write(where, [pod, job(10, 2), job(20, 3), job(30, 3, deleted=True)])
    moments = [at(m) for m in (5, 15, 25, 35, 15, 5)]
    tally = walk(where, moments, None)
    assert tally["steps"] == 0, "each moment was built again: an owner moved in between"
    workloads = set()
    db = open_database(where, readonly=True)
    try:
        reader = Reader(db)
        for stored in moments:
            records = reader.state_at(stored)
            workloads |= provenance.build(reader, db, stored, records, None).unknown.keys()
    finally:
        db.conn.close()
    assert {(k.kind, k.name) for k in workloads} >= {("CronJob", "nightly"), ("Job", "nightly-123")}


def test_steps_over_the_demo_week_equal_fresh_marks(demo_db: str) -> None:
    times = [to_stored(t) for t in change_times(demo_db)]
    there_and_back = times + times[::-7]
    tally = walk(demo_db, there_and_back, None)
    assert tally["steps"] >= len(there_and_back) // 2 and tally["marked"] > 0, tally


def test_the_screen_hands_back_the_same_marks_when_a_step_moved_none(demo_db: str) -> None:
    data = ScreenData(demo_db, now=DEMO_NOW)
    times = change_times(demo_db)
    seen = []
    for moment in times[-40:]:
        seen.append(data.unknown_provenance(data.resources_at(moment)))
    assert any(dict(s) for s in seen), "the debugging Pod is of unknown provenance"
    same = [b is a for a, b in itertools.pairwise(seen) if dict(a) == dict(b)]
    assert same and all(same), "equal marks are the very mapping given before"
    last = times[-1]
    data.invalidate()  # news that wrote nothing: the same marks still
    assert data.unknown_provenance(data.resources_at(last)) is seen[-1]
    # A build of the unknown digest recorded: its rows are known from the next news on.
    (digest,) = {d for digests in seen[-1].values() for d in digests}
    db = open_database(demo_db)
    try:
        upsert_build(db, BuildFacts("registry.example.com/debug", digest, DEMO_NOW))
        data.invalidate()
        assert dict(data.unknown_provenance(data.resources_at(last))) == {}
    finally:
        with db.conn:  # the demo store is the module's: as it was
            db.execute("DELETE FROM builds WHERE repository = 'registry.example.com/debug'")
        db.conn.close()


def test_the_screens_marks_after_news_equal_fresh_ones(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Pod histories written in batches by one writer (some into its own past) while the
    screen moves, each batch told as the poll tells news: the screen's marks, moved from
    the ones before where what was written allows (store.write_marks), are those a fresh
    screen builds at every moment."""
    made = iter(range(10_000))
    kept = {"asked": 0, "marked": 0}

    @settings(
        max_examples=30 if engine == "sqlite" else 10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        history=histories,
        size=st.integers(1, 5),
        swaps=st.lists(st.booleans(), max_size=8),
        minutes=st.lists(st.integers(-1, 42), min_size=2, max_size=12),
    )
    def check(
        history: list[dict[str, Any]], size: int, swaps: list[bool], minutes: list[int]
    ) -> None:
        where = _new_store(engine, tmp_path, request, next(made))
        ordered = sorted(observations([STANDING, *history]), key=lambda o: o.observed_at)
        batches = [ordered[i : i + size] for i in range(0, len(ordered), size)]
        for i, swap in enumerate(swaps[: len(batches) - 1]):
            if swap:
                batches[i], batches[i + 1] = batches[i + 1], batches[i]
        write(where, [])  # the build of one digest, and an empty store
        db = open_database(where)
        writer = RevisionWriter(db)
        try:
            writer.write(batches.pop(0))
            now = datetime.fromisoformat(at(43).replace("Z", "+00:00"))
            data = ScreenData(where, now=now)
            for minute in minutes:
                if batches:
                    writer.write(batches.pop(0))
                    data.refresh_clusters()  # as the poll does, then tells the news
                    data.invalidate()
                moment = datetime.fromisoformat(at(minute).replace("Z", "+00:00"))
                got = data.unknown_provenance(data.resources_at(moment))
                fresh = ScreenData(where, now=now)
                if fresh.cluster != data.cluster:
                    fresh.set_cluster(data.cluster)  # the one shown since it started
                want = fresh.unknown_provenance(fresh.resources_at(moment))
                assert dict(got) == dict(want), minute
                kept["asked"] += 1
                kept["marked"] += len(got)
        finally:
            db.conn.close()

    check()
    assert kept["marked"] >= 10, kept  # rows were marked, not only empty moments

"""Moving the resources at a moment instead of building them again (issue 26 item 1,
``query.incremental``) shows exactly what a fresh build shows.

Random walks of steps (to the next or previous changes, a microsecond off them) and far
jumps over recorded stores, on SQLite and PostgreSQL, compare every moment the screen's
data layer answers with one built in full (:func:`rebuilt`: nothing cached, no step). The
stores: the demo's week (git, drift, a commit that changes what is declared), random
histories written through the real writer in two clusters (deletions, names created
again, an Argo CD Application whose IgnoreExtraneous comes and goes: other rules for every
row), one with a damaged frame, and one the recorder writes into while the walk goes on
(news told or not, with and without a revision written).
"""

from __future__ import annotations

import json
import shutil
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.demo_store import DEMO_NOW
from tests.fixtures.sample import build_sample_store
from timetravel.domain.model import Observation
from timetravel.domain.times import from_stored, to_stored
from timetravel.query import incremental
from timetravel.query.rows import ResourceSet
from timetravel.query.screen import ScreenData
from timetravel.recorder.events import import_events
from timetravel.store.copy import copy_store
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter

START = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
EVERYTHING = ("0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z")
TICK = timedelta(microseconds=1)


# -- comparing ------------------------------------------------------------------------------
def assert_same(got: ResourceSet, want: ResourceSet) -> None:
    """Everything the screen takes from a moment: rows in order, counts, header facts, the
    record of each row and its position."""
    assert got.at == want.at
    assert got.cluster == want.cluster
    assert got.clusters == want.clusters
    assert got.repos == want.repos
    assert [(r.key, r.state, r.ignored, r.last_change_at, r.last_type) for r in got.rows] == [
        (r.key, r.state, r.ignored, r.last_change_at, r.last_type) for r in want.rows
    ]
    assert got.rows == want.rows
    assert got.counts == want.counts
    assert {k: r.id for k, r in got.records.items()} == {k: r.id for k, r in want.records.items()}
    assert dict(got.positions) == dict(want.positions)


def rebuilt(fresh: ScreenData, at: datetime) -> ResourceSet:
    """The resources at ``at`` read in full: nothing cached, no step from another moment."""
    fresh.invalidate()
    with mock.patch.object(incremental, "step", lambda *args, **kwargs: None):
        return fresh.resources_at(at)


class Counted:
    """incremental.step, counting the steps it made and those it gave up."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._step = incremental.step

    def __call__(self, *args: Any, **kwargs: Any) -> incremental.Moment | None:
        moved = self._step(*args, **kwargs)
        self.counts["moved" if moved is not None else "built"] += 1
        return moved


def change_times(where: Path | str) -> list[datetime]:
    db = open_database(where, readonly=True)
    try:
        records = Reader(db).changes_between(*EVERYTHING, with_body=False)
    finally:
        db.conn.close()
    return [from_stored(t) for t in sorted({r.observed_at for r in records})]


# A walk: where it starts, then moves. ("step", n): n changes on (back when negative);
# ("off", n): n changes on and a microsecond past it; ("jump", i): the i-th change time
# (or before the first, after the last); ("again",): the same moment once more.
MOVES = st.one_of(
    st.tuples(st.just("step"), st.integers(-4, 4)),
    st.tuples(st.just("off"), st.integers(-3, 3)),
    st.tuples(st.just("jump"), st.integers(-1, 10_000)),
    st.tuples(st.just("again")),
)
WALK = st.lists(MOVES, min_size=1, max_size=14)


def moments(times: list[datetime], start: int, moves: list[tuple[Any, ...]]) -> Iterator[datetime]:
    """The moments a walk visits."""
    at = times[start % len(times)]
    yield at
    for move in moves:
        index = bisect_left(times, at)
        if move[0] == "step":
            at = times[max(0, min(len(times) - 1, index + move[1]))]
        elif move[0] == "off":
            at = times[max(0, min(len(times) - 1, index + move[1]))] + TICK
        elif move[0] == "jump":
            if move[1] < 0:
                at = times[0] - timedelta(hours=1)
            elif move[1] >= len(times) + 5:
                at = times[-1] + timedelta(hours=1)
            else:
                at = times[min(move[1], len(times) - 1)]
        yield at


def walk_and_compare(
    data: ScreenData,
    fresh: ScreenData,
    times: list[datetime],
    start: int,
    moves: list[tuple[Any, ...]],
    between: Callable[[datetime], None] | None = None,
) -> None:
    for at in moments(times, start, moves):
        if between is not None:
            between(at)
        got = data.resources_at(at)
        assert_same(got, rebuilt(fresh, at))


# -- the demo's week: git, drift, a changed commit -------------------------------------------
def test_walks_over_the_demo_week_equal_fresh_builds(demo_db: str) -> None:
    data = ScreenData(demo_db, now=DEMO_NOW)
    fresh = ScreenData(demo_db, now=DEMO_NOW)
    times = change_times(demo_db)
    assert len(times) > 50
    counted = Counted()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(start=st.integers(0, 10_000), moves=WALK, near=st.sampled_from([2000, 4, 1]))
    def walk(start: int, moves: list[tuple[Any, ...]], near: int) -> None:
        # A small limit: far jumps build, steps still move.
        with mock.patch.object(incremental, "NEAR_REVISIONS", near):
            walk_and_compare(data, fresh, times, start, moves)

    with mock.patch.object(incremental, "step", counted):
        walk()
    # Not a walk of cache hits: steps moved, and far jumps under a small limit built.
    assert counted.counts["moved"] >= 10
    assert counted.counts["built"] >= 1


def test_a_commit_changes_what_is_declared_and_a_step_across_it_sees_it(demo_db: str) -> None:
    """Every change of the branch, stepped across both ways: the rows git's change touches
    are made again, whatever the cluster did meanwhile."""
    data = ScreenData(demo_db, now=DEMO_NOW)
    fresh = ScreenData(demo_db, now=DEMO_NOW)
    db = open_database(demo_db, readonly=True)
    try:
        moves = [from_stored(r[0]) for r in db.execute("SELECT observed_at FROM ref_updates")]
    finally:
        db.conn.close()
    assert moves
    counted = Counted()
    with mock.patch.object(incremental, "step", counted):
        for moved in moves:
            for at in (moved - TICK, moved, moved - TICK, moved + timedelta(minutes=5), moved):
                got = data.resources_at(at)
                assert_same(got, rebuilt(fresh, at))
    assert counted.counts["moved"] >= 3 * len(moves)


# -- random histories through the real writer, two clusters -----------------------------------
APP = "shop"
NAMES = [f"obj{i}" for i in range(6)]


def _object(kind: str, ns: str, name: str, version: int, uid: str, app: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "uid": uid,
        "resourceVersion": str(version),
        "labels": {"app.kubernetes.io/instance": APP} if app else {},
    }
    if kind == "Application":
        # Its IgnoreExtraneous comes and goes: the rules of every object it tracks move.
        if version % 2:
            meta["annotations"] = {"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": meta,
            "spec": {"project": "default"},
        }
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": {"v": str(version)}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": version % 4},
        "status": {"readyReplicas": version % 3},
    }


EVENT = st.tuples(
    st.sampled_from(["prod", "prod", "staging"]),
    st.sampled_from(["ConfigMap", "Deployment", "Application", "Application"]),
    st.sampled_from(["payments", "argocd"]),
    st.sampled_from(NAMES[:3]) | st.sampled_from(NAMES),
    st.sampled_from(["create", "update", "update", "delete"]),
    st.integers(min_value=0, max_value=90),  # seconds after the event before
    st.booleans(),  # tracked by the Application
)


def history(steps: list[tuple[Any, ...]]) -> dict[str, list[str]]:
    """Valid watch events per cluster (no update of an absent object), as import takes them."""
    live: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    out: dict[str, list[str]] = {"prod": [], "staging": []}
    at = START
    uids = 0
    for version, (cluster, kind, ns, name, action, gap, app) in enumerate(steps, 1):
        at += timedelta(seconds=gap)
        if kind == "Application":
            ns, name = "argocd", APP
        key = (cluster, kind, ns, name)
        if action == "delete":
            if key not in live:
                continue
            event = ("DELETED", live.pop(key))
        else:
            if key not in live:
                uids += 1
                uid = f"uid-{uids}"
                kind_of = "ADDED"
            else:
                uid = live[key]["metadata"]["uid"]
                kind_of = "MODIFIED"
            live[key] = _object(kind, ns, name, version, uid, app)
            event = (kind_of, live[key])
        out[cluster].append(
            json.dumps({"type": event[0], "object": event[1], "observed_at": at.isoformat()})
        )
    return out


def write_history(where: Path | str, steps: list[tuple[Any, ...]]) -> None:
    db = open_database(where)
    try:
        for cluster, lines in history(steps).items():
            report = import_events(db, [*lines], cluster=cluster)
            assert not report.bad
    finally:
        db.conn.close()


def _new_store(engine: str, tmp: Path, request: pytest.FixtureRequest, n: int) -> str:
    if engine == "sqlite":
        return str(tmp / f"h{n}.db")
    return str(request.getfixturevalue("postgres_server").new_database())


def test_walks_over_random_histories_equal_fresh_builds(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    made = iter(range(10_000))
    counted = Counted()

    @settings(
        max_examples=40 if engine == "sqlite" else 12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        steps=st.lists(EVENT, min_size=4, max_size=60),
        start=st.integers(0, 10_000),
        moves=WALK,
        switches=st.lists(st.sampled_from([False, False, False, True]), max_size=14),
    )
    def walk(
        steps: list[tuple[Any, ...]], start: int, moves: list[tuple[Any, ...]], switches: list[bool]
    ) -> None:
        where = _new_store(engine, tmp_path, request, next(made))
        write_history(where, steps)
        times = change_times(where)
        if not times:
            return
        data = ScreenData(where, now=times[-1])
        fresh = ScreenData(where, now=times[-1])
        turns = iter(switches)

        def between(at: datetime) -> None:
            # Now and then the other cluster (a switch invalidates: that one is built).
            if next(turns, False) and len(data.clusters()) > 1:
                other = next(c for c in data.clusters() if c != data.cluster)
                data.set_cluster(other)
                fresh.set_cluster(other)

        walk_and_compare(data, fresh, times, start, moves, between)

    with mock.patch.object(incremental, "step", counted):
        walk()
    assert counted.counts["moved"] >= 10  # not a walk of builds and cache hits


# -- a damaged frame ------------------------------------------------------------------------
def test_a_scrub_across_a_damaged_frame_reads_again_in_full(tmp_path: Path) -> None:
    """One object's segment damaged: a step that meets it gives way to a full read, and
    every moment is the fresh build's (the object left out where its bytes are damaged)."""
    where = build_sample_store(tmp_path / "s.db")
    db = open_database(where)
    try:
        # The segment of the object with the most segments: the damage spans a stretch of
        # time inside the week, with readable segments of it before and after.
        (segment_id,) = db.execute(
            "SELECT s.id FROM segments s WHERE s.resource_id = (SELECT resource_id FROM "
            "segments GROUP BY resource_id ORDER BY count(*) DESC, resource_id LIMIT 1) "
            "ORDER BY s.first_at LIMIT 1 OFFSET 1"
        ).fetchone()
        body = bytearray(
            db.execute("SELECT body FROM segments WHERE id = ?", (segment_id,)).fetchone()[0]
        )
        body[len(body) // 2] ^= 0x10
        with db.conn:
            db.execute("UPDATE segments SET body = ? WHERE id = ?", (bytes(body), segment_id))
    finally:
        db.conn.close()
    times = change_times(where)
    data = ScreenData(where, now=times[-1])
    fresh = ScreenData(where, now=times[-1])
    counted = Counted()
    with mock.patch.object(incremental, "step", counted):
        for direction in (times, times[::-1]):
            for at in direction:
                got = data.resources_at(at)
                assert_same(got, rebuilt(fresh, at))
    assert data.damage_line() is not None  # it was met, and is said
    assert counted.counts["built"] >= 1  # a step met it and gave way
    assert counted.counts["moved"] > len(times)


# -- the recorder writing while the screen reads -----------------------------------------------
def test_steps_while_the_recorder_writes(engine: str, tmp_path: Path, request: Any) -> None:
    """New revisions after the moment shown, and late ones before it (a change placed in a
    recording gap, an import of the past): a step across new ones sees them without being
    told; once the store's news is told (invalidate, as the screen's poll does), every
    moment is the fresh build's again."""
    where: Path | str
    if engine == "sqlite":
        where = tmp_path / "live.db"
        build_sample_store(where)
    else:
        src = tmp_path / "src.db"
        build_sample_store(src)
        where = request.getfixturevalue("postgres_server").new_database()
        a, b = open_database(src, readonly=True), open_database(where)
        try:
            copy_store(a, b)
        finally:
            a.conn.close()
            b.conn.close()
    times = change_times(where)
    last = times[-1]
    data = ScreenData(where, now=last + timedelta(hours=2))
    fresh = ScreenData(where, now=last + timedelta(hours=2))
    here = times[len(times) // 2]
    data.resources_at(here)

    def write(at: datetime, name: str, kind: str = "ADDED") -> None:
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "payments", "uid": f"uid-{name}"},
            "data": {"at": at.isoformat()},
        }
        line = json.dumps({"type": kind, "object": obj, "observed_at": at.isoformat()})
        db = open_database(where)
        try:
            assert not import_events(db, [line], cluster="prod").bad
        finally:
            db.conn.close()

    # New facts after the moment shown: a step over them reads them (they lie in between).
    write(last + timedelta(minutes=1), "new-one")
    write(last + timedelta(minutes=2), "new-one", "MODIFIED")
    for at in (last + timedelta(minutes=1, seconds=30), last + timedelta(minutes=3), here):
        got = data.resources_at(at)
        assert_same(got, rebuilt(fresh, at))
    # A late fact before the moment shown, then the poll's news: the same as a fresh build.
    write(here - timedelta(hours=1), "late-one")
    data.invalidate()
    for at in (here, here + timedelta(minutes=10), times[1], here):
        got = data.resources_at(at)
        assert_same(got, rebuilt(fresh, at))
        assert (at >= here - timedelta(hours=1)) == any(r.key.name == "late-one" for r in got.rows)


def test_news_steps_on_unless_a_writer_went_into_its_own_past(tmp_path: Path) -> None:
    """The screen's poll tells news by invalidating. The next step still moves from the
    moment read last when nothing new lies at or before it, and when where what does lies is
    known: after the oldest of a writer's one batch since, or after the newest it had
    written (read again with the step). Batches of a writer one of which went into its own
    past have the moment read in full (store.write_marks). Each is the fresh build's."""
    where = build_sample_store(tmp_path / "news.db")
    times = change_times(where)
    data = ScreenData(where, now=times[-1])
    fresh = ScreenData(where, now=times[-1])
    counted = Counted()
    db = open_database(where)
    writer = RevisionWriter(db)

    def write(name: str, at: datetime) -> None:
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "payments", "uid": f"uid-{name}"},
            "data": {"a": "1"},
        }
        writer.write([Observation("prod", "ADDED", obj, to_stored(at))])

    try:
        with mock.patch.object(incremental, "step", counted):
            data.resources_at(times[10])
            counted.counts.clear()
            data.invalidate()  # news without a revision
            assert_same(data.resources_at(times[11]), rebuilt(fresh, times[11]))
            assert counted.counts == Counter({"moved": 1})
            # A writer's first revision, before the moment shown: read with the step.
            write("early", times[3])
            data.invalidate()
            got = data.resources_at(times[12])
            assert counted.counts == Counter({"moved": 2})
            assert_same(got, rebuilt(fresh, times[12]))
            assert any(row.key.name == "early" for row in got.rows)
            # The same writer after its newest: after the moment shown, nothing to read.
            write("later", times[-1] + timedelta(minutes=5))
            data.invalidate()
            assert_same(data.resources_at(times[12]), rebuilt(fresh, times[12]))
            assert counted.counts == Counter({"moved": 3})
            # The same writer into its own past, one batch: read from where that lies.
            write("late", times[1])
            data.invalidate()
            got = data.resources_at(times[13])
            assert counted.counts == Counter({"moved": 4})
            assert_same(got, rebuilt(fresh, times[13]))
            assert any(row.key.name == "late" for row in got.rows)
            # Two batches, the second into the past: where it lies is not known, read in full.
            write("after", times[-1] + timedelta(minutes=9))
            write("later-late", times[2])
            data.invalidate()
            got = data.resources_at(times[14])
            assert counted.counts == Counter({"moved": 4})  # not stepped: read in full
            assert_same(got, rebuilt(fresh, times[14]))
            assert any(row.key.name == "later-late" for row in got.rows)
    finally:
        db.conn.close()


# -- writers in and out of order while the screen steps (store.write_marks) -------------------
def test_steps_after_news_from_writers_in_and_out_of_order_equal_fresh_builds(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A random history written in chunks by a writer per cluster (as recorders do), some
    chunks out of order (a writer going into its own past), between the moves of a walk;
    none, one or a few batches between two polls, each poll's news told. Every moment is the fresh build's, and most
    moments after news still step from the one before."""
    made = iter(range(10_000))
    counted = Counted()

    @settings(
        max_examples=30 if engine == "sqlite" else 10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        steps=st.lists(EVENT, min_size=6, max_size=50),
        size=st.integers(1, 6),
        swaps=st.lists(st.booleans(), max_size=12),
        start=st.integers(0, 10_000),
        moves=WALK,
        per_move=st.lists(st.integers(0, 3), max_size=14),
    )
    def walk(
        steps: list[tuple[Any, ...]],
        size: int,
        swaps: list[bool],
        start: int,
        moves: list[tuple[Any, ...]],
        per_move: list[int],
    ) -> None:
        lines = history(steps)
        chunks: list[tuple[str, list[Observation]]] = []
        for cluster, made_lines in lines.items():
            observations = []
            for line in made_lines:
                event = json.loads(line)
                at = to_stored(datetime.fromisoformat(event["observed_at"]))
                observations.append(Observation(cluster, event["type"], event["object"], at))
            chunks += [
                (cluster, observations[i : i + size]) for i in range(0, len(observations), size)
            ]
        chunks.sort(key=lambda chunk: chunk[1][0].observed_at)
        for i, swap in enumerate(swaps[: len(chunks) - 1]):
            if swap:  # the later chunk first: the earlier one is then into its writer's past
                chunks[i], chunks[i + 1] = chunks[i + 1], chunks[i]
        times = sorted({from_stored(o.observed_at) for _, chunk in chunks for o in chunk})
        if not times:
            return
        where = _new_store(engine, tmp_path, request, next(made))
        db = open_database(where)
        writers = {cluster: RevisionWriter(db) for cluster in lines}
        try:
            cluster, chunk = chunks.pop(0)
            writers[cluster].write(chunk)
            data = ScreenData(where, now=times[-1])
            fresh = ScreenData(where, now=times[-1])

            writes = iter(per_move)

            def between(at: datetime) -> None:
                # None, one or a few batches between two polls.
                for _ in range(next(writes, 1)):
                    if chunks:
                        cluster, chunk = chunks.pop(0)
                        writers[cluster].write(chunk)
                data.refresh_clusters()  # as the poll does, then tells the news
                data.invalidate()
                fresh.refresh_clusters()
                if fresh.cluster != data.cluster:
                    fresh.set_cluster(data.cluster)

            walk_and_compare(data, fresh, times, start, moves, between)
        finally:
            db.conn.close()

    with mock.patch.object(incremental, "step", counted):
        walk()
    assert counted.counts["moved"] >= 10  # news did not have every moment read in full


def test_a_copy_into_the_store_has_the_moment_read_in_full(tmp_path: Path) -> None:
    """``timetravel copy`` writes history into the target's past without the writer: the
    screen's next moment after the news is read in full, and holds what was copied."""
    where = build_sample_store(tmp_path / "target.db")
    times = change_times(where)
    source = tmp_path / "source.db"
    shutil.copy(where, source)  # the same store, and its key for Secret values
    db = open_database(source)
    try:
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "copied", "namespace": "payments", "uid": "uid-copied"},
            "data": {"a": "1"},
        }
        RevisionWriter(db).write([Observation("prod", "ADDED", obj, to_stored(times[2]))])
    finally:
        db.conn.close()
    data = ScreenData(where, now=times[-1])
    fresh = ScreenData(where, now=times[-1])
    counted = Counted()
    with mock.patch.object(incremental, "step", counted):
        data.resources_at(times[10])
        counted.counts.clear()
        a, b = open_database(source, readonly=True), open_database(where)
        try:
            assert copy_store(a, b).added.get("revisions") == 1
        finally:
            a.conn.close()
            b.conn.close()
        data.invalidate()
        got = data.resources_at(times[11])
    assert counted.counts == Counter()  # not stepped
    assert_same(got, rebuilt(fresh, times[11]))
    assert any(row.key.name == "copied" for row in got.rows)

"""The ``pod_digests`` index against decoding every Pod revision (issue 23's report speed).

Property: for any history of Pods (containers starting, crashing, re-pulled under a moved
tag, two digests at once, Pods deleted and re-created under their name with a new uid,
ReplicaSets and Jobs owning them or not, revisions arriving late, several clusters), written
through the real writer in random batches, ``digest_history`` and ``digest_events`` (read
from the index) answer exactly what the decoding path (``*_from_revisions``) answers, over
any window and cluster; and the rows the writer kept are the rows a fill from the stored
revisions makes (what migration m013 does). On SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timetravel.domain.model import Observation, ResourceKey
from timetravel.domain.times import to_micros, to_stored
from timetravel.query.artifacts import (
    digest_events,
    digest_events_from_revisions,
    digest_history,
    digest_history_from_revisions,
)
from timetravel.query.delivery import delivery_figures
from timetravel.store import pod_digests
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter

from .fixtures.postgres import PostgresServer

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DIGESTS = ["sha256:" + c * 64 for c in "abcd"]
# Every runtime's form of an image ID (domain.images), and one still pulling (empty).
IMAGE_IDS = [
    *(f"registry.example.com/pay/api@{d}" for d in DIGESTS),
    f"docker-pullable://pay/api@{DIGESTS[1]}",
    f"docker://{DIGESTS[2]}",
    DIGESTS[3],
    f"containerd://{DIGESTS[0]}",
    "",
]
IMAGES = ["registry.example.com/pay/api:1.0", "registry.example.com/pay/api:latest", "nginx"]
PODS = ["api-7d9f-x1", "api-7d9f-x2", "worker-0"]
OWNERS: list[tuple[str, str] | None] = [
    ("ReplicaSet", "api-7d9f"),
    ("ReplicaSet", "api-5c4b"),
    ("ReplicaSet", "gone-1a2b"),  # never recorded: found from the pod-template-hash label
    ("Job", "nightly-123"),
    ("StatefulSet", "worker"),
    ("Node", "node-1"),  # no workload kind: the Pod is its own
    None,
]
OWNER_OBJECTS = [
    ("apps/v1", "ReplicaSet", "api-7d9f", ("Deployment", "api")),
    ("apps/v1", "ReplicaSet", "api-5c4b", ("Deployment", "api")),
    ("batch/v1", "Job", "nightly-123", ("CronJob", "nightly")),
    ("batch/v1", "Job", "nightly-123", None),  # the same Job, its owner dropped
]

container = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["app", "sidecar", "init"]),
        "image": st.sampled_from(IMAGES),
        "image_id": st.sampled_from(IMAGE_IDS),
        "state": st.sampled_from(["running", "running", "waiting", "terminated"]),
        "init": st.booleans(),
    }
)
pod_step = st.fixed_dictionaries(
    {
        "what": st.just("pod"),
        "cluster": st.sampled_from(["east", "west"]),
        "namespace": st.sampled_from(["pay", "ops"]),
        "name": st.sampled_from(PODS),
        "event": st.sampled_from(["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]),
        "uid": st.sampled_from(["u1", "u2"]),
        "owner": st.sampled_from(OWNERS),
        "hash": st.sampled_from(["1a2b", "7d9f", None]),
        "containers": st.lists(container, max_size=3),
        "minute": st.integers(min_value=0, max_value=40),
    }
)
owner_step = st.fixed_dictionaries(
    {
        "what": st.just("owner"),
        "cluster": st.sampled_from(["east", "west"]),
        "namespace": st.sampled_from(["pay", "ops"]),
        "owner": st.sampled_from(OWNER_OBJECTS),
        "deleted": st.booleans(),
        "minute": st.integers(min_value=0, max_value=40),
    }
)
histories = st.lists(st.one_of(pod_step, pod_step, pod_step, owner_step), min_size=1, max_size=40)
windows = st.lists(
    st.tuples(st.integers(min_value=-1, max_value=41), st.integers(min_value=0, max_value=42)),
    min_size=1,
    max_size=4,
)


def at(minute: int) -> str:
    return to_stored(T0 + timedelta(minutes=minute))


def pod_object(step: dict[str, Any], version: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": step["name"],
        "namespace": step["namespace"],
        "uid": step["uid"],
        "resourceVersion": str(version),
        "labels": {"app": "api", **({"pod-template-hash": step["hash"]} if step["hash"] else {})},
    }
    if step["owner"] is not None:
        kind, name = step["owner"]
        api = "batch/v1" if kind == "Job" else "v1" if kind == "Node" else "apps/v1"
        meta["ownerReferences"] = [
            {"apiVersion": api, "kind": kind, "name": name, "uid": "o", "controller": True}
        ]
    spec: dict[str, list[dict[str, Any]]] = {"containers": [], "initContainers": []}
    statuses: dict[str, list[dict[str, Any]]] = {
        "containerStatuses": [],
        "initContainerStatuses": [],
    }
    for c in step["containers"]:
        spec["initContainers" if c["init"] else "containers"].append(
            {"name": c["name"], "image": c["image"]}
        )
        state = {
            "running": {"running": {"startedAt": "2026-11-02T09:00:00Z"}},
            "waiting": {"waiting": {"reason": "ContainerCreating"}},
            "terminated": {"terminated": {"exitCode": 1}},
        }[c["state"]]
        statuses["initContainerStatuses" if c["init"] else "containerStatuses"].append(
            {"name": c["name"], "image": c["image"], "imageID": c["image_id"], "state": state}
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": "Running", **statuses},
    }


def owner_object(step: dict[str, Any], version: int) -> dict[str, Any]:
    api, kind, name, controller = step["owner"]
    meta: dict[str, Any] = {
        "name": name,
        "namespace": step["namespace"],
        "uid": f"{kind}-{name}",
        "resourceVersion": str(version),
    }
    if controller is not None:
        owner_api = "batch/v1" if controller[0] == "CronJob" else "apps/v1"
        meta["ownerReferences"] = [
            {
                "apiVersion": owner_api,
                "kind": controller[0],
                "name": controller[1],
                "uid": "c",
                "controller": True,
            }
        ]
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": {"replicas": version % 3}}


def observations(history: list[dict[str, Any]]) -> list[Observation]:
    out = []
    for version, step in enumerate(history, start=1):
        if step["what"] == "pod":
            obj, event = pod_object(step, version), step["event"]
        else:
            obj = owner_object(step, version)
            event = "DELETED" if step["deleted"] else "MODIFIED"
        out.append(Observation(step["cluster"], event, obj, at(step["minute"])))
    return out


def index_rows(conn: Any) -> list[tuple[Any, ...]]:
    """(resource id, at_us, revision id, what runs as JSON: None for nothing) of each row."""
    return [
        tuple(row)
        for row in conn.execute(
            "SELECT p.resource_id, p.at_us, p.revision_id, r.body FROM pod_digests p "
            "LEFT JOIN pod_runs r ON r.id = p.run_id "
            "ORDER BY p.resource_id, p.at_us, p.revision_id"
        ).fetchall()
    ]


def check_history(
    where: Path | str,
    history: list[dict[str, Any]],
    cuts: list[int],
    window_list: list[tuple[int, int]],
) -> None:
    db = open_database(where)
    try:
        writer = RevisionWriter(db, cache_size=2)  # small: the index's rows are read back too
        batch = observations(history)
        bounds = sorted({0, len(batch), *(c % (len(batch) + 1) for c in cuts)})
        for lo, hi in itertools.pairwise(bounds):
            writer.write(batch[lo:hi])
        kept = index_rows(db.conn)
        # What a fill from the stored revisions makes (migration m013) is what was kept.
        with db.conn:
            db.conn.execute("DELETE FROM pod_digests")
            pod_digests.fill(db.conn)
        assert index_rows(db.conn) == kept
        reader = Reader(db)
        for a, b in window_list:
            start, end = at(min(a, b)), at(max(a, b))
            for cluster in (None, "east"):
                assert digest_history(reader, start, end, cluster=cluster) == (
                    digest_history_from_revisions(reader, start, end, cluster=cluster)
                )
                assert digest_events(reader, start, end, cluster=cluster) == (
                    digest_events_from_revisions(reader, start, end, cluster=cluster)
                )
            wanted = [
                ResourceKey("east", "apps", "Deployment", "pay", "api"),
                ResourceKey("west", "", "Pod", "ops", "worker-0"),
            ]
            assert digest_history(reader, start, end, workloads=wanted) == (
                digest_history_from_revisions(reader, start, end, workloads=wanted)
            )
    finally:
        db.conn.close()


@contextmanager
def sqlite_file() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="tt-poddigests-"))
    try:
        yield folder / "tt.db"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories, cuts=st.lists(st.integers(0, 40), max_size=4), window_list=windows)
def test_index_answers_as_decoding_sqlite(
    history: list[dict[str, Any]], cuts: list[int], window_list: list[tuple[int, int]]
) -> None:
    with sqlite_file() as path:
        check_history(path, history, cuts, window_list)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories, cuts=st.lists(st.integers(0, 40), max_size=4), window_list=windows)
def test_index_answers_as_decoding_postgres(
    postgres_server: PostgresServer,
    history: list[dict[str, Any]],
    cuts: list[int],
    window_list: list[tuple[int, int]],
) -> None:
    check_history(postgres_server.new_database(), history, cuts, window_list)


def test_a_rollout_a_crash_and_a_late_revision(tmp_path: Path) -> None:
    """One hand-made history whose answer is known: a rollout from digest a to b (two at
    once for a minute), a crash of the new Pod (b stops, starts again), and a revision of
    the old Pod delivered late, after the new one's: the index is laid out again so the
    old Pod's stop is where its time puts it."""
    rs_old = {"what": "owner", "cluster": "east", "namespace": "pay", "deleted": False}
    base = {
        "what": "pod",
        "cluster": "east",
        "namespace": "pay",
        "event": "MODIFIED",
        "uid": "u1",
        "hash": "7d9f",
    }
    run = {"name": "app", "image": IMAGES[0], "state": "running", "init": False}
    history = [
        {**rs_old, "owner": OWNER_OBJECTS[0], "minute": 0},
        {**rs_old, "owner": OWNER_OBJECTS[1], "minute": 0},
        {
            **base,
            "name": PODS[0],
            "owner": OWNERS[0],
            "minute": 1,
            "containers": [{**run, "image_id": IMAGE_IDS[0]}],
        },
        {
            **base,
            "name": PODS[1],
            "owner": OWNERS[1],
            "hash": "5c4b",
            "minute": 10,
            "containers": [{**run, "image_id": IMAGE_IDS[1]}],
        },
        {
            **base,
            "name": PODS[1],
            "owner": OWNERS[1],
            "hash": "5c4b",
            "minute": 20,
            "containers": [{**run, "image_id": IMAGE_IDS[1], "state": "waiting"}],
        },
        {
            **base,
            "name": PODS[1],
            "owner": OWNERS[1],
            "hash": "5c4b",
            "minute": 21,
            "containers": [{**run, "image_id": IMAGE_IDS[1]}],
        },
        # Late: the old Pod deleted at minute 11, written after minute 21's revision.
        {
            **base,
            "name": PODS[0],
            "owner": OWNERS[0],
            "minute": 11,
            "event": "DELETED",
            "containers": [],
        },
    ]
    check_history(tmp_path / "tt.db", history, [3, 6], [(0, 30), (5, 15), (12, 25)])
    db = open_database(tmp_path / "tt.db")
    reader = Reader(db)
    first, events = digest_events(reader, at(0), at(30))
    api = ResourceKey("east", "apps", "Deployment", "pay", "api")
    assert first == {}
    assert [(e.at, e.digest, e.started) for e in events] == [
        (at(1), DIGESTS[0], True),
        (at(10), DIGESTS[1], True),
        (at(11), DIGESTS[0], False),
        (at(20), DIGESTS[1], False),
        (at(21), DIGESTS[1], True),
    ]
    assert {e.workload for e in events} == {api}
    figures = delivery_figures(reader, db, at(0), at(30))
    assert [(d.at, d.digest) for d in figures.deployments] == [
        (at(1), DIGESTS[0]),
        (at(10), DIGESTS[1]),
    ]
    assert [(d.at, d.digest) for d in figures.rollbacks] == [(at(21), DIGESTS[1])]
    db.conn.close()


@pytest.mark.parametrize("late", [False, True])
def test_nothing_running_is_no_row_until_something_ran(tmp_path: Path, late: bool) -> None:
    """A Pod still pulling its image has no group; its first running revision opens one,
    and a stop is a group of one row with no container."""
    db = open_database(tmp_path / "tt.db")
    writer = RevisionWriter(db)
    step = {
        "what": "pod",
        "cluster": "east",
        "namespace": "pay",
        "name": PODS[0],
        "event": "ADDED",
        "uid": "u1",
        "owner": OWNERS[0],
        "hash": "7d9f",
    }
    pulling = {"name": "app", "image": IMAGES[0], "image_id": "", "state": "waiting"}
    running = {**pulling, "image_id": IMAGE_IDS[0], "state": "running", "init": False}
    history = [
        {**step, "minute": 1, "containers": [{**pulling, "init": False}]},
        {**step, "event": "MODIFIED", "minute": 2, "containers": [running]},
        {**step, "event": "DELETED", "minute": 3, "containers": [running]},
    ]
    batch = observations(history)
    writer.write(batch[1:] if late else batch)
    if late:
        writer.write(batch[:1])  # the pulling revision, delivered after the others
    rows = [
        (r[1], None if r[3] is None else orjson.loads(r[3])[1][0][2]) for r in index_rows(db.conn)
    ]
    assert rows == [(to_micros(at(2)), DIGESTS[0]), (to_micros(at(3)), None)]
    db.conn.close()

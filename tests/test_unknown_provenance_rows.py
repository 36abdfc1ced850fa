"""The screen's unknown-provenance rows read from the pod_digests index are the rows the
decoding rule finds (every Pod decoded, images_at, provenance_of), at every hour of the
demo's week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from timetravel.demo.build import Demo, build
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_stored
from timetravel.domain.workloads import controller_of
from timetravel.query.artifacts import images_at
from timetravel.query.chain import BUILT, provenance_of
from timetravel.query.workload_artifacts import unknown_provenance
from timetravel.store.builds import builds_of_digests
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

WEEK_DONE = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("week") / "demo", now=WEEK_DONE, zone=ZoneInfo("UTC"))


def decoded(reader: Reader, at: str) -> dict[ResourceKey, tuple[str, ...]]:
    """The rule by decoding: each running container's provenance from its own fields."""
    live = [r for r in reader.state_at(at) if not r.deleted]
    running = images_at(reader, at, state=live)
    builds = builds_of_digests(reader.db, {d for w in running for d in w.by_digest})
    out: dict[ResourceKey, set[str]] = {}
    for workload in running:
        for digest, containers in workload.by_digest.items():
            if provenance_of(containers[0], builds.get(digest, []))[0] == BUILT:
                continue
            out.setdefault(workload.workload, set()).add(digest)
            for container in containers:
                out.setdefault(container.pod, set()).add(digest)
    pods = {r.key: r for r in live if r.key.kind == "Pod" and not r.key.group}
    for key in [k for k in out if k in pods]:
        owner = controller_of(pods[key].obj or {})
        if owner is not None and owner[0] in ("ReplicaSet", "Job"):
            group = "apps" if owner[0] == "ReplicaSet" else "batch"
            parent = ResourceKey(key.cluster, group, owner[0], key.namespace, owner[1])
            out.setdefault(parent, set()).update(out[key])
    return {k: tuple(sorted(v)) for k, v in out.items()}


def test_the_index_finds_the_rows_decoding_finds_at_every_hour(week: Demo) -> None:
    db = open_database(week.db_path, readonly=True)
    try:
        reader = Reader(db)
        seen = 0
        at = WEEK_DONE - timedelta(days=7)
        while at <= WEEK_DONE:
            stored = to_stored(at)
            found = unknown_provenance(reader, db, stored, reader.state_at(stored))
            assert found == decoded(reader, stored), at
            seen += bool(found)
            at += timedelta(hours=1)
        assert seen > 24, "the debugging Pod runs for days: many hours have a row"
    finally:
        db.conn.close()

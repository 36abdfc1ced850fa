"""Generated stores, cached under the output directory keyed by their parameters.

The state store: ``live`` objects (30% Deployments, 30% ConfigMaps, 40% Pods) in 50
namespaces, changed over 30 days until it holds ``revisions`` revisions (status churn
mostly; Pods are replaced, so their identities come and go). Written straight through
the recorder's writer in batches of 5,000 (not through JSON import), each segment written
once when full (:class:`bench.bulk.BulkWriter`: the same rows, ~3x faster).
"""

from __future__ import annotations

import gc
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bulk import BulkWriter
from bench.common import Context
from bench.gen import T0, Cluster
from timetravel.domain.model import Observation, ResourceKey
from timetravel.domain.times import to_stored
from timetravel.store.db import open_database

STATE_MIX = {
    "deploy_status": 0.36,
    "deploy_spec": 0.04,
    "configmap": 0.05,
    "pod_status": 0.45,
    "pod_replace": 0.10,
}
SPAN = timedelta(days=30)
CLUSTER = "bench"


@dataclass(frozen=True)
class StateStore:
    path: Path
    live: int
    revisions: int
    start: datetime
    end: datetime
    namespaces: list[str]
    deployments: list[tuple[str, str]]  # (namespace, name): live for the whole span
    configmaps: list[tuple[str, str]]
    build_s: float

    def keys(self) -> list[ResourceKey]:
        out = [ResourceKey(CLUSTER, "apps", "Deployment", ns, n) for ns, n in self.deployments]
        out += [ResourceKey(CLUSTER, "", "ConfigMap", ns, n) for ns, n in self.configmaps]
        return out


# The stores a run can use (``bench/run.py --scale``): the usual one, and the one issue 26
# asks for beside it. 100,000 live objects with 10,000,000 revisions would take ~45 minutes
# to write here even in bulk (bench/bulk.py: ~180 µs of CPU a revision, generation
# included, on one core); 3,000,000 is what ~15 minutes of an idle core writes.
SCALES = {
    "10k": {"live": 10_000, "revisions": 1_000_000, "namespaces": 50},
    "100k": {"live": 100_000, "revisions": 3_000_000, "namespaces": 200},
}


def state_params(quick: bool, scale: str = "10k") -> dict[str, int]:
    if quick:
        return {"live": 500, "revisions": 10_000, "namespaces": 10}
    return dict(SCALES[scale])


# The layout RevisionWriter writes (keyframes, deltas, columns): a cached store written by
# an older one is not what a recorder of this version would have made, so it is rebuilt.
# 5: the integer time index made by its own migration (m007); 4: segments of 8, integer
# time index; 3: segments (m006);
# 2: sibling keyframes, uid where it changes, binary hashes.
WRITER_LAYOUT = 5


def state_store(ctx: Context) -> StateStore:
    params = state_params(ctx.quick, ctx.shared.get("scale", "10k"))
    path = ctx.cache_path("state", {**params, "writer": WRITER_LAYOUT})
    meta_path = path.with_suffix(".json")
    if not (path.exists() and meta_path.exists()):
        _build_state(ctx, path, meta_path, params)
    else:
        ctx.log(f"state store: cached {path.name}")
        # A store cached by an older program is migrated, as `timetravel` does on open.
        open_database(path).conn.close()
    meta = json.loads(meta_path.read_text())
    return StateStore(
        path=path,
        live=meta["live"],
        revisions=meta["revisions"],
        start=datetime.fromisoformat(meta["start"]),
        end=datetime.fromisoformat(meta["end"]),
        namespaces=meta["namespaces"],
        deployments=[tuple(x) for x in meta["deployments"]],  # type: ignore[misc]
        configmaps=[tuple(x) for x in meta["configmaps"]],  # type: ignore[misc]
        build_s=meta["build_s"],
    )


def _build_state(ctx: Context, path: Path, meta_path: Path, params: dict[str, int]) -> None:
    live, total = params["live"], params["revisions"]
    tmp = path.with_name(path.name + ".tmp")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    ctx.log(f"state store: generating {live:,} live objects, {total:,} revisions (cached after)")
    deployments = live * 3 // 10
    configmaps = live * 3 // 10
    cluster = Cluster(
        ctx.seed + 2,
        deployments=deployments,
        configmaps=configmaps,
        pods=live - deployments - configmaps,
        namespaces_count=params["namespaces"],
        start=T0,
    )
    db = open_database(tmp)
    # The recorder's writer, each segment written once when full (the same rows).
    writer = BulkWriter(db)
    dt = SPAN / total
    written = 0
    started = time.perf_counter()
    gc.disable()  # generated objects hold no cycles; collection only slows the build
    try:
        batch: list[Observation] = []

        def flush() -> None:
            nonlocal written
            written += writer.write(batch).written
            batch.clear()

        for change in cluster.initial():
            batch.append(Observation(CLUSTER, change.event, change.obj, to_stored(change.at)))
        flush()
        events = written
        last_log = time.perf_counter()
        while events < total:
            for change in cluster.step(mix=STATE_MIX, dt=dt):
                batch.append(Observation(CLUSTER, change.event, change.obj, to_stored(change.at)))
                events += 1
            if len(batch) >= 5000:
                flush()
                if time.perf_counter() - last_log > 15:
                    last_log = time.perf_counter()
                    rate = written / (last_log - started)
                    ctx.log(f"state store: {written:,} revisions ({rate:,.0f}/s)")
        flush()
        writer.finish()
    finally:
        gc.enable()
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    build_s = time.perf_counter() - started
    os.replace(tmp, path)
    meta: dict[str, Any] = {
        "live": live,
        "revisions": written,
        "start": T0.isoformat(),
        "end": cluster.now.isoformat(),
        "namespaces": cluster.ns,
        "deployments": [(d.namespace, d.name) for d in cluster.deployments],
        "configmaps": [(c.namespace, c.name) for c in cluster.configmaps],
        "build_s": build_s,
    }
    meta_path.write_text(json.dumps(meta))
    ctx.log(f"state store: {written:,} revisions in {build_s:.0f} s")

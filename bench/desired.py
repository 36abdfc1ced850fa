"""Desired state at T, git backfill, and the full desired-vs-actual snapshot.

- ``desired.backfill``: ``GitSource.sync()`` of a generated repository (2,000 commits over
  500 manifests) into a copy of the state store; target <= 60 s.
- ``desired.at``: ``DesiredState.at(T)`` at seeded random moments once backfilled (one warm
  DesiredState, as the screen keeps); target p95 <= 20 ms.
- ``desired.snapshot``: ``build_snapshot`` at a moment with 10,000 live resources (500 of
  them declared in git), the full desired-vs-actual snapshot; target <= 1 s. The JSON
  rendering of it (``render_json``, the export) is timed beside it.
"""

from __future__ import annotations

import random
import shutil
import time
from datetime import timedelta
from pathlib import Path

from bench.common import Context, Figure, fmt_ms, p50_p95, percentile
from bench.datasets import SPAN, StateStore, state_store
from bench.gitrepo import build_repo
from timetravel.domain.times import to_stored
from timetravel.export import write_export
from timetravel.export.json_export import render_json
from timetravel.query.desired import DesiredState
from timetravel.query.moment import build_snapshot
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.store.db import open_database


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"commits": 40, "manifests": 40, "at": 30, "snapshots": 1, "budget": 10}
    return {"commits": 2000, "manifests": 500, "at": 200, "snapshots": 5, "budget": 60}


def repo_for(ctx: Context, store: StateStore) -> Path:
    """The generated GitOps repository declaring the state store's Deployments (cached)."""
    n = sizes(ctx.quick)
    return build_repo(
        ctx,
        commits=n["commits"],
        manifests=n["manifests"],
        apps=store.deployments,
        start=store.start,
        span=SPAN,
    )


def run(ctx: Context) -> list[Figure]:
    n = sizes(ctx.quick)
    store = state_store(ctx)
    repo = repo_for(ctx, store)
    db_path = ctx.out / "desired.db"
    for suffix in ("", "-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(store.path, db_path)
    ctx.log("desired: backfilling the repository")
    source = GitSource(db_path, repo, "main", clock=MonotonicClock(), progress=False)
    t = time.perf_counter()
    recorded = source.sync()
    backfill_s = time.perf_counter() - t
    ctx.shared["desired_db"] = db_path  # the screen benchmark reads this store

    db = open_database(db_path, readonly=True)
    desired = DesiredState(db)
    rnd = random.Random(ctx.seed + 5)
    span = store.end - store.start
    at_times: list[float] = []
    declared = 0
    desired.at(to_stored(store.end))  # warm
    for _ in range(n["at"]):
        at = to_stored(store.start + span * (0.02 + 0.98 * rnd.random()))
        t = time.perf_counter()
        sides = desired.at(at)
        at_times.append(time.perf_counter() - t)
        declared = max(declared, sum(len(s.objects) for s in sides))
    db.conn.close()

    ctx.log("desired: building snapshots")
    snap_times: list[float] = []
    render_times: list[float] = []
    counts: dict[str, int] = {}
    changes = 0
    size = 0
    for i in range(n["snapshots"]):
        if sum(snap_times) > n["budget"]:
            break  # one sample is enough to tell a many-seconds snapshot from a 1 s one
        db = open_database(db_path, readonly=True)  # a fresh store connection per export
        at = store.end - timedelta(minutes=61 + 7 * i)
        t = time.perf_counter()
        snapshot = build_snapshot(db, at, window=timedelta(hours=1))
        snap_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        body = render_json(snapshot)
        render_times.append(time.perf_counter() - t)
        size = len(body)
        changes = len(snapshot.changes)
        counts = {}
        for view in snapshot.resources:
            counts[view.state] = counts.get(view.state, 0) + 1
        db.conn.close()
        # Freed here, not when the next snapshot is assigned: else the next sample would
        # count this one's deallocation (~2 million objects, a quarter of a second).
        del snapshot, body

    # The bundle export end to end, as `timetravel export --format bundle` does it: the
    # snapshot, then every file of the bundle.
    db = open_database(db_path, readonly=True)
    t = time.perf_counter()
    bundle = write_export(
        build_snapshot(db, store.end - timedelta(minutes=61), window=timedelta(hours=1)), "bundle"
    )
    bundle_s = time.perf_counter() - t
    db.conn.close()

    p50, p95 = p50_p95(at_times)
    snap_med = percentile(snap_times, 50)
    resources = sum(counts.values())
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    return [
        Figure(
            "desired.backfill",
            f"{backfill_s:.1f} s",
            "<= 60 s" if not ctx.quick else "<= 60 s at 2,000 commits",
            backfill_s <= 60 if not ctx.quick else None,
            f"{recorded:,} commits, {n['manifests']:,} manifests "
            f"({recorded / backfill_s:,.0f} commits/s)",
            value=backfill_s,
        ),
        Figure(
            "desired.at",
            f"p50 {fmt_ms(p50)} p95 {fmt_ms(p95)}",
            "p95 <= 20 ms",
            p95 <= 20,
            f"{declared:,} declared objects; {len(at_times)} moments",
            value=p95,
            extra={"p50_ms": p50, "p95_ms": p95},
        ),
        Figure(
            "desired.snapshot",
            f"{snap_med:.2f} s",
            "<= 1 s" if not ctx.quick else "<= 1 s at 10,000",
            snap_med <= 1 if not ctx.quick else None,
            f"median of {len(snap_times)}, max {max(snap_times):.2f} s; {resources:,} resources "
            f"({states}), {changes:,} changes in the 2 h window; render_json "
            f"{percentile(render_times, 50):.2f} s more for {size / 2**20:.1f} MB",
            value=snap_med,
            extra={"render_s": percentile(render_times, 50), "samples": snap_times},
        ),
        Figure(
            "export.bundle",
            f"{bundle_s:.2f} s",
            "<= 10 s" if not ctx.quick else "<= 10 s at 10,000",
            bundle_s <= 10 if not ctx.quick else None,
            f"{resources:,} resources, snapshot + bundle, {len(bundle) / 2**20:.1f} MB .tar.gz",
            value=bundle_s,
        ),
    ]

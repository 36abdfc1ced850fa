"""Artifacts on the state store (10,000 live objects, 4,000 of them Pods, 1,000,000 revisions):

- ``artifacts.images_at``: the digests every workload runs at T (``query.artifacts.images_at``
  given the state at T a snapshot has read: the Pods and ReplicaSets parsed, the owner chain
  followed). Target: it adds <= 20% to the snapshot's time: p95 <= 0.2 x the median
  ``build_snapshot`` at such moments (on this store, which has no repository);
- ``artifacts.report_30d``: ``timetravel report --since 30d`` over the whole 30-day span
  (``query.delivery.delivery_figures``: the Pods' running digests where they changed, one
  range of the ``pod_digests`` index, counted per workload; before the index, every Pod
  revision of the span was decoded). Target <= 5 s. A store cached before the index gets
  it from migration m013 when opened (~17 s on this store, once).
"""

from __future__ import annotations

import random
import time

from bench.common import Context, Figure, fmt_ms, p50_p95
from bench.datasets import state_store
from timetravel.domain.times import from_stored, to_stored
from timetravel.host import collector_paused
from timetravel.query.artifacts import images_at
from timetravel.query.delivery import delivery_figures
from timetravel.query.moment import build_snapshot
from timetravel.store.db import open_database
from timetravel.store.reader import Reader


def run(ctx: Context) -> list[Figure]:
    store = state_store(ctx)
    samples = 4 if ctx.quick else 20
    rnd = random.Random(ctx.seed + 11)
    span = store.end - store.start
    moments = [to_stored(store.start + span * (0.05 + 0.95 * rnd.random())) for _ in range(samples)]
    db = open_database(store.path, readonly=True)
    reader = Reader(db)
    reader.state_at(moments[0])  # warm, as the screen and the state figure are
    state: list[float] = []
    images: list[float] = []
    workloads = 0
    for at in moments:
        t = time.perf_counter()
        with collector_paused():
            records = reader.state_at(at)
            _ = [record.lazy_obj() for record in records]
        state.append(time.perf_counter() - t)
        t = time.perf_counter()
        with collector_paused():
            found = images_at(reader, at, state=records)  # what a snapshot adds
        images.append(time.perf_counter() - t)
        del records
        workloads = len(found)
    snapshot: list[float] = []
    for at in moments[: max(2, samples // 4)]:
        t = time.perf_counter()
        build_snapshot(db, from_stored(at))
        snapshot.append(time.perf_counter() - t)
    t = time.perf_counter()
    figures = delivery_figures(reader, db, to_stored(store.start), to_stored(store.end))
    report_s = time.perf_counter() - t
    db.conn.close()
    s50, s95 = p50_p95(state)
    i50, i95 = p50_p95(images)
    snap50, _ = p50_p95(snapshot)
    shape = f"{store.live:,} live objects, {store.revisions:,} revisions"
    return [
        Figure(
            "artifacts.images_at",
            f"p50 {fmt_ms(i50)} p95 {fmt_ms(i95)}",
            f"p95 <= 0.2 x snapshot ({fmt_ms(snap50 * 0.2)})",
            i95 <= snap50 * 0.2,
            f"{shape}; {workloads:,} workloads; added to a snapshot (build_snapshot, no "
            f"repository: p50 {fmt_ms(snap50)}; its state read p50 {fmt_ms(s50)} p95 "
            f"{fmt_ms(s95)})",
            value=i95 * 1000,
        ),
        Figure(
            "artifacts.report_30d",
            f"{report_s:.2f} s",
            "<= 5 s",
            report_s <= 5.0,
            f"{shape}; {len(figures.deployments)} deployments over 30 days",
            value=report_s,
        ),
    ]

"""State at T: on a store of 10,000 live objects and 1,000,000 revisions, p50/p95 of

- the full state (``Reader.state_at(at)`` and every live object's JSON at hand,
  ``RevisionRecord.lazy_obj()``, as a snapshot and its JSON export read it: with the
  collector paused, see ``host.collector_paused``), target p95 <= 250 ms; and,
  for reference, the same with every object then parsed into Python (what a reader that
  walks every object pays; no target);
- one namespace (``state_at(at, namespace=ns)``, ~200 objects), target p95 <= 20 ms;
- one object (``object_at(key, at)``), target p95 <= 5 ms;

at seeded random moments across the recorded span, one warm Reader (as the screen keeps).
"""

from __future__ import annotations

import random
import time

from bench.common import Context, Figure, fmt_ms, p50_p95
from bench.datasets import state_store
from timetravel.domain.times import to_stored
from timetravel.host import collector_paused
from timetravel.store.db import open_database
from timetravel.store.reader import Reader


def samples(quick: bool) -> dict[str, int]:
    if quick:
        return {"full": 4, "namespace": 20, "object": 50}
    return {"full": 40, "namespace": 200, "object": 500}


def run(ctx: Context) -> list[Figure]:
    store = state_store(ctx)
    n = samples(ctx.quick)
    rnd = random.Random(ctx.seed + 3)
    span = store.end - store.start

    def moment() -> str:
        return to_stored(store.start + span * (0.05 + 0.95 * rnd.random()))

    db = open_database(store.path, readonly=True)
    reader = Reader(db)
    keys = store.keys()
    sizes: list[int] = []

    reader.state_at(moment())  # warm: the page cache and the keyframe cache, as a screen has
    full: list[float] = []
    parsed: list[float] = []
    for _ in range(n["full"]):
        at = moment()
        t = time.perf_counter()
        with collector_paused():
            records = reader.state_at(at)
            objects = [record.lazy_obj() for record in records]
            full.append(time.perf_counter() - t)
            decoded = sum(1 for record in records if record.obj is not None)
        parsed.append(time.perf_counter() - t)
        sizes.append(decoded)
        del records, objects  # their deallocation is not the next sample's
    ns_times: list[float] = []
    ns_sizes: list[int] = []
    for _ in range(n["namespace"]):
        at, ns = moment(), rnd.choice(store.namespaces)
        t = time.perf_counter()
        with collector_paused():
            records = reader.state_at(at, namespace=ns)
            decoded = sum(1 for record in records if record.obj is not None)
        ns_times.append(time.perf_counter() - t)
        ns_sizes.append(decoded)
        del records
    obj_times: list[float] = []
    for _ in range(n["object"]):
        at, key = moment(), rnd.choice(keys)
        t = time.perf_counter()
        record = reader.object_at(key, at)
        assert record is not None and record.obj is not None, key
        obj_times.append(time.perf_counter() - t)
    db.conn.close()

    shape = f"{store.live:,} live objects, {store.revisions:,} revisions"
    figures = []
    for name, times, target, extra in (
        ("state.full", full, 250.0, f"{sum(sizes) / len(sizes):,.0f} objects"),
        (
            "state.full_parsed",
            parsed,
            None,
            "the same, then every object parsed into Python (orjson)",
        ),
        ("state.namespace", ns_times, 20.0, f"{sum(ns_sizes) / len(ns_sizes):,.0f} objects"),
        ("state.object", obj_times, 5.0, "one object"),
    ):
        p50, p95 = p50_p95(times)
        figures.append(
            Figure(
                name,
                f"p50 {fmt_ms(p50)} p95 {fmt_ms(p95)}",
                f"p95 <= {target:g} ms" if target is not None else "",
                p95 <= target if target is not None else None,
                f"{extra}; {len(times)} moments; {shape}",
                value=p95,
                extra={"p50_ms": p50, "p95_ms": p95},
            )
        )
    return figures

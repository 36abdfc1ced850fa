"""State at T from PostgreSQL beside SQLite, on the same store (bench/state.py's).

The state store (10,000 live objects, 1,000,001 revisions; bench/datasets.py) copied into
PostgreSQL (bench/pgcopy.py, cached in the benchmarks' server), then at the same seeded
moments, one warm ``Reader`` on each engine, the two taking turns (which goes first
alternates) so the machine's slow spells fall on both:

- ``pg.state_full``: ``state_at(at)`` and every object's JSON at hand, as ``state.full``
  measures it; target p95 <= 2x SQLite's p95 of the same moments (issue 18);
- ``pg.state_namespace``: one namespace, as ``state.namespace`` (target p95 <= 20 ms);
- ``pg.state_object``: one object, as ``state.object`` (target p95 <= 5 ms).

The PostgreSQL server is on loopback (TCP to 127.0.0.1), as a team's server next to the
screen would be at best; every round trip is in the figures.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from bench.common import Context, Figure, fmt_ms, p50_p95
from bench.datasets import StateStore, state_store
from bench.pgcopy import copy_store
from bench.pgserver import cached_database
from bench.state import samples
from tests.fixtures.postgres import PostgresServer
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_stored
from timetravel.host import collector_paused
from timetravel.store.db import open_database
from timetravel.store.reader import Reader


def pg_state_url(ctx: Context, server: PostgresServer, store: StateStore) -> str:
    """The state store's copy in PostgreSQL (cached under the name of the SQLite file)."""
    name = store.path.stem.replace("-", "_")
    return cached_database(ctx, server, name, lambda url: copy_store(store.path, url, ctx.log))


def _full(reader: Reader, at: str) -> tuple[float, int]:
    t = time.perf_counter()
    with collector_paused():
        records = reader.state_at(at)
        objects = [record.lazy_obj() for record in records]
        elapsed = time.perf_counter() - t
    count = len(objects)
    del records, objects  # their deallocation is not the next sample's
    return elapsed, count


def _namespace(reader: Reader, at: str, ns: str) -> tuple[float, int]:
    t = time.perf_counter()
    with collector_paused():
        records = reader.state_at(at, namespace=ns)
        count = sum(1 for record in records if record.obj is not None)
    elapsed = time.perf_counter() - t
    del records
    return elapsed, count


def _object(reader: Reader, at: str, key: ResourceKey) -> tuple[float, int]:
    t = time.perf_counter()
    record = reader.object_at(key, at)
    assert record is not None and record.obj is not None, key
    return time.perf_counter() - t, record.id


def run_state(ctx: Context, server: PostgresServer) -> list[Figure]:
    store = state_store(ctx)
    url = pg_state_url(ctx, server, store)
    n = samples(ctx.quick)
    rnd = random.Random(ctx.seed + 3)
    span = store.end - store.start

    def moment() -> str:
        return to_stored(store.start + span * (0.05 + 0.95 * rnd.random()))

    engines = {
        "sqlite": Reader(open_database(store.path, readonly=True)),
        "postgresql": Reader(open_database(url, readonly=True)),
    }
    times: dict[str, dict[str, list[float]]] = {
        engine: {"full": [], "ns": [], "obj": []} for engine in engines
    }
    sizes: dict[str, list[int]] = {"full": [], "ns": []}
    order = list(engines)

    def both(kind: str, call: Callable[..., tuple[float, int]], *args: Any) -> None:
        order.reverse()  # which engine goes first alternates
        counts = set()
        for engine in order:
            elapsed, count = call(engines[engine], *args)
            times[engine][kind].append(elapsed)
            counts.add(count)
        assert len(counts) == 1, f"the engines disagree on {kind}: {counts} {args}"
        if kind in sizes:
            sizes[kind].append(counts.pop())

    ctx.log("pg: state at T, SQLite and PostgreSQL in turn")
    warm = moment()
    for reader in engines.values():  # warm: page caches, keyframes, identities
        _full(reader, warm)
    for _ in range(n["full"]):
        at = moment()
        both("full", _full, at)
    for _ in range(n["namespace"]):
        at, ns = moment(), rnd.choice(store.namespaces)
        both("ns", _namespace, at, ns)
    keys = store.keys()
    for _ in range(n["object"]):
        both("obj", _object, moment(), rnd.choice(keys))
    for reader in engines.values():
        reader.conn.close()

    shape = f"{store.live:,} live objects, {store.revisions:,} revisions"
    figures = []
    sq_full = p50_p95(times["sqlite"]["full"])
    pg_full = p50_p95(times["postgresql"]["full"])
    ratio = pg_full[1] / sq_full[1]
    figures.append(
        Figure(
            "pg.state_full",
            f"p50 {fmt_ms(pg_full[0])} p95 {fmt_ms(pg_full[1])} ({ratio:.2f}x SQLite)",
            "p95 <= 2x SQLite",
            ratio <= 2.0,
            f"SQLite p50 {fmt_ms(sq_full[0])} p95 {fmt_ms(sq_full[1])} at the same "
            f"{len(times['sqlite']['full'])} moments; "
            f"{sum(sizes['full']) / len(sizes['full']):,.0f} objects; {shape}; loopback",
            value=ratio,
            extra={
                "pg_p50_ms": pg_full[0],
                "pg_p95_ms": pg_full[1],
                "sqlite_p50_ms": sq_full[0],
                "sqlite_p95_ms": sq_full[1],
            },
        )
    )
    for name, kind, target, what in (
        ("pg.state_namespace", "ns", 20.0, f"{sum(sizes['ns']) / len(sizes['ns']):,.0f} objects"),
        ("pg.state_object", "obj", 5.0, "one object"),
    ):
        sq = p50_p95(times["sqlite"][kind])
        pg = p50_p95(times["postgresql"][kind])
        figures.append(
            Figure(
                name,
                f"p50 {fmt_ms(pg[0])} p95 {fmt_ms(pg[1])}",
                f"p95 <= {target:g} ms",
                pg[1] <= target,
                f"SQLite p50 {fmt_ms(sq[0])} p95 {fmt_ms(sq[1])} at the same moments; {what}; "
                f"{len(times['sqlite'][kind])} moments; {shape}; loopback",
                value=pg[1],
                extra={"pg_p50_ms": pg[0], "pg_p95_ms": pg[1], "sqlite_p95_ms": sq[1]},
            )
        )
    return figures

"""Three recorders writing at once into one PostgreSQL database (issue 18: each >= 2,000
events/s sustained).

Three processes, each a recorder of its own cluster (``writer-0`` .. ``writer-2``, a
seeded generated cluster of ``objects`` objects, bench/gen.py), each with its own
``RevisionWriter`` on its own connection to one new database. Each first writes its
initial list (every object ADDED), then, started together (a barrier), a stream of watch
events (status churn, spec changes, ConfigMaps, Pods replaced: the state store's mix) in
batches of 1,000 (the recorder's batch): each line parsed (``orjson.loads``) and written
through the writer, as the recorder does with what a watch delivers. The events are
generated and serialized before the clock starts. ``pg.writers`` is the slowest writer's
rate over its stream, each writer's beside it.

For reference, the same stream of one writer alone into a SQLite file (SQLite takes one
writer at a time: three would queue on its lock).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.common import Context, Figure, fmt_rate, parse_rate
from bench.datasets import STATE_MIX
from bench.gen import T0, Cluster
from bench.pgserver import drop_database, fresh_database
from tests.fixtures.postgres import PostgresServer

WRITERS = 3
BATCH = 1000  # timetravel.recorder.cluster.BATCH
KEY = "cd" * 32  # TIMETRAVEL_SECRET_KEY of the writers: one team store, one key


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"objects": 100, "events": 1000}
    return {"objects": 2000, "events": 45_000}


Line = tuple[str, bytes, str]  # event, the object's JSON, observed_at


def _stream(seed: int, objects: int, events: int) -> tuple[list[Line], list[Line]]:
    """The initial list and the watch events of one generated cluster, serialized."""
    from timetravel.domain.times import to_stored

    deployments = objects * 3 // 10
    configmaps = objects * 3 // 10
    cluster = Cluster(
        seed,
        deployments=deployments,
        configmaps=configmaps,
        pods=objects - deployments - configmaps,
        namespaces_count=20,
        start=T0,
    )
    initial = [(c.event, orjson.dumps(c.obj), to_stored(c.at)) for c in cluster.initial()]
    stream: list[Line] = []
    while len(stream) < events:
        for c in cluster.step(mix=STATE_MIX, dt=timedelta(milliseconds=20)):
            stream.append((c.event, orjson.dumps(c.obj), to_stored(c.at)))
    return initial, stream[:events]


def _write(writer: Any, cluster: str, lines: list[Line]) -> int:
    from timetravel.domain.model import Observation

    written = 0
    for start in range(0, len(lines), BATCH):
        batch = [
            Observation(cluster, event, orjson.loads(raw), at)
            for event, raw, at in lines[start : start + BATCH]
        ]
        written += writer.write(batch).written
    return written


def _server_cpu(conn: Any) -> float:
    """CPU seconds the server process of this connection has used (0 for SQLite, or where
    /proc does not tell): the server runs on this machine, beside the writers."""
    if getattr(conn, "engine", "sqlite") != "postgresql":
        return 0.0
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _writer_process(
    where: str, index: int, seed: int, objects: int, events: int, barrier: Any, results: Any
) -> None:
    """One recorder: its initial list, then (all at once) its stream of events."""
    os.environ["TIMETRAVEL_SECRET_KEY"] = KEY
    from timetravel.host import tune_collector
    from timetravel.store.db import open_database
    from timetravel.store.writer import RevisionWriter

    tune_collector()  # as `timetravel record` runs
    try:
        initial, stream = _stream(seed + 100 + index, objects, events)
        db = open_database(where)
        writer = RevisionWriter(db)
        cluster = f"writer-{index}"
        writer.ensure_cluster(cluster)
        barrier.wait(timeout=600)
        t = time.perf_counter()
        listed = _write(writer, cluster, initial)
        initial_s = time.perf_counter() - t
        barrier.wait(timeout=600)
        server_cpu = _server_cpu(db.conn)
        cpu = time.process_time()
        t = time.perf_counter()
        written = _write(writer, cluster, stream)
        stream_s = time.perf_counter() - t
        cpu = time.process_time() - cpu
        server_cpu = _server_cpu(db.conn) - server_cpu
        db.conn.close()
        results.put(
            {
                "index": index,
                "initial": len(initial),
                "listed": listed,
                "initial_s": initial_s,
                "events": len(stream),
                "written": written,
                "stream_s": stream_s,
                "cpu_s": cpu,
                "server_cpu_s": server_cpu,
            }
        )
    except BaseException as exc:
        barrier.abort()
        results.put({"index": index, "error": f"{type(exc).__name__}: {exc}"})
        raise


def _run_writers(wheres: list[str], seed: int, n: dict[str, int]) -> list[dict[str, Any]]:
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(len(wheres))
    results = mp.Queue()
    procs = [
        mp.Process(
            target=_writer_process,
            args=(where, i, seed, n["objects"], n["events"], barrier, results),
        )
        for i, where in enumerate(wheres)
    ]
    for proc in procs:
        proc.start()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + 1800
    try:
        while len(out) < len(procs):
            try:
                out.append(results.get(timeout=5))
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    barrier.abort()
                    raise RuntimeError(
                        f"a writer process ended without a result (exit {dead[0].exitcode})"
                        if dead
                        else "the writers did not finish in 30 min"
                    ) from None
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    errors = [r["error"] for r in out if "error" in r]
    if errors:
        raise RuntimeError(f"a writer failed: {errors[0]}")
    return sorted(out, key=lambda r: r["index"])


def run_writers(ctx: Context, server: PostgresServer) -> list[Figure]:
    from timetravel.store.db import open_database

    n = sizes(ctx.quick)
    name = "writers"
    url = fresh_database(server, name)
    open_database(url).conn.close()  # migrated once, before the writers start
    ctx.log(f"pg: {WRITERS} writers at once, {n['events']:,} events each")
    try:
        results = _run_writers([url] * WRITERS, ctx.seed, n)
        revisions = int(server.sql("SELECT count(*) FROM revisions", name).strip())
    finally:
        drop_database(server, name)
    ctx.log("pg: the same stream, one writer alone into SQLite")
    sqlite_path = ctx.out / "pg-writers.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(sqlite_path) + suffix).unlink(missing_ok=True)
    try:
        alone = _run_writers([str(sqlite_path)], ctx.seed, n)[0]
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(sqlite_path) + suffix).unlink(missing_ok=True)

    rates = [r["events"] / r["stream_s"] for r in results]
    listed = [r["initial"] / r["initial_s"] for r in results]
    slowest = min(rates)
    each = ", ".join(f"{rate:,.0f}" for rate in rates)
    alone_rate = alone["events"] / alone["stream_s"]
    # What the machine can do at most: every event costs the writer's CPU and the server's,
    # and the writers and their servers share the machine's CPUs.
    events = sum(r["events"] for r in results)
    client_us = sum(r["cpu_s"] for r in results) / events * 1e6
    server_us = sum(r["server_cpu_s"] for r in results) / events * 1e6
    cpus = os.cpu_count() or 1
    bound = cpus / ((client_us + server_us) / 1e6) / WRITERS
    alone_us = alone["cpu_s"] / alone["events"] * 1e6
    parse = _parse_rate(ctx.seed, n)
    target = ">= 2,000 ev/s each"
    return [
        Figure(
            "pg.writers",
            f"{fmt_rate(slowest)} (the slowest of {WRITERS})",
            target if not ctx.quick else f"{target} at 45,000 events",
            slowest >= 2000 if not ctx.quick else None,
            f"each: {each} ev/s, together {sum(rates):,.0f} ev/s; {WRITERS} recorders of their "
            f"own clusters at once, {n['events']:,} watch events each in batches of {BATCH:,} "
            f"after an initial list of {n['objects']:,} objects (listed at "
            f"{', '.join(f'{x:,.0f}' for x in listed)} obj/s), {revisions:,} revisions in "
            f"all; CPU an event: writer {client_us:,.0f} us + server {server_us:,.0f} us, so "
            f"{cpus} CPUs bound each of {WRITERS} writers to {bound:,.0f} ev/s; one writer "
            f"alone into SQLite: {fmt_rate(alone_rate)} ({alone_us:,.0f} us CPU an event); "
            f"raw parse of these lines {fmt_rate(parse)}",
            value=slowest,
            extra={
                "rates": rates,
                "initial_rates": listed,
                "sqlite_alone": alone_rate,
                "client_us": client_us,
                "server_us": server_us,
                "cpu_bound_each": bound,
                "sqlite_alone_us": alone_us,
                "raw_parse": parse,
            },
        )
    ]


def _parse_rate(seed: int, n: dict[str, int]) -> float:
    """``orjson.loads`` per line of one writer's stream, best of 3: how fast this machine
    is now (bench/ingest.py's reference)."""
    _, stream = _stream(seed + 100, n["objects"], min(n["events"], 10_000))
    return parse_rate([raw for _, raw, _ in stream], orjson.loads)

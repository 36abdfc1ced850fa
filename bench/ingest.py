"""Ingest: events/s through ``import-events`` and through the live recorder, each against the
raw JSON parse rate of the same event stream (orjson, the parser timetravel uses).

- ``ingest.import_events``: a file of watch events (``{"type","object","observed_at"}`` per
  line) of Deployment-sized objects (~3 KB),
  through :func:`timetravel.recorder.events.import_events`
  reading the file in binary as ``timetravel import-events FILE`` does. Target >= 0.5 of the
  raw parse rate, and >= 5,000 ev/s.
- ``ingest.recorder``: ``python -m timetravel record`` draining a backlog of watch events from
  the API double (see ``bench/recorder_run.py``). Target >= 0.5 of raw parse and >= 2,000 ev/s.
- ``ingest.initial_list``: the same recorder's initial list of 20,000 objects, spawn to every
  object recorded. Target <= 10 s.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import orjson

from bench import recorder_run
from bench.common import Context, Figure, fmt_rate, parse_rate
from bench.gen import Cluster
from timetravel.domain.times import to_stored
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"events": 3000, "deployments": 500, "objects": 1000, "watch_events": 2000}
    return {"events": 30000, "deployments": 2000, "objects": 20000, "watch_events": 20000}


def event_lines(seed: int, events: int, deployments: int) -> list[bytes]:
    """Watch events of Deployments: each created, then status churn and some spec changes."""
    cluster = Cluster(seed, deployments=deployments, configmaps=0, pods=0)
    changes = list(cluster.initial())
    mix = {"deploy_status": 0.8, "deploy_spec": 0.2}
    while len(changes) < events:
        changes += cluster.step(mix=mix, dt=timedelta(milliseconds=200))
    return [
        orjson.dumps({"type": c.event, "object": c.obj, "observed_at": to_stored(c.at)})
        for c in changes[:events]
    ]


def bench_import(ctx: Context) -> list[Figure]:
    n = sizes(ctx.quick)
    lines = event_lines(ctx.seed, n["events"], n["deployments"])
    path = ctx.out / "import-events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with open(path, "rb") as f:
        file_lines = list(f)
    raw = parse_rate(file_lines, orjson.loads)
    raw_json = parse_rate(file_lines, json.loads, repeats=2)
    best = 0.0
    written = 0
    for attempt in range(1 if ctx.quick else 2):
        db_path = ctx.out / "import-events.db"
        for suffix in ("", "-wal", "-shm"):
            db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
        db = open_database(db_path)
        start = time.perf_counter()
        with open(path, "rb") as f:
            report = import_events(db, f, cluster="bench")
        elapsed = time.perf_counter() - start
        db.conn.close()
        written = report.written
        best = max(best, report.read / elapsed)
        ctx.log(f"import-events attempt {attempt + 1}: {report.read / elapsed:,.0f} ev/s")
    mean_kb = sum(map(len, lines)) / len(lines) / 1024
    ratio = best / raw
    return [
        Figure(
            "ingest.import_events",
            f"{fmt_rate(best)} ({ratio:.2f} of raw parse {fmt_rate(raw)})",
            ">= 0.5",
            ratio >= 0.5,
            f"{len(lines):,} events of {mean_kb:.1f} KB, {written:,} revisions; "
            f"stdlib json parses {fmt_rate(raw_json)}",
            value=ratio,
            extra={"rate": best, "raw_orjson": raw, "raw_json": raw_json},
        ),
        Figure(
            "ingest.import_events_rate",
            fmt_rate(best),
            ">= 5,000 ev/s",
            best >= 5000,
            f"Deployments of {mean_kb:.1f} KB JSON",
            value=best,
        ),
    ]


def bench_recorder(ctx: Context) -> list[Figure]:
    n = sizes(ctx.quick)
    run = recorder_run.run(ctx, objects=n["objects"], watch_events=n["watch_events"])
    ratio = run.watch_rate / run.raw_parse_rate
    return [
        Figure(
            "ingest.recorder",
            f"{fmt_rate(run.watch_rate)} ({ratio:.2f} of raw parse {fmt_rate(run.raw_parse_rate)})",
            ">= 0.5",
            ratio >= 0.5,
            f"backlog of {run.watch_events:,} status events of {run.line_bytes / 1024:.1f} KB "
            f"drained by `timetravel record` over HTTP; stdlib json parses "
            f"{fmt_rate(run.raw_json_rate)}",
            value=ratio,
            extra={"rate": run.watch_rate, "raw_orjson": run.raw_parse_rate},
        ),
        Figure(
            "ingest.recorder_rate",
            fmt_rate(run.watch_rate),
            ">= 2,000 ev/s",
            run.watch_rate >= 2000,
            f"{run.watch_events:,} watch events end to end in {run.drain_s:.1f} s",
            value=run.watch_rate,
        ),
        Figure(
            "ingest.initial_list",
            f"{run.list_s:.1f} s",
            "<= 10 s" if not ctx.quick else "<= 10 s at 20,000",
            run.list_s <= 10 if not ctx.quick else None,
            f"{run.objects:,} objects ({run.list_rate:,.0f} obj/s), spawn to all recorded; "
            f"process start to first revision {run.startup_s:.1f} s",
            value=run.list_s,
        ),
    ]


def run(ctx: Context) -> list[Figure]:
    return bench_import(ctx) + bench_recorder(ctx)

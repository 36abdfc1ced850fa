"""Storage: bytes per revision for a realistic mix of changes, against the raw JSON and a
naive SQLite table with one JSON row per revision.

The stream: Deployments (status churn, some spec changes), ConfigMaps, Pods (status churn,
replacements) and Events (new ones, and repeats that bump their count), each as the API
server sends it, written through :class:`RevisionWriter` in batches as the recorder does.
Sizes are of the whole database file after a checkpoint (tables and indexes included).
Target: >= 10x smaller than the raw JSON.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

import orjson

from bench.common import Context, Figure, db_size, fmt_bytes
from bench.gen import REALISTIC_MIX, Change, Cluster
from timetravel.domain.model import Observation
from timetravel.domain.times import to_stored
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"events": 6000, "deployments": 100, "configmaps": 100, "pods": 200}
    return {"events": 150_000, "deployments": 1000, "configmaps": 1000, "pods": 2000}


def stream(ctx: Context) -> list[Change]:
    n = sizes(ctx.quick)
    cluster = Cluster(
        ctx.seed + 1,
        deployments=n["deployments"],
        configmaps=n["configmaps"],
        pods=n["pods"],
        namespaces_count=20,
    )
    changes = list(cluster.initial())
    while len(changes) < n["events"]:
        changes += cluster.step(mix=REALISTIC_MIX, dt=timedelta(seconds=2))
    return changes[: n["events"]]


def _fresh(path) -> None:  # type: ignore[no-untyped-def]
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def run(ctx: Context) -> list[Figure]:
    changes = stream(ctx)
    kinds: dict[str, int] = {}
    for c in changes:
        kinds[c.obj["kind"]] = kinds.get(c.obj["kind"], 0) + 1
    raws = [orjson.dumps(c.obj) for c in changes]
    raw_total = sum(map(len, raws))

    tt_path = ctx.out / "storage-tt.db"
    _fresh(tt_path)
    db = open_database(tt_path)
    writer = RevisionWriter(db)
    written = 0
    start = time.perf_counter()
    for i in range(0, len(changes), 1000):
        batch = [
            Observation("bench", c.event, c.obj, to_stored(c.at)) for c in changes[i : i + 1000]
        ]
        written += writer.write(batch).written
    write_s = time.perf_counter() - start
    body_bytes, segments = db.conn.execute(
        "SELECT sum(length(body)), count(*) FROM segments"
    ).fetchone()
    keyframes, keyframe_bytes = db.conn.execute(
        "SELECT count(*), sum(length(body)) FROM keyframes"
    ).fetchone()
    db.conn.close()
    tt_total = db_size(tt_path)

    naive_path = ctx.out / "storage-naive.db"
    _fresh(naive_path)
    conn = sqlite3.connect(naive_path)
    conn.execute(
        "CREATE TABLE revisions (id INTEGER PRIMARY KEY, observed_at TEXT, kind TEXT, "
        "namespace TEXT, name TEXT, event TEXT, object TEXT)"
    )
    conn.execute("CREATE INDEX by_object ON revisions (kind, namespace, name, observed_at)")
    with conn:
        conn.executemany(
            "INSERT INTO revisions (observed_at, kind, namespace, name, event, object) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    to_stored(c.at),
                    c.obj["kind"],
                    c.obj["metadata"].get("namespace", ""),
                    c.obj["metadata"]["name"],
                    c.event,
                    raw.decode(),
                )
                for c, raw in zip(changes, raws, strict=True)
            ),
        )
    conn.close()
    naive_total = db_size(naive_path)

    per_rev = tt_total / written
    ratio = raw_total / tt_total
    mix = ", ".join(f"{k} {v * 100 / len(changes):.0f}%" for k, v in sorted(kinds.items()))
    return [
        Figure(
            "storage.bytes_per_revision",
            f"{per_rev:,.0f} B/revision ({ratio:.1f}x smaller than raw JSON "
            f"{raw_total / len(changes):,.0f} B/event)",
            ">= 10x",
            ratio >= 10,
            f"{len(changes):,} events -> {written:,} revisions ({mix}); file "
            f"{fmt_bytes(tt_total)} of which segments (bodies and entries) "
            f"{fmt_bytes(body_bytes)} in {segments:,} segments, {keyframes:,} keyframes "
            f"{fmt_bytes(keyframe_bytes)}; naive JSON-row table {fmt_bytes(naive_total)} = "
            f"{naive_total / len(changes):,.0f} B/revision ({naive_total / tt_total:.1f}x ours); "
            f"written at {written / write_s:,.0f} rev/s",
            value=ratio,
            extra={
                "bytes_per_revision": per_rev,
                "raw_per_event": raw_total / len(changes),
                "naive_per_revision": naive_total / len(changes),
                "body_bytes": body_bytes,
                "segments": segments,
                "keyframes": keyframes,
                "keyframe_bytes": keyframe_bytes,
            },
        )
    ]

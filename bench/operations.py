"""Running the recorder for a year (issue 19): disk a day, and memory with /metrics served.

- ``ops.disk_per_day_sqlite`` / ``ops.disk_per_day_pg``: a day of a cluster of 2,000
  objects (500 Deployments, 500 ConfigMaps, 1,000 Pods, in 20 namespaces) at 0.5 changes a
  second: 43,200 changes in 24 hours, each object changing ~22 times a day, in the storage
  benchmark's realistic mix (Deployment status 25%, Deployment spec 5%, ConfigMaps 4%, Pod
  status 30%, Pods replaced 8%, Events 28%: bench/gen.py ``REALISTIC_MIX``). Written
  through ``RevisionWriter`` in the recorder's batches after the initial list, into a new
  SQLite file and a new PostgreSQL database; the figure is what the day added (SQLite: the
  file after a checkpoint; PostgreSQL: ``pg_database_size`` after ``VACUUM``, the day's
  growth over the listed cluster). Beside it: sloop's default budget, 32 GiB for 14 days
  of history (``--max-disk-mb``, ``--max-look-back``), 2.3 GiB a day.
- ``ops.recorder_rss_with_metrics``: the memory benchmark's run (``timetravel record`` of
  20,000 objects and a backlog of 20,000 watch events against the API double) with
  ``--listen`` on loopback and /metrics scraped every half second throughout. Target
  <= 300 MB.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from datetime import timedelta
from typing import Any

from bench import recorder_run
from bench.common import PYTHON, Context, Figure, db_size, fmt_bytes
from bench.gen import REALISTIC_MIX, Cluster
from bench.ingest import sizes as ingest_sizes

DAY = timedelta(days=1)
SLOOP_BUDGET_PER_DAY = 32 * 2**30 / 14  # sloop's default --max-disk-mb over --max-look-back


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"objects": 200, "rate": 0.05}
    return {"objects": 2000, "rate": 0.5}


def _day(ctx: Context) -> tuple[list[Any], list[Any]]:
    """The initial list and a day of changes of the sized cluster."""
    n = sizes(ctx.quick)
    objects = n["objects"]
    cluster = Cluster(
        ctx.seed + 19,
        deployments=objects // 4,
        configmaps=objects // 4,
        pods=objects - 2 * (objects // 4),
        namespaces_count=20,
    )
    initial = list(cluster.initial())
    dt = timedelta(seconds=1 / n["rate"])
    end = cluster.now + DAY
    day: list[Any] = []
    while cluster.now + dt <= end:
        day += cluster.step(mix=REALISTIC_MIX, dt=dt)
    return initial, day


def _write(where: str, changes: list[Any]) -> None:
    from timetravel.domain.model import Observation
    from timetravel.domain.times import to_stored
    from timetravel.store.db import open_database
    from timetravel.store.writer import RevisionWriter

    db = open_database(where)
    writer = RevisionWriter(db)
    for i in range(0, len(changes), 1000):
        writer.write(
            Observation("ops", c.event, c.obj, to_stored(c.at)) for c in changes[i : i + 1000]
        )
    db.conn.close()


def disk_per_day(ctx: Context) -> list[Figure]:
    from tests.fixtures.postgres import REQUIRED

    initial, day = _day(ctx)
    detail = f"{len(initial):,} objects listed, then {len(day):,} changes over 24 h"
    figures = []
    path = ctx.out / "ops-day.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    _write(str(path), initial)
    listed = db_size(path)
    t = time.perf_counter()
    _write(str(path), day)
    write_s = time.perf_counter() - t
    grown = db_size(path) - listed
    figures.append(_figure("ops.disk_per_day_sqlite", grown, len(day), detail, listed, write_s))
    try:
        from bench.pgserver import bench_server, drop_database, fresh_database

        with bench_server(ctx) as server:
            url = fresh_database(server, "ops_day")
            try:
                _write(url, initial)
                listed = _pg_size(server, "ops_day")
                t = time.perf_counter()
                _write(url, day)
                write_s = time.perf_counter() - t
                grown = _pg_size(server, "ops_day") - listed
            finally:
                drop_database(server, "ops_day")
        figures.append(_figure("ops.disk_per_day_pg", grown, len(day), detail, listed, write_s))
    except (RuntimeError, KeyError) as exc:
        if REQUIRED:
            raise
        figures.append(Figure("ops.disk_per_day_pg", "-", "", None, f"no PostgreSQL: {exc}"))
    return figures


def _pg_size(server: Any, name: str) -> int:
    server.sql("VACUUM", name)  # what autovacuum leaves: dead row versions made reusable
    return int(server.sql(f"SELECT pg_database_size('{name}')").strip())


def _figure(name: str, grown: int, changes: int, detail: str, listed: int, s: float) -> Figure:
    per_change = grown / changes if changes else 0.0
    return Figure(
        name,
        f"{fmt_bytes(grown)}/day",
        f"sloop's default budget {fmt_bytes(SLOOP_BUDGET_PER_DAY)}/day",
        grown <= SLOOP_BUDGET_PER_DAY,
        f"{detail}: {per_change:,.0f} B a change; the listed cluster {fmt_bytes(listed)}; "
        f"the day written in {s:,.1f} s",
        value=grown,
    )


class _Scraper(threading.Thread):
    """Scrapes /metrics every half second while the recorder runs; counts what worked."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True, name="bench-scraper")
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.stop = threading.Event()
        self.scrapes = 0
        self.samples = 0

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                continue  # not serving yet
            self.scrapes += 1
            self.samples = sum(1 for line in text.splitlines() if line and line[0] != "#")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_with_metrics(ctx: Context) -> Figure:
    n = ingest_sizes(ctx.quick)
    port = _free_port()
    argv = [
        PYTHON, "-m", "timetravel", "record", "--kubeconfig", "{kubeconfig}",
        "--db", "{db}", "--status-every", "0", "--listen", f"127.0.0.1:{port}",
    ]  # fmt: skip
    scraper = _Scraper(port)
    scraper.start()
    try:
        r = recorder_run.run(
            ctx, objects=n["objects"], watch_events=n["watch_events"], command=argv
        )
    finally:
        scraper.stop.set()
        scraper.join(timeout=10)
    mb = r.peak_rss / 2**20
    return Figure(
        "ops.recorder_rss_with_metrics",
        f"{mb:,.0f} MB",
        "<= 300 MB",
        mb <= 300 and scraper.scrapes > 0 if not ctx.quick else None,
        f"{r.objects:,} objects + {r.watch_events:,} watch events, /metrics scraped "
        f"{scraper.scrapes} times ({scraper.samples} samples the last time); "
        f"exit code {r.exit_code}",
        value=mb,
    )


def run(ctx: Context) -> list[Figure]:
    return [*disk_per_day(ctx), rss_with_metrics(ctx)]

"""Retention (issue 19): ``timetravel prune`` on the state store of 10,000 live objects and
1,000,000 revisions (bench/datasets.py: 27 days of churn, generated through the writer).

- ``prune.all_but_a_day``: the cut a day before the store's last revision, as ``record
  --keep 1d`` would make it: 26 of its 27 days go. Time, revisions removed, the file's
  size before and after.
- ``prune.half``: the cut in the middle of the span.
- With the first, a prune an hour later than it: what ``record --keep`` does each hour.

Each is measured twice, on its own copy of the store: a file made by this version
(auto_vacuum=INCREMENTAL: the freed pages go back with ``PRAGMA incremental_vacuum``), and
a file made before it (auto_vacuum=NONE, as the cached store is: the first prune rebuilds
it with ``VACUUM``, timed apart). Beside them, the dry run's time. The state at the cut and
at the end is compared with the unpruned store's (every live object, byte for byte).
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import Context, Figure, fmt_bytes
from bench.datasets import state_store
from timetravel.domain.times import from_stored, to_stored
from timetravel.store.db import open_database
from timetravel.store.prune import Pruner
from timetravel.store.reader import Reader


def _copy(source: Path, target: Path, *, incremental: bool) -> None:
    """A consistent copy (SQLite's backup), with auto_vacuum INCREMENTAL (a file made by this
    version) or NONE (one made before it), set by a VACUUM."""
    for suffix in ("", "-wal", "-shm", "-writer"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
        # Both compact, as a file is after a VACUUM: they differ only in auto_vacuum.
        dst.execute(f"PRAGMA auto_vacuum = {2 if incremental else 0}")
        dst.execute("VACUUM")
        dst.execute("PRAGMA journal_mode = WAL")
    finally:
        src.close()
        dst.close()


def _state(path: Path, at: str) -> list[tuple[Any, ...]]:
    db = open_database(path, readonly=True)
    try:
        return [(r.key, r.id, r.observed_at, r.body) for r in Reader(db).state_at(at)]
    finally:
        db.conn.close()


def _prune(path: Path, cut: str) -> tuple[Any, dict[str, float], float]:
    """Prune; the report, seconds per part, and the file's bytes after a checkpoint."""
    db = open_database(path)
    parts: dict[str, float] = defaultdict(float)
    pruner = Pruner(db, cut)
    mark = time.perf_counter()
    for name in pruner.batches():
        now = time.perf_counter()
        parts[name] += now - mark
        mark = now
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return pruner.report, dict(parts), float(path.stat().st_size)


def run(ctx: Context) -> list[Figure]:
    store = state_store(ctx)
    span = store.end - store.start
    cuts = {
        "prune.all_but_a_day": to_stored(store.end - timedelta(days=1)),
        "prune.half": to_stored(store.start + span / 2),
    }
    work = ctx.out / "prune-work.db"
    figures: list[Figure] = []
    shape = f"{store.live:,} live objects, {store.revisions:,} revisions over {span.days} days"
    for name, cut in cuts.items():
        expected = {at: _state(store.path, at) for at in (cut, to_stored(store.end))}
        dry_db = open_database(store.path, readonly=True)
        started = time.perf_counter()
        Pruner(dry_db, cut, dry_run=True).run()
        dry_s = time.perf_counter() - started
        dry_db.conn.close()
        measured: dict[str, Any] = {"dry_run_s": round(dry_s, 1)}
        for kind, incremental in (("incremental", True), ("older", False)):
            ctx.log(f"{name}: pruning a copy ({kind} file) before {cut}")
            _copy(store.path, work, incremental=incremental)
            before = float(work.stat().st_size)
            started = time.perf_counter()
            report, parts, after = _prune(work, cut)
            seconds = time.perf_counter() - started
            for at, state in expected.items():
                assert _state(work, at) == state, f"{name}: the state at {at} changed"
            if incremental and name == "prune.all_but_a_day":
                # What `record --keep` does each hour after its first prune.
                later = to_stored(from_stored(cut) + timedelta(hours=1))
                hourly, _, _ = _prune(work, later)
                measured["an_hour_later"] = {
                    "seconds": round(hourly.seconds, 2),
                    "removed": hourly.removed,
                }
            measured[kind] = {
                "seconds": round(seconds, 1),
                "parts_s": {k: round(v, 2) for k, v in parts.items()},
                "bytes_before": before,
                "bytes_after": after,
                "removed": report.removed,
                "bases": report.bases,
            }
        for suffix in ("", "-wal", "-shm", "-writer"):
            Path(str(work) + suffix).unlink(missing_ok=True)
        inc, old = measured["incremental"], measured["older"]
        removed = inc["removed"].get("revisions", 0)
        vacuum = old["parts_s"].get("space", 0.0)
        figures.append(
            Figure(
                name,
                f"{inc['seconds']:.1f} s, {fmt_bytes(inc['bytes_before'])} -> "
                f"{fmt_bytes(inc['bytes_after'])}",
                "",
                None,
                f"{removed:,} of {store.revisions:,} revisions removed, "
                f"{inc['bases']:,} objects keep a base, "
                f"{inc['removed'].get('objects', 0):,} gone; "
                f"file made before auto_vacuum: {old['seconds']:.1f} s "
                f"({vacuum:.1f} s of it VACUUM), {fmt_bytes(old['bytes_after'])} after; "
                f"dry run {dry_s:.1f} s{_hourly(measured)}; {shape}",
                value=inc["seconds"],
                extra=measured,
            )
        )
    return figures


def _hourly(measured: dict[str, Any]) -> str:
    later = measured.get("an_hour_later")
    if later is None:
        return ""
    revisions = later["removed"].get("revisions", 0)
    return f"; an hour later (as --keep): {later['seconds']:.1f} s, {revisions:,} revisions"

"""Profiles behind the figures that miss their targets (the evidence BENCHMARKS.md quotes).

    .venv/bin/python -m bench.profiles recorder        # py-spy on `timetravel record`
    .venv/bin/python -m bench.profiles recorder-gc     # the recorder with the GC tuned
    .venv/bin/python -m bench.profiles recorder-memory # tracemalloc in a recorder process
    .venv/bin/python -m bench.profiles import          # cProfile of import-events
    .venv/bin/python -m bench.profiles state           # a full state: seeks, rows, parse
    .venv/bin/python -m bench.profiles storage         # bytes by table, column and blob
    .venv/bin/python -m bench.profiles backfill        # cProfile of the git backfill
    .venv/bin/python -m bench.profiles snapshot        # cProfile of build_snapshot (slow!)

Each writes bench/out/profiles/<name>.txt and prints it. Add --quick for small sizes.
py-spy: ``.venv/bin/pip install py-spy``.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import shutil
import sys
import threading
import time
import tracemalloc
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import PYTHON, Context  # noqa: E402


def _cprofile(fn: Any, limit: int = 25) -> tuple[Any, str]:
    prof = cProfile.Profile()
    prof.enable()
    result = fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return result, out.getvalue()


def _collapsed_summary(path: Path, limit: int = 30) -> str:
    """Inclusive and self share per function from py-spy's raw (collapsed) output."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [f.split(" (")[0] + " " + f.split(" (")[-1].rstrip(")") for f in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive % | function (file:line)"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in inclusive.most_common(limit)]
    lines += ["", "self % | function (file:line)"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in own.most_common(limit)]
    return "\n".join(lines)


def recorder(ctx: Context) -> str:
    from bench import recorder_run
    from bench.ingest import sizes

    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    raw = ctx.out / "profiles" / "recorder.pyspy.txt"
    n = sizes(ctx.quick)
    command = [spy, "record", "--rate", "100", "--nonblocking", "--gil", "--format", "raw",
               "-o", str(raw), "--", PYTHON, "-m", "timetravel", "record",
               "--kubeconfig", "{kubeconfig}", "--db", "{db}", "--status-every", "0"]  # fmt: skip
    run = recorder_run.run(
        ctx, objects=n["objects"], watch_events=n["watch_events"], command=command
    )
    time.sleep(1)
    head = (
        f"recorder under py-spy: list {run.list_s:.1f} s for {run.objects:,}, "
        f"drain {run.watch_rate:,.0f} ev/s (slowed by sampling)\n\n"
    )
    return head + _collapsed_summary(raw)


def recorder_gc(ctx: Context) -> str:
    """The same recorder run three times: as shipped, with the cyclic GC's first threshold
    raised (gc.set_threshold(50_000, 20, 20) before the CLI starts), and with it off."""
    from bench import recorder_run
    from bench.ingest import sizes

    n = sizes(ctx.quick)
    out = []
    for label, setup in (
        ("as shipped", "pass"),
        ("gc.set_threshold(50_000, 20, 20)", "gc.set_threshold(50_000, 20, 20)"),
        ("gc.disable()", "gc.disable()"),
    ):
        code = (
            f"import gc, sys; {setup}; sys.argv = ['timetravel', *sys.argv[1:]]; "
            "from timetravel.cli import main; main()"
        )
        command = [PYTHON, "-c", code, "record", "--kubeconfig", "{kubeconfig}", "--db", "{db}",
                   "--status-every", "0"]  # fmt: skip
        run = recorder_run.run(
            ctx, objects=n["objects"], watch_events=n["watch_events"], command=command
        )
        out.append(
            f"{label:34} initial list {run.list_s:5.1f} s, watch {run.watch_rate:6,.0f} ev/s, "
            f"peak RSS {run.peak_rss / 2**20:5,.0f} MB"
        )
        ctx.log(out[-1])
    return "\n".join(out)


def recorder_memory(ctx: Context) -> str:
    """The recorder in a child process with tracemalloc, a snapshot at the peak."""
    from bench import recorder_run
    from bench.ingest import sizes

    n = sizes(ctx.quick)
    report = ctx.out / "profiles" / "recorder-memory.child.txt"
    report.unlink(missing_ok=True)
    command = [PYTHON, "-m", "bench.profiles", "_memory-child", "{kubeconfig}", "{db}",
               str(report)]  # fmt: skip
    run = recorder_run.run(
        ctx, objects=n["objects"], watch_events=n["watch_events"], command=command
    )
    return f"peak RSS {run.peak_rss / 2**20:,.0f} MB (with tracemalloc's own overhead)\n\n" + (
        report.read_text() if report.exists() else run.log_tail
    )


def _memory_child(kubeconfig: str, db: str, report: str) -> None:
    import signal

    from timetravel.recorder.cluster import Recorder
    from timetravel.sources.kube import Kube, connect
    from timetravel.store.db import open_database

    tracemalloc.start(6)
    open_database(db).conn.close()
    rec = Recorder(Path(db), Kube(connect(kubeconfig)), status_every=0)
    signal.signal(signal.SIGINT, lambda *_: rec.stop.set())
    lines: list[str] = []
    best: list[Any] = [0, None]

    def watch() -> None:
        while not rec.stop.is_set():
            current, _peak = tracemalloc.get_traced_memory()
            if current > best[0] * 1.1:
                best[0] = current
                best[1] = tracemalloc.take_snapshot()
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True).start()

    def write_report() -> None:
        while not rec.stop.is_set():
            time.sleep(0.5)
        _, peak = tracemalloc.get_traced_memory()
        lines.append(f"tracemalloc peak {peak / 2**20:,.1f} MB; largest snapshot "
                     f"{best[0] / 2**20:,.1f} MB")  # fmt: skip
        snap = best[1]
        if snap is not None:
            snap = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            lines.append("\nby line:")
            for stat in snap.statistics("lineno")[:15]:
                lines.append(f"  {stat.size / 2**20:8.1f} MB {stat.count:9,} blocks  "
                             f"{stat.traceback[0]}")  # fmt: skip
            lines.append("\nlargest by traceback:")
            for stat in snap.statistics("traceback")[:3]:
                lines.append(f"  {stat.size / 2**20:8.1f} MB")
                lines.extend("      " + x for x in stat.traceback.format()[-6:])
        Path(report).write_text("\n".join(lines) + "\n")

    writer = threading.Thread(target=write_report)
    writer.start()
    rec.run()
    writer.join()


def import_events_profile(ctx: Context) -> str:
    from bench.ingest import event_lines, sizes
    from timetravel.recorder.events import import_events
    from timetravel.store.db import open_database

    n = sizes(ctx.quick)
    lines = event_lines(ctx.seed, n["events"], n["deployments"])
    out = []
    for label, disable in (("gc enabled", False), ("gc disabled", True)):
        path = ctx.out / "profiles" / "import.db"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        db = open_database(path)
        if disable:
            gc.disable()
        t = time.perf_counter()
        import_events(db, lines, cluster="bench")
        elapsed = time.perf_counter() - t
        gc.enable()
        db.conn.close()
        out.append(f"{label}: {len(lines) / elapsed:,.0f} ev/s")
    path = ctx.out / "profiles" / "import.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    db = open_database(path)
    _, text = _cprofile(lambda: import_events(db, lines, cluster="bench"))
    return "\n".join(out) + "\n\n" + text


def state_profile(ctx: Context) -> str:
    """Where a full state's time goes: the seeks, the rows, the decode, the parse."""
    from bench.datasets import state_store
    from timetravel.domain.times import to_stored
    from timetravel.host import tune_collector
    from timetravel.store.db import open_database
    from timetravel.store.reader import Reader

    tune_collector()
    store = state_store(ctx)
    db = open_database(store.path, readonly=True)
    reader = Reader(db)
    at = to_stored(store.end - timedelta(days=3))
    live = (
        "SELECT {cols} FROM resources res JOIN segments s ON s.id = (SELECT id FROM "
        "segments WHERE resource_id = res.id AND first_at <= :at ORDER BY first_at "
        "DESC, id DESC LIMIT 1) WHERE res.first_at <= :at AND (res.gone_at IS NULL OR "
        "res.gone_at > :at)"
    )
    out = [
        f"resources ever seen: {db.execute('SELECT count(*) FROM resources').fetchone()[0]:,}"
        f" (live: {store.live:,})"
    ]
    records = reader.state_at(at)  # warm, as the screen's reader is
    for label, sql in (
        ("candidates (first_at/gone_at), no seek", "SELECT count(*) FROM resources res WHERE "
         "res.first_at <= :at AND (res.gone_at IS NULL OR res.gone_at > :at)"),
        ("the latest-segment seek of each candidate, ids only", live.format(cols="s.id")),
        ("the same with the segments' bodies", live.format(cols="s.*")),
    ):  # fmt: skip
        t = time.perf_counter()
        db.execute(sql, {"at": at}).fetchall()
        out.append(f"{label}: {(time.perf_counter() - t) * 1000:,.0f} ms")
    t = time.perf_counter()
    records = reader.state_at(at)
    out.append(f"Reader.state_at (records, bodies decompressed): "
               f"{(time.perf_counter() - t) * 1000:,.0f} ms")  # fmt: skip
    t = time.perf_counter()
    parsed = sum(1 for record in records if record.obj is not None)
    out.append(f"parsing {parsed:,} objects (orjson): {(time.perf_counter() - t) * 1000:,.0f} ms")

    def full() -> int:
        return sum(1 for record in reader.state_at(at) if record.obj is not None)

    _, text = _cprofile(full)
    return "\n".join(out) + "\n\n" + text


def storage_profile(ctx: Context) -> str:
    """Where the bytes of the storage benchmark's database go (run `--only storage` first)."""
    import sqlite3

    path = ctx.out / "storage-tt.db"
    conn = sqlite3.connect(path)
    n = conn.execute("SELECT count(*) FROM revisions").fetchone()[0]
    out = [f"{path.name}: {path.stat().st_size:,} bytes, {n:,} revisions"]
    for name, size in conn.execute(
        "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8"
    ):
        out.append(f"  {name:30s} {size / n:7.1f} B/revision")
    segments, per_segment, body = conn.execute(
        "SELECT count(*), avg(count), avg(length(body)) FROM segments"
    ).fetchone()
    out.append(
        f"segments: {segments:,}, {per_segment:.1f} revisions each, body {body:.0f} B "
        f"({body / per_segment:.0f} B a revision)"
    )
    out.append("segments by kind and size:")
    for kind, count, size, rows in conn.execute(
        "SELECT res.kind, sum(s.count), sum(length(s.body)), count(*) FROM segments s "
        "JOIN resources res ON res.id = s.resource_id GROUP BY 1 ORDER BY 3 DESC"
    ):
        out.append(
            f"  {kind:12s} {count:8,} revisions in {rows:7,} segments: {size / count:5.0f} B each"
        )
    keyframes, size = conn.execute("SELECT count(*), avg(length(body)) FROM keyframes").fetchone()
    out.append(f"keyframes: {keyframes:,} x {size:.0f} B")
    conn.close()
    return "\n".join(out)


def backfill_profile(ctx: Context) -> str:
    from bench.datasets import SPAN, state_store
    from bench.desired import sizes
    from bench.gitrepo import build_repo
    from timetravel.recorder.clock import MonotonicClock
    from timetravel.recorder.git import GitSource
    from timetravel.store.db import open_database

    n = sizes(ctx.quick)
    store = state_store(ctx)
    repo = build_repo(ctx, commits=n["commits"], manifests=n["manifests"],
                      apps=store.deployments, start=store.start, span=SPAN)  # fmt: skip
    path = ctx.out / "profiles" / "backfill.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    open_database(path).conn.close()
    source = GitSource(path, repo, "main", clock=MonotonicClock(), progress=False)
    _, text = _cprofile(source.sync)
    return text


def snapshot_profile(ctx: Context) -> str:
    from bench.datasets import state_store
    from timetravel.host import tune_collector
    from timetravel.query.moment import build_snapshot
    from timetravel.store.db import open_database

    tune_collector()
    store = state_store(ctx)
    backfilled = ctx.out / "desired.db"  # left by bench/run.py's desired benchmark
    db = open_database(backfilled if backfilled.exists() else store.path, readonly=True)
    t = time.perf_counter()
    snap, text = _cprofile(
        lambda: build_snapshot(db, store.end - timedelta(minutes=61), window=timedelta(hours=1))
    )
    head = (
        f"build_snapshot: {time.perf_counter() - t:,.1f} s under cProfile, "
        f"{len(snap.resources):,} resources, {len(snap.changes):,} changes\n\n"
    )
    return head + text


PROFILES = {
    "recorder": recorder,
    "recorder-gc": recorder_gc,
    "recorder-memory": recorder_memory,
    "import": import_events_profile,
    "state": state_profile,
    "storage": storage_profile,
    "backfill": backfill_profile,
    "snapshot": snapshot_profile,
}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "_memory-child":
        _memory_child(argv[1], argv[2], argv[3])
        return 0
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("--")]
    if not names or any(n not in PROFILES for n in names):
        print(__doc__)
        return 2
    ctx = Context(quick=quick, out=ROOT / "bench" / "out", log=lambda m: print("  " + m))
    (ctx.out / "profiles").mkdir(parents=True, exist_ok=True)
    for name in names:
        text = PROFILES[name](ctx)
        path = ctx.out / "profiles" / f"{name}{'-quick' if quick else ''}.txt"
        path.write_text(text)
        print(text)
        print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

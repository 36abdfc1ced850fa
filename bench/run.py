"""Run the timetravel benchmarks on seeded generated data; one summary line per figure.

    .venv/bin/python bench/run.py            # every figure, full size (minutes)
    .venv/bin/python bench/run.py --quick    # a smoke run at small sizes (no thresholds)
    .venv/bin/python bench/run.py --only state,desired --out /tmp/bench

Generated stores are cached under --out (default bench/out/, git-ignored) keyed by their
parameters, so a rerun does not rebuild the million-revision store. Results go to
<out>/results.json (results-quick.json for --quick); --markdown also prints the table that
BENCHMARKS.md carries. Exit 1 only when a benchmark failed to run; a missed target is a
figure, not an error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Context, Figure, machine, markdown_table, write_results  # noqa: E402

# One module per figure, in the order they run (memory reuses the recorder run of ingest).
BENCHMARKS = (
    "ingest",
    "storage",
    "state",
    "artifacts",
    "desired",
    "git_follow",
    "screen",
    "scrub",
    "jump",
    "memory",
    "pg",
    "operations",
    "prune",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--seed", type=int, default=20261119)
    parser.add_argument(
        "--scale",
        choices=["10k", "100k"],
        default="10k",
        help="the generated state store: 10,000 or 100,000 live objects (bench/datasets.py)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the results table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(message: str) -> None:
        if not args.quiet:
            elapsed = time.perf_counter() - started
            print(f"  [{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    # Measured in this process, the library runs with the collector `timetravel` sets.
    from timetravel.host import tune_collector

    tune_collector()
    if not (
        os.environ.get("TIMETRAVEL_SECRET_KEY") or os.environ.get("TIMETRAVEL_SECRET_KEY_FILE")
    ):
        # The cached stores' Secret-hashing key, the same for every run on any HOME: a
        # cache made under another HOME is still writable (a screen store is a copy of the
        # state store that the benchmark writes git into). A benchmark's own, not a secret.
        os.environ["TIMETRAVEL_SECRET_KEY"] = "timetravel benchmark stores"
    ctx = Context(quick=args.quick, out=args.out.resolve(), seed=args.seed, log=log)
    ctx.shared["scale"] = args.scale
    info = machine()
    print(
        f"# timetravel bench{' --quick' if args.quick else ''}: {info['nproc']} CPU "
        f"{info['cpu']}, {info['ram_gb']} GB, Python {info['python']}, SQLite {info['sqlite']}, "
        f"load {info['loadavg'][0]}",
        flush=True,
    )
    figures: list[Figure] = []
    failed = []
    timings = {}
    for name in BENCHMARKS:
        if name not in chosen:
            continue
        t = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            for figure in module.run(ctx):
                figures.append(figure)
                print(figure.line(), flush=True)
        except Exception as exc:  # one broken benchmark must not hide the others
            failed.append(name)
            print(f"{name}: ERROR {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc(file=sys.stderr)
        timings[name] = round(time.perf_counter() - t, 1)
        log(f"{name} done in {timings[name]:.1f} s")
    total = time.perf_counter() - started
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
        "seed": args.seed,
        "machine": info,
        "loadavg_end": machine()["loadavg"],
        "seconds": round(total, 1),
        "per_benchmark_s": timings,
        "failed": failed,
    }
    results = args.out / ("results-quick.json" if args.quick else "results.json")
    write_results(results, figures, meta)
    if args.markdown:
        print(markdown_table(figures))
    misses = sum(1 for f in figures if f.ok is False)
    print(
        f"# {len(figures)} figures, {misses} below target, {len(failed)} failed, "
        f"in {total:.1f} s; results in {results}",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

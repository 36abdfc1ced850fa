"""Shared pieces of the benchmarks: figures, timing, machine details, cached data paths."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Figure:
    """One measured figure and its target, printed as one summary line."""

    name: str
    measured: str  # formatted, with unit
    target: str  # formatted, e.g. ">= 0.5" or "<= 250 ms"; "" when there is none
    ok: bool | None  # None: no verdict (no target, or informational)
    detail: str = ""  # the reference it is measured against, sizes, counts
    value: float | None = None  # the raw number (for results.json)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "INFO" if not self.target else "n/a"
        return "OK" if self.ok else "MISS"

    def line(self) -> str:
        text = f"{self.name}: {self.measured}"
        if self.detail:
            text += f" ({self.detail})"
        if self.target:
            text += f" target {self.target}"
        return f"{text} {self.verdict}"


@dataclass
class Context:
    """What every benchmark module gets: the mode, where to put data, the seed."""

    quick: bool
    out: Path
    seed: int = 20261119
    log: Callable[[str], None] = lambda message: None
    shared: dict[str, Any] = field(default_factory=dict)  # results reused across modules

    def cache_path(self, name: str, params: dict[str, Any], suffix: str = ".db") -> Path:
        """A stable file name for generated data keyed by its parameters (and the seed)."""
        key = json.dumps({**params, "seed": self.seed, "v": 1}, sort_keys=True)
        digest = hashlib.sha1(key.encode()).hexdigest()[:10]
        return self.out / f"{name}-{digest}{suffix}"


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy's default."""
    data = sorted(values)
    if not data:
        return float("nan")
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def p50_p95(samples_s: list[float]) -> tuple[float, float]:
    """Median and 95th percentile of samples in seconds, returned in milliseconds."""
    return percentile(samples_s, 50) * 1000, percentile(samples_s, 95) * 1000


def best_rate(count: int, fn: Callable[[], object], repeats: int = 3) -> float:
    """Items per second of ``fn`` over ``count`` items: the best of ``repeats`` runs.

    Best-of is the right statistic for a ceiling on a machine shared with other work.
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def fmt_rate(rate: float, unit: str = "ev/s") -> str:
    return f"{rate:,.0f} {unit}"


def fmt_ms(ms: float) -> str:
    return f"{ms:,.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"


def db_size(path: Path) -> int:
    """Bytes the database holds after a checkpoint: the main file (the WAL is folded in)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        conn.close()
    return int((pages - free) * page_size)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        import psutil

        ram = psutil.virtual_memory().total
    except ImportError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    import sqlite3

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(ram / 2**30, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in load],
    }


def write_results(path: Path, figures: list[Figure], meta: dict[str, Any]) -> None:
    path.write_text(
        json.dumps({"meta": meta, "figures": [asdict(f) for f in figures]}, indent=2) + "\n"
    )


def markdown_table(figures: list[Figure]) -> str:
    rows = ["| figure | measured | target | verdict |", "|---|---|---|---|"]
    for f in figures:
        measured = f.measured + (f" ({f.detail})" if f.detail else "")
        rows.append(f"| `{f.name}` | {measured} | {f.target or '-'} | {f.verdict} |")
    return "\n".join(rows)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def parse_rate(lines: list[bytes], loads: Callable[[bytes], Any], repeats: int = 3) -> float:
    """Lines per second through ``loads``, each result dropped at once (a stream, as the
    recorder sees it: nothing accumulates)."""

    def parse_all() -> None:
        for line in lines:
            loads(line)

    return best_rate(len(lines), parse_all, repeats)

"""The benchmark suite runs: `bench/run.py --quick` prints one summary line per figure and
exits 0 (no thresholds are asserted: speed is measured by the benchmarks, not by tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FIGURES = (
    "ingest.import_events",
    "ingest.import_events_rate",
    "ingest.recorder",
    "ingest.recorder_rate",
    "ingest.initial_list",
    "storage.bytes_per_revision",
    "state.full",
    "state.namespace",
    "state.object",
    "desired.backfill",
    "desired.at",
    "desired.snapshot",
    "export.bundle",
    "git_follow.latency",
    "screen.keypress",
    "screen.key_to_frame",
    "screen.scrub_to_frame",
    "screen.keypress_to_data",
    "jump.suggest",
    "memory.recorder_peak_rss",
    "pg.state_full",
    "pg.state_namespace",
    "pg.state_object",
    "pg.writers",
    "pg.screen_key_to_frame",
    "pg.screen_scrub_to_frame",
    "pg.screen_keypress_to_data",
    "pg.live_seen",
    "ops.disk_per_day_sqlite",
    "ops.disk_per_day_pg",
    "ops.recorder_rss_with_metrics",
    "prune.all_but_a_day",
    "prune.half",
)


def test_quick_benchmarks_print_every_figure(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--quiet",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,  # ~90 s here; the machine is shared (the pg figures start a server)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for name in FIGURES:
        matching = [line for line in lines if line.startswith(f"{name}: ")]
        assert len(matching) == 1, f"no summary line for {name}:\n{proc.stdout}"
        assert "ERROR" not in matching[0]
        assert matching[0].rsplit(" ", 1)[-1] in ("OK", "MISS", "n/a", "INFO"), matching[0]
    assert (tmp_path / "results-quick.json").exists()

"""Memory: peak RSS of ``timetravel record`` recording 20,000 objects (its initial list,
then a backlog of watch events), read with psutil and /proc VmHWM from this process.
Target <= 300 MB; with ``--scale 100k``, 100,000 objects within 1 GB. The run is shared
with ``ingest.recorder`` (see bench/recorder_run.py).
"""

from __future__ import annotations

from bench import recorder_run
from bench.common import Context, Figure, fmt_bytes
from bench.ingest import sizes


def run(ctx: Context) -> list[Figure]:
    n = sizes(ctx.quick)
    limit = 300
    if ctx.shared.get("scale") == "100k" and not ctx.quick:
        # Issue 26: a recorder of 100,000 objects (beside a screen) within 1 GB.
        n, limit = {"objects": 100_000, "watch_events": 20_000}, 1024
    r = recorder_run.run(ctx, objects=n["objects"], watch_events=n["watch_events"])
    mb = r.peak_rss / 2**20
    return [
        Figure(
            "memory.recorder_peak_rss",
            f"{mb:,.0f} MB",
            f"<= {limit:,} MB" if not ctx.quick else "<= 300 MB at 20,000",
            mb <= limit if not ctx.quick else None,
            f"{r.objects:,} objects + {r.watch_events:,} watch events; "
            f"{fmt_bytes(r.rss_after_list)} after the initial list; exit code {r.exit_code}",
            value=mb,
        )
    ]

"""Scrubbing, the data layer (issue 26): ``ScreenData.resources_at`` as the screen's keys ask
it, on the screen's store (10,000 live objects, 1,000,000 revisions, the repository
backfilled), one warm ``ScreenData`` in this process (no Textual: bench/screen.py has the
keys through Pilot).

- ``scrub.step``: the next change, then the previous (→ and ←): 60 of each, p50/p95.
- ``scrub.shift``: a tenth of the default zoom (a day) on and back (shift+→/←), p50/p95.
- ``scrub.jump``: far jumps (seeded random moments over the 30 days: go to, home, end).
- ``scrub.full``: the moment read in full (``invalidate`` first), p50/p95: the state at T
  with every row made, what each step cost before moments were moved.

Each result is the rows, counts and records of the new moment (what the list, its header
and the detail's row take); the causes, the detail and the change stream are apart.
``TIMETRAVEL_BENCH_SCRUB_PG=1`` measures the same on a PostgreSQL copy of the store
(``scrub.pg.*``, the server and copy bench/pg.py keeps under ``--out``).
Run it alone with ``bench/run.py --only scrub``; the ``bench/run.py`` of another checkout
with ``--out`` at this one's cache measures that checkout's code on the same store (a
before/after pair, back to back).
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, timedelta
from pathlib import Path

from bench.common import Context, Figure, fmt_ms, p50_p95
from bench.datasets import StateStore, state_store


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"steps": 10, "shifts": 4, "jumps": 4, "full": 3}
    return {"steps": 60, "shifts": 16, "jumps": 16, "full": 12}


def run(ctx: Context) -> list[Figure]:
    from bench.screen import screen_store

    store = state_store(ctx)
    path = screen_store(ctx, store)
    figures = measure(ctx, store, path, "scrub")
    if os.environ.get("TIMETRAVEL_BENCH_SCRUB_PG"):
        # The same on a PostgreSQL copy of the store over loopback (bench/pgscreen.py's,
        # cached): the copy takes minutes the first time.
        from bench.pgcopy import copy_store
        from bench.pgserver import bench_server, cached_database

        with bench_server(ctx) as server:
            name = path.stem.replace("-", "_")
            url = cached_database(ctx, server, name, lambda u: copy_store(path, u, ctx.log))
            figures += measure(ctx, store, url, "scrub.pg")
    return figures


def measure(ctx: Context, store: StateStore, where: Path | str, prefix: str) -> list[Figure]:
    from timetravel.host import tune_collector
    from timetravel.query.screen import ScreenData

    tune_collector()
    n = sizes(ctx.quick)
    now = store.end.astimezone(UTC)
    rnd = random.Random(ctx.seed + 26)
    data = ScreenData(where, now=now)
    at = now - timedelta(hours=1)
    data.resources_at(at)  # warm, as the screen's first load

    def timed(moment: object) -> float:
        t = time.perf_counter()
        found = data.resources_at(moment)  # type: ignore[arg-type]
        took = time.perf_counter() - t
        assert found.rows and sum(found.counts.values()) == len(found.rows)
        return took

    steps: list[float] = []
    for direction in (1, -1):
        for _ in range(n["steps"]):
            moved = data.next_change_after(at) if direction > 0 else data.prev_change_before(at)
            assert moved is not None
            at = moved
            steps.append(timed(at))
    shifts: list[float] = []
    for i in range(n["shifts"]):
        at = at + timedelta(days=1) / 10 * (1 if i % 2 == 0 else -1) + timedelta(seconds=i)
        shifts.append(timed(at))
    span = store.end - store.start
    jumps: list[float] = []
    for _ in range(n["jumps"]):
        at = (store.start + span * (0.05 + 0.95 * rnd.random())).astimezone(UTC)
        jumps.append(timed(at))
    full: list[float] = []
    for _ in range(n["full"]):
        at = (store.start + span * (0.05 + 0.95 * rnd.random())).astimezone(UTC)
        data.invalidate()
        full.append(timed(at))

    shape = f"{store.live:,} live objects, {store.revisions:,} revisions, repository backfilled"
    shape += "; PostgreSQL over loopback" if prefix.endswith(".pg") else ""
    out = []
    for name, times, what in (
        (f"{prefix}.step", steps, "next/previous change (→/←)"),
        (f"{prefix}.shift", shifts, "a tenth of a day on and back (shift+→/←)"),
        (f"{prefix}.jump", jumps, "far jumps (go to, home, end)"),
        (f"{prefix}.full", full, "read in full (invalidate first): the state at T with its rows"),
    ):
        p50, p95 = p50_p95(times)
        out.append(
            Figure(
                name,
                f"p50 {fmt_ms(p50)} p95 {fmt_ms(p95)}",
                "",
                None,
                f"resources_at: {what}; {len(times)} moments; {shape}",
                value=p95,
                extra={"p50_ms": p50, "p95_ms": p95},
            )
        )
    return out

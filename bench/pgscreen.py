"""The screen on PostgreSQL: bench/screen.py's scenario on a PostgreSQL copy of its store.

The store of the screen benchmark (the state store with the GitOps repository backfilled)
is copied into PostgreSQL (bench/pgcopy.py, cached), and the app is driven headless
exactly as bench/screen.py drives it (its Pilot presses and its held-key scrub), once on
a copy of the SQLite file and once on the PostgreSQL database, one after the other:

- ``pg.screen_key_to_frame``: key sent -> first frame, p95 (target <= 50 ms, unchanged
  from SQLite's);
- ``pg.screen_scrub_to_frame``: the held key's keys -> first frame, p95 (<= 50 ms);
- ``pg.screen_keypress_to_data``: press -> every load landed (no target).

Each figure names SQLite's beside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, Context, Figure
from bench.datasets import state_store
from bench.pgcopy import copy_store
from bench.pgserver import cached_database
from bench.screen import (
    _data_presses,
    _first_load,
    _pilot_presses,
    _scrub,
    _settle,
    figures,
    screen_store,
    sizes,
)
from tests.fixtures.postgres import PostgresServer


def drive(where: str, now: datetime, presses: int, data: int, timeout: float, out: Path) -> None:
    """bench.screen.drive on ``where`` (a file or a postgresql:// URL)."""
    from timetravel.host import tune_collector
    from timetravel.query.screen import ScreenData
    from timetravel.tui.app import TimetravelApp

    tune_collector()  # as `timetravel ui` runs
    at = now - timedelta(hours=1)
    app = TimetravelApp(ScreenData(where, now=now), at=at, now=now, tz=UTC, export_dir=out.parent)
    result: dict[str, Any] = {"repaint": [], "to_frame": [], "scrub_frame": [], "to_data": []}
    result["scrub_keys"] = presses

    async def scenario() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            await _first_load(pilot, timeout, result)
            await _pilot_presses(pilot, presses, result)
            await _settle(pilot, timeout)
            await _scrub(pilot, presses, result)
            if result["initial_settled"]:
                await _data_presses(pilot, data, timeout, result)
            out.write_text(json.dumps(result))
            sys.stdout.flush()
            os._exit(0)

    asyncio.run(scenario())


def _drive(ctx: Context, where: str, now: datetime, n: dict[str, Any]) -> dict[str, Any]:
    out = ctx.out / "pg-screen-result.json"
    out.unlink(missing_ok=True)
    args = [
        PYTHON,
        "-m",
        "bench.pgscreen",
        where,
        now.isoformat(),
        str(n["presses"]),
        str(n["data"]),
        str(n["settle_timeout"]),
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEXTUAL_ANIMATIONS": "none"}
    budget = n["settle_timeout"] * (3 + n["data"] * 2) + n["presses"] * 5 + 60
    try:
        proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=budget)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the screen driver did not finish in {budget:.0f} s") from None
    if not out.exists():
        raise RuntimeError(
            f"the screen driver failed ({proc.returncode}): "
            + proc.stderr.decode(errors="replace")[-1500:]
        )
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return result


def run_screen(ctx: Context, server: PostgresServer) -> list[Figure]:
    n = sizes(ctx.quick)
    store = state_store(ctx)
    db_path = screen_store(ctx, store)
    name = db_path.stem.replace("-", "_")
    url = cached_database(ctx, server, name, lambda u: copy_store(db_path, u, ctx.log))
    now = store.end.astimezone(UTC)
    copy = ctx.out / "pg-screen.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(copy) + suffix).unlink(missing_ok=True)
    if not ctx.quick:
        shutil.copyfile(db_path, copy)  # the app may write (exports); never the cached store
    # --quick: PostgreSQL only (the screen benchmark has just driven SQLite's).
    sqlite_by_name: dict[str, Figure] = {}
    if not ctx.quick:
        ctx.log("pg: the screen on SQLite, then on PostgreSQL (in subprocesses)")
        on_sqlite = figures(_drive(ctx, str(copy), now, n), n["settle_timeout"])
        sqlite_by_name = {f.name: f for f in on_sqlite}
    else:
        ctx.log("pg: the screen on PostgreSQL (in a subprocess)")
    on_pg = figures(_drive(ctx, url, now, n), n["settle_timeout"])
    for suffix in ("", "-wal", "-shm"):
        Path(str(copy) + suffix).unlink(missing_ok=True)
    out = []
    for figure in on_pg:
        if figure.name == "screen.keypress":
            continue  # how long loads keep a CPU busy: SQLite's figure tells it
        sq = sqlite_by_name.get(figure.name)
        figure.name = "pg." + figure.name.replace(".", "_")
        if sq is not None:
            figure.detail = f"SQLite {sq.measured}, driven just before; {figure.detail}"
            figure.extra["sqlite_value"] = sq.value
        out.append(figure)
    return out


if __name__ == "__main__":
    where_arg, now_arg, presses_arg, data_arg, timeout_arg, out_arg = sys.argv[1:7]
    drive(
        where_arg,
        datetime.fromisoformat(now_arg),
        int(presses_arg),
        int(data_arg),
        float(timeout_arg),
        Path(out_arg),
    )

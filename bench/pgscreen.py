"""The screen on PostgreSQL: bench/screen.py's scenario on a PostgreSQL copy of its store.

The store of the screen benchmark (the state store with the GitOps repository backfilled)
is copied into PostgreSQL (bench/pgcopy.py, cached), and the app is driven headless
exactly as bench/screen.py drives it (its Pilot presses and its held-key scrub), once on
a copy of the SQLite file and once on the PostgreSQL database, one after the other:

- ``pg.screen_key_to_frame``: key sent -> first frame, p95 (target <= 50 ms, unchanged
  from SQLite's);
- ``pg.screen_scrub_to_frame``: the held key's keys -> first frame, p95 (<= 50 ms);
- ``pg.screen_keypress_to_data``: press -> every load landed (no target);
- issue 26's figures on PostgreSQL (``pg.screen_step_to_data``, ``_held_to_data``,
  ``_step_after_news``, ``_jump_to_data``): targets as SQLite's. The app runs on a copy
  of the cached database (``CREATE DATABASE ... TEMPLATE``): the writer of
  ``step_after_news`` writes into it.

Each figure names SQLite's beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, Context, Figure
from bench.datasets import state_store
from bench.pgcopy import copy_store
from bench.pgserver import cached_database, drop_database
from bench.screen import (
    figures,
    screen_store,
    sizes,
)
from tests.fixtures.postgres import PostgresServer


def _drive(ctx: Context, where: str, now: datetime, n: dict[str, Any]) -> dict[str, Any]:
    out = ctx.out / "pg-screen-result.json"
    out.unlink(missing_ok=True)
    args = [
        PYTHON,
        "-m",
        "bench.screen",
        where,
        now.isoformat(),
        str(n["presses"]),
        str(n["data"]),
        str(n["settle_timeout"]),
        str(out),
        str(n["steps"]),
        str(n["jumps"]),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEXTUAL_ANIMATIONS": "none"}
    budget = n["settle_timeout"] * (3 + n["data"] * 2) + n["presses"] * 5 + 60
    budget += (2 * n["steps"] + n["jumps"]) * 10
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
    # On a copy of the cached database: the writer of screen.step_after_news writes.
    cached = url.rsplit("/", 1)[1]
    run = f"{cached}_run"
    server.sql(f'DROP DATABASE IF EXISTS "{run}" WITH (FORCE)')
    server.sql(f'CREATE DATABASE "{run}" TEMPLATE "{cached}"')
    try:
        on_pg = figures(_drive(ctx, server.url(run), now, n), n["settle_timeout"])
    finally:
        drop_database(server, run)
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

"""PostgreSQL beside SQLite (issue 18), in one server on loopback (bench/pgserver.py):

- state at T on the same store (bench/pgstate.py): ``pg.state_full`` (p95 <= 2x SQLite's),
  ``pg.state_namespace``, ``pg.state_object``;
- three recorders writing at once into one database (bench/pgwriters.py):
  ``pg.writers``, each >= 2,000 events/s;
- a screen in LIVE seeing another process's revisions (bench/pglive.py): ``pg.live_seen``
  (p95 <= 1 s);
- the screen on a PostgreSQL copy of its store (bench/pgscreen.py):
  ``pg.screen_key_to_frame`` and ``pg.screen_scrub_to_frame`` (p95 <= 50 ms), and issue
  26's step, held key, step after news and far jump, SQLite's measured beside them.
"""

from __future__ import annotations

from bench.common import Context, Figure
from bench.pglive import run_live
from bench.pgscreen import run_screen
from bench.pgserver import bench_server
from bench.pgstate import run_state
from bench.pgwriters import run_writers
from tests.fixtures.postgres import REQUIRED, running_server

FIGURES = (
    ("pg.state_full", "p95 <= 2x SQLite"),
    ("pg.state_namespace", "p95 <= 20 ms"),
    ("pg.state_object", "p95 <= 5 ms"),
    ("pg.writers", ">= 2,000 ev/s each"),
    ("pg.screen_key_to_frame", "p95 <= 50 ms"),
    ("pg.screen_scrub_to_frame", "p95 <= 50 ms"),
    ("pg.screen_keypress_to_data", ""),
    ("pg.screen_step_to_data", "p95 <= 50 ms"),
    ("pg.screen_step_after_news", "p95 <= 50 ms"),
    ("pg.screen_held_to_data", "p95 <= 50 ms"),
    ("pg.screen_jump_to_data", "p95 <= 300 ms"),
    ("pg.live_seen", "p95 <= 1,000 ms"),
)


def run(ctx: Context) -> list[Figure]:
    figures: list[Figure] = []
    started = False
    try:
        with bench_server(ctx) as server:
            started = True
            figures += run_state(ctx, server)
            figures += run_writers(ctx, server)
            figures += run_screen(ctx, server)
    except (RuntimeError, KeyError) as exc:
        if started or REQUIRED:
            raise
        # No server on this machine (as the tests that need one skip): said, not failed.
        return [
            Figure(name, "-", target, None, f"no PostgreSQL server here: {exc}")
            for name, target in FIGURES
        ]
    # A server of its own: the screen's measurement above leaves the shared one busy.
    with running_server() as own:
        figures += run_live(ctx, own)
    return figures

"""A screen in LIVE on a team store: how soon it sees another machine's new revision.

``pg.live_seen``: a writer process (another machine, as far as the screen can tell)
commits one revision every 0.5 s into a PostgreSQL database; this process runs the
screen's store poll as the app does (``ScreenData.time_range`` every ``POLL_S``, the
app's ``poll_interval``) and times each revision from its commit returning in the writer
to the poll that first sees it. Target: p95 <= 1 s. The screen polls an index (the time
index's newest entry) rather than LISTEN/NOTIFY: the same code path serves SQLite, and a
poll of one index entry costs ~0.3 ms on loopback.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta

from bench.common import Context, Figure, fmt_ms, percentile
from tests.fixtures.postgres import PostgresServer
from timetravel.domain.model import Observation
from timetravel.domain.times import to_stored
from timetravel.errors import UserError
from timetravel.query.screen import ScreenData
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter

POLL_S = 1.0  # the screen's poll interval (tui.app TimetravelApp.poll_interval)


def _writer(url: str, count: int, every: float, committed: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    db = open_database(url)
    writer = RevisionWriter(db)
    start = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)
    for i in range(count):
        at = to_stored(start + timedelta(seconds=i))
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "live", "namespace": "bench", "resourceVersion": str(i + 1)},
            "data": {"n": str(i)},
        }
        writer.write([Observation("remote", "MODIFIED" if i else "ADDED", obj, at)])
        committed.put((at, time.time()))
        time.sleep(every)
    db.conn.close()


def run_live(ctx: Context, server: PostgresServer) -> list[Figure]:
    count, every = (6, 0.5) if ctx.quick else (60, 0.5)
    url = server.new_database()
    open_database(url).conn.close()  # the schema, before the screen opens it
    spawn = multiprocessing.get_context("spawn")
    committed = spawn.Queue()
    writer = spawn.Process(target=_writer, args=(url, count, every, committed))
    ctx.log(f"pg.live: {count} revisions {every:g} s apart, the screen polling every {POLL_S:g} s")
    writer.start()
    commit_times: dict[str, float] = {}
    seen_times: dict[str, float] = {}
    screen: ScreenData | None = None
    deadline = time.monotonic() + count * every + 30
    next_poll = time.monotonic()
    while len(seen_times) < count and time.monotonic() < deadline:
        while not committed.empty():
            at, when = committed.get()
            commit_times[at] = when
        if time.monotonic() >= next_poll:
            next_poll += POLL_S
            if screen is None:
                try:
                    screen = ScreenData(url)
                except UserError:  # nothing written yet
                    screen = None
            if screen is not None:
                newest = screen.time_range()[1]
                now = time.time()
                if newest is not None:
                    stamp = to_stored(newest)
                    for at in commit_times:
                        if at <= stamp and at not in seen_times:
                            seen_times[at] = now
        time.sleep(0.01)
    writer.join(timeout=30)
    delays = [seen_times[at] - commit_times[at] for at in seen_times if at in commit_times]
    if not delays:
        raise RuntimeError("the screen saw none of the writer's revisions")
    p50, p95 = percentile(delays, 50) * 1000, percentile(delays, 95) * 1000
    return [
        Figure(
            "pg.live_seen",
            f"p50 {fmt_ms(p50)} p95 {fmt_ms(p95)}",
            "p95 <= 1,000 ms",
            None if ctx.quick else p95 <= 1000,
            f"max {fmt_ms(max(delays) * 1000)}; a revision committed by another process -> "
            f"the screen's poll (every {POLL_S:g} s, as the app) sees it; {len(delays)} of "
            f"{count} revisions {every:g} s apart",
            value=p95,
        )
    ]

"""Steps while a recorder writes: the screen's moment after news (issue 26).

A recorder beside the screen writes all the time, so the screen's poll finds news every
second (``StoreChanged``: the moments it keeps are told that the store moved). What a
recorder writes is of *now*; the operator scrubs the past. ``screen.step_after_news``:
another process writes a batch of revisions observed now every ``INTERVAL``; each → is
sent right after the screen was told news (its data's generation moved) and settled, and
timed to the new moment's rows, counts and detail on screen, as ``screen.step_to_data``.
Before the write marks (store/write_marks.py) the first moment after news was read in
full; the target is the step's.

The writer runs as its own process (``python -m bench.screen_news write DB START``), as
a recorder does: the screen's process does not pay for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT

INTERVAL = 0.5  # seconds between the writer's batches
BATCH = 5  # revisions a batch


async def steps_after_news(
    pilot: Any, db: Path | str, start: datetime, steps: int, timeout: float, out: list[float]
) -> None:
    """``steps`` → keys, each the first after news, timed to the new moment's data.
    ``db``: the store's file or PostgreSQL URL, which the writer writes into."""
    from bench.screen import _moment_shown, _send, _settle, _until

    app = pilot.app
    writer = subprocess.Popen(
        [PYTHON, "-m", "bench.screen_news", "write", str(db), start.isoformat()],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(steps):
            generation = app.data._generation
            told = await _until(lambda g=generation: app.data._generation != g, timeout)
            if told is None or not await _settle(pilot, timeout):
                break
            before = app.cursor
            sent = _send(app, "right")
            done = await _until(
                lambda before=before: app.cursor != before and _moment_shown(app), timeout
            )
            out.append((done if done is not None else time.perf_counter()) - sent)
        if writer.poll() is not None:
            error = writer.stderr.read().decode(errors="replace") if writer.stderr else ""
            raise RuntimeError(f"the writer stopped ({writer.returncode}): {error[-1500:]}")
    finally:
        writer.kill()
        writer.wait()


def write(db: str, start: datetime) -> None:
    """Write ``BATCH`` ConfigMap revisions observed after ``start`` every ``INTERVAL``,
    through the recorder's writer, until killed."""
    from timetravel.domain.model import Observation
    from timetravel.domain.times import to_stored
    from timetravel.store.db import open_database
    from timetravel.store.writer import RevisionWriter

    store = open_database(db)
    writer = RevisionWriter(store)
    at = start
    version = 0
    while True:
        batch = []
        for index in range(BATCH):
            version += 1
            at += timedelta(milliseconds=10)
            obj = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"live-{index}",
                    "namespace": "bench-live",
                    "uid": f"uid-live-{index}",
                    "resourceVersion": str(version),
                },
                "data": {"version": str(version)},
            }
            batch.append(Observation("bench", "MODIFIED", obj, to_stored(at)))
        writer.write(batch)
        time.sleep(INTERVAL)


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"]:
        write(sys.argv[2], datetime.fromisoformat(sys.argv[3]))

"""What each writer has written, so a reader can tell what news can have changed.

A screen keeps the moment it shows and steps from it (query/incremental.py). When a
recorder writes, the store has news, and the moment kept may no longer be the one a full
read would give: only if something new was observed at or before it. Almost always what
a recorder writes was observed *now*, after the moment an operator looks at; a change
delivered after a recording gap, an import of audit events, a copy or a redaction write
into the past.

Each :class:`~timetravel.store.writer.RevisionWriter` keeps one ``revision_writers`` row
(m015), updated in the transaction of every batch it writes: how many revisions it has
written, the oldest and newest observation times among them, and ``late``, the batches
that held a revision observed at or before the newest it had written before. A reader
reads the rows (one small table) and compares them with the rows it read before
(:func:`unseen_after`): a writer that wrote only forward in time wrote nothing at or
before its newest time then. Paths that write history in bulk rather than through the
writer (copy, prune, redaction, a repair) keep a row each that grows later with every
transaction of theirs (:func:`rewrote`).

On PostgreSQL the recorders of several clusters write at once: each updates only its own
row, so no writer waits on another's lock. The readers see a row and the revisions of its
batch in the same snapshot, as one transaction wrote both.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple


class Mark(NamedTuple):
    batches: int  # transactions that wrote revisions
    written: int  # revisions
    oldest_us: int  # the oldest observation time written
    newest_us: int  # the newest
    last_us: int  # the oldest observation time of the last batch
    late: int  # batches with a revision at or before the newest written before them


_COLUMNS = "writer, batches, written, oldest_us, newest_us, last_us, late"
# Every writer's mark, by writer.
Marks = Mapping[str, Mark]

# What unseen_after says when a writer went back in time: the moment must be read again.
LATE = -1


def token() -> str:
    """A new writer's name: one per writing process, never reused."""
    return secrets.token_hex(8)


def moved(mark: Mark | None, observed_us: Iterable[int]) -> Mark | None:
    """``mark`` after a batch whose revisions were observed at ``observed_us`` (None when
    nothing was written, and there was no mark before)."""
    times = list(observed_us)
    if not times:
        return mark
    lo, hi = min(times), max(times)
    if mark is None:
        return Mark(1, len(times), lo, hi, lo, 0)
    return Mark(
        mark.batches + 1,
        mark.written + len(times),
        min(mark.oldest_us, lo),
        max(mark.newest_us, hi),
        lo,
        mark.late + (1 if lo <= mark.newest_us else 0),
    )


def save(conn: Any, writer: str, mark: Mark) -> None:
    """Write ``writer``'s mark (inside the transaction of the batch it counts)."""
    conn.execute(
        f"INSERT INTO revision_writers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (writer) DO UPDATE SET batches = excluded.batches, "
        "written = excluded.written, oldest_us = excluded.oldest_us, "
        "newest_us = excluded.newest_us, last_us = excluded.last_us, late = excluded.late",
        (writer, *mark),
    )


def rewrote(conn: Any, path: str, revisions: int = 0) -> None:
    """Say, in the transaction that did it, that ``path`` (``copy``, ``prune``,
    ``check``) wrote history into the past or took it out rather than through the writer:
    every moment a reader keeps is read again. Its row counts no batches (a writer's
    counts at least one): each change of it is such a rewrite."""
    conn.execute(
        f"INSERT INTO revision_writers ({_COLUMNS}) VALUES (?, 0, ?, 0, 0, 0, 1) "
        "ON CONFLICT (writer) DO UPDATE SET "
        "written = revision_writers.written + excluded.written, "
        "late = revision_writers.late + 1",
        (path, revisions),
    )


def read(conn: Any) -> dict[str, Mark]:
    """Every writer's mark (the store has m015: see ``Reader.write_marks``)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM revision_writers").fetchall()
    return {str(r[0]): Mark(*(int(v) for v in r[1:])) for r in rows}


def unseen_after(before: Marks, now: Marks, at_us: int) -> int | None:
    """What may be new at or before ``at_us`` since the marks ``before`` were read:

    - None: nothing (every revision written since was observed after ``at_us``);
    - a time in microseconds: every revision written since that was observed at or before
      ``at_us`` was observed after it (a reader reads again what lies in between);
    - :data:`LATE`: history was rewritten (:func:`rewrote`), or a writer wrote batches
      since, one of them into its own past, or a row went: read in full.

    A writer's revisions since are after the oldest of its last batch when that is the
    only batch since (a quiet recorder's new revision is of now, not of any time after its
    previous one, an hour ago; a change placed in a recording gap is where it was placed);
    else after the newest it had written then, unless one of the batches went back.
    """
    after: int | None = None
    for writer, mark in now.items():
        was = before.get(writer)
        if was == mark:
            continue
        if mark.batches == 0 or (was is not None and mark.batches < was.batches):
            return LATE  # history rewritten by another path (rewrote), or a row reset
        if was is None:
            # Everything it wrote is new, and none of it older than its oldest.
            since = (mark.last_us if mark.batches == 1 else mark.oldest_us) - 1
        elif mark.batches == was.batches + 1:
            since = mark.last_us - 1  # one batch since: its oldest revision, known
        elif mark.late != was.late:
            return LATE  # several batches, one of them into the writer's past
        else:
            since = was.newest_us
        if since < at_us:
            after = since if after is None else min(after, since)
    if any(writer not in now for writer in before):
        return LATE
    return after

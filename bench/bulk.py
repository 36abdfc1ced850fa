"""Writing a generated history in bulk: the recorder's writer, its segments written once.

The live recorder appends each revision to its object's latest segment and writes the
segment again (decode, encode with the new entry, UPDATE): what a recorder must do, since
any moment may be its last. A generated history need not: :class:`BulkWriter` is the
store's own :class:`~timetravel.store.writer.RevisionWriter` (normalization, hashes,
managedFields, ids, the time index, lifetimes and every index it keeps, exactly as a
recorder writes them) whose segments are held in memory until they are full (8
revisions) and then encoded and written once. The stored bytes are the same as the
recorder's: a segment's encoding depends only on its entries, bodies and keyframe, not on
how many times it was encoded on the way (``bench/bulk.py --check`` compares two stores
built both ways, row by row).

Every object stays in the writer's memory while the history is written (no segment is
read back from the database half-written); :meth:`BulkWriter.finish` writes the segments
that are not full yet. Only for histories in time order, as the generators make them.
"""

from __future__ import annotations

from typing import Any

from timetravel.store import segments as seg
from timetravel.store.appender import Family, SegmentAppender, SegmentRow
from timetravel.store.handle import StoreDB
from timetravel.store.writer import RevisionWriter


class _HeldAppender(SegmentAppender):
    """Segments written once, when full (or at :meth:`flush`)."""

    def __init__(self, conn: Any) -> None:
        super().__init__(conn)
        self._held: dict[int, tuple[SegmentRow, list[seg.Entry], list[bytes]]] = {}

    def start(
        self,
        rid: int,
        previous: SegmentRow | None,
        families: tuple[Family, ...],
        entry: seg.Entry,
        raw: bytes,
    ) -> SegmentRow:
        segment = super().start(rid, previous, families, entry, raw)
        if entry[seg.CHANGE] != "deleted":  # else written as it is: nothing follows
            self._held[segment.id] = (segment, [entry], [raw])
        return segment

    def append(self, segment: SegmentRow, entry: seg.Entry, raw: bytes) -> SegmentRow:
        held = self._held.get(segment.id)
        if held is None:  # a segment of an earlier run of the builder: as stored
            entries, data = self.decode(segment)
            held = (segment, entries, seg.split(data, entries))
            self._held[segment.id] = held
        held[1].append(entry)
        held[2].append(raw)
        segment.count = len(held[1])
        # Full, or its object's last (a deleted Pod's name never comes back): held no longer.
        if segment.count >= seg.SEGMENT_SIZE or entry[seg.CHANGE] == "deleted":
            self._store(segment, held[1], held[2])
            del self._held[segment.id]
        return segment

    def insert_late(self, rid: int, latest: SegmentRow, entry: seg.Entry, raw: bytes) -> int:
        raise ValueError("a bulk history is written in time order: no late revision")

    def flush(self) -> int:
        """Write every held segment; returns how many."""
        for segment, entries, bodies in self._held.values():
            self._store(segment, entries, bodies)
        count = len(self._held)
        self._held.clear()
        return count


class BulkWriter(RevisionWriter):
    """A :class:`RevisionWriter` for generated histories: call :meth:`finish` at the end."""

    def __init__(self, db: StoreDB) -> None:
        # Every object stays remembered: its held segment is not in the database yet.
        super().__init__(db, cache_size=1 << 40)
        self._segments = _HeldAppender(self.conn)

    def write(self, observations: Any) -> Any:
        try:
            return super().write(observations)
        except BaseException:
            raise RuntimeError("a bulk write failed: the held segments are lost") from None

    def finish(self) -> int:
        """Write the segments that are not full; returns how many."""
        assert isinstance(self._segments, _HeldAppender)
        with self.conn:
            return self._segments.flush()


# Columns that hold when a row was written, not what was recorded; and a writer's random
# name (store.write_marks).
_CLOCK = {
    ("clusters", "first_seen"),
    ("_sqlite_migrations", "applied_at"),
    ("revision_writers", "writer"),
}


def _tables(path: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a store, but when each was written (the clock's) and
    the store's own key id."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        found = {}
        for name in sorted(names):
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')]
            wanted = [c for c in columns if (name, c) not in _CLOCK]
            listed = ", ".join(f'"{c}"' for c in wanted)
            rows = conn.execute(f'SELECT {listed} FROM "{name}" ORDER BY 1, 2').fetchall()
            if name == "meta":  # when it was made, and its own random key's id
                rows = [r for r in rows if r[0] not in ("created_at", "redaction_key_id")]
            found[name] = rows
        return found
    finally:
        conn.close()


def build(path: Any, *, bulk: bool, live: int, revisions: int, seed: int) -> int:
    """A generated history of ``live`` objects and about ``revisions`` revisions (the
    state benchmark's mix) written by the recorder's writer or by :class:`BulkWriter`."""
    from bench.datasets import CLUSTER, SPAN, STATE_MIX
    from bench.gen import T0, Cluster
    from timetravel.domain.model import Observation
    from timetravel.domain.times import to_stored
    from timetravel.store.db import open_database

    deployments = configmaps = live * 3 // 10
    cluster = Cluster(
        seed,
        deployments=deployments,
        configmaps=configmaps,
        pods=live - deployments - configmaps,
        namespaces_count=10,
        start=T0,
    )
    db = open_database(path)
    # One redaction key for both builds: a Secret's hash depends on it (none here, but the
    # meta row is compared too).
    writer = BulkWriter(db) if bulk else RevisionWriter(db)
    written = writer.write(
        Observation(CLUSTER, c.event, c.obj, to_stored(c.at)) for c in cluster.initial()
    ).written
    batch: list[Any] = []
    while written + len(batch) < revisions:
        for change in cluster.step(mix=STATE_MIX, dt=SPAN / revisions):
            batch.append(Observation(CLUSTER, change.event, change.obj, to_stored(change.at)))
        if len(batch) >= 1000:
            written += writer.write(batch).written
            batch.clear()
    written += writer.write(batch).written
    if isinstance(writer, BulkWriter):
        writer.finish()
    db.conn.close()
    return written


def check(workdir: Any, *, live: int = 300, revisions: int = 6000, seed: int = 5) -> list[str]:
    """Build one history both ways; returns the tables that differ (none: the same bytes)."""
    from pathlib import Path

    workdir = Path(workdir)
    paths = [workdir / "recorder.db", workdir / "bulk.db"]
    for path, bulk in zip(paths, (False, True), strict=True):
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        build(path, bulk=bulk, live=live, revisions=revisions, seed=seed)
    a, b = (_tables(p) for p in paths)
    return [name for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        differ = check(tmp)
    print("the same rows" if not differ else f"tables that differ: {', '.join(differ)}")
    sys.exit(1 if differ else 0)

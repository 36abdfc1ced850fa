"""Checking a database for the damage two writers (or a damaged disk) leave, and mending it.

Before the writer lease (store.lease), two recorders could write one database. Each
remembers every object's latest segment, so each rewrote segments without what the other
had appended: the time index then names revisions their segment no longer holds, both
stored the same change, and segments of one object could overlap in time. What is found:

- ``missing``: an index row whose segment does not hold that revision. Its body was
  overwritten; the same change is nearly always held by the other writer's copy. Repair
  drops the row.
- ``unindexed``: a revision in a segment with no index row. Repair indexes it.
- ``overlapping``: segments of one object that overlap in time (a reader may miss the
  revisions of one of them). Repair lays the object's revisions out again.
- ``duplicate``: the same change stored twice (same resourceVersion, change and body).
  Repair keeps the first seen.
- ``conflicting``: one resourceVersion and change with two different bodies. Both are
  kept (each is a distinct fact) and reported.
- ``undecodable``: a segment whose bytes cannot be decoded. Reported; nothing can be
  recovered from it here (restore the file from a backup).
- duplicate gaps and ref moves recorded by both writers. Repair keeps the first.

Repair rewrites only the objects found damaged, each in one transaction, keeping every
distinct revision with its id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import zstandard as zstd

from timetravel.domain.times import to_micros
from timetravel.store import codec, dialect, pod_digests, write_marks
from timetravel.store import segments as seg
from timetravel.store.handle import StoreDB

_SEGMENTS = (
    "SELECT s.id, s.resource_id, s.first_at, s.keyframe_id, s.body, k.body FROM segments s "
    "LEFT JOIN keyframes k ON k.id = s.keyframe_id "
)


@dataclass
class ResourceDamage:
    """What is wrong with one object's revisions."""

    resource_id: int
    missing: int = 0
    unindexed: int = 0
    overlapping: int = 0
    duplicate: int = 0
    conflicting: int = 0
    undecodable: int = 0

    @property
    def repairable(self) -> bool:
        return bool(self.missing or self.unindexed or self.overlapping or self.duplicate)


@dataclass
class CheckReport:
    resources: int = 0
    segments: int = 0
    revisions: int = 0
    damaged: dict[int, ResourceDamage] = field(default_factory=dict)
    duplicate_gaps: int = 0
    duplicate_ref_moves: int = 0
    index_without_segment: int = 0  # index rows naming a segment that does not exist
    # Pods whose running digests (pod_digests) are not what their revisions say: the index
    # is derived, so repair lays them out again from the revisions.
    stale_pod_digests: list[int] = field(default_factory=list)
    # Each damaged frame: (segment id, object, from, until): what it cannot answer.
    damaged_frames: list[tuple[int, str, str, str | None]] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.damaged.values())

    @property
    def clean(self) -> bool:
        return not (
            self.damaged
            or self.duplicate_gaps
            or self.duplicate_ref_moves
            or self.index_without_segment
            or self.stale_pod_digests
        )

    def lines(self) -> list[str]:
        out = [
            f"{self.resources:,} objects, {self.segments:,} segments, "
            f"{self.revisions:,} revisions checked"
        ]
        for name, words in (
            ("missing", "index rows whose revision is missing from its segment"),
            ("unindexed", "revisions missing from the time index"),
            ("overlapping", "segments overlapping another of the same object"),
            ("duplicate", "duplicate revisions (the same change stored twice)"),
            ("conflicting", "conflicting revisions (one resourceVersion, two bodies)"),
            ("undecodable", "segments that cannot be decoded (damaged bytes)"),
        ):
            count = self.total(name)
            if count:
                objects = sum(1 for d in self.damaged.values() if getattr(d, name))
                out.append(f"{count:,} {words}, in {objects:,} objects")
        for segment_id, name, start, until in self.damaged_frames[:50]:
            span = f"from {start} until {until}" if until else f"from {start} on"
            out.append(f"  damaged frame: segment {segment_id} of {name}, {span}")
        if len(self.damaged_frames) > 50:
            out.append(f"  ... and {len(self.damaged_frames) - 50:,} more damaged frames")
        if self.index_without_segment:
            out.append(f"{self.index_without_segment:,} index rows naming no segment")
        if self.stale_pod_digests:
            out.append(
                f"{len(self.stale_pod_digests):,} Pods whose running digests (pod_digests) "
                "are not what their revisions say"
            )
        if self.duplicate_gaps:
            out.append(f"{self.duplicate_gaps:,} duplicate gaps")
        if self.duplicate_ref_moves:
            out.append(f"{self.duplicate_ref_moves:,} duplicate ref moves")
        if self.clean:
            out.append("no damage found")
        return out


@dataclass
class RepairReport:
    objects: int = 0
    dropped_index_rows: int = 0
    indexed: int = 0
    dropped_duplicates: int = 0
    gaps: int = 0
    ref_moves: int = 0
    pod_digests: int = 0  # Pods whose running digests were laid out again (and no more)

    def lines(self) -> list[str]:
        out = [
            f"repaired {self.objects:,} objects: {self.dropped_duplicates:,} duplicate "
            f"revisions dropped, {self.dropped_index_rows:,} index rows without a revision "
            f"dropped, {self.indexed:,} revisions indexed",
            f"dropped {self.gaps:,} duplicate gaps and {self.ref_moves:,} duplicate ref moves",
        ]
        if self.pod_digests:
            out.append(f"laid out the running digests of {self.pod_digests:,} more Pods again")
        return out


@dataclass
class _Decoded:
    id: int
    resource_id: int
    first_at: str
    keyframe_id: int
    keyframe_blob: bytes | None
    entries: list[seg.Entry]
    bodies: list[bytes]


class _Keyframes:
    def __init__(self) -> None:
        self._plain = codec.keyframe_context()
        self._raw: dict[int, bytes] = {}

    def raw(self, keyframe_id: int, blob: bytes) -> bytes:
        found = self._raw.get(keyframe_id)
        if found is None:
            found = self._plain.decompress(blob)
            if len(self._raw) > 4096:
                self._raw.clear()
            self._raw[keyframe_id] = found
        return found


def _decode(row: Any, keyframes: _Keyframes) -> _Decoded | None:
    segment_id, rid, first_at, keyframe_id, body, keyframe_blob = row
    try:
        raw = keyframes.raw(keyframe_id, keyframe_blob)
        entries, data = seg.decode(body, seg.decompressor(raw))
        bodies = seg.split(data, entries)
    except (zstd.ZstdError, ValueError, TypeError, IndexError):
        return None
    return _Decoded(segment_id, rid, first_at, keyframe_id, keyframe_blob, entries, bodies)


def _by_resource(db: StoreDB) -> Iterator[tuple[int, list[Any]]]:
    """Each resource's segment rows, in time order."""
    rows = db.conn.execute(_SEGMENTS + "ORDER BY s.resource_id, s.first_at, s.id")
    current: int | None = None
    group: list[Any] = []
    while chunk := rows.fetchmany(500):
        for row in chunk:
            if row[1] != current:
                if group:
                    yield int(current or 0), group
                current, group = row[1], []
            group.append(row)
    if group:
        yield int(current or 0), group


def _index(db: StoreDB) -> None:
    """The time index in a temporary table, by id and by segment."""
    conn = db.conn
    if getattr(conn, "read_only", False):
        # A PostgreSQL session opened for reading refuses even a temporary table; this one
        # is the session's own and gone with it, so the session may write that much.
        conn.execute("SET default_transaction_read_only = off")
    conn.execute("DROP TABLE IF EXISTS tt_index")
    conn.execute("CREATE TEMP TABLE tt_index (id BIGINT, segment_id BIGINT, observed_us BIGINT)")
    conn.execute("INSERT INTO tt_index SELECT id, segment_id, observed_us FROM revisions")
    # On a temporary table, so in the session's own schema in both engines.
    conn.execute("CREATE INDEX tt_index_by_segment ON tt_index (segment_id, id)")


def _indexed(db: StoreDB, segment_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """(id, observed_us) of the index rows of these segments, by segment."""
    out: dict[int, list[tuple[int, int]]] = {sid: [] for sid in segment_ids}
    marks = ",".join("?" * len(segment_ids))
    for rev_id, segment_id, observed_us in db.conn.execute(
        f"SELECT id, segment_id, observed_us FROM tt_index WHERE segment_id IN ({marks})",
        segment_ids,
    ):
        out[segment_id].append((rev_id, observed_us))
    return out


def _body_hash(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


def _examine(
    rid: int, decoded: list[_Decoded], undecodable: int, indexed: dict[int, list[tuple[int, int]]]
) -> ResourceDamage:
    damage = ResourceDamage(rid, undecodable=undecodable)
    seen: dict[tuple[Any, str], set[bytes]] = {}
    last_at: str | None = None
    for segment in decoded:
        ids = {e[seg.ID] for e in segment.entries}
        index_ids = {rev_id for rev_id, _ in indexed.get(segment.id, [])}
        damage.missing += len(index_ids - ids)
        damage.unindexed += len(ids - index_ids)
        if segment.entries:
            if last_at is not None and segment.entries[0][seg.OBSERVED_AT] < last_at:
                damage.overlapping += 1
            last_at = max(last_at or "", segment.entries[-1][seg.OBSERVED_AT])
        for entry, body in zip(segment.entries, segment.bodies, strict=True):
            identity = _identity(entry)
            digest = _body_hash(body)
            bodies = seen.setdefault(identity, set())
            if digest in bodies:
                damage.duplicate += 1
            elif bodies:
                damage.conflicting += 1
            bodies.add(digest)
    return damage


def _identity(entry: seg.Entry) -> tuple[Any, str]:
    """What makes two revisions the same change: the server's version of the object and
    the change; without a version (an import), the moment it was seen."""
    rv = entry[seg.RESOURCE_VERSION]
    return (rv if rv is not None else ("at", entry[seg.OBSERVED_AT]), entry[seg.CHANGE])


def check(db: StoreDB, *, progress: Callable[[int], None] | None = None) -> CheckReport:
    """Read every segment of ``db`` and report what is damaged; changes nothing."""
    report = CheckReport()
    _index(db)
    keyframes = _Keyframes()
    pods = set(pod_digests.pod_ids(db.conn))
    for rid, rows in _by_resource(db):
        report.resources += 1
        report.segments += len(rows)
        attempts = [(row, _decode(row, keyframes)) for row in rows]
        decoded = [d for _, d in attempts if d is not None]
        for index, (row, found) in enumerate(attempts):
            if found is None:
                until = rows[index + 1][2] if index + 1 < len(rows) else None
                report.damaged_frames.append((int(row[0]), _name(db, rid), str(row[2]), until))
        indexed = _indexed(db, [row[0] for row in rows])
        report.revisions += sum(len(v) for v in indexed.values())
        damage = _examine(rid, decoded, len(rows) - len(decoded), indexed)
        if damage.repairable or damage.conflicting or damage.undecodable:
            report.damaged[rid] = damage
        if rid in pods and not _pod_digests_hold(db, rid, decoded):
            report.stale_pod_digests.append(rid)
        if progress is not None:
            progress(1)
    report.index_without_segment = len(_orphan_index_rows(db))
    report.duplicate_gaps = len(_duplicate_gaps(db))
    report.duplicate_ref_moves = len(_duplicate_ref_moves(db))
    return report


def _pod_digests_hold(db: StoreDB, rid: int, decoded: list[_Decoded]) -> bool:
    """Whether a Pod's ``pod_digests`` rows are the groups its decoded revisions make."""
    revisions = sorted(
        ((e, b) for d in decoded for e, b in zip(d.entries, d.bodies, strict=True)),
        key=lambda pair: seg.order(pair[0]),
    )
    expected = pod_digests.groups(
        (int(e[seg.ID]), str(e[seg.OBSERVED_AT]), pod_digests.content_of_revision(e, b))
        for e, b in revisions
    )
    return pod_digests.stored_groups(db.conn, rid) == expected


def _name(db: StoreDB, rid: int) -> str:
    row = db.conn.execute(
        "SELECT cluster, namespace, kind, name FROM resources WHERE id = ?", (rid,)
    ).fetchone()
    if row is None:
        return f"resource {rid}"
    cluster, namespace, kind, name = row
    return "/".join(p for p in (cluster, namespace, kind, name) if p)


def _orphan_index_rows(db: StoreDB) -> list[tuple[int, int]]:
    """(observed_us, id) of index rows naming a segment that does not exist."""
    rows = db.conn.execute(
        "SELECT i.observed_us, i.id FROM tt_index i "
        "LEFT JOIN segments s ON s.id = i.segment_id WHERE s.id IS NULL"
    )
    return [(int(us), int(rev_id)) for us, rev_id in rows]


def _duplicate_gaps(db: StoreDB) -> list[int]:
    rows = db.conn.execute(
        "SELECT id FROM gaps WHERE id NOT IN (SELECT min(id) FROM gaps "
        "GROUP BY cluster, source, started_at, ended_at, reason)"
    )
    return [int(r[0]) for r in rows]


def _duplicate_ref_moves(db: StoreDB) -> list[int]:
    """A ref move recorded twice: the same move (from, to) right after itself. A branch
    that really moves A->B again has a move back in between."""
    out: list[int] = []
    previous: tuple[Any, ...] | None = None
    for row in db.conn.execute(
        "SELECT id, repo_id, sha, previous_sha, backfilled, forced FROM ref_updates "
        "ORDER BY repo_id, observed_at, id"
    ):
        if previous is not None and row[1:] == previous[1:]:
            out.append(int(row[0]))
            continue
        previous = row
    return out


def repair(db: StoreDB, report: CheckReport) -> RepairReport:
    """Mend what ``report`` found: each damaged object's revisions laid out again, every
    distinct one kept with its id; duplicate gaps and ref moves dropped. The caller holds
    the writer lease (nothing else writes meanwhile)."""
    result = RepairReport()
    conn = db.conn
    _index(db)  # as it is now: the report may be of an earlier read
    keyframes = _Keyframes()
    for rid, damage in sorted(report.damaged.items()):
        if not damage.repairable:
            continue
        with conn:
            _rewrite(db, rid, keyframes, result)
            write_marks.rewrote(conn, "check")  # segments rewritten: screens read again
            # A Pod's running digests, from the revisions it now holds (store.pod_digests).
            pod_digests.rebuild(conn, pod_digests.pod_ids(conn, [rid]))
        result.objects += 1
    rewritten = {rid for rid, damage in report.damaged.items() if damage.repairable}
    stale = [rid for rid in report.stale_pod_digests if rid not in rewritten]
    if stale:
        with conn:
            pod_digests.rebuild(conn, stale)
        result.pod_digests = len(stale)
    with conn:
        orphans = _orphan_index_rows(db)
        conn.executemany("DELETE FROM revisions WHERE observed_us = ? AND id = ?", orphans)
        result.dropped_index_rows += len(orphans)
        gaps = _duplicate_gaps(db)
        conn.executemany("DELETE FROM gaps WHERE id = ?", [(g,) for g in gaps])
        moves = _duplicate_ref_moves(db)
        conn.executemany("DELETE FROM ref_updates WHERE id = ?", [(m,) for m in moves])
    result.gaps, result.ref_moves = len(gaps), len(moves)
    return result


def _rewrite(db: StoreDB, rid: int, keyframes: _Keyframes, result: RepairReport) -> None:
    conn = db.conn
    rows = conn.execute(_SEGMENTS + "WHERE s.resource_id = ? ORDER BY s.first_at, s.id", (rid,))
    rows_list = rows.fetchall()
    decoded = [d for d in (_decode(row, keyframes) for row in rows_list) if d is not None]
    # Undecodable segments stay as they are: nothing of them can be moved.
    segment_ids = [d.id for d in decoded]
    indexed = _indexed(db, segment_ids)
    kept: dict[int, tuple[seg.Entry, bytes]] = {}
    seen: dict[tuple[Any, str], set[bytes]] = {}
    every = sorted(
        ((e, b) for d in decoded for e, b in zip(d.entries, d.bodies, strict=True)),
        key=lambda pair: seg.order(pair[0]),
    )
    for entry, body in every:
        bodies = seen.setdefault(_identity(entry), set())
        digest = _body_hash(body)
        if digest in bodies or entry[seg.ID] in kept:
            result.dropped_duplicates += 1
            continue
        bodies.add(digest)
        kept[entry[seg.ID]] = (entry, body)
    old_rows = [(us, rev_id) for rows_ in indexed.values() for rev_id, us in rows_]
    entry_ids = {e[seg.ID] for e, _ in every}
    result.dropped_index_rows += sum(1 for _, rev_id in old_rows if rev_id not in entry_ids)
    indexed_ids = {rev_id for _, rev_id in old_rows}
    result.indexed += sum(1 for rev_id in kept if rev_id not in indexed_ids)
    conn.executemany("DELETE FROM revisions WHERE observed_us = ? AND id = ?", old_rows)
    conn.executemany("DELETE FROM tt_index WHERE id = ?", [(i,) for _, i in old_rows])
    conn.executemany("DELETE FROM segments WHERE id = ?", [(sid,) for sid in segment_ids])
    ordered = list(kept.values())
    if not ordered:
        return
    reference = decoded[0]
    assert reference.keyframe_blob is not None
    compressor = seg.compressor(keyframes.raw(reference.keyframe_id, reference.keyframe_blob))
    for start in range(0, len(ordered), seg.SEGMENT_SIZE):
        chunk = ordered[start : start + seg.SEGMENT_SIZE]
        entries = [e for e, _ in chunk]
        segment_id = dialect.insert_id(
            conn,
            "INSERT INTO segments (resource_id, first_at, count, keyframe_id, body) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                rid,
                entries[0][seg.OBSERVED_AT],
                len(entries),
                reference.keyframe_id,
                seg.encode(entries, [b for _, b in chunk], compressor),
            ),
        )
        conn.executemany(
            "INSERT INTO revisions (observed_us, id, segment_id) VALUES (?, ?, ?)",
            [(to_micros(e[seg.OBSERVED_AT]), e[seg.ID], segment_id) for e in entries],
        )
    last = ordered[-1][0]
    conn.execute(
        "UPDATE resources SET first_at = ?, gone_at = ? WHERE id = ?",
        (
            ordered[0][0][seg.OBSERVED_AT],
            last[seg.OBSERVED_AT] if last[seg.CHANGE] == "deleted" else None,
            rid,
        ),
    )

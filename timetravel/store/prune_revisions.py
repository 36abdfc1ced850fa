"""Pruning one batch of objects' revisions (store.prune): each object keeps the revision in
force just before the cut, as its first; an object gone before the cut goes entirely.

The revisions of an object before the cut are in the segments that start before it (they
never overlap in time), the base being in the latest of them (:func:`plan`). The others
are deleted with their index rows; that one is encoded again (against its own keyframe)
holding the base and whatever it held at or after the cut. The base keeps its id, time,
body and entry, and takes the uid in force when it carries none (an update's entry names
none; the creation that did is gone): a writer meeting the object again still tells a new
object under the same name from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import zstandard as zstd

from timetravel.domain.times import to_micros
from timetravel.store import codec, pod_digests
from timetravel.store import segments as seg
from timetravel.store.copy_parts import chunks, many, marks

# A segment row as read here: (id, resource_id, first_at, keyframe_id, body).
SegmentRow = Sequence[Any]


@dataclass
class ObjectPlan:
    """What pruning one object removes and rewrites."""

    resource_id: int
    index_rows: list[tuple[int, int]] = field(default_factory=list)  # (observed_us, id)
    segments: list[int] = field(default_factory=list)  # deleted
    rewrite: tuple[int, str, int, bytes] | None = None  # (id, first_at, count, body)
    first_at: str | None = None  # the object's first revision after pruning
    base_id: int | None = None  # the id of that revision (its base)
    gone: bool = False  # nothing of it is kept: the resource row goes too

    @property
    def revisions(self) -> int:
        return len(self.index_rows)


class Undecodable(Exception):
    """A segment of the object cannot be decoded."""


class Keyframes:
    """Raw keyframes by id, read a batch at a time, and compressors against them (making
    one costs more than encoding a segment with it)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.cache = codec.KeyframeCache(4096)
        self._compressors: dict[int, zstd.ZstdCompressor] = {}

    def compressor(self, keyframe_id: int) -> zstd.ZstdCompressor:
        found = self._compressors.get(keyframe_id)
        if found is None:
            if len(self._compressors) > 64:
                self._compressors.clear()
            found = self._compressors[keyframe_id] = seg.compressor(self.raw(keyframe_id))
        return found

    def load(self, keyframe_ids: set[int]) -> None:
        missing = sorted(k for k in keyframe_ids if self.cache.get(k) is None)
        for chunk in chunks(missing):
            rows = self.conn.execute(
                f"SELECT id, body FROM keyframes WHERE id IN ({marks(chunk)})", chunk
            ).fetchall()
            for kid, blob in rows:
                self.cache.put(int(kid), self.cache.decompress_keyframe(bytes(blob)))

    def raw(self, keyframe_id: int) -> bytes:
        raw = self.cache.get(keyframe_id)
        if raw is None:
            self.load({keyframe_id})
            raw = self.cache.get(keyframe_id)
        if raw is None:
            raise ValueError(f"keyframe {keyframe_id} is missing")
        return raw


def plan(
    resource_id: int,
    rows: Sequence[SegmentRow],
    changes_later: bool,
    cut: str,
    keyframes: Keyframes,
    *,
    may_go: bool = True,
) -> ObjectPlan | None:
    """What to remove of one object whose segments starting before ``cut`` are ``rows``
    (in time order); ``changes_later``: it has segments starting at or after the cut.
    ``may_go``: an object gone before the cut goes entirely (else it keeps its deletion).
    None when there is nothing to remove. Raises :class:`Undecodable` when a segment
    cannot be decoded, or does not hold what its row says (the object is left as it is:
    ``timetravel check`` reports it)."""
    try:
        decoded = []
        for row in rows:
            decompressor = keyframes.cache.decompressor(row[3], keyframes.raw(row[3]))
            decoded.append(seg.decode(bytes(row[4]), decompressor))
    except (zstd.ZstdError, ValueError, TypeError, IndexError):
        raise Undecodable(resource_id) from None
    entries, data = decoded[-1]
    before = [i for i, e in enumerate(entries) if e[seg.OBSERVED_AT] < cut]
    if not before:
        raise Undecodable(resource_id)  # its row misstates its start
    b = before[-1]
    base = list(entries[b])
    after = entries[b + 1 :]
    dropped = [e for older, _ in decoded[:-1] for e in older] + list(entries[:b])
    out = ObjectPlan(resource_id)
    if may_go and base[seg.CHANGE] == "deleted" and not after and not changes_later:
        # Gone before the cut and never back: nothing of it answers anything after it.
        out.gone = True
        out.index_rows = [_index_row(e) for e in (*dropped, base)]
        out.segments = [int(row[0]) for row in rows]
        return out
    if base[seg.UID] is None:
        base[seg.UID] = next((e[seg.UID] for e in reversed(dropped) if e[seg.UID]), None)
    if not dropped and base[seg.UID] == entries[b][seg.UID]:
        return None  # pruned already: the base opens its segment
    out.index_rows = [_index_row(e) for e in dropped]
    out.segments = [int(row[0]) for row in rows[:-1]]
    out.first_at = base[seg.OBSERVED_AT]
    out.base_id = int(base[seg.ID])
    if b > 0 or base[seg.UID] != entries[b][seg.UID]:
        last = rows[-1]
        kept = [base, *after]
        bodies = seg.split(data, entries)[b:]
        body = seg.encode(kept, bodies, keyframes.compressor(int(last[3])))
        out.rewrite = (int(last[0]), out.first_at, len(kept), body)
    return out


def _index_row(entry: seg.Entry) -> tuple[int, int]:
    return (micros(entry[seg.OBSERVED_AT]), int(entry[seg.ID]))


_MINUTES: dict[str, int] = {}


def micros(at: str) -> int:
    """``to_micros(at)``, from the minute's figure kept: a prune of a million revisions
    spent 12 s parsing their times whole."""
    if len(at) != 27 or at[19] != "." or at[26] != "Z" or at[16] != ":":
        return to_micros(at)
    minute = _MINUTES.get(at[:16])
    if minute is None:
        if len(_MINUTES) > 100_000:
            _MINUTES.clear()
        minute = _MINUTES[at[:16]] = to_micros(at[:16] + ":00.000000Z")
    return minute + int(at[17:19]) * 1_000_000 + int(at[20:26])


def write(conn: Any, plans: Sequence[ObjectPlan]) -> None:
    """Apply the plans, in the caller's transaction: index rows before their segments,
    segments before their resources (PostgreSQL checks the references)."""
    many(
        conn,
        "DELETE FROM revisions WHERE observed_us = ? AND id = ?",
        [row for p in plans for row in p.index_rows],
    )
    many(conn, "DELETE FROM segments WHERE id = ?", [(sid,) for p in plans for sid in p.segments])
    many(
        conn,
        "UPDATE segments SET first_at = ?, count = ?, body = ? WHERE id = ?",
        [(p.rewrite[1], p.rewrite[2], p.rewrite[3], p.rewrite[0]) for p in plans if p.rewrite],
    )
    many(
        conn,
        "UPDATE resources SET first_at = ? WHERE id = ?",
        [(p.first_at, p.resource_id) for p in plans if p.first_at is not None],
    )
    # A Pod's running digests (store.pod_digests): before the cut only the group in force
    # stays, from its base on; those of an object that goes, before its resource row.
    pod_digests.prune(
        conn,
        {
            p.resource_id: (p.first_at, p.base_id)
            for p in plans
            if p.first_at is not None and p.base_id is not None
        },
        [p.resource_id for p in plans if p.gone],
    )
    many(conn, "DELETE FROM resources WHERE id = ?", [(p.resource_id,) for p in plans if p.gone])


def segments_before(conn: Any, resource_ids: Sequence[int], cut: str) -> dict[int, list[Any]]:
    """Each object's segments that start before ``cut``, in time order."""
    out: dict[int, list[Any]] = {}
    for chunk in chunks(list(resource_ids)):
        rows = conn.execute(
            "SELECT id, resource_id, first_at, keyframe_id, body FROM segments "
            f"WHERE resource_id IN ({marks(chunk)}) AND first_at < ? "
            "ORDER BY resource_id, first_at, id",
            [*chunk, cut],
        ).fetchall()
        for row in rows:
            out.setdefault(int(row[1]), []).append(row)
    return out


def changing_later(conn: Any, resource_ids: Sequence[int], cut: str) -> set[int]:
    """The objects among these with a segment starting at or after ``cut``."""
    out: set[int] = set()
    for chunk in chunks(list(resource_ids)):
        rows = conn.execute(
            "SELECT DISTINCT resource_id FROM segments "
            f"WHERE resource_id IN ({marks(chunk)}) AND first_at >= ?",
            [*chunk, cut],
        ).fetchall()
        out.update(int(r[0]) for r in rows)
    return out

"""Where the writer puts a revision's body: into a segment of its object, against a keyframe.

:class:`SegmentAppender` appends to an object's latest segment, inserts a late revision
into the segment its time falls in, and starts segments against the object's keyframe, a
sibling's, or a new one (see store.segments for the layout). It keeps the keyframes and
zstd contexts that make that cheap; the caller owns the transaction.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import zstandard as zstd

from timetravel.store import codec, dialect
from timetravel.store import segments as seg

Family = tuple[str, ...]
_SIBLINGS = 4096
_RAW_KEYFRAMES = 1024  # ~7 MB of raw keyframes
# zstd contexts with a keyframe as dictionary, for the keyframes in use: making a pair
# costs ~30 µs, more than encoding a segment again. Siblings share keyframes, so a few
# dozen cover most writes; each pair holds ~0.3 MB of zstd state.
_CODECS = 48

# A resource's segments with their keyframes, as ``SegmentRow.of`` reads a row; the caller
# adds the rest of the WHERE clause and the order.
SELECT_SEGMENTS = (
    "SELECT s.id, s.first_at, s.keyframe_id, s.body, k.body FROM segments s "
    "JOIN keyframes k ON k.id = s.keyframe_id WHERE s.resource_id = ? "
)


@dataclass
class SegmentRow:
    """A segment of an object as the writer appends to it (see store.segments)."""

    id: int
    first_at: str
    count: int
    keyframe_id: int
    # Compressed, as stored: the recorder remembers every watched object, and the raw
    # keyframe (object + managedFields) is ~7x larger. Decompressing it costs ~10 µs.
    keyframe_blob: bytes
    body: bytes

    @classmethod
    def of(cls, row: Any) -> SegmentRow:
        """The segment of a row of ``SELECT_SEGMENTS``, its count not known yet (0)."""
        return cls(row[0], row[1], 0, row[2], row[4], row[3])


def families(cluster: str, raw_obj: dict[str, Any], meta: dict[str, Any]) -> tuple[Family, ...]:
    """Who a new object probably resembles: objects made by the same owner (the name
    without its random suffix, as generateName or `<owner>-<hash>` / `<object>.<hex>`
    names go), else objects of its kind in its namespace."""
    kind = (
        cluster,
        str(raw_obj.get("apiVersion")),
        str(raw_obj.get("kind")),
        str(meta.get("namespace") or ""),
    )
    name = str(meta.get("name") or "")
    stem = meta.get("generateName") or max(
        name.rpartition("-")[0], name.rpartition(".")[0], key=len
    )
    return ((*kind, str(stem)), kind) if stem else (kind,)


class SegmentAppender:
    """Writes revision bodies into ``segments`` and ``keyframes`` rows of one connection.

    Its caches hold what was committed or is in the caller's open transaction: when that
    transaction is rolled back, the caller must call :meth:`forget`.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # The latest keyframe of each family of objects: a new object's first revision is
        # compressed against a sibling's (a new Pod of a ReplicaSet against the last one,
        # ~150 B instead of a ~1.1 KB keyframe of its own).
        self._siblings: OrderedDict[Family, tuple[int, bytes]] = OrderedDict()
        self._raw_keyframes: OrderedDict[int, bytes] = OrderedDict()
        self._plain = codec.keyframe_context()  # one zstd context: ~7 µs saved each
        self._codecs: OrderedDict[int, tuple[zstd.ZstdCompressor, zstd.ZstdDecompressor]] = (
            OrderedDict()
        )

    def forget(self) -> None:
        """Drop every cached keyframe, context and sibling (after a rollback)."""
        self._siblings.clear()
        self._raw_keyframes.clear()
        self._codecs.clear()

    def decode(self, segment: SegmentRow) -> tuple[list[seg.Entry], memoryview]:
        """The entries of a segment and its bodies (see ``segments.decode``)."""
        return seg.decode(segment.body, self._codec(segment)[1])

    def append(self, segment: SegmentRow, entry: seg.Entry, raw: bytes) -> SegmentRow:
        """Add the newest revision to the object's latest segment: the segment is encoded
        again with it (~10 µs), so it costs what changed since the revision before."""
        entries, data = self.decode(segment)
        self._store(segment, [*entries, entry], [*seg.split(data, entries), raw])
        return segment

    def insert_late(self, rid: int, latest: SegmentRow, entry: seg.Entry, raw: bytes) -> int:
        """A revision observed before the object's latest (whose segment is ``latest``):
        into the segment whose time span it falls in (the latest starting at or before it,
        else the first), in order, so segments never overlap in time. Returns its id."""
        at = entry[seg.OBSERVED_AT]
        select = SELECT_SEGMENTS
        row = (
            self.conn.execute(
                select + "AND s.first_at <= ? ORDER BY s.first_at DESC, s.id DESC LIMIT 1",
                (rid, at),
            ).fetchone()
            or self.conn.execute(select + "ORDER BY s.first_at, s.id LIMIT 1", (rid,)).fetchone()
        )
        # The writer holds the object's latest segment: encode into that very object, so
        # what it holds stays current.
        segment = latest if row[0] == latest.id else SegmentRow.of(row)
        entries, data = self.decode(segment)
        bodies = seg.split(data, entries)
        index = len(entries)
        while index > 0 and seg.order(entries[index - 1]) > seg.order(entry):
            index -= 1
        entries.insert(index, entry)
        bodies.insert(index, raw)
        self._store(segment, entries, bodies)
        return segment.id

    def start(
        self,
        rid: int,
        previous: SegmentRow | None,
        families: tuple[Family, ...],
        entry: seg.Entry,
        raw: bytes,
    ) -> SegmentRow:
        """Start a segment with this revision, against the keyframe of the object's
        ``previous`` segment, else a sibling's (a new Pod of a ReplicaSet against the last
        one's), else a new one; a new one too when the revision has moved far from the
        keyframe."""
        reference = (
            (previous.keyframe_id, previous.keyframe_blob)
            if previous is not None
            else self._sibling(families)
        )
        keyframe: tuple[int, bytes] | None = None
        if reference is not None:
            delta = codec.compress_delta(raw, self.keyframe_raw(*reference))
            if not codec.needs_new_keyframe(delta, len(reference[1])):
                keyframe = reference
        if keyframe is None:
            blob = codec.compress_keyframe(raw)
            new_id = dialect.insert_id(
                self.conn, "INSERT INTO keyframes (body) VALUES (?)", (blob,)
            )
            keyframe = (new_id, blob)
            self._remember_sibling(families, keyframe)
        at = entry[seg.OBSERVED_AT]
        segment = SegmentRow(0, at, 1, keyframe[0], keyframe[1], b"")
        self._encode(segment, [entry], [raw])
        segment.id = dialect.insert_id(
            self.conn,
            "INSERT INTO segments (resource_id, first_at, count, keyframe_id, body) "
            "VALUES (?, ?, 1, ?, ?)",
            (rid, at, keyframe[0], segment.body),
        )
        return segment

    def keyframe_raw(self, keyframe_id: int, blob: bytes) -> bytes:
        """A keyframe decompressed, from a small cache: the objects that change most often
        (the ones worth the memory) keep theirs."""
        raw = self._raw_keyframes.get(keyframe_id)
        if raw is None:
            raw = self._plain.decompress(blob)
            self._raw_keyframes[keyframe_id] = raw
            if len(self._raw_keyframes) > _RAW_KEYFRAMES:
                self._raw_keyframes.popitem(last=False)
        else:
            self._raw_keyframes.move_to_end(keyframe_id)
        return raw

    def _codec(self, segment: SegmentRow) -> tuple[zstd.ZstdCompressor, zstd.ZstdDecompressor]:
        pair = self._codecs.get(segment.keyframe_id)
        if pair is None:
            raw = self.keyframe_raw(segment.keyframe_id, segment.keyframe_blob)
            pair = (seg.compressor(raw), seg.decompressor(raw))
            self._codecs[segment.keyframe_id] = pair
            if len(self._codecs) > _CODECS:
                self._codecs.popitem(last=False)
        else:
            self._codecs.move_to_end(segment.keyframe_id)
        return pair

    def _encode(self, segment: SegmentRow, entries: list[seg.Entry], bodies: list[bytes]) -> None:
        segment.body = seg.encode(entries, bodies, self._codec(segment)[0])
        segment.count = len(entries)
        segment.first_at = entries[0][seg.OBSERVED_AT]

    def _store(self, segment: SegmentRow, entries: list[seg.Entry], bodies: list[bytes]) -> None:
        """Encode a segment's entries and bodies into it and write its row."""
        self._encode(segment, entries, bodies)
        self.conn.execute(
            "UPDATE segments SET first_at = ?, count = ?, body = ? WHERE id = ?",
            (segment.first_at, segment.count, segment.body, segment.id),
        )

    def _sibling(self, families: tuple[Family, ...]) -> tuple[int, bytes] | None:
        for family in families:
            found = self._siblings.get(family)
            if found is not None:
                return found
        return None

    def _remember_sibling(self, families: tuple[Family, ...], keyframe: tuple[int, bytes]) -> None:
        for family in families:
            self._siblings[family] = keyframe
            self._siblings.move_to_end(family)
        while len(self._siblings) > _SIBLINGS:
            self._siblings.popitem(last=False)

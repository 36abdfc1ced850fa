"""SQL functions that read revision bodies, for people who query a SQLite store directly.

A revision's body lies in its segment (``segments.body``): one zstd frame of up to eight
bodies compressed with the segment's keyframe (``keyframes.body``, itself a zstd frame)
as a raw-content dictionary (store/segments.py). No SQL tool decodes that, so these
functions do, on a ``sqlite3`` connection (:func:`register`; sqlite-utils and datasette
call it through the plugin in ``store/sqlplugin.py``):

- ``timetravel_json(id)`` and ``timetravel_json(segment_id, id)``: the JSON text of
  revision ``id``, exactly as stored: ``{"managedFields": [...], "object": {...}}`` with
  sorted keys, the object normalized and Secret values redacted (``redacted:<hmac>``).
  The time index (``revisions``) is keyed by time, so finding a revision by ``id`` alone
  reads all of it (~135 ms a call at a million revisions, on a loaded two-core machine);
  a query over many revisions passes ``segment_id`` too (``revision_objects`` has it),
  one primary-key seek each.
- ``timetravel_body(segment_body, keyframe_body, id)``: the same from the two blobs, for
  a query that joins them itself (no lookups: deterministic).
- ``timetravel_damage(id)`` and ``timetravel_damage(segment_id, id)``: NULL when the
  revision's body reads, else why not.

A damaged frame (a flipped byte fails zstd's checksum; a damaged keyframe fails every
segment compressed with it) makes ``timetravel_json`` NULL, as a revision that is not
there does: one damaged segment never stops a query over the rest, as the reader leaves
out what it cannot decode and answers the rest (issue #20); ``timetravel_damage`` says
which and why. Python's sqlite3 turns an exception in a function into the one message
"user-defined function raised exception", which would say neither.

Decoded segments and keyframes are kept per connection (a few hundred), each with the
blob it was decoded from: a cached one is used only while the row still holds the same
bytes (a writer appends to a segment by rewriting its row).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import zstandard as zstd

from timetravel.store import codec
from timetravel.store import segments as seg

__all__ = ["DAMAGED", "FUNCTIONS", "BodyReader", "register"]

FUNCTIONS = ("timetravel_json", "timetravel_body", "timetravel_damage")
DAMAGED = "stored bytes damaged (the frame fails its checksum or cannot be decoded)"
# What decoding a damaged frame raises (as store.reader._UNDECODABLE).
_UNDECODABLE = (zstd.ZstdError, ValueError, TypeError, IndexError, KeyError)
_SEGMENTS = 256
_KEYFRAMES = 256

_BY_SEGMENT = (
    "SELECT s.keyframe_id, s.body, k.body FROM segments s "
    "LEFT JOIN keyframes k ON k.id = s.keyframe_id WHERE s.id = ?"
)
_SEGMENT_OF = "SELECT segment_id FROM revisions WHERE id = ?"


class _Missing(Exception):
    """No such revision (or its segment or keyframe row is gone): NULL, not damage."""


class _Lru(OrderedDict[Any, Any]):
    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def keep(self, key: Any, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value


class BodyReader:
    """Revision bodies from segment and keyframe blobs, with the decoded ones kept."""

    def __init__(self) -> None:
        # blob -> (raw keyframe, its decompressor); blob -> (entries, bodies): a cached
        # value is found only under the very bytes it was decoded from.
        self._keyframes = _Lru(_KEYFRAMES)
        self._segments = _Lru(_SEGMENTS)
        self._plain = codec.keyframe_context()

    def decompressor(self, keyframe_blob: bytes) -> zstd.ZstdDecompressor:
        found = self._keyframes.get(keyframe_blob)
        if found is None:
            raw = self._plain.decompress(keyframe_blob)
            found = self._keyframes.keep(keyframe_blob, seg.decompressor(raw))
        return found  # type: ignore[no-any-return]

    def body(self, segment_blob: bytes, keyframe_blob: bytes, revision_id: int) -> bytes:
        """The body of ``revision_id`` in this segment; _Missing when the segment does not
        hold it; a zstd or ValueError when the bytes are damaged."""
        decoded = self._segments.get(segment_blob)
        if decoded is None:
            entries, data = seg.decode(segment_blob, self.decompressor(keyframe_blob))
            decoded = self._segments.keep(segment_blob, (entries, seg.split(data, entries)))
        entries, bodies = decoded
        for entry, raw in zip(entries, bodies, strict=True):
            if entry[seg.ID] == revision_id:
                return bytes(raw)
        raise _Missing


def _blob(value: Any) -> bytes | None:
    return bytes(value) if isinstance(value, bytes | memoryview | bytearray) else None


def _revision_id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _lookup(conn: sqlite3.Connection, args: tuple[Any, ...]) -> tuple[bytes, bytes, int]:
    """The segment and keyframe blobs of a revision named by ``(id)`` or ``(segment_id,
    id)``; _Missing when there is no such revision."""
    revision_id = _revision_id(args[-1])
    if revision_id is None:
        raise _Missing
    if len(args) == 2:
        segment_id = _revision_id(args[0])
    else:
        row = conn.execute(_SEGMENT_OF, (revision_id,)).fetchone()
        segment_id = None if row is None else row[0]
    if segment_id is None:
        raise _Missing
    row = conn.execute(_BY_SEGMENT, (segment_id,)).fetchone()
    if row is None:
        raise _Missing
    segment_blob, keyframe_blob = _blob(row[1]), _blob(row[2])
    if segment_blob is None:
        raise _Missing
    if keyframe_blob is None:
        raise ValueError(f"keyframe {row[0]} is missing")
    return segment_blob, keyframe_blob, revision_id


def register(conn: sqlite3.Connection) -> None:
    """Register ``timetravel_json``, ``timetravel_body`` and ``timetravel_damage`` on a
    ``sqlite3`` connection to a timetravel store (see the module docstring).

    The functions look revisions up through ``conn`` itself, so the connection keeps them
    (and they it) until ``conn.close()``.
    """
    reader = BodyReader()

    def text(raw: bytes) -> str:
        return raw.decode("utf-8")

    def by_id(*args: Any) -> str | None:
        try:
            return text(reader.body(*_lookup(conn, args)))
        except (_Missing, *_UNDECODABLE):
            return None

    def damage(*args: Any) -> str | None:
        try:
            reader.body(*_lookup(conn, args))
        except _Missing:
            return None
        except _UNDECODABLE:
            return DAMAGED
        return None

    def from_blobs(segment_body: Any, keyframe_body: Any, revision_id: Any) -> str | None:
        segment_blob, keyframe_blob = _blob(segment_body), _blob(keyframe_body)
        rid = _revision_id(revision_id)
        if segment_blob is None or keyframe_blob is None or rid is None:
            return None
        try:
            return text(reader.body(segment_blob, keyframe_blob, rid))
        except (_Missing, *_UNDECODABLE):
            return None

    functions: list[tuple[str, int, Callable[..., str | None], bool]] = [
        ("timetravel_json", 1, by_id, False),
        ("timetravel_json", 2, by_id, False),
        ("timetravel_damage", 1, damage, False),
        ("timetravel_damage", 2, damage, False),
        ("timetravel_body", 3, from_blobs, True),
    ]
    for name, arity, function, deterministic in functions:
        conn.create_function(name, arity, function, deterministic=deterministic)

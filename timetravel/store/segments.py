"""Segments: consecutive revisions of one resource stored together in one row.

A revision is a few changed fields on a ~3 KB object. Compressed alone against a
keyframe it still costs ~140 B: the zstd frame, and every field that differs from the
keyframe (not from the revision before it). Compressed with the revisions before it in one
frame, it costs what changed since the previous one: ~40 B. Reading it decodes its
segment (at most ``SEGMENT_SIZE`` bodies, mostly long matches: ~0.4 µs a body), never a
chain of rows. docs/STORE.md describes the layout for people reading the file.

A ``segments`` row holds ``body``: one zstd frame, compressed with the segment's keyframe
(a ``keyframes`` row) as a raw-content dictionary, of the revisions' bodies concatenated
in revision order (``observed_at``, then ``id``), then their entries (see :func:`encode`
and ``Entry``).

Segments of one resource never overlap in time, so the revision of a resource at T is in
its latest segment starting at or before T.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import zstandard as zstd

# Revisions per segment. A reader decompresses a whole segment to get one of them (in the
# state benchmark ~4.7 µs at 8 revisions of 3 KB, ~5.7 µs at 16). 16 would save ~10 B a
# revision (fewer rows, fewer first revisions against a keyframe) and cost a state of
# 10,000 objects ~10-25 ms. Segments of any size are read: this only decides where the
# writer starts a new one.
SEGMENT_SIZE = 8
_LEVEL = 3

# The fields of an entry, by position (a JSON array, not an object: names would cost more
# than the values).
ID = 0
OBSERVED_AT = 1
CHANGE = 2
RESOURCE_VERSION = 3
UID = 4
INFERRED = 5
STATUS_ONLY = 6
SOURCE = 7
SERVER_TIME = 8
MANAGERS = 9  # the JSON list of managers as text, or None
SIZE = 10
# [start, end, placed_by] of a change delivered after a recording gap (not seen live), only
# on such entries: entries written before it have eleven fields, and readers of that
# format ignore a twelfth.
BETWEEN = 11

Entry = list[Any]


def entry(
    revision_id: int,
    observed_at: str,
    change: str,
    resource_version: str | None,
    uid: str | None,
    inferred: bool,
    status_only: bool,
    source: str,
    server_time: str | None,
    managers: str | None,
    size: int,
    between: tuple[str, str, str | None] | None = None,
) -> Entry:
    out = [
        revision_id,
        observed_at,
        change,
        resource_version,
        uid,
        int(inferred),
        int(status_only),
        source,
        server_time,
        managers,
        size,
    ]
    if between is not None:
        out.append(list(between))
    return out


def order(e: Entry) -> tuple[str, int]:
    """Revision order: observation time, then id (the order they were written)."""
    return (e[OBSERVED_AT], e[ID])


def compressor(keyframe_raw: bytes) -> zstd.ZstdCompressor:
    return zstd.ZstdCompressor(
        level=_LEVEL,
        dict_data=zstd.ZstdCompressionDict(keyframe_raw, dict_type=zstd.DICT_TYPE_RAWCONTENT),
        # A damaged byte must fail the read, not change a value (store.codec._CHECKSUM).
        write_checksum=True,
        write_dict_id=False,
    )


def decompressor(keyframe_raw: bytes) -> zstd.ZstdDecompressor:
    return zstd.ZstdDecompressor(
        dict_data=zstd.ZstdCompressionDict(keyframe_raw, dict_type=zstd.DICT_TYPE_RAWCONTENT)
    )


def encode(
    entries: Sequence[Entry], bodies: Sequence[bytes], compressor: zstd.ZstdCompressor
) -> bytes:
    """One zstd frame: the bodies; then the entries: a line with their times and sizes,
    and a line per entry; then the entries' length (4 bytes, little-endian). The entries
    come last so their times and resourceVersions are matched against the bodies before
    them; the first line lets a state pick its revision without parsing every entry."""
    index = orjson.dumps([[e[OBSERVED_AT] for e in entries], [e[SIZE] for e in entries]])
    meta = b"\n".join([index, *(orjson.dumps(_without_index(e)) for e in entries)])
    frame = compressor.compress(b"".join((*bodies, meta, len(meta).to_bytes(4, "little"))))
    # A copy of the right size: zstandard's output keeps the allocation of its worst case
    # (the input's size), and the writer remembers each object's latest segment.
    return bytes(memoryview(frame))


def _without_index(e: Entry) -> Entry:
    """An entry without what the first line holds (written once, not twice)."""
    e = list(e)
    e[OBSERVED_AT] = e[SIZE] = None
    return e


def _parts(blob: bytes, decompressor: zstd.ZstdDecompressor) -> tuple[memoryview, bytes]:
    data = decompressor.decompress(blob)
    size = int.from_bytes(data[-4:], "little")
    cut = len(data) - 4 - size
    return memoryview(data)[:cut], data[cut:-4]


def decode(blob: bytes, decompressor: zstd.ZstdDecompressor) -> tuple[list[Entry], memoryview]:
    """The entries of a segment and its bodies, concatenated (see :func:`split`): a view,
    as a state reads one body of each segment and copying all of them costs more than
    decoding them."""
    bodies, meta = _parts(blob, decompressor)
    # Every line in one parse (a JSON line holds no raw newline): a call per line cost
    # more than the parsing.
    (times, sizes), *entries = orjson.loads(b"[" + meta.replace(b"\n", b",") + b"]")
    if len(entries) != len(times):
        raise ValueError(f"segment index lists {len(times)} entries, it holds {len(entries)}")
    for entry, time, size in zip(entries, times, sizes, strict=True):
        entry[OBSERVED_AT] = time
        entry[SIZE] = size
    return entries, bodies


def decode_at(
    blob: bytes, decompressor: zstd.ZstdDecompressor, at: str
) -> tuple[Entry, bytes] | None:
    """The entry and body of the segment's latest revision at or before ``at`` (None when
    there is none), parsing that entry only: a state reads ten thousand segments."""
    bodies, meta = _parts(blob, decompressor)
    end = meta.find(b"\n")
    times, sizes = orjson.loads(meta[:end])
    index = len(times) - 1
    while index >= 0 and times[index] > at:
        index -= 1
    if index < 0:
        return None
    for _ in range(index):
        end = meta.find(b"\n", end + 1)
    line_end = meta.find(b"\n", end + 1)
    entry: Entry = orjson.loads(meta[end + 1 : line_end if line_end >= 0 else len(meta)])
    entry[OBSERVED_AT] = times[index]
    entry[SIZE] = sizes[index]
    start = sum(sizes[:index])
    return entry, bytes(bodies[start : start + sizes[index]])


def split(data: bytes | memoryview, entries: Sequence[Entry]) -> list[bytes]:
    """The bodies of a decoded segment, one per entry."""
    out = []
    at = 0
    for e in entries:
        end = at + e[SIZE]
        out.append(bytes(data[at:end]))
        at = end
    if at != len(data):
        raise ValueError(f"segment bodies are {len(data)} bytes, its entries say {at}")
    return out


def body_at(data: bytes | memoryview, entries: Sequence[Entry], index: int) -> bytes:
    """One body of a decoded segment."""
    start = sum(e[SIZE] for e in entries[:index])
    return bytes(data[start : start + entries[index][SIZE]])


def latest_at(entries: Sequence[Entry], at: str) -> int:
    """Index of the last entry observed at or before ``at`` (-1 when none is)."""
    for index in range(len(entries) - 1, -1, -1):
        if entries[index][OBSERVED_AT] <= at:
            return index
    return -1

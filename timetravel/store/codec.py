"""Revision bodies: zstd keyframes, and deltas compressed against their keyframe.

A delta is the whole new body compressed with its keyframe as a raw-content zstd
dictionary. That keeps the storage of "keyframe plus deltas" (a changed status field
costs tens of bytes) while any revision decodes from exactly two blobs: itself and its
keyframe, never a chain.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
import zstandard as zstd

_LEVEL = 3
# A delta larger than this share of its keyframe means the object has moved far from it:
# start a new keyframe so later deltas stay small.
_REKEY_RATIO = 0.35
_REKEY_MIN = 96


def dumps(body: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, so equal content gives equal bytes and hashes."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def body(object_json: bytes, managed_json: bytes) -> bytes:
    """``dumps({"object": ..., "managedFields": ...})`` from the two halves already dumped:
    sorted keys put managedFields first, and orjson writes no whitespace."""
    return b'{"managedFields":' + managed_json + b',"object":' + object_json + b"}"


def loads(raw: bytes) -> Any:
    return orjson.loads(raw)


def _dictionary(keyframe_raw: bytes) -> zstd.ZstdCompressionDict:
    return zstd.ZstdCompressionDict(keyframe_raw, dict_type=zstd.DICT_TYPE_RAWCONTENT)


# Every frame carries zstd's content checksum (4 bytes): a damaged byte in a stored frame
# is then an error when it is read, never a silently different value (issue #20). Frames
# written before carry none and are read as they are.
_CHECKSUM = True


def compress_keyframe(raw: bytes) -> bytes:
    # A copy of the right size: zstandard's output keeps the allocation of its worst case.
    compressor = zstd.ZstdCompressor(level=_LEVEL, write_checksum=_CHECKSUM)
    return bytes(memoryview(compressor.compress(raw)))


def compress_delta(raw: bytes, keyframe_raw: bytes) -> bytes:
    return delta_compressor(keyframe_raw).compress(raw)


def delta_compressor(keyframe_raw: bytes) -> zstd.ZstdCompressor:
    """A compressor of deltas against one keyframe, to keep while many are made against it
    (loading a large keyframe as a dictionary costs more than compressing one delta)."""
    return zstd.ZstdCompressor(
        level=_LEVEL, dict_data=_dictionary(keyframe_raw), write_checksum=_CHECKSUM
    )


def needs_new_keyframe(delta: bytes, keyframe_blob_size: int) -> bool:
    """True when a delta has grown too large to be worth keeping against this keyframe."""
    return len(delta) > max(_REKEY_MIN, int(keyframe_blob_size * _REKEY_RATIO))


def decompress_keyframe(blob: bytes) -> bytes:
    return zstd.ZstdDecompressor().decompress(blob)


def keyframe_context() -> zstd.ZstdDecompressor:
    """A context to decompress many keyframes with (one thread's): making one costs about
    as much as decoding a keyframe."""
    return zstd.ZstdDecompressor()


def decompress_delta(blob: bytes, keyframe_raw: bytes) -> bytes:
    return zstd.ZstdDecompressor(dict_data=_dictionary(keyframe_raw)).decompress(blob)


class KeyframeCache:
    """Decompressed keyframes by revision id (many revisions share one keyframe).

    Each keyframe also keeps the decompressor made with it as a dictionary once a delta
    needed one: loading the dictionary costs more than decoding a delta with it.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._items: OrderedDict[int, bytes] = OrderedDict()
        self._decompressors: dict[int, zstd.ZstdDecompressor] = {}
        # One context for every keyframe: making a context costs as much as decoding a
        # keyframe (~7 µs), and a state far from the last one decodes thousands. Like the
        # cache, it belongs to one thread.
        self._plain = keyframe_context()

    @property
    def plain(self) -> zstd.ZstdDecompressor:
        """The context for frames without a dictionary (keyframes, segment entries)."""
        return self._plain

    def decompress_keyframe(self, blob: bytes) -> bytes:
        return self._plain.decompress(blob)

    def get(self, keyframe_id: int) -> bytes | None:
        raw = self._items.get(keyframe_id)
        if raw is not None:
            self._items.move_to_end(keyframe_id)
        return raw

    def put(self, keyframe_id: int, raw: bytes) -> None:
        self._items[keyframe_id] = raw
        self._items.move_to_end(keyframe_id)
        while len(self._items) > self._capacity:
            evicted, _ = self._items.popitem(last=False)
            self._decompressors.pop(evicted, None)

    def decompress_delta(self, keyframe_id: int, keyframe_raw: bytes, blob: bytes) -> bytes:
        return self.decompressor(keyframe_id, keyframe_raw).decompress(blob)

    def decompressor(self, keyframe_id: int, keyframe_raw: bytes) -> zstd.ZstdDecompressor:
        """A decompressor with this keyframe as its dictionary, kept while it is cached."""
        decompressor = self._decompressors.get(keyframe_id)
        if decompressor is None:
            decompressor = zstd.ZstdDecompressor(dict_data=_dictionary(keyframe_raw))
            if keyframe_id in self._items:
                self._decompressors[keyframe_id] = decompressor
        return decompressor


def decode_body(
    blob: bytes | None,
    keyframe_id: int | None,
    keyframe_blob: bytes | None,
    cache: KeyframeCache,
    revision_id: int,
    load: Callable[[int], bytes | None] | None = None,
) -> bytes | None:
    """The raw JSON bytes of a revision body from its blob and (for a delta) its keyframe:
    ``keyframe_blob`` when given, else the cache, else ``load(keyframe_id)``."""
    if blob is None:
        return None
    if keyframe_id is None:
        raw = cache.get(revision_id)
        if raw is None:
            raw = cache.decompress_keyframe(blob)
            cache.put(revision_id, raw)
        return raw
    keyframe_raw = cache.get(keyframe_id)
    if keyframe_raw is None:
        if keyframe_blob is None and load is not None:
            keyframe_blob = load(keyframe_id)  # evicted since it was cached
        if keyframe_blob is None:
            raise ValueError(f"revision {revision_id}: keyframe {keyframe_id} is missing")
        keyframe_raw = cache.decompress_keyframe(keyframe_blob)
        cache.put(keyframe_id, keyframe_raw)
    return cache.decompress_delta(keyframe_id, keyframe_raw, blob)

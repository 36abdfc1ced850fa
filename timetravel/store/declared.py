"""Which version of one declared object each desired set holds: ``declared_changes``.

A desired set is a whole commit's objects (hundreds); finding one object's version in each
of thousands of commits by decoding every set takes tens of seconds. The writer records,
per set, the objects whose entry differs from the repo's previous set; the version of an
object in set S is then its latest change at or before S, one bisect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from timetravel.domain.model import split_api_version
from timetravel.store import codec
from timetravel.store.handle import StoreDB

ObjectKey = tuple[str, str, str, str]  # (group, kind, namespace, name), as desired_key
Index = dict[ObjectKey, bytes]  # the entry hash of each object a set declares


def object_key(obj: Any) -> ObjectKey | None:
    """The key a desired set files an object under (without the cluster: a repo declares
    for whichever cluster it is deployed to)."""
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name") or not obj.get("kind"):
        return None
    group, _ = split_api_version(str(obj.get("apiVersion") or ""))
    return (group, str(obj["kind"]), str(meta.get("namespace") or ""), str(meta["name"]))


def entry_hash(entry: bytes) -> bytes:
    return hashlib.blake2b(entry, digest_size=12).digest()


def index_of(keys: Iterable[ObjectKey | None], entries: Sequence[bytes]) -> Index:
    """The index of a set from its entries and their keys; a later entry of the same key
    wins, as it does when the set is read."""
    index: Index = {}
    for key, entry in zip(keys, entries, strict=True):
        if key is not None:
            index[key] = entry_hash(entry)
    return index


def index_of_stored(objects: Sequence[dict[str, Any]]) -> Index:
    """The index of a stored set as read back (its entries encoded again: canonical JSON
    gives the bytes the writer hashed)."""
    return index_of(
        (object_key(item.get("obj")) for item in objects),
        [codec.dumps(item) for item in objects],
    )


def record_changes(
    db: StoreDB, repo_id: int, set_id: int, previous: Index | None, current: Index
) -> None:
    """Insert the rows of ``set_id`` against the repo's previous set (None: the first)."""
    before = previous or {}
    rows: list[tuple[Any, ...]] = [
        (set_id, repo_id, *key, digest)
        for key, digest in current.items()
        if before.get(key) != digest
    ]
    rows += [(set_id, repo_id, *key, None) for key in before if key not in current]
    if rows:
        db.conn.executemany(
            "INSERT INTO declared_changes (set_id, repo_id, api_group, kind, namespace, name, "
            "item_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def index_existing_sets(db: StoreDB) -> None:
    """Fill ``declared_changes`` for the sets stored before it existed (migration m005)."""
    cache = codec.KeyframeCache(64)
    previous: dict[int, Index] = {}
    rows = db.conn.execute(
        "SELECT d.id, d.repo_id, d.keyframe_id, d.body, k.body FROM desired_sets d "
        "LEFT JOIN desired_sets k ON k.id = d.keyframe_id ORDER BY d.id"
    )
    for set_id, repo_id, keyframe_id, body, keyframe_body in rows:
        raw = codec.decode_body(body, keyframe_id, keyframe_body, cache, set_id)
        current = index_of_stored(codec.loads(raw)["objects"] if raw else [])
        record_changes(db, repo_id, set_id, previous.get(repo_id), current)
        previous[repo_id] = current

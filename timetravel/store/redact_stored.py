"""Secret values an older timetravel stored in plaintext, hashed where they lie (m008).

Before one rule decided what is a Secret (``domain.normalize.is_secret``: by kind, whatever
the apiVersion says), redaction asked for ``apiVersion: v1`` exactly, so a ``kind: Secret``
recorded as ``v1beta1``, `` v1`` or ``V1`` (by import-events, or declared so in git) was
stored with its values in plaintext: in revision bodies (segments, and the keyframes they
are compressed against), in desired sets, and in the parse cache. This rewrites each of
them as the current code would have stored it:

- every keyframe whose body is a Secret with a plain value gets its redacted body, and
  every segment compressed against it is compressed again against the new one;
- every segment of a Secret gets its bodies redacted (sizes in its entries follow), its
  ids, times and entries otherwise as they were, so the time index stays valid;
- every desired set holding such a Secret is redacted, its deltas compressed again against
  their (redacted) keyframe set, its ``content_hash`` and the repository's
  ``declared_changes`` made again (both were hashes of the plaintext);
- ``manifest_cache`` rows holding a Secret are deleted (the cache is rebuilt when needed,
  and files that declare a Secret are not cached any more).

Values already hashed are kept (``normalize.redact_stored``): a store written by the
current code comes out byte for byte as it was, and nothing is rewritten. A segment that
cannot be decoded (damaged bytes) is left as it is and counted.

Nothing here runs outside a transaction the caller holds; freeing the old pages (VACUUM)
is the caller's (the migration's) part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import zstandard as zstd

from timetravel.domain.manifests import ParsedFile
from timetravel.domain.normalize import Redaction, is_secret, is_secret_kind, redact_stored
from timetravel.store import codec, declared
from timetravel.store import segments as seg
from timetravel.store.handle import StoreDB

_CHUNK = 500


@dataclass
class Redacted:
    """What :func:`redact_stored_secrets` rewrote."""

    keyframes: int = 0
    segments: int = 0
    desired_sets: int = 0
    manifest_cache: int = 0  # rows deleted
    undecodable: list[int] = field(default_factory=list)  # segment ids left as they were

    @property
    def changed(self) -> bool:
        return bool(self.keyframes or self.segments or self.desired_sets or self.manifest_cache)


def redact_stored_secrets(db: StoreDB, redaction: Redaction) -> Redacted:
    """Hash every plain Secret value ``db`` holds with ``redaction`` (see the module's
    docstring); the caller holds the transaction."""
    out = Redacted()
    _revisions(db, redaction, out)
    _desired_sets(db, redaction, out)
    _manifest_cache(db, out)
    return out


def _may_hold_secret(raw: bytes) -> bool:
    """A quick no for JSON written by orjson (bodies, desired sets: non-ASCII as it is,
    never escaped) that names no Secret kind: ``is_secret`` casefolds the kind, so the
    text is casefolded too (``ſecret`` is a Secret to it)."""
    return "secret" in raw.decode("utf-8", "replace").casefold()


def _redacted_body(raw: bytes, redaction: Redaction) -> bytes | None:
    """A revision body (``{"managedFields", "object"}``) with its object's plain Secret
    values hashed; None when it has none."""
    if not _may_hold_secret(raw):
        return None
    body = codec.loads(raw)
    obj = body.get("object") if isinstance(body, dict) else None
    if not isinstance(obj, dict) or not is_secret(obj):
        return None
    redacted = redact_stored(obj, redaction)
    if redacted == obj:
        return None
    return codec.dumps({**body, "object": redacted})


def _blob(value: Any) -> bytes:
    return bytes(value)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


# -- revisions: keyframes and segments ---------------------------------------------------------


def _revisions(db: StoreDB, redaction: Redaction, out: Redacted) -> None:
    conn = db.conn
    plain = codec.keyframe_context()
    # Keyframes whose body changes: id -> (old raw, new raw). Every keyframe is looked at:
    # one left unreferenced (by a repair) may still hold a value.
    changed: dict[int, tuple[bytes, bytes]] = {}
    rows = conn.execute("SELECT id FROM keyframes ORDER BY id").fetchall()
    for ids in _chunks([int(r[0]) for r in rows]):
        marks = ",".join("?" * len(ids))
        found = conn.execute(f"SELECT id, body FROM keyframes WHERE id IN ({marks})", ids)
        for keyframe_id, blob in found.fetchall():
            try:
                raw = plain.decompress(_blob(blob))
                new = _redacted_body(raw, redaction)
            except (zstd.ZstdError, ValueError, TypeError):
                continue  # damaged: nothing can be read from it, nor from its segments
            if new is not None:
                changed[int(keyframe_id)] = (raw, new)
    for keyframe_id, (_, new) in changed.items():
        conn.execute(
            "UPDATE keyframes SET body = ? WHERE id = ?",
            (codec.compress_keyframe(new), keyframe_id),
        )
    out.keyframes = len(changed)

    kinds = [str(r[0]) for r in conn.execute("SELECT DISTINCT kind FROM resources").fetchall()]
    secret_kinds = [k for k in kinds if is_secret_kind(k)]
    segment_ids: set[int] = set()
    if secret_kinds:
        marks = ",".join("?" * len(secret_kinds))
        segment_ids.update(
            int(r[0])
            for r in conn.execute(
                "SELECT s.id FROM segments s JOIN resources r ON r.id = s.resource_id "
                f"WHERE r.kind IN ({marks})",
                secret_kinds,
            ).fetchall()
        )
    for ids in _chunks(sorted(changed)):
        marks = ",".join("?" * len(ids))
        segment_ids.update(
            int(r[0])
            for r in conn.execute(
                f"SELECT id FROM segments WHERE keyframe_id IN ({marks})", ids
            ).fetchall()
        )
    keyframes: dict[int, bytes] = {}  # old raw bodies of unchanged keyframes, as needed
    for ids in _chunks(sorted(segment_ids)):
        marks = ",".join("?" * len(ids))
        found = conn.execute(
            f"SELECT id, keyframe_id, body FROM segments WHERE id IN ({marks})", ids
        ).fetchall()
        for segment_id, keyframe_id, blob in found:
            _segment(
                db,
                int(segment_id),
                int(keyframe_id),
                _blob(blob),
                changed,
                keyframes,
                redaction,
                out,
            )


def _segment(
    db: StoreDB,
    segment_id: int,
    keyframe_id: int,
    blob: bytes,
    changed: dict[int, tuple[bytes, bytes]],
    keyframes: dict[int, bytes],
    redaction: Redaction,
    out: Redacted,
) -> None:
    """Redact one segment's bodies and compress it again against its keyframe's new body
    when either changed."""
    if keyframe_id in changed:
        old_keyframe, new_keyframe = changed[keyframe_id]
    else:
        raw = keyframes.get(keyframe_id)
        if raw is None:
            row = db.conn.execute(
                "SELECT body FROM keyframes WHERE id = ?", (keyframe_id,)
            ).fetchone()
            try:
                raw = codec.decompress_keyframe(_blob(row[0])) if row else None
            except zstd.ZstdError:
                raw = None
            if raw is None:
                out.undecodable.append(segment_id)
                return
            if len(keyframes) > 256:
                keyframes.clear()
            keyframes[keyframe_id] = raw
        old_keyframe = new_keyframe = raw
    try:
        entries, data = seg.decode(blob, seg.decompressor(old_keyframe))
        bodies = seg.split(data, entries)
        redacted = [_redacted_body(body, redaction) for body in bodies]
    except (zstd.ZstdError, ValueError, TypeError, IndexError):
        out.undecodable.append(segment_id)
        return
    if new_keyframe is old_keyframe and all(r is None for r in redacted):
        return
    new_bodies = [body if r is None else r for body, r in zip(bodies, redacted, strict=True)]
    for entry, body in zip(entries, new_bodies, strict=True):
        entry[seg.SIZE] = len(body)
    db.conn.execute(
        "UPDATE segments SET body = ? WHERE id = ?",
        (seg.encode(entries, new_bodies, seg.compressor(new_keyframe)), segment_id),
    )
    out.segments += 1


# -- desired sets ---------------------------------------------------------------------------------


def _redacted_set(raw: bytes, redaction: Redaction) -> bytes | None:
    """A desired set's body with the plain values of its Secrets hashed; None when none."""
    if not _may_hold_secret(raw):
        return None
    data = codec.loads(raw)
    objects = data.get("objects") if isinstance(data, dict) else None
    if not isinstance(objects, list):
        return None
    items = []
    changed = False
    for item in objects:
        obj = item.get("obj") if isinstance(item, dict) else None
        if isinstance(obj, dict) and is_secret(obj):
            redacted = redact_stored(obj, redaction)
            if redacted != obj:
                item = {**item, "obj": redacted}
                changed = True
        items.append(item)
    return codec.dumps({**data, "objects": items}) if changed else None


def _desired_sets(db: StoreDB, redaction: Redaction, out: Redacted) -> None:
    conn = db.conn
    # Each keyframe set, then the deltas compressed against it (a keyframe comes before its
    # deltas): a group's old keyframe body decodes its deltas, its new one encodes them.
    order = conn.execute(
        "SELECT id, repo_id, keyframe_id FROM desired_sets "
        "ORDER BY CASE WHEN keyframe_id IS NULL THEN id ELSE keyframe_id END, id"
    ).fetchall()
    old_keyframe: bytes | None = None
    new_keyframe = b""
    repos: set[int] = set()
    for set_id, repo_id, keyframe_id in order:
        (blob,) = conn.execute("SELECT body FROM desired_sets WHERE id = ?", (set_id,)).fetchone()
        try:
            if keyframe_id is None:
                old_keyframe = None
                old_keyframe = codec.decompress_keyframe(_blob(blob))
                new_keyframe = _redacted_set(old_keyframe, redaction) or old_keyframe
                raw, new = old_keyframe, new_keyframe
                body = codec.compress_keyframe(new) if new is not raw else None
            elif old_keyframe is None:
                continue  # its keyframe set is damaged: nothing of it can be read
            else:
                raw = codec.decompress_delta(_blob(blob), old_keyframe)
                new = _redacted_set(raw, redaction) or raw
                body = (
                    codec.compress_delta(new, new_keyframe)
                    if new is not raw or new_keyframe is not old_keyframe
                    else None
                )
        except (zstd.ZstdError, ValueError, TypeError, AttributeError):
            continue  # damaged bytes: left as they are (no value can be read from them)
        if body is None:
            continue
        conn.execute(
            "UPDATE desired_sets SET body = ?, content_hash = ? WHERE id = ?",
            (body, hashlib.blake2b(new, digest_size=12).hexdigest(), set_id),
        )
        if new is not raw:
            out.desired_sets += 1
            repos.add(int(repo_id))
    for repo_id in sorted(repos):
        _index_again(db, repo_id)


def _index_again(db: StoreDB, repo_id: int) -> None:
    """``declared_changes`` of one repository made again from its (redacted) sets: the
    entry hashes were of the plaintext."""
    conn = db.conn
    conn.execute("DELETE FROM declared_changes WHERE repo_id = ?", (repo_id,))
    cache = codec.KeyframeCache(16)
    previous: declared.Index | None = None
    ids = conn.execute(
        "SELECT id FROM desired_sets WHERE repo_id = ? ORDER BY id", (repo_id,)
    ).fetchall()
    for (set_id,) in ids:
        set_id, keyframe_id, body, keyframe_body = conn.execute(
            "SELECT d.id, d.keyframe_id, d.body, k.body FROM desired_sets d "
            "LEFT JOIN desired_sets k ON k.id = d.keyframe_id WHERE d.id = ?",
            (set_id,),
        ).fetchone()
        try:
            raw = codec.decode_body(
                _blob(body),
                keyframe_id,
                None if keyframe_body is None else _blob(keyframe_body),
                cache,
                int(set_id),
            )
            current = declared.index_of_stored(codec.loads(raw)["objects"] if raw else [])
        except (zstd.ZstdError, ValueError, TypeError, KeyError):
            continue  # damaged: its rows cannot be made; the next set compares with the last
        declared.record_changes(db, repo_id, int(set_id), previous, current)
        previous = current


# -- the parse cache ------------------------------------------------------------------------------


def _manifest_cache(db: StoreDB, out: Redacted) -> None:
    conn = db.conn
    doomed = []
    rows = conn.execute("SELECT key, parsed FROM manifest_cache")
    for key, blob in (row for chunk in iter(lambda: rows.fetchmany(200), []) for row in chunk):
        try:
            # Every row is parsed: json.dumps escapes non-ASCII, so no text search is sure.
            parsed = ParsedFile.from_json(codec.decompress_keyframe(_blob(blob)))
            holds = any(isinstance(o, dict) and is_secret(o) for o in parsed.objects)
        except (zstd.ZstdError, ValueError, TypeError, KeyError):
            holds = True  # unreadable: rebuilt when needed, and cannot be checked
        if holds:
            doomed.append((key,))
    conn.executemany("DELETE FROM manifest_cache WHERE key = ?", doomed)
    out.manifest_cache = len(doomed)

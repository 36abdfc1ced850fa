"""The single write path for observed objects: normalize, dedupe, encode, insert.

Every source (the live recorder, ``import-events``, the demo) goes through
:class:`RevisionWriter`, so deduplication and redaction are the same everywhere.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import zstandard as zstd
from sqlite_utils import Database

from timetravel.domain.model import Gap, Observation, ResourceKey
from timetravel.domain.normalize import normalize, strip_status
from timetravel.domain.times import to_micros, to_stored, utc_now
from timetravel.store import codec
from timetravel.store import segments as seg
from timetravel.store.db import DatabaseUnavailable, redaction_key

# Errors of a write that may work when tried again: the disk full, the database locked by
# another writer past the busy timeout, an I/O error. Callers that must not lose what they
# hold (the recorder) keep it and retry on these; anything else is not retried.
RETRYABLE: tuple[type[Exception], ...] = (DatabaseUnavailable, sqlite3.OperationalError)


def _hash(raw: bytes) -> bytes:
    # Stored as a 12-byte blob (rows written before 2026-11-26 hold the same digest in hex).
    return hashlib.blake2b(raw, digest_size=12).digest()


def _hashes_of(raw: bytes) -> tuple[bytes, bytes]:
    """The content and spec hashes of a stored body, as ``_insert`` made them: the object
    half is the canonical JSON the content hash was taken of."""
    cut = raw.find(b',"object":')
    content = raw[cut + len(b',"object":') : -1]
    content_hash = _hash(content)
    normalized = codec.loads(content)
    if isinstance(normalized, dict) and "status" in normalized:
        return content_hash, _hash(codec.dumps(strip_status(normalized)))
    return content_hash, content_hash


@dataclass
class _Segment:
    """The latest segment of an object, as the writer appends to it (see store.segments)."""

    id: int
    first_at: str
    count: int
    keyframe_id: int
    # Compressed, as stored: the recorder remembers every watched object, and the raw
    # keyframe (object + managedFields) is ~7x larger. Decompressing it costs ~10 µs.
    keyframe_blob: bytes
    body: bytes


@dataclass
class _Last:
    """What the writer must remember of an object's latest revision to dedupe and encode."""

    revision_id: int
    observed_at: str  # the latest observation time of the object (revisions may come late)
    resource_version: str | None
    uid: str | None
    content_hash: bytes
    spec_hash: bytes
    deleted: bool
    # Whether the latest revision by time is a deletion (resources.gone_at is set). Differs
    # from ``deleted`` (of the revision written last) only after a revision came late.
    gone: bool
    segment: _Segment
    manager_times: dict[str, str]


@dataclass
class WriteResult:
    written: int = 0
    unchanged: int = 0
    by_change: dict[str, int] = field(default_factory=dict)


def _managed_summary(raw_obj: dict[str, Any]) -> list[dict[str, Any]]:
    """managedFields as stored: who, how, when and which fields (FieldsV1 kept as is)."""
    entries = (raw_obj.get("metadata") or {}).get("managedFields") or []
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        out.append(
            {
                "manager": entry.get("manager") or "",
                "operation": entry.get("operation"),
                "apiVersion": entry.get("apiVersion"),
                "subresource": entry.get("subresource"),
                "time": entry.get("time"),
                "fieldsV1": entry.get("fieldsV1") or {},
            }
        )
    return out


def _manager_id(entry: dict[str, Any]) -> str:
    sub = entry.get("subresource")
    return f"{entry['manager']}/{entry.get('operation') or ''}" + (f"/{sub}" if sub else "")


def _manager_times(managed: list[dict[str, Any]]) -> dict[str, str]:
    return {_manager_id(e): str(e.get("time") or "") for e in managed}


def _touched(previous: dict[str, str] | None, current: dict[str, str]) -> list[str]:
    """Managers whose entry is new or whose time advanced since the previous revision."""
    names = []
    for ident, time in current.items():
        if previous is None or ident not in previous or previous[ident] != time:
            names.append(ident.split("/", 1)[0])
    return sorted(set(names))


Family = tuple[str, ...]
_SIBLINGS = 4096
_RAW_KEYFRAMES = 1024  # ~7 MB of raw keyframes
# zstd contexts with a keyframe as dictionary, for the keyframes in use: making a pair
# costs ~30 µs, more than encoding a segment again. Siblings share keyframes, so a few
# dozen cover most writes; each pair holds ~0.3 MB of zstd state.
_CODECS = 48


def _families(cluster: str, raw_obj: dict[str, Any], meta: dict[str, Any]) -> tuple[Family, ...]:
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


def validate(obs: Observation) -> None:
    """Raise ValueError unless the observation holds a Kubernetes object with an identity."""
    obj = obs.obj
    if not isinstance(obj, dict):
        raise ValueError("not a Kubernetes object (not a JSON object)")
    meta = obj.get("metadata")
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        raise ValueError("not a Kubernetes object (apiVersion or kind missing)")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ValueError("not a Kubernetes object (metadata.name missing)")
    if obs.event not in ("ADDED", "MODIFIED", "DELETED"):
        raise ValueError(f"unknown event type {obs.event!r}")


class RevisionWriter:
    """Writes observations as revisions; remembers recent objects to dedupe cheaply.

    Memory is bounded by ``cache_size`` objects; an object that fell out of the cache is
    read back from the database when it is seen again.
    """

    def __init__(self, db: Database, *, cache_size: int = 100_000) -> None:
        self.db = db
        self.conn = db.conn
        self.key = redaction_key(db)
        self._cache_size = cache_size
        self._last: OrderedDict[int, _Last] = OrderedDict()
        self._resource_ids: dict[ResourceKey, int] = {}
        self._known_clusters: set[str] = set()
        # The latest keyframe of each family of objects: a new object's first revision is
        # compressed against a sibling's (a new Pod of a ReplicaSet against the last one,
        # ~150 B instead of a ~1.1 KB keyframe of its own).
        self._siblings: OrderedDict[Family, tuple[int, bytes]] = OrderedDict()
        self._raw_keyframes: OrderedDict[int, bytes] = OrderedDict()
        self._plain = codec.keyframe_context()  # one zstd context: ~7 µs saved each
        self._next_id = 0  # the next revision id, read at the start of each batch
        self._codecs: OrderedDict[int, tuple[zstd.ZstdCompressor, zstd.ZstdDecompressor]] = (
            OrderedDict()
        )

    # -- resources -------------------------------------------------------------------
    def resource_id(self, key: ResourceKey, api_version: str) -> int:
        rid = self._resource_ids.get(key)
        if rid is not None:
            return rid
        row = self.conn.execute(
            "SELECT id FROM resources WHERE cluster=? AND api_group=? AND kind=? "
            "AND namespace=? AND name=?",
            (key.cluster, key.group, key.kind, key.namespace, key.name),
        ).fetchone()
        if row is None:
            cur = self.conn.execute(
                "INSERT INTO resources (cluster, api_group, api_version, kind, namespace, name)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key.cluster, key.group, api_version, key.kind, key.namespace, key.name),
            )
            rid = int(cur.lastrowid or 0)
        else:
            rid = int(row[0])
        if len(self._resource_ids) > self._cache_size:
            self._resource_ids.clear()
        self._resource_ids[key] = rid
        return rid

    def ensure_cluster(
        self, name: str, server: str | None = None, context: str | None = None
    ) -> None:
        if name in self._known_clusters:
            return
        self.conn.execute(
            "INSERT INTO clusters (name, server, context, first_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET server = coalesce(excluded.server, server), "
            "context = coalesce(excluded.context, context)",
            (name, server, context, to_stored(utc_now())),
        )
        self._known_clusters.add(name)

    # -- the latest revision of an object ---------------------------------------------
    def _load_last(self, resource_id: int) -> _Last | None:
        last = self._last.get(resource_id)
        if last is not None:
            self._last.move_to_end(resource_id)
            return last
        row = self.conn.execute(
            "SELECT s.id, s.first_at, s.keyframe_id, s.body, k.body FROM segments s "
            "JOIN keyframes k ON k.id = s.keyframe_id WHERE s.resource_id = ? "
            "ORDER BY s.first_at DESC, s.id DESC LIMIT 1",
            (resource_id,),
        ).fetchone()
        if row is None:
            return None
        segment = _Segment(row[0], row[1], 0, row[2], row[4], row[3])
        entries, data = self._decode(segment)
        segment.count = len(entries)
        latest = entries[-1]
        raw = seg.body_at(data, entries, len(entries) - 1)
        content_hash, spec_hash = _hashes_of(raw)
        uid = latest[seg.UID]
        if uid is None:
            uid = self._latest_uid(resource_id)
        managed = codec.loads(raw).get("managedFields") or []
        last = _Last(
            revision_id=latest[seg.ID],
            observed_at=latest[seg.OBSERVED_AT],
            resource_version=latest[seg.RESOURCE_VERSION],
            uid=uid,
            content_hash=content_hash,
            spec_hash=spec_hash,
            deleted=latest[seg.CHANGE] == "deleted",
            gone=latest[seg.CHANGE] == "deleted",
            segment=segment,
            manager_times=_manager_times(managed),
        )
        self._remember(resource_id, last)
        return last

    def _latest_uid(self, resource_id: int) -> str | None:
        """The uid of the latest revision that carries one (updates carry none)."""
        rows = self.conn.execute(
            "SELECT s.id, s.first_at, s.keyframe_id, s.body, k.body FROM segments s "
            "JOIN keyframes k ON k.id = s.keyframe_id WHERE s.resource_id = ? "
            "ORDER BY s.first_at DESC, s.id DESC",
            (resource_id,),
        )
        for row in rows.fetchall():
            entries, _ = self._decode(_Segment(row[0], row[1], 0, row[2], row[4], row[3]))
            for entry in reversed(entries):
                if entry[seg.UID] is not None:
                    return str(entry[seg.UID])
        return None

    def _decode(self, segment: _Segment) -> tuple[list[seg.Entry], memoryview]:
        return seg.decode(segment.body, self._codec(segment)[1])

    def _codec(self, segment: _Segment) -> tuple[zstd.ZstdCompressor, zstd.ZstdDecompressor]:
        pair = self._codecs.get(segment.keyframe_id)
        if pair is None:
            raw = self._keyframe_raw(segment.keyframe_id, segment.keyframe_blob)
            pair = (seg.compressor(raw), seg.decompressor(raw))
            self._codecs[segment.keyframe_id] = pair
            if len(self._codecs) > _CODECS:
                self._codecs.popitem(last=False)
        else:
            self._codecs.move_to_end(segment.keyframe_id)
        return pair

    def _remember(self, resource_id: int, last: _Last) -> None:
        self._last[resource_id] = last
        self._last.move_to_end(resource_id)
        while len(self._last) > self._cache_size:
            self._last.popitem(last=False)

    # -- writing ----------------------------------------------------------------------
    def write(self, observations: Iterable[Observation]) -> WriteResult:
        """Write a batch in one transaction; returns how many became revisions.

        Raises ValueError, before anything is written, when an observation is not a
        Kubernetes object. If the transaction fails (disk full, locked), nothing of the
        batch is kept and the writer forgets what it remembered, so a retry is exact.
        """
        batch = list(observations)
        for obs in batch:
            validate(obs)
        result = WriteResult()
        try:
            with self.conn:
                self._next_id = self._first_id()
                for obs in batch:
                    self._write_one(obs, result)
                self.conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'next_revision_id'",
                    (str(self._next_id),),
                )
        except BaseException:
            self._last.clear()
            self._siblings.clear()
            self._raw_keyframes.clear()
            self._codecs.clear()
            self._resource_ids.clear()
            self._known_clusters.clear()
            raise
        return result

    def _first_id(self) -> int:
        """The next revision id, read inside the batch's transaction: the no-op update
        takes the write lock first, so no other writer can hand out the same ids."""
        self.conn.execute("UPDATE meta SET value = value WHERE key = 'next_revision_id'")
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'next_revision_id'").fetchone()
        if row is None:
            self.conn.execute("INSERT INTO meta (key, value) VALUES ('next_revision_id', '1')")
            return 1
        return int(row[0])

    def _write_one(self, obs: Observation, result: WriteResult) -> None:
        raw_obj = obs.obj
        key = ResourceKey.of(raw_obj, obs.cluster)
        self.ensure_cluster(obs.cluster)
        api_version = str(raw_obj["apiVersion"])
        rid = self.resource_id(key, api_version)
        meta = raw_obj.get("metadata") or {}
        rv = meta.get("resourceVersion")
        uid = meta.get("uid")
        last = self._load_last(rid)

        if obs.event == "DELETED":
            if last is not None and last.deleted:
                result.unchanged += 1
                return
            self._insert(rid, obs, raw_obj, "deleted", last, result)
            return

        if last is not None and not last.deleted:
            if uid and last.uid and uid != last.uid:
                # A new uid under the same name: the old object was deleted and a new one
                # created, even if no watch event said so.
                tombstone = Observation(
                    obs.cluster,
                    "DELETED",
                    raw_obj,
                    obs.observed_at,
                    inferred=True,
                    source=obs.source,
                )
                self._insert(rid, tombstone, raw_obj, "deleted", last, result, uid=last.uid)
                last = self._last[rid]
            elif rv is not None and rv == last.resource_version:
                result.unchanged += 1
                return
            elif obs.event == "ADDED" and not obs.inferred:
                # ADDED for an object that is already live (same uid) is a listing or a
                # server's replay showing it, not a change seen as it happened: whatever
                # changed, it changed at a moment not known, so the revision is inferred.
                obs = replace(obs, inferred=True)
        change = "created" if last is None or last.deleted else "updated"
        self._insert(rid, obs, raw_obj, change, last, result)

    def _insert(
        self,
        rid: int,
        obs: Observation,
        raw_obj: dict[str, Any],
        change: str,
        last: _Last | None,
        result: WriteResult,
        uid: str | None = None,
    ) -> None:
        normalized = normalize(raw_obj, self.key)
        content = codec.dumps(normalized)
        content_hash = _hash(content)
        if change == "updated" and last is not None and content_hash == last.content_hash:
            # Same content under a new resourceVersion (a resync, a managedFields-only
            # write): not a change of the object.
            last.resource_version = (raw_obj.get("metadata") or {}).get("resourceVersion")
            result.unchanged += 1
            return
        # Without a status the spec is the content: no second serialization.
        spec_hash = (
            _hash(codec.dumps(strip_status(normalized))) if "status" in normalized else content_hash
        )
        status_only = change == "updated" and last is not None and spec_hash == last.spec_hash
        managed = _managed_summary(raw_obj)
        manager_times = _manager_times(managed)
        touched = _touched(last.manager_times if last else None, manager_times)
        server_time = max((t for t in manager_times.values() if t), default=None)
        raw = codec.body(content, codec.dumps(managed))

        meta = raw_obj.get("metadata") or {}
        object_uid = uid or meta.get("uid")
        rev_id = self._next_id
        self._next_id += 1
        entry = seg.entry(
            rev_id,
            obs.observed_at,
            change,
            meta.get("resourceVersion"),
            # The uid only where it appears or changes: a creation, a deletion, a new
            # object under the name. Its updates carry none (36 bytes a revision).
            None
            if change == "updated" and last is not None and last.uid == object_uid
            else object_uid,
            obs.inferred,
            status_only,
            obs.source,
            server_time,
            orjson.dumps(touched).decode() if touched else None,
            len(raw),
        )
        late = last is not None and obs.observed_at < last.observed_at
        if late:
            assert last is not None
            segment_id = self._insert_late(rid, last, entry, raw)
            latest_segment = last.segment
        elif last is not None and last.segment.count < seg.SEGMENT_SIZE:
            latest_segment = self._append(last.segment, entry, raw)
            segment_id = latest_segment.id
        else:
            families = _families(obs.cluster, raw_obj, meta)
            latest_segment = self._new_segment(rid, last, families, entry, raw)
            segment_id = latest_segment.id
        self.conn.execute(
            "INSERT INTO revisions (observed_us, id, segment_id) VALUES (?, ?, ?)",
            (to_micros(obs.observed_at), rev_id, segment_id),
        )
        self._update_lifetime(rid, obs.observed_at, change, last)
        self._remember(
            rid,
            _Last(
                revision_id=rev_id,
                observed_at=max(obs.observed_at, last.observed_at) if last else obs.observed_at,
                resource_version=meta.get("resourceVersion"),
                uid=object_uid,
                content_hash=content_hash,
                spec_hash=spec_hash,
                deleted=change == "deleted",
                gone=last.gone if last is not None and late else change == "deleted",
                segment=latest_segment,
                manager_times=manager_times,
            ),
        )
        result.written += 1
        result.by_change[change] = result.by_change.get(change, 0) + 1

    # -- segments ---------------------------------------------------------------------
    def _encode(self, segment: _Segment, entries: list[seg.Entry], bodies: list[bytes]) -> None:
        segment.body = seg.encode(entries, bodies, self._codec(segment)[0])
        segment.count = len(entries)
        segment.first_at = entries[0][seg.OBSERVED_AT]

    def _store(self, segment: _Segment, entries: list[seg.Entry], bodies: list[bytes]) -> None:
        """Encode a segment's entries and bodies into it and write its row."""
        self._encode(segment, entries, bodies)
        self.conn.execute(
            "UPDATE segments SET first_at = ?, count = ?, body = ? WHERE id = ?",
            (segment.first_at, segment.count, segment.body, segment.id),
        )

    def _append(self, segment: _Segment, entry: seg.Entry, raw: bytes) -> _Segment:
        """Add the newest revision to the object's latest segment: the segment is encoded
        again with it (~10 µs), so it costs what changed since the revision before."""
        entries, data = self._decode(segment)
        self._store(segment, [*entries, entry], [*seg.split(data, entries), raw])
        return segment

    def _insert_late(self, rid: int, last: _Last, entry: seg.Entry, raw: bytes) -> int:
        """A revision observed before the object's latest: into the segment whose time
        span it falls in (the latest starting at or before it, else the first), in order,
        so segments never overlap in time."""
        at = entry[seg.OBSERVED_AT]
        select = (
            "SELECT s.id, s.first_at, s.keyframe_id, s.body, k.body FROM segments s "
            "JOIN keyframes k ON k.id = s.keyframe_id WHERE s.resource_id = ? "
        )
        row = (
            self.conn.execute(
                select + "AND s.first_at <= ? ORDER BY s.first_at DESC, s.id DESC LIMIT 1",
                (rid, at),
            ).fetchone()
            or self.conn.execute(select + "ORDER BY s.first_at, s.id LIMIT 1", (rid,)).fetchone()
        )
        if row[0] == last.segment.id:
            segment = last.segment
        else:
            segment = _Segment(row[0], row[1], 0, row[2], row[4], row[3])
        entries, data = self._decode(segment)
        bodies = seg.split(data, entries)
        index = len(entries)
        while index > 0 and seg.order(entries[index - 1]) > seg.order(entry):
            index -= 1
        entries.insert(index, entry)
        bodies.insert(index, raw)
        self._store(segment, entries, bodies)
        return segment.id

    def _new_segment(
        self,
        rid: int,
        last: _Last | None,
        families: tuple[Family, ...],
        entry: seg.Entry,
        raw: bytes,
    ) -> _Segment:
        """Start a segment with this revision, against the object's keyframe, else a
        sibling's (a new Pod of a ReplicaSet against the last one's), else a new one; a
        new one too when the revision has moved far from the keyframe."""
        reference = (
            (last.segment.keyframe_id, last.segment.keyframe_blob)
            if last is not None
            else self._sibling(families)
        )
        keyframe: tuple[int, bytes] | None = None
        if reference is not None:
            delta = codec.compress_delta(raw, self._keyframe_raw(*reference))
            if not codec.needs_new_keyframe(delta, len(reference[1])):
                keyframe = reference
        if keyframe is None:
            blob = codec.compress_keyframe(raw)
            cur = self.conn.execute("INSERT INTO keyframes (body) VALUES (?)", (blob,))
            keyframe = (int(cur.lastrowid or 0), blob)
            self._remember_sibling(families, keyframe)
        at = entry[seg.OBSERVED_AT]
        segment = _Segment(0, at, 1, keyframe[0], keyframe[1], b"")
        self._encode(segment, [entry], [raw])
        cur = self.conn.execute(
            "INSERT INTO segments (resource_id, first_at, count, keyframe_id, body) "
            "VALUES (?, ?, 1, ?, ?)",
            (rid, at, keyframe[0], segment.body),
        )
        segment.id = int(cur.lastrowid or 0)
        return segment

    def _keyframe_raw(self, keyframe_id: int, blob: bytes) -> bytes:
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

    def _update_lifetime(self, rid: int, at: str, change: str, last: _Last | None) -> None:
        """Keep resources.first_at/gone_at (see migration m004) true after a new revision.

        Only a creation, a deletion or a revision older than the latest moves them; the
        updates of a live object (nearly every revision) cost nothing here.
        """
        if last is not None and at < last.observed_at:  # late: the latest stays the latest
            self.conn.execute(
                "UPDATE resources SET first_at = min(coalesce(first_at, ?), ?) WHERE id = ?",
                (at, at, rid),
            )
        elif change == "deleted":
            self.conn.execute(
                "UPDATE resources SET first_at = coalesce(first_at, ?), gone_at = ? WHERE id = ?",
                (at, at, rid),
            )
        elif last is None or last.gone:
            self.conn.execute(
                "UPDATE resources SET first_at = min(coalesce(first_at, ?), ?), gone_at = NULL "
                "WHERE id = ?",
                (at, at, rid),
            )

    def record_gap(self, gap: Gap) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO gaps (cluster, source, started_at, ended_at, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                (gap.cluster, gap.source, gap.started_at, gap.ended_at, gap.reason),
            )

    def live_objects(
        self, cluster: str, group: str, kind: str, namespace: str | None = None
    ) -> dict[ResourceKey, str | None]:
        """Objects of one kind whose latest revision is not a delete, with their resourceVersion.

        A relist compares against this to find objects that disappeared unseen.
        """
        sql = (
            "SELECT res.namespace, res.name, s.keyframe_id, s.body, k.body FROM resources res "
            "JOIN segments s ON s.id = (SELECT id FROM segments WHERE resource_id = res.id "
            "ORDER BY first_at DESC, id DESC LIMIT 1) JOIN keyframes k ON k.id = s.keyframe_id "
            "WHERE res.cluster = ? AND res.api_group = ? AND res.kind = ?"
        )
        params: list[Any] = [cluster, group, kind]
        if namespace is not None:
            sql += " AND res.namespace = ?"
            params.append(namespace)
        out: dict[ResourceKey, str | None] = {}
        for ns, name, keyframe_id, body, keyframe_blob in self.conn.execute(sql, params).fetchall():
            keyframe_raw = self._keyframe_raw(keyframe_id, keyframe_blob)
            latest = seg.decode(body, seg.decompressor(keyframe_raw))[0][-1]
            if latest[seg.CHANGE] != "deleted":
                out[ResourceKey(cluster, group, kind, ns, name)] = latest[seg.RESOURCE_VERSION]
        return out

    def last_object(self, key: ResourceKey) -> dict[str, Any] | None:
        """The latest stored (normalized) object of a resource, for an inferred delete."""
        rid = self._resource_ids.get(key)
        if rid is None:
            row = self.conn.execute(
                "SELECT id FROM resources WHERE cluster=? AND api_group=? AND kind=? "
                "AND namespace=? AND name=?",
                (key.cluster, key.group, key.kind, key.namespace, key.name),
            ).fetchone()
            if row is None:
                return None
            rid = int(row[0])
        self._last.pop(rid, None)
        last = self._load_last(rid)
        if last is None:
            return None
        entries, data = self._decode(last.segment)
        raw = seg.body_at(data, entries, len(entries) - 1)
        obj = codec.loads(raw).get("object")
        return obj if isinstance(obj, dict) else None


class RecorderState:
    """Heartbeats of one recorder source, and the gap a restart finds."""

    def __init__(self, db: Database, source: str) -> None:
        self.conn = db.conn
        self.source = source

    def start(self, now: str, detail: str | None = None) -> Gap | None:
        """Mark the source started; return the gap since its last heartbeat, if it ran before."""
        row = self.conn.execute(
            "SELECT heartbeat_at, stopped_at FROM recorder_state WHERE source = ?",
            (self.source,),
        ).fetchone()
        gap = None
        if row is not None:
            heartbeat, stopped = row
            reason = "recorder stopped" if stopped else "recorder ended without stopping (killed?)"
            since = stopped or heartbeat
            if since < now:
                gap = Gap(
                    cluster=self.source.split(":", 1)[-1],
                    source=self.source,
                    started_at=since,
                    ended_at=now,
                    reason=reason,
                )
        with self.conn:
            self.conn.execute(
                "INSERT INTO recorder_state (source, started_at, heartbeat_at, stopped_at, detail)"
                " VALUES (?, ?, ?, NULL, ?) ON CONFLICT(source) DO UPDATE SET "
                "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
                "stopped_at = NULL, detail = excluded.detail",
                (self.source, now, now, detail),
            )
        return gap

    def beat(self, now: str) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE recorder_state SET heartbeat_at = ? WHERE source = ?", (now, self.source)
            )

    def stop(self, now: str) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE recorder_state SET heartbeat_at = ?, stopped_at = ? WHERE source = ?",
                (now, now, self.source),
            )


def record_warning_event(conn: Any, cluster: str, observed_at: str, event: dict[str, Any]) -> bool:
    """Keep a Kubernetes Warning Event as a timeline observation; False when already kept."""
    meta = event.get("metadata") or {}
    involved = event.get("involvedObject") or event.get("regarding") or {}
    group = str(involved.get("apiVersion") or "").rpartition("/")[0]
    count = event.get("count") or (event.get("series") or {}).get("count") or 1
    last_at = event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp")
    dedupe = f"{cluster}/{meta.get('uid') or meta.get('name')}/{count}/{last_at}"
    cur = conn.execute(
        "INSERT OR IGNORE INTO observations (cluster, observed_at, kind, severity, reason, "
        "message, object_group, object_kind, object_namespace, object_name, first_at, last_at, "
        "count, dedupe_key) VALUES (?, ?, 'k8s-event', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            cluster,
            observed_at,
            str(event.get("type") or "Warning"),
            event.get("reason"),
            event.get("message") or event.get("note"),
            group,
            involved.get("kind"),
            involved.get("namespace") or meta.get("namespace") or "",
            involved.get("name"),
            event.get("firstTimestamp") or event.get("eventTime"),
            last_at,
            int(count),
            dedupe,
        ),
    )
    return bool(cur.rowcount)


def latest_time(db: Database, cluster: str, source: str) -> str | None:
    """The latest time a recorder source has written for ``cluster``, or None.

    A restarted recorder holds its clock after it, so observed times stay monotonic per
    source even when the system clock stepped back while it was down. Only what the
    recorder itself wrote counts (its heartbeat, watch and list revisions, Warning events,
    gaps): imported facts carry times of other clocks.
    """
    conn = db.conn
    times: list[str] = []
    row = conn.execute(
        "SELECT heartbeat_at, stopped_at FROM recorder_state WHERE source = ?", (source,)
    ).fetchone()
    if row is not None:
        times.extend(t for t in row if t)
    for sql in (
        "SELECT observed_at FROM observations WHERE cluster = ? AND kind = 'k8s-event' "
        "ORDER BY observed_at DESC LIMIT 1",
        "SELECT max(ended_at) FROM gaps WHERE cluster = ?",
    ):
        found = conn.execute(sql, (cluster,)).fetchone()
        if found is not None and found[0]:
            times.append(str(found[0]))
    recorded = _latest_recorded(conn, cluster, max(times, default=""))
    if recorded is not None:
        times.append(recorded)
    return max(times) if times else None


def _latest_recorded(conn: Any, cluster: str, floor: str) -> str | None:
    """The newest watch or list revision of ``cluster`` later than ``floor``: newest first
    along the time index, so it stops at the first one (or at ``floor``: older ones cannot
    raise the answer)."""
    plain = codec.keyframe_context()
    rows = conn.execute(
        "SELECT rv.id, s.body, k.body FROM revisions rv "
        "JOIN segments s ON s.id = rv.segment_id JOIN resources res ON res.id = s.resource_id "
        "JOIN keyframes k ON k.id = s.keyframe_id "
        "WHERE rv.observed_us > ? AND res.cluster = ? ORDER BY rv.observed_us DESC, rv.id DESC",
        (to_micros(floor) if floor else -(2**62), cluster),
    )
    while True:
        chunk = rows.fetchmany(200)
        if not chunk:
            return None
        for revision_id, body, keyframe_blob in chunk:
            entries, _ = seg.decode(body, seg.decompressor(plain.decompress(keyframe_blob)))
            for entry in entries:
                if entry[seg.ID] == revision_id and entry[seg.SOURCE] in ("watch", "list"):
                    return str(entry[seg.OBSERVED_AT])

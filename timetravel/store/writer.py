"""The single write path for observed objects: normalize, dedupe, encode, insert.

Every source (the live recorder, ``import-events``, the demo) goes through
:class:`RevisionWriter`, so deduplication and redaction are the same everywhere. Bodies go
into segments through :class:`~timetravel.store.appender.SegmentAppender`; the managedFields
kept with each revision, and the managers it names, are those of ``domain.managed_fields``.
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

from timetravel.domain import managed_fields as mf
from timetravel.domain.model import Gap, Observation, ResourceKey
from timetravel.domain.normalize import normalize, strip_status
from timetravel.domain.placement import place, written_times
from timetravel.domain.times import to_micros, to_stored, utc_now
from timetravel.store import codec, dialect, write_marks
from timetravel.store import segments as seg
from timetravel.store.appender import SELECT_SEGMENTS, SegmentAppender, SegmentRow, families
from timetravel.store.db import DatabaseUnavailable, redaction_key
from timetravel.store.handle import StoreDB
from timetravel.store.pod_digests import PodDigests, content_of

# Revision ids a PostgreSQL writer takes at once (the sequence's increment, store.pg_schema).
ID_BLOCK = 64

# Errors of a write that may work when tried again: the disk full, the database locked by
# another writer past the busy timeout, an I/O error. Callers that must not lose what they
# hold (the recorder) keep it and retry on these; anything else is not retried.
RETRYABLE: tuple[type[Exception], ...] = (DatabaseUnavailable, sqlite3.OperationalError)

# What decoding a damaged segment raises (zstd's checksum, entries that do not parse or do
# not match; see store.reader). The writer never fails a batch on one: see _damaged_last.
UNDECODABLE = (zstd.ZstdError, ValueError, TypeError, IndexError, KeyError)


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
    segment: SegmentRow
    manager_times: dict[str, str]  # mf.manager_times of its managedFields
    # The latest segment cannot be decoded (damaged bytes): nothing is known of the latest
    # revision, and the next one starts a segment and keyframe of its own.
    damaged: bool = False


@dataclass
class WriteResult:
    written: int = 0
    unchanged: int = 0
    by_change: dict[str, int] = field(default_factory=dict)
    # (API group, kind, change): what /metrics breaks revisions down by.
    by_kind: dict[tuple[str, str, str], int] = field(default_factory=dict)


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
    try:
        # What the store cannot serialize (nested deeper than orjson's 254 levels, a lone
        # surrogate in a string) is one skipped event, never a failed batch (~3 us a 3 KB
        # object, against ~100 us to store it).
        orjson.dumps(obj)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"not storable as JSON: {exc}") from None


class RevisionWriter:
    """Writes observations as revisions; remembers recent objects to dedupe cheaply.

    Memory is bounded by ``cache_size`` objects; an object that fell out of the cache is
    read back from the database when it is seen again.
    """

    def __init__(self, db: StoreDB, *, cache_size: int = 100_000) -> None:
        self.db = db
        self.conn = db.conn
        self.key = redaction_key(db)
        self._cache_size = cache_size
        self._last: OrderedDict[int, _Last] = OrderedDict()
        self._resource_ids: dict[ResourceKey, int] = {}
        self._known_clusters: set[str] = set()
        self._segments = SegmentAppender(self.conn)
        self._pods = PodDigests(self.conn, cache_size=cache_size)
        self._next_id = 0  # the next revision id, read at the start of each batch
        self._postgres = dialect.is_postgres(self.conn)
        self._block_end = 0  # PostgreSQL: the end of the block of ids taken
        # This writer's row of revision_writers (store.write_marks), and the observation
        # times of the batch being written.
        self._writer = write_marks.token()
        self._mark: write_marks.Mark | None = None
        self._batch_us: list[int] = []

    # -- resources -------------------------------------------------------------------
    def _known_resource_id(self, key: ResourceKey) -> int | None:
        """The id of a resource already stored, or None; cached ids are asked first."""
        rid = self._resource_ids.get(key)
        if rid is not None:
            return rid
        row = self.conn.execute(
            "SELECT id FROM resources WHERE cluster=? AND api_group=? AND kind=? "
            "AND namespace=? AND name=?",
            (key.cluster, key.group, key.kind, key.namespace, key.name),
        ).fetchone()
        return int(row[0]) if row is not None else None

    def resource_id(self, key: ResourceKey, api_version: str) -> int:
        cached = self._resource_ids.get(key)
        if cached is not None:
            return cached
        rid = self._known_resource_id(key)
        if rid is None:
            rid = dialect.insert_id(
                self.conn,
                "INSERT INTO resources (cluster, api_group, api_version, kind, namespace, name)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key.cluster, key.group, api_version, key.kind, key.namespace, key.name),
            )
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
            "ON CONFLICT(name) DO UPDATE SET server = coalesce(excluded.server, clusters.server), "
            "context = coalesce(excluded.context, clusters.context)",
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
            SELECT_SEGMENTS + "ORDER BY s.first_at DESC, s.id DESC LIMIT 1", (resource_id,)
        ).fetchone()
        if row is None:
            return None
        segment = SegmentRow.of(row)
        try:
            entries, data = self._segments.decode(segment)
            segment.count = len(entries)
            latest = entries[-1]
            raw = seg.body_at(data, entries, len(entries) - 1)
            content_hash, spec_hash = _hashes_of(raw)
            uid = latest[seg.UID]
            if uid is None:
                uid = self._latest_uid(resource_id)
            # Written by mf.stored_entries, which reads its own output back unchanged: the
            # times found here are the ones the writer had when it wrote the revision.
            managed = codec.loads(raw).get("managedFields") or []
        except UNDECODABLE:
            last = _damaged_last(segment)
            self._remember(resource_id, last)
            return last
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
            manager_times=mf.manager_times(managed),
        )
        self._remember(resource_id, last)
        return last

    def _latest_uid(self, resource_id: int) -> str | None:
        """The uid of the latest revision that carries one (updates carry none)."""
        rows = self.conn.execute(
            SELECT_SEGMENTS + "ORDER BY s.first_at DESC, s.id DESC", (resource_id,)
        )
        for row in rows.fetchall():
            try:
                entries, _ = self._segments.decode(SegmentRow.of(row))
            except UNDECODABLE:
                continue  # damaged: an older segment may still say
            for entry in reversed(entries):
                if entry[seg.UID] is not None:
                    return str(entry[seg.UID])
        return None

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
        self._batch_us = []
        try:
            with self.conn:
                if not self._postgres:
                    self._next_id = self._first_id()
                for obs in batch:
                    self._write_one(obs, result)
                if not self._postgres:
                    self.conn.execute(
                        "UPDATE meta SET value = ? WHERE key = 'next_revision_id'",
                        (str(self._next_id),),
                    )
                mark = write_marks.moved(self._mark, self._batch_us)
                if mark is not None and mark != self._mark:
                    write_marks.save(self.conn, self._writer, mark)
            self._mark = mark
        except BaseException:
            self._last.clear()
            self._segments.forget()
            self._pods.forget()
            self._resource_ids.clear()
            self._known_clusters.clear()
            raise
        return result

    def _new_id(self) -> int:
        """The next revision id. SQLite's one writer counts (see _first_id); the writers of
        a PostgreSQL store (one per source, at once) each take blocks of the sequence's
        ids (``INCREMENT BY`` the block), so none waits on another's transaction."""
        if self._postgres and self._next_id >= self._block_end:
            row = self.conn.execute("SELECT nextval('revision_ids')").fetchone()
            self._next_id, self._block_end = int(row[0]), int(row[0]) + ID_BLOCK
        rev_id = self._next_id
        self._next_id += 1
        return rev_id

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
        managed = mf.stored_entries(raw_obj)
        manager_times = mf.manager_times(managed)
        touched = mf.touched_managers(last.manager_times if last else None, manager_times)
        if obs.happened_between is not None:
            # Delivered after a recording gap: at the server's time of this write when it
            # lies in the gap, never before the object's previous version.
            observed_at, between = place(
                change,
                raw_obj,
                obs.happened_between.start,
                obs.happened_between.end,
                written=written_times(last.manager_times if last else None, manager_times),
                not_before=last.observed_at if last else None,
            )
            obs = replace(obs, observed_at=observed_at, happened_between=between)
        server_time = mf.server_time(manager_times)
        raw = codec.body(content, codec.dumps(managed))

        meta = raw_obj.get("metadata") or {}
        object_uid = uid or meta.get("uid")
        rev_id = self._new_id()
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
            None
            if obs.happened_between is None
            else (
                obs.happened_between.start,
                obs.happened_between.end,
                obs.happened_between.placed_by,
            ),
        )
        late = last is not None and not last.damaged and obs.observed_at < last.observed_at
        if last is not None and last.damaged:
            # Against no segment of the object's: its keyframe may be the damaged part.
            latest_segment = self._segments.start(
                rid, None, families(obs.cluster, raw_obj, meta), entry, raw
            )
            segment_id = latest_segment.id
        elif late:
            assert last is not None
            segment_id = self._segments.insert_late(rid, last.segment, entry, raw)
            latest_segment = last.segment
        elif last is not None and last.segment.count < seg.SEGMENT_SIZE:
            latest_segment = self._segments.append(last.segment, entry, raw)
            segment_id = latest_segment.id
        else:
            latest_segment = self._segments.start(
                rid,
                last.segment if last is not None else None,
                families(obs.cluster, raw_obj, meta),
                entry,
                raw,
            )
            segment_id = latest_segment.id
        observed_us = to_micros(obs.observed_at)
        self.conn.execute(
            "INSERT INTO revisions (observed_us, id, segment_id) VALUES (?, ?, ?)",
            (observed_us, rev_id, segment_id),
        )
        self._batch_us.append(observed_us)
        self._update_lifetime(rid, obs.observed_at, change, last)
        if raw_obj["kind"] == "Pod" and not str(raw_obj["apiVersion"]).rpartition("/")[0]:
            # The Pod's running digests, where they change (store.pod_digests).
            self._pods.written(
                rid,
                rev_id,
                obs.observed_at,
                content_of(normalized, change == "deleted"),
                first=last is None,
                after=last.observed_at if last is not None and not last.damaged else None,
            )
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
        kind = (str(raw_obj["apiVersion"]).rpartition("/")[0], str(raw_obj["kind"]), change)
        result.by_kind[kind] = result.by_kind.get(kind, 0) + 1

    def _update_lifetime(self, rid: int, at: str, change: str, last: _Last | None) -> None:
        """Keep resources.first_at/gone_at (see migration m004) true after a new revision.

        Only a creation, a deletion or a revision older than the latest moves them; the
        updates of a live object (nearly every revision) cost nothing here.
        """
        if last is not None and at < last.observed_at:  # late: the latest stays the latest
            self.conn.execute(
                "UPDATE resources SET first_at = CASE WHEN first_at IS NULL OR first_at > ? "
                "THEN ? ELSE first_at END WHERE id = ?",
                (at, at, rid),
            )
        elif change == "deleted":
            self.conn.execute(
                "UPDATE resources SET first_at = coalesce(first_at, ?), gone_at = ? WHERE id = ?",
                (at, at, rid),
            )
        elif last is None or last.gone:
            self.conn.execute(
                "UPDATE resources SET first_at = CASE WHEN first_at IS NULL OR first_at > ? "
                "THEN ? ELSE first_at END, gone_at = NULL WHERE id = ?",
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
            try:
                keyframe_raw = self._segments.keyframe_raw(keyframe_id, keyframe_blob)
                latest = seg.decode(body, seg.decompressor(keyframe_raw))[0][-1]
            except UNDECODABLE:
                # Damaged: taken as live with no known version, so a relist that still
                # shows it writes it again, and one that does not infers its deletion.
                out[ResourceKey(cluster, group, kind, ns, name)] = None
                continue
            if latest[seg.CHANGE] != "deleted":
                out[ResourceKey(cluster, group, kind, ns, name)] = latest[seg.RESOURCE_VERSION]
        return out

    def last_object(self, key: ResourceKey) -> dict[str, Any] | None:
        """The latest stored (normalized) object of a resource, for an inferred delete."""
        rid = self._known_resource_id(key)
        if rid is None:
            return None
        self._last.pop(rid, None)
        last = self._load_last(rid)
        if last is None:
            return None
        if last.damaged:
            return None
        entries, data = self._segments.decode(last.segment)
        raw = seg.body_at(data, entries, len(entries) - 1)
        obj = codec.loads(raw).get("object")
        return obj if isinstance(obj, dict) else None


def _damaged_last(segment: SegmentRow) -> _Last:
    """What the writer knows of an object whose latest segment is damaged: that it was
    live since the segment started, and nothing else. Its next revision is written as an
    update (never compared equal to anything, never late) into a new segment; `timetravel
    check` names the damaged one, and readers leave it out with one line (issue 20)."""
    return _Last(
        revision_id=0,
        observed_at=segment.first_at,
        resource_version=None,
        uid=None,
        content_hash=b"",
        spec_hash=b"",
        deleted=False,
        gone=False,
        segment=segment,
        manager_times={},
        damaged=True,
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
        "INSERT INTO observations (cluster, observed_at, kind, severity, reason, "
        "message, object_group, object_kind, object_namespace, object_name, first_at, last_at, "
        "count, dedupe_key) VALUES (?, ?, 'k8s-event', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (dedupe_key) DO NOTHING",
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

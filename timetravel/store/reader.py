"""Queries over recorded facts: state at a moment, changes in a window, gaps.

Every function takes a time as stored text (see ``domain.times.to_stored``) and returns
decoded records; callers never see SQL or blobs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import zstandard as zstd

from timetravel.domain.model import HappenedBetween, ResourceKey
from timetravel.domain.times import from_micros, to_micros
from timetravel.host import collector_paused
from timetravel.store import codec, dialect, write_marks
from timetravel.store import segments as seg
from timetravel.store.handle import StoreDB
from timetravel.store.records import (
    Damage,
    GapRecord,
    ObservationRecord,
    RevisionRecord,
    revision_record,
)

_IDENTITIES = 200_000
# Segments decoded by a window read that asked to keep them, for the revisions before its
# changes that a snapshot asks for next (most are in the same segments). At most this
# many (~12 KB each decoded), held until the next window read.
_WINDOW_SEGMENTS = 4096
_SEGMENT_COLUMNS = "s.id, s.resource_id, s.keyframe_id, s.body"

# The latest segment of each resource starting at or before :at, found with one index seek
# each: it holds the resource's latest revision at or before then (segments of a resource
# never overlap in time).
_LATEST_AT = (
    "s.id = (SELECT id FROM segments WHERE resource_id = res.id AND first_at <= :at "
    "ORDER BY first_at DESC, id DESC LIMIT 1)"
)
# The segments of a resource that start at or before a time, newest first.
_PREVIOUS = (
    f"SELECT {_SEGMENT_COLUMNS} FROM segments s WHERE s.resource_id = ? "
    "AND s.first_at <= ? ORDER BY s.first_at DESC, s.id DESC"
)
_RESOURCE_ID = (
    "SELECT id FROM resources WHERE cluster = :cluster AND api_group = :group "
    "AND kind = :kind AND namespace = :namespace AND name = :name"
)
# The same on PostgreSQL, as a lateral join: its planner would otherwise join the
# subquery's ids to every segment by hashing (reading the whole table, bodies and all);
# this is one backward scan of segments_by_resource_time per identity, the row read there.
_LATEST_AT_LATERAL = (
    "CROSS JOIN LATERAL (SELECT id, resource_id, keyframe_id, body FROM segments "
    "WHERE resource_id = res.id AND first_at <= :at ORDER BY first_at DESC, id DESC LIMIT 1) s"
)


# What decoding a damaged segment raises: zstd's checksum or format errors; entries that
# do not parse (orjson's errors are ValueErrors) or do not match the bodies; a keyframe
# missing or damaged itself. Such a segment is left out of the answer and listed by
# :meth:`Reader.damage` (issue #20): one damaged frame never hides the rest of a state.
_UNDECODABLE = (zstd.ZstdError, ValueError, TypeError, IndexError, KeyError)
# The segment after a damaged one: where the object's next readable versions start.
_NEXT_SEGMENT = (
    "SELECT first_at FROM segments WHERE resource_id = ? AND (first_at > ? OR "
    "(first_at = ? AND id > ?)) ORDER BY first_at, id LIMIT 1"
)


class _Segment:
    """One segment row, its entries decoded; its bodies decoded when first asked for."""

    __slots__ = ("_bodies", "data", "entries", "id", "keyframe_id", "resource_id")

    def __init__(self, row: Sequence[Any], entries: list[seg.Entry], data: memoryview) -> None:
        self.id, self.resource_id, self.keyframe_id, _ = row
        self.entries = entries
        self.data = data
        self._bodies: list[bytes] | None = None

    def find(self, revision_id: int) -> int | None:
        """The position of a revision in this segment; None when the segment lacks it (a
        database two writers damaged: see store.check)."""
        for index, entry in enumerate(self.entries):
            if entry[seg.ID] == revision_id:
                return index
        return None


class _Rows:
    """Rows already read, handed out as a cursor would."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchmany(self, size: int) -> list[Any]:
        chunk, self._rows = self._rows[:size], self._rows[size:]
        return chunk


class Reader:
    """Read access to one database; keeps a cache of decoded keyframes between calls."""

    def __init__(self, db: StoreDB, *, keyframe_cache: int = 16384) -> None:
        self.db = db
        self.conn = db.conn
        self._keyframes = codec.KeyframeCache(keyframe_cache)
        # A database written before m004 and opened read-only has no lifetimes: every
        # identity is then a candidate, as before.
        columns = dialect.columns(self.conn, "resources")
        self._lifetimes = "gone_at" in columns
        self._write_marks: bool | None = None  # whether it has revision_writers (m015)
        self._postgres = dialect.is_postgres(self.conn)
        self._identities: dict[int, tuple[ResourceKey, str]] = {}
        # The segment of each revision read lately: the revision before one is mostly in
        # the same segment (see previous_many).
        self._segment_of: dict[int, int] = {}
        self._window_segments: dict[int, _Segment] = {}
        # Damaged segments met: segment id -> (resource id, the count of damaged reads when
        # last met). ``damage_reads`` counts every damaged read, so a caller can tell
        # whether one call met damage (``damage(since=...)``).
        self._damaged: dict[int, tuple[int, int]] = {}
        self.damage_reads = 0
        self._damage_spans: dict[int, tuple[str, str]] = {}

    # -- damage -------------------------------------------------------------------------
    def _met_damage(self, segment_id: int, resource_id: int) -> None:
        self.damage_reads += 1
        self._damaged[int(segment_id)] = (int(resource_id), self.damage_reads)

    def damage(self, since: int = 0) -> list[Damage]:
        """The objects whose stored versions this reader could not decode (damaged bytes)
        and left out of its answers, one per object, by key: every one met, or those met
        after ``since`` (an earlier :attr:`damage_reads`)."""
        by_resource: dict[int, list[int]] = {}
        for segment_id, (resource_id, when) in self._damaged.items():
            if when > since:
                by_resource.setdefault(resource_id, []).append(segment_id)
        identities = self._identities_of(list(by_resource))
        out = []
        for resource_id, segment_ids in by_resource.items():
            if resource_id not in identities:
                continue  # its identity is gone too (pruned since): nothing to name
            spans = [self._damage_span(sid, resource_id) for sid in segment_ids]
            out.append(
                Damage(
                    identities[resource_id][0],
                    min(start for start, _ in spans),
                    max(end for _, end in spans),
                    tuple(sorted(segment_ids)),
                )
            )
        out.sort(key=lambda d: (d.key.cluster, d.key.namespace, d.key.kind, d.key.name))
        return out

    def _damage_span(self, segment_id: int, resource_id: int) -> tuple[str, str]:
        """The first and last times of a damaged segment's revisions: its start, and the
        newest index row naming it before the object's next segment (the time index is a
        table of its own, so damage in a segment's bytes leaves it readable)."""
        known = self._damage_spans.get(segment_id)
        if known is not None:
            return known
        row = self.conn.execute(
            "SELECT first_at FROM segments WHERE id = ?", (segment_id,)
        ).fetchone()
        start = str(row[0]) if row else from_micros(0)
        after = self.conn.execute(_NEXT_SEGMENT, (resource_id, start, start, segment_id)).fetchone()
        sql = "SELECT max(observed_us) FROM revisions WHERE observed_us >= ? AND segment_id = ?"
        params: list[Any] = [to_micros(start), segment_id]
        if after is not None:
            sql += " AND observed_us < ?"
            params.append(to_micros(str(after[0])))
        (last,) = self.conn.execute(sql, params).fetchone()
        span = (start, from_micros(int(last)) if last is not None else start)
        self._damage_spans[segment_id] = span
        return span

    # -- segments ---------------------------------------------------------------------
    def _segment(self, row: Sequence[Any]) -> _Segment | None:
        """The segment of a row, decoded; None when its bytes are damaged (noted for
        :meth:`damage`)."""
        keyframe_id = row[2]
        try:
            decompressor = self._keyframes.decompressor(keyframe_id, self._keyframe(keyframe_id))
            segment = _Segment(row, *seg.decode(row[3], decompressor))
            if sum(e[seg.SIZE] for e in segment.entries) != len(segment.data):
                raise ValueError("segment bodies and entries disagree")
        except _UNDECODABLE:
            self._met_damage(row[0], row[1])
            return None
        if len(self._segment_of) > _IDENTITIES:
            self._segment_of.clear()
        for entry in segment.entries:
            self._segment_of[entry[seg.ID]] = segment.id
        return segment

    def _bodies(self, segment: _Segment) -> list[bytes]:
        if segment._bodies is None:
            segment._bodies = seg.split(segment.data, segment.entries)
        return segment._bodies

    def _keyframe(self, keyframe_id: int) -> bytes:
        raw = self._keyframes.get(keyframe_id)
        if raw is None:
            row = self._blobs("SELECT body FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone()
            if row is None:
                raise ValueError(f"keyframe {keyframe_id} is missing")
            raw = self._keyframes.decompress_keyframe(row[0])
            self._keyframes.put(keyframe_id, raw)
        return raw

    def _cache_keyframes(self, keyframe_ids: set[int]) -> None:
        missing = [kid for kid in keyframe_ids if self._keyframes.get(kid) is None]
        for where, params in self._id_sets("id", missing):
            rows = self._blobs(f"SELECT id, body FROM keyframes WHERE {where}", params).fetchall()
            for kid, blob in rows:
                try:
                    self._keyframes.put(kid, self._keyframes.decompress_keyframe(blob))
                except zstd.ZstdError:
                    continue  # damaged: each segment compressed with it says so when read

    def _id_sets(self, column: str, ids: Sequence[int]) -> Iterator[tuple[str, list[Any]]]:
        """``column IN (...)`` for these ids, with its parameters: on SQLite in slices
        (its limit on parameters); on PostgreSQL all at once as one array (``= ANY(?)``),
        one statement its server plans once, whatever the count."""
        if not ids:
            return
        if self._postgres:
            yield f"{column} = ANY(?)", [list(ids)]
            return
        for chunk in _chunks(ids):
            yield f"{column} IN ({_marks(chunk)})", chunk

    def _blobs(self, sql: str, params: Any) -> Any:
        """Run a query whose rows carry blobs (segments, keyframes). PostgreSQL sends them
        in its binary format: bytea as it is, not as hex text to encode and decode (a
        state's 10,000 segment rows arrive in two thirds of the time)."""
        if self._postgres:
            return self.conn.execute(sql, params, binary=True)
        return self.conn.execute(sql, params)

    def _each(self, sql: str, params: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """The rows of one query (of blobs, as :meth:`_blobs`) for each of many parameter
        sets: on PostgreSQL sent together, one round trip for all of them."""
        if not params:
            return []
        if self._postgres:
            return list(self.conn.fetch_each(sql, params, binary=True))
        return [self.conn.execute(sql, p).fetchall() for p in params]

    def _segments(self, where: str, params: Any) -> list[_Segment]:
        rows = self._blobs(
            f"SELECT {_SEGMENT_COLUMNS} FROM segments s WHERE {where}", params
        ).fetchall()
        return self._segments_of(rows)

    def _segments_of(self, rows: Sequence[Any]) -> list[_Segment]:
        """The segments of these rows, decoded; the damaged ones left out (and noted)."""
        self._cache_keyframes({row[2] for row in rows})
        return [found for found in map(self._segment, rows) if found is not None]

    def _segments_by_id(self, segment_ids: Sequence[int]) -> dict[int, _Segment]:
        out = self._reusable(segment_ids)
        for where, params in self._id_sets("s.id", [i for i in segment_ids if i not in out]):
            for segment in self._segments(where, params):
                out[segment.id] = segment
        return out

    def _reusable(self, segment_ids: Sequence[int]) -> dict[int, _Segment]:
        """The segments of the last window read that are still as they were decoded: a
        writer changes a segment only by adding a revision to it, so its row's count
        tells (reading it skips the body and the decompression)."""
        kept = self._window_segments
        out: dict[int, _Segment] = {}
        for where, params in self._id_sets("id", [sid for sid in segment_ids if sid in kept]):
            rows = self.conn.execute(f"SELECT id, count FROM segments WHERE {where}", params)
            for sid, count in rows:
                if len(kept[sid].entries) == count:
                    out[sid] = kept[sid]
        return out

    def _record(self, segment: _Segment, index: int, with_body: bool = True) -> RevisionRecord:
        identity = self._identities_of([segment.resource_id])[segment.resource_id]
        body = self._bodies(segment)[index] if with_body else None
        return _from_entry(segment.entries[index], segment.resource_id, identity, body)

    def _identities_of(self, resource_ids: Sequence[int]) -> dict[int, tuple[ResourceKey, str]]:
        known = self._identities
        missing = [rid for rid in set(resource_ids) if rid not in known]
        if not missing:
            return known
        if len(known) + len(missing) > _IDENTITIES:
            known.clear()
            missing = list(set(resource_ids))
        for where, params in self._id_sets("id", missing):
            rows = self.conn.execute(
                "SELECT id, cluster, api_group, kind, namespace, name, api_version "
                f"FROM resources WHERE {where}",
                params,
            ).fetchall()
            for rid, cluster, group, kind, namespace, name, api_version in rows:
                known[rid] = (ResourceKey(cluster, group, kind, namespace, name), api_version)
        return known

    # -- states -----------------------------------------------------------------------
    def state_at(
        self,
        at: str,
        *,
        cluster: str | None = None,
        namespace: str | None = None,
        include_deleted: bool = False,
        kind: tuple[str, str] | None = None,
    ) -> list[RevisionRecord]:
        """Every resource live at ``at``: its latest revision at or before then.
        ``kind``: (API group, kind) of the only resources wanted."""
        filters = []
        params: dict[str, Any] = {"at": at}
        if self._lifetimes:
            # Identities born after ``at`` or gone before it need no seek (see m004).
            filters.append("res.first_at <= :at")
            if not include_deleted:
                filters.append("(res.gone_at IS NULL OR res.gone_at > :at)")
        if cluster is not None:
            filters.append("res.cluster = :cluster")
            params["cluster"] = cluster
        if namespace is not None:
            filters.append("res.namespace = :namespace")
            params["namespace"] = namespace
        if kind is not None:
            filters.append("res.api_group = :api_group AND res.kind = :kind")
            params["api_group"], params["kind"] = kind
        tail = ("WHERE " + " AND ".join(filters)) if filters else ""
        latest = _LATEST_AT_LATERAL if self._postgres else f"JOIN segments s ON {_LATEST_AT}"
        sql = f"SELECT {_SEGMENT_COLUMNS} FROM resources res {latest} {tail}"
        rows = self._blobs(sql, params).fetchall()
        records = [r for r in self._latest_of(rows, at) if include_deleted or r.change != "deleted"]
        # Sorted here, not by SQL: its sorter would copy every body blob once more.
        records.sort(key=lambda r: (r.key.namespace, r.key.kind, r.key.name, r.key.cluster))
        return records

    def alive_around(
        self, at: str, *, cluster: str | None = None
    ) -> list[tuple[int, ResourceKey]] | None:
        """The resources :meth:`state_at` would seek at ``at``, as (id, key), in the resource
        list's order (namespace, kind, name, cluster): born by then and not gone before
        (``resources``' lifetimes, m004), nothing decoded, sorted by the database. A
        superset of the live ones: an object deleted and made again keeps its identity, and
        between the two it is listed here though not live. None where the store has no
        lifetimes (written before m004, opened read-only)."""
        if not self._lifetimes:
            return None
        # Byte order on both engines, which is Python's order of the same text (UTF-8
        # keeps code point order); PostgreSQL would otherwise sort by its locale.
        c = ' COLLATE "C"' if self._postgres else ""
        sql = (
            "SELECT id, cluster, api_group, kind, namespace, name, api_version FROM resources "
            "WHERE first_at <= ? AND (gone_at IS NULL OR gone_at > ?)"
        )
        params: list[Any] = [at, at]
        if cluster is not None:
            # On SQLite ``+cluster``: no index by it, or its planner seeks by the cluster
            # and sorts (1.1 s at 100,000 objects) where the list-order index (m014)
            # scans in order (0.26 s).
            sql += " AND cluster = ?" if self._postgres else " AND +cluster = ?"
            params.append(cluster)
        sql += f" ORDER BY namespace{c}, kind{c}, name{c}, cluster{c}"
        rows = self.conn.execute(sql, params).fetchall()
        known = self._identities
        if len(known) + len(rows) > _IDENTITIES:
            known.clear()
        out = []
        for rid, cluster_name, group, kind, namespace, name, api_version in rows:
            hit = known.get(rid)
            if hit is None:
                key = ResourceKey(cluster_name, group, kind, namespace, name)
                hit = known[rid] = (key, api_version)
            out.append((int(rid), hit[0]))
        return out

    def states_of(self, resource_ids: Sequence[int], at: str) -> dict[int, RevisionRecord]:
        """The latest revision at or before ``at`` of each of these resources (deletions
        included), by resource id: :meth:`state_at` for a few resources, the same seek
        per resource. A resource without one is absent, and so is one whose segment is
        damaged (noted for :meth:`damage`, as a state leaves it out)."""
        out: dict[int, RevisionRecord] = {}
        ids = sorted(set(resource_ids))
        # The seek of state_at, with the time as the first parameter and the ids after it.
        latest = (
            _LATEST_AT_LATERAL if self._postgres else f"JOIN segments s ON {_LATEST_AT}"
        ).replace(":at", "?")
        for where, params in self._id_sets("res.id", ids):
            sql = f"SELECT {_SEGMENT_COLUMNS} FROM resources res {latest} WHERE {where}"
            rows = self._blobs(sql, [at, *params]).fetchall()
            for record in self._latest_of(rows, at):
                out[record.resource_id] = record
        return out

    def touched_between(
        self, start: str, end: str, *, cluster: str | None = None, limit: int | None = None
    ) -> list[int] | None:
        """The resources with a revision observed in (start, end], by id, each once: read
        along the time index, nothing decoded. None when more than ``limit`` revisions lie
        there (the caller reads the state in full instead). ``cluster``: that cluster's
        only (None: every cluster's)."""
        sql = (
            "SELECT s.resource_id FROM revisions rv JOIN segments s ON s.id = rv.segment_id "
            "WHERE rv.observed_us > ? AND rv.observed_us <= ?"
        )
        params: list[Any] = [to_micros(start), to_micros(end)]
        if cluster is not None:
            sql = sql.replace(
                "WHERE", "JOIN resources res ON res.id = s.resource_id WHERE res.cluster = ? AND"
            )
            params.insert(0, cluster)
        if limit is not None:
            sql += f" LIMIT {int(limit) + 1}"
        rows = self.conn.execute(sql, params).fetchall()
        if limit is not None and len(rows) > limit:
            return None
        return list(dict.fromkeys(int(row[0]) for row in rows))

    def write_marks(self) -> write_marks.Marks | None:
        """What each writer has written (store.write_marks): read twice, they tell what the
        writes between can have changed. None where the store has no such record (written
        before m015, opened read-only)."""
        if self._write_marks is None:
            self._write_marks = dialect.has_table(self.conn, "revision_writers")
        if not self._write_marks:
            return None
        return write_marks.read(self.conn)

    def keys_of(self, resource_ids: Sequence[int]) -> dict[int, ResourceKey]:
        """The key of each of these resources, by id (those whose identity is gone left out)."""
        known = self._identities_of(resource_ids)
        return {rid: known[rid][0] for rid in resource_ids if rid in known}

    def _latest_of(self, rows: Sequence[Any], at: str) -> list[RevisionRecord]:
        """The latest revision at or before ``at`` in each segment row (a resource's latest
        segment then), decoded; a damaged segment is left out and noted."""
        # Thousands of records are alive at once and hold no reference cycles: collection
        # passes over them would only cost time.
        with collector_paused():
            identities = self._identities_of([row[1] for row in rows])
            self._cache_keyframes({row[2] for row in rows})
            records = []
            cache = self._keyframes
            for row in rows:
                keyframe_id = row[2]
                try:
                    decompressor = cache.decompressor(
                        keyframe_id, cache.get(keyframe_id) or self._keyframe(keyframe_id)
                    )
                    found = seg.decode_at(row[3], decompressor, at)
                except _UNDECODABLE:
                    # Its state at ``at`` is unknown: left out, and said (see damage()).
                    self._met_damage(row[0], row[1])
                    continue
                if found is None:  # not possible: the segment starts at or before ``at``
                    continue
                e, body = found
                records.append(_from_entry(e, row[1], identities[row[1]], body))
        return records

    def object_at(self, key: ResourceKey, at: str) -> RevisionRecord | None:
        """The latest revision of one resource at or before ``at`` (deleted ones included)."""
        # The identity and the seek in one statement: one round trip to a server.
        found = self._segments(
            f"s.resource_id = ({_RESOURCE_ID}) AND s.first_at <= :at "
            "ORDER BY s.first_at DESC, s.id DESC LIMIT 1",
            {**_key_params(key), "at": at},
        )
        if not found:
            return None
        return self._record(found[0], seg.latest_at(found[0].entries, at))

    # -- changes ----------------------------------------------------------------------
    def changes_between(
        self,
        start: str,
        end: str,
        *,
        with_body: bool = True,
        limit: int | None = None,
        keep_segments: bool = False,
        cluster: str | None = None,
    ) -> list[RevisionRecord]:
        """Revisions observed in [start, end], oldest first. ``keep_segments``: keep their
        decoded segments for :meth:`previous_many` (a snapshot's next read). ``cluster``:
        only that cluster's (None: every cluster's, without the join that costs)."""
        params: list[Any] = [to_micros(start), to_micros(end)]
        if cluster is None:
            sql = (
                "SELECT id, segment_id FROM revisions WHERE observed_us >= ? "
                "AND observed_us <= ? ORDER BY observed_us, id"
            )
        else:
            # Along the time index still; each row's resource is one lookup away.
            sql = (
                "SELECT rv.id, rv.segment_id FROM revisions rv "
                "JOIN segments s ON s.id = rv.segment_id "
                "JOIN resources res ON res.id = s.resource_id "
                "WHERE rv.observed_us >= ? AND rv.observed_us <= ? AND res.cluster = ? "
                "ORDER BY rv.observed_us, rv.id"
            )
            params.append(cluster)
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        wanted = self.conn.execute(sql, params).fetchall()
        with collector_paused():
            segments = self._segments_by_id(list({segment_id for _, segment_id in wanted}))
            keep = keep_segments and len(segments) <= _WINDOW_SEGMENTS
            self._window_segments = segments if keep else {}
            self._identities_of([s.resource_id for s in segments.values()])
            out = []
            for rev_id, segment_id in wanted:
                segment = segments.get(segment_id)
                index = segment.find(rev_id) if segment is not None else None
                if segment is not None and index is not None:
                    out.append(self._record(segment, index, with_body))
                # else a damaged database: the row names a revision not held (store.check)
            return out

    def resource_ids_of_kinds(self, kinds: Sequence[tuple[str, str]]) -> list[int]:
        """Ids of every resource of these (group, kind) pairs."""
        pairs = sorted(set(kinds))
        if not pairs:
            return []
        # A seek of the identities' index (cluster, api_group, kind, ...) per cluster and
        # kind: by (api_group, kind) alone it is a scan of every identity ever recorded
        # (13 ms at 100,000 of them, on every news a screen is told).
        out: list[int] = []
        for group, kind in pairs:
            rows = self.conn.execute(
                # CROSS JOIN: SQLite's planner then loops over the clusters (its hint).
                "SELECT r.id FROM clusters c CROSS JOIN resources r "
                "WHERE r.cluster = c.name AND r.api_group = ? AND r.kind = ?",
                (group, kind),
            )
            out += (int(rid) for (rid,) in rows)
        return out

    def revisions_of(
        self, resource_ids: Sequence[int], start: str, end: str
    ) -> list[RevisionRecord]:
        """Revisions of these resources observed in [start, end], oldest first."""
        out: list[RevisionRecord] = []
        ids = list(resource_ids)
        select = f"SELECT {_SEGMENT_COLUMNS} FROM segments s WHERE "
        # The segment that starts before the window may hold revisions inside it.
        before = self._each(
            select + "s.resource_id = ? AND s.first_at < ? "
            "ORDER BY s.first_at DESC, s.id DESC LIMIT 1",
            [(rid, start) for rid in ids],
        )
        inside = self._each(
            select + "s.resource_id = ? AND s.first_at >= ? AND s.first_at <= ? "
            "ORDER BY s.first_at, s.id",
            [(rid, start, end) for rid in ids],
        )
        for rows in zip(before, inside, strict=True):
            for segment in self._segments_of([*rows[0], *rows[1]]):
                out.extend(
                    self._record(segment, index)
                    for index, e in enumerate(segment.entries)
                    if start <= e[seg.OBSERVED_AT] <= end
                )
        out.sort(key=lambda r: (r.observed_at, r.id))
        return out

    def previous(self, record: RevisionRecord) -> RevisionRecord | None:
        """The revision of the same resource just before ``record``."""
        return self._previous(record.resource_id, record.observed_at, record.id, None)

    def _previous(
        self,
        resource_id: int,
        at: str,
        revision_id: int,
        segment: _Segment | None,
        newest: list[Any] | None = None,
    ) -> RevisionRecord | None:
        here = (at, revision_id)
        if segment is not None:
            index = segment.find(revision_id)
            if index is not None and index > 0:
                return self._record(segment, index - 1)
        # Newest segment first: the first that has a revision before this one has the one
        # just before it (segments of a resource follow each other in time). Nearly always
        # one of the newest two: those are read first (``newest``, when the caller read
        # them), the rest only when they are not (a server would send every segment of the
        # resource at once).
        seen: set[int] = set()
        for tail in (" LIMIT 2", ""):
            if tail and newest is not None:
                rows: Any = _Rows(newest)
            else:
                rows = self._blobs(_PREVIOUS + tail, (resource_id, at))
            while chunk := rows.fetchmany(4):
                for row in chunk:
                    if row[0] in seen:
                        continue
                    seen.add(row[0])
                    found = self._segment(row)
                    if found is None:
                        # Damaged: the revision just before may be in it. Unknown, not an
                        # older one shown as the one before (its diff would be wrong).
                        return None
                    before = [i for i, e in enumerate(found.entries) if seg.order(e) < here]
                    if before:
                        return self._record(found, before[-1])
            if len(seen) < 2:
                break  # the first read had every segment there is
        return None

    def previous_many(self, records: Sequence[RevisionRecord]) -> dict[int, RevisionRecord | None]:
        """The revision just before each record (as :meth:`previous`), by record id; most
        are in the same segment as the record, decoded once for all of its records."""
        out: dict[int, RevisionRecord | None] = {}
        segment_ids = {self._segment_of.get(r.id) for r in records} - {None}
        with collector_paused():
            segments = self._segments_by_id([sid for sid in segment_ids if sid is not None])
            elsewhere = []  # first in their segment: the one before is in another
            for r in records:
                segment = segments.get(self._segment_of.get(r.id, -1))
                index = segment.find(r.id) if segment is not None else None
                if segment is not None and index is not None and index > 0:
                    out[r.id] = self._record(segment, index - 1)
                else:
                    elsewhere.append(r)
            # The newest two segments of each, asked for all at once.
            newest = self._each(
                _PREVIOUS + " LIMIT 2", [(r.resource_id, r.observed_at) for r in elsewhere]
            )
            for r, rows in zip(elsewhere, newest, strict=True):
                out[r.id] = self._previous(r.resource_id, r.observed_at, r.id, None, rows)
        return out

    def history(
        self, resource_id: int, *, until: str | None = None, with_body: bool = True
    ) -> list[RevisionRecord]:
        """Every revision of one resource (up to ``until``), newest first."""
        where = "s.resource_id = ?"
        params: list[Any] = [resource_id]
        if until is not None:
            where += " AND s.first_at <= ?"
            params.append(until)
        out: list[RevisionRecord] = []
        for segment in self._segments(where + " ORDER BY s.first_at DESC, s.id DESC", params):
            for index in range(len(segment.entries) - 1, -1, -1):
                if until is None or segment.entries[index][seg.OBSERVED_AT] <= until:
                    out.append(self._record(segment, index, with_body))
        return out

    def gaps_between(self, start: str, end: str, *, cluster: str | None = None) -> list[GapRecord]:
        """Gaps overlapping [start, end]; ``cluster``: that cluster's and those of no
        cluster (a repository's), None: all."""
        sql = (
            "SELECT id, cluster, source, started_at, ended_at, reason FROM gaps "
            "WHERE started_at <= ? AND ended_at >= ?"
        )
        params: list[Any] = [end, start]
        if cluster is not None:
            sql += " AND (cluster = ? OR cluster IS NULL)"
            params.append(cluster)
        rows = self.conn.execute(sql + " ORDER BY started_at", params)
        return [GapRecord(*row) for row in rows]

    def observations_between(
        self, start: str, end: str, *, cluster: str | None = None
    ) -> list[ObservationRecord]:
        """Warning events and the like observed in [start, end], oldest first (``cluster``:
        only that cluster's)."""
        sql = (
            "SELECT observed_at, cluster, kind, severity, reason, message, object_kind, "
            "object_namespace, object_name, count FROM observations "
            "WHERE observed_at >= ? AND observed_at <= ?"
        )
        params: list[Any] = [start, end]
        if cluster is not None:
            sql += " AND cluster = ?"
            params.append(cluster)
        rows = self.conn.execute(sql + " ORDER BY observed_at, id", params)
        return [ObservationRecord(*row) for row in rows]

    def clusters(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT name, server FROM clusters ORDER BY name")
        return [{"name": name, **({"server": server} if server else {})} for name, server in rows]

    def time_range(self) -> tuple[str | None, str | None]:
        """The first and last observation times in the store."""
        # Two subqueries: each is one end of the time index (min and max in one SELECT
        # scan the table).
        row = self.conn.execute(
            "SELECT (SELECT min(observed_us) FROM revisions), "
            "(SELECT max(observed_us) FROM revisions)"
        )
        first, last = row.fetchone()
        return (
            None if first is None else from_micros(first),
            None if last is None else from_micros(last),
        )


def _from_entry(
    e: seg.Entry, resource_id: int, identity: tuple[ResourceKey, str], body: bytes | None
) -> RevisionRecord:
    return revision_record(
        e[seg.ID],
        resource_id,
        identity[0],
        identity[1],
        e[seg.OBSERVED_AT],
        e[seg.CHANGE],
        e[seg.RESOURCE_VERSION],
        e[seg.UID],
        bool(e[seg.INFERRED]),
        bool(e[seg.STATUS_ONLY]),
        e[seg.SOURCE],
        e[seg.SERVER_TIME],
        e[seg.MANAGERS],
        body,
        # Only entries of changes not seen live have it (see seg.BETWEEN).
        HappenedBetween(*e[seg.BETWEEN]) if len(e) > seg.BETWEEN and e[seg.BETWEEN] else None,
    )


def _marks(values: Sequence[int]) -> str:
    """The parameter marks of ``IN (...)`` for these values."""
    return ",".join("?" * len(values))


def _chunks(values: Sequence[int], size: int = 900) -> Iterator[list[int]]:
    """Slices small enough for SQLite's limit on parameters of older builds (999)."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _key_params(key: ResourceKey) -> dict[str, Any]:
    return {
        "cluster": key.cluster,
        "group": key.group,
        "kind": key.kind,
        "namespace": key.namespace,
        "name": key.name,
    }

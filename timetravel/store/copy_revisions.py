"""Copying revisions between stores (store.copy): along the source's time index, into the
target's segments, with the target's ids (the module docstring of store.copy says how)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import zstandard as zstd

from timetravel.domain.times import to_micros
from timetravel.errors import UserError
from timetravel.store import codec, dialect, pod_digests, write_marks
from timetravel.store import segments as seg
from timetravel.store.copy_parts import CopyReport, Scope, StartProgress, chunks, many, marks, meta
from timetravel.store.handle import StoreDB
from timetravel.store.writer import ID_BLOCK

# Revisions a batch reads (one target transaction; more when one instant holds more). A
# segment is encoded again in each batch that adds to it: batches of 10,000 copy 100,000
# revisions of 10,893 objects (file to file) in 12 s and 204 MB, of 2,000 in 34 s, of
# 30,000 in 12.5 s and 322 MB (bench's state store at 100,000 revisions, 2 vCPU).
BATCH = 10_000
ROWS = 1000  # resources a read of the bases of ``since`` takes at once
_SOURCE_SEGMENTS = 4096  # decoded source segments kept (~10 KB each)
_CODECS = 48  # zstd contexts of target keyframes (see store.appender)
_KEYFRAMES = 16384  # compressed source keyframes kept (~1 KB each)
# Source keyframe id -> its copy's in the target (~100 B each: a keyframe is copied once).
_KEYFRAME_IDS = 1_000_000
_OBJECTS = 100_000  # objects whose target id and latest segment are remembered
_SEGMENT_COLUMNS = "s.id, s.first_at, s.keyframe_id, s.body, k.body"
# What a batch writes at its end, in this order (each row's references before it).
_WRITES = {
    "resources": "INSERT INTO resources (id, cluster, api_group, api_version, kind, namespace, "
    "name) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "keyframes": "INSERT INTO keyframes (id, body) VALUES (?, ?)",
    "segments": "INSERT INTO segments (id, resource_id, first_at, count, keyframe_id, body) "
    "VALUES (?, ?, ?, ?, ?, ?)",
    "segment_bodies": "UPDATE segments SET count = ?, body = ? WHERE id = ?",
    "revisions": "INSERT INTO revisions (observed_us, id, segment_id) VALUES (?, ?, ?)",
    # first_at the earliest revision, gone_at set while the latest is a deletion (m004);
    # revisions that came late (flag 0) leave gone_at as it is.
    "lifetimes": "UPDATE resources SET first_at = CASE WHEN first_at IS NULL OR first_at > ? "
    "THEN ? ELSE first_at END, gone_at = CASE WHEN ? = 1 THEN ? ELSE gone_at END WHERE id = ?",
}
_IDENTITIES = 150  # resources looked up at once (5 parameters each: under SQLite's old 999)


@dataclass
class _SourceSegment:
    id: int
    resource_id: int
    keyframe_id: int
    keyframe_blob: bytes
    entries: list[seg.Entry]
    bodies: list[bytes]
    index: dict[int, int]  # revision id -> position


@dataclass
class _Revision:
    """A source revision on its way: its entry, with the target id once it has one."""

    us: int  # observed_at in microseconds, as the time index has it
    entry: seg.Entry
    body: bytes
    source: _SourceSegment
    target_resource: int = 0

    @property
    def at(self) -> str:
        return str(self.entry[seg.OBSERVED_AT])

    def key(self) -> tuple[int, str, str | None, str]:
        e = self.entry
        return (self.target_resource, e[seg.OBSERVED_AT], e[seg.RESOURCE_VERSION], e[seg.CHANGE])


@dataclass
class _Tail:
    """The latest segment of a target object."""

    id: int
    first_at: str
    keyframe_id: int
    keyframe_blob: bytes
    body: bytes
    count: int
    last_at: str
    origin: int | None  # the source segment it continues in this run; None: found there


class _Ids:
    """Revision ids of the target, taken as its writer takes them (store.writer)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.postgres = dialect.is_postgres(conn)
        self.next = 0
        self.end = 0

    def begin(self) -> None:
        if self.postgres:
            return
        # The no-op update takes the write lock first, as the writer does.
        self.conn.execute("UPDATE meta SET value = value WHERE key = 'next_revision_id'")
        value = meta(self.conn, "next_revision_id")
        if value is None:
            self.conn.execute("INSERT INTO meta (key, value) VALUES ('next_revision_id', '1')")
        self.next = int(value or 1)

    def take(self) -> int:
        if self.postgres and self.next >= self.end:
            row = self.conn.execute("SELECT nextval('revision_ids')").fetchone()
            self.next, self.end = int(row[0]), int(row[0]) + ID_BLOCK
        taken = self.next
        self.next += 1
        return taken

    def finish(self) -> None:
        if not self.postgres:
            self.conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'next_revision_id'", (str(self.next),)
            )


class _RowIds:
    """Ids for new rows of a table keyed by an identity ``id``, taken before the rows are
    written so that a batch's rows go in one ``executemany``: into PostgreSQL a row written
    alone with ``RETURNING id`` costs a round trip, more than everything else about it."""

    def __init__(self, conn: Any, table: str) -> None:
        self.conn = conn
        self.table = table
        self.postgres = dialect.is_postgres(conn)
        self.next = 0
        self.free: list[int] = []  # PostgreSQL: taken from the sequence, not used yet

    def begin(self) -> None:
        """At the start of a batch's transaction (SQLite: after it took the write lock)."""
        if not self.postgres:
            row = self.conn.execute(f"SELECT coalesce(max(id), 0) FROM {self.table}").fetchone()
            self.next = int(row[0]) + 1

    def take(self) -> int:
        if not self.postgres:
            self.next += 1
            return self.next - 1
        if not self.free:
            rows = self.conn.execute(
                "SELECT nextval(CAST(pg_get_serial_sequence(?, 'id') AS regclass)) "
                "FROM generate_series(1, 500)",
                (self.table,),
            ).fetchall()
            self.free = sorted((int(r[0]) for r in rows), reverse=True)
        return self.free.pop()


class RevisionCopy:
    """Copies revisions (and the resources, segments and keyframes they need)."""

    def __init__(
        self, source: StoreDB, target: StoreDB, scope: Scope, report: CopyReport, batch: int
    ) -> None:
        self.src = source.conn
        self.dst = target.conn
        self.scope = scope
        self.report = report
        self.batch = batch
        self.ids = _Ids(self.dst)
        self._source_keyframes = codec.KeyframeCache(4096)
        self._target_keyframes = codec.KeyframeCache(4096)
        self._segments: OrderedDict[int, _SourceSegment] = OrderedDict()
        self._source_blobs: OrderedDict[int, bytes] = OrderedDict()  # keyframes
        self._resources: dict[int, int] = {}  # source resource id -> target's
        self._tails: OrderedDict[int, _Tail | None] = OrderedDict()  # by target resource
        self._keyframes: dict[int, int] = {}  # source keyframe id -> its copy's
        self._codecs: OrderedDict[int, tuple[zstd.ZstdCompressor, zstd.ZstdDecompressor]] = (
            OrderedDict()
        )
        self._touched: set[int] = set()
        self._row_ids = {t: _RowIds(self.dst, t) for t in ("resources", "keyframes", "segments")}
        # The batch's new rows, by table, written together at its end (see _RowIds).
        self._rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _WRITES}
        # The target's Pods' running digests (store.pod_digests), kept as the writer keeps
        # them; the Pods a batch gave a revision older than their latest are laid out again.
        self._pods = pod_digests.PodDigests(self.dst)
        self._relaid: set[int] = set()

    # -- the plan ------------------------------------------------------------------------
    def _cluster_filter(self) -> tuple[str, list[Any]]:
        if self.scope.cluster is None:
            return "", []
        return (
            " AND rv.segment_id IN (SELECT s.id FROM segments s JOIN resources res "
            "ON res.id = s.resource_id WHERE res.cluster = ?)",
            [self.scope.cluster],
        )

    def run(self, progress: StartProgress) -> None:
        since_us = to_micros(self.scope.since) if self.scope.since else None
        bases = self._bases() if self.scope.since else []
        where, params = self._cluster_filter()
        total = self.src.execute(
            f"SELECT count(*) FROM revisions rv WHERE rv.observed_us >= ?{where}",
            [since_us if since_us is not None else -(2**62), *params],
        ).fetchone()[0]
        tally = progress("copying revisions", int(total) + len(bases), "revisions")
        try:
            for start in range(0, len(bases), self.batch):
                chunk = bases[start : start + self.batch]
                self._copy(chunk)
                tally.advance(len(chunk))
            for items in self._along_time(since_us, where, params):
                self._copy(items)
                tally.advance(len(items))
        except BaseException:
            self._forget()
            raise
        finally:
            tally.close()
        self.report.objects = len(self._touched)

    def _along_time(
        self, since_us: int | None, where: str, params: list[Any]
    ) -> Iterator[list[tuple[int, int, int]]]:
        """(observed_us, id, segment_id) of the source's revisions, in time order, in
        batches that never split an instant."""
        low = since_us if since_us is not None else -(2**62)
        sql = (
            f"SELECT rv.observed_us, rv.id, rv.segment_id FROM revisions rv "
            f"WHERE rv.observed_us >= ?{where} ORDER BY rv.observed_us, rv.id LIMIT ?"
        )
        while True:
            rows = _triples(self.src.execute(sql, [low, *params, self.batch]))
            if not rows:
                return
            last = rows[-1][0]
            if len(rows) == self.batch:
                whole = [r for r in rows if r[0] != last]
                if whole:
                    rows, last = whole, whole[-1][0]
                else:  # one instant holds a whole batch: take all of it
                    rows = _triples(
                        self.src.execute(
                            f"SELECT rv.observed_us, rv.id, rv.segment_id FROM revisions rv "
                            f"WHERE rv.observed_us = ?{where} ORDER BY rv.id",
                            [last, *params],
                        )
                    )
            yield rows
            low = last + 1

    def _bases(self) -> list[tuple[int, int, int]]:
        """Each object's latest revision before ``since``, when it was live then or changes
        after: the state at ``since`` and the change before each later one."""
        since = self.scope.since
        assert since is not None
        out: list[tuple[int, int, int]] = []
        filters = " AND res.cluster = ?" if self.scope.cluster is not None else ""
        extra = [self.scope.cluster] if self.scope.cluster is not None else []
        after = 0
        while True:
            rows = self.src.execute(
                "SELECT res.id, s.id, s.keyframe_id, s.body, EXISTS (SELECT 1 FROM segments "
                "WHERE resource_id = res.id AND first_at >= ?) FROM resources res "
                "JOIN segments s ON s.id = (SELECT id FROM segments WHERE resource_id = res.id "
                "AND first_at < ? ORDER BY first_at DESC, id DESC LIMIT 1) "
                f"WHERE res.id > ?{filters} ORDER BY res.id LIMIT ?",
                [since, since, after, *extra, ROWS],
            ).fetchall()
            if not rows:
                break
            for _, segment_id, keyframe_id, body, later in rows:
                entries, _ = seg.decode(body, self._source_decompressor(keyframe_id))
                before = [e for e in entries if e[seg.OBSERVED_AT] < since]
                if not before:
                    continue
                base = before[-1]
                changes_after = bool(later) or len(before) < len(entries)
                if base[seg.CHANGE] != "deleted" or changes_after:
                    out.append((to_micros(base[seg.OBSERVED_AT]), base[seg.ID], segment_id))
            after = rows[-1][0]
        out.sort()
        return out

    # -- reading the source --------------------------------------------------------------
    def _source_decompressor(self, keyframe_id: int) -> zstd.ZstdDecompressor:
        cache = self._source_keyframes
        raw = cache.get(keyframe_id)
        if raw is None:
            raw = cache.decompress_keyframe(self._source_keyframe_blob(keyframe_id))
            cache.put(keyframe_id, raw)
        return cache.decompressor(keyframe_id, raw)

    def _source_keyframe_blob(self, keyframe_id: int) -> bytes:
        blob = self._source_blobs.get(keyframe_id)
        if blob is not None:
            self._source_blobs.move_to_end(keyframe_id)
            return blob
        row = self.src.execute("SELECT body FROM keyframes WHERE id = ?", (keyframe_id,)).fetchone()
        if row is None:
            raise UserError(
                f"the source's keyframe {keyframe_id} is missing: run `timetravel check`"
            )
        blob = self._source_blobs[keyframe_id] = bytes(row[0])
        while len(self._source_blobs) > _KEYFRAMES:
            self._source_blobs.popitem(last=False)
        return blob

    def _load_segments(self, segment_ids: Sequence[int]) -> None:
        for chunk in chunks(list(segment_ids)):
            rows = self.src.execute(
                "SELECT id, resource_id, keyframe_id, body FROM segments "
                f"WHERE id IN ({marks(chunk)})",
                chunk,
            ).fetchall()
            for sid, rid, keyframe_id, body in rows:
                entries, data = seg.decode(body, self._source_decompressor(keyframe_id))
                self._segments[sid] = _SourceSegment(
                    sid,
                    rid,
                    keyframe_id,
                    self._source_keyframe_blob(keyframe_id),
                    entries,
                    seg.split(data, entries),
                    {e[seg.ID]: i for i, e in enumerate(entries)},
                )
                self._segments.move_to_end(sid)

    def _read(self, items: Sequence[tuple[int, int, int]]) -> list[_Revision]:
        wanted = {sid for _, _, sid in items}
        for sid in wanted & self._segments.keys():
            self._segments.move_to_end(sid)
        self._load_segments([sid for sid in wanted if sid not in self._segments])
        # A cached segment a recorder has added to since: read again once.
        stale = {
            sid
            for _, rev_id, sid in items
            if sid in self._segments and rev_id not in self._segments[sid].index
        }
        self._load_segments(sorted(stale))
        out = []
        for us, rev_id, sid in items:
            segment = self._segments.get(sid)
            position = segment.index.get(rev_id) if segment is not None else None
            if segment is None or position is None:
                self.report.unreadable += 1
                continue
            entry, body = segment.entries[position], segment.bodies[position]
            out.append(_Revision(us, entry, body, segment))
        # Trimmed only now: every segment of the batch stays until its revisions are out.
        while len(self._segments) > max(_SOURCE_SEGMENTS, len(wanted)):
            self._segments.popitem(last=False)
        return out

    # -- the target's objects ------------------------------------------------------------
    def _target_resources(self, source_ids: set[int]) -> set[int]:
        """Map source resources to the target's, made where missing; the ids made now."""
        made: set[int] = set()
        missing = sorted(rid for rid in source_ids if rid not in self._resources)
        if len(self._resources) + len(missing) > _OBJECTS:
            self._resources.clear()
            missing = sorted(source_ids)
        for chunk in chunks(missing, _IDENTITIES):
            rows = self.src.execute(
                "SELECT id, cluster, api_group, kind, namespace, name, api_version "
                f"FROM resources WHERE id IN ({marks(chunk)})",
                chunk,
            ).fetchall()
            if not rows:
                continue
            values = ",".join("(?, ?, ?, ?, ?)" for _ in rows)
            held = {
                tuple(r[1:]): int(r[0])
                for r in self.dst.execute(
                    "SELECT id, cluster, api_group, kind, namespace, name FROM resources "
                    f"WHERE (cluster, api_group, kind, namespace, name) IN (VALUES {values})",
                    [value for r in rows for value in r[1:6]],
                ).fetchall()
            }
            for rid, *identity, api_version in rows:
                found = held.get(tuple(identity))
                if found is None:
                    found = self._row_ids["resources"].take()
                    cluster, group, kind, namespace, name = identity
                    self._rows["resources"].append(
                        (found, cluster, group, api_version, kind, namespace, name)
                    )
                    self._tails[found] = None
                    made.add(found)
                self._resources[rid] = found
        return made

    def _present(self, revisions: list[_Revision], made: set[int]) -> set[tuple[Any, ...]]:
        """The natural keys of the batch's revisions the target holds already."""
        resources = {r.target_resource for r in revisions} - made
        if not resources:
            return set()
        instants = sorted({r.us for r in revisions if r.target_resource in resources})
        segment_ids: set[int] = set()
        for chunk in chunks(instants):
            rows = self.dst.execute(
                "SELECT s.id, s.resource_id FROM revisions rv JOIN segments s "
                f"ON s.id = rv.segment_id WHERE rv.observed_us IN ({marks(chunk)})",
                chunk,
            ).fetchall()
            segment_ids.update(int(sid) for sid, rid in rows if rid in resources)
        keys: set[tuple[Any, ...]] = set()
        for chunk in chunks(sorted(segment_ids)):
            rows = self.dst.execute(
                f"SELECT s.resource_id, {_SEGMENT_COLUMNS} FROM segments s JOIN keyframes k "
                f"ON k.id = s.keyframe_id WHERE s.id IN ({marks(chunk)})",
                chunk,
            ).fetchall()
            for rid, _, _, keyframe_id, body, keyframe_blob in rows:
                entries, _ = seg.decode(body, self._codec(keyframe_id, keyframe_blob)[1])
                keys.update(
                    (rid, e[seg.OBSERVED_AT], e[seg.RESOURCE_VERSION], e[seg.CHANGE])
                    for e in entries
                )
        return keys

    def _codec(
        self, keyframe_id: int, keyframe_blob: bytes
    ) -> tuple[zstd.ZstdCompressor, zstd.ZstdDecompressor]:
        """The contexts of a target keyframe."""
        pair = self._codecs.get(keyframe_id)
        if pair is None:
            raw = self._target_keyframes.get(keyframe_id)
            if raw is None:
                raw = self._target_keyframes.decompress_keyframe(keyframe_blob)
                self._target_keyframes.put(keyframe_id, raw)
            pair = (seg.compressor(raw), seg.decompressor(raw))
            self._codecs[keyframe_id] = pair
            while len(self._codecs) > _CODECS:
                self._codecs.popitem(last=False)
        else:
            self._codecs.move_to_end(keyframe_id)
        return pair

    def _tail(self, resource_id: int) -> _Tail | None:
        if resource_id in self._tails:
            self._tails.move_to_end(resource_id)
            return self._tails[resource_id]
        row = self.dst.execute(
            f"SELECT {_SEGMENT_COLUMNS} FROM segments s JOIN keyframes k ON k.id = s.keyframe_id "
            "WHERE s.resource_id = ? ORDER BY s.first_at DESC, s.id DESC LIMIT 1",
            (resource_id,),
        ).fetchone()
        tail = None
        if row is not None:
            sid, first_at, keyframe_id, body, keyframe_blob = row
            entries, _ = seg.decode(body, self._codec(keyframe_id, keyframe_blob)[1])
            tail = _Tail(
                sid,
                first_at,
                keyframe_id,
                bytes(keyframe_blob),
                bytes(body),
                len(entries),
                entries[-1][seg.OBSERVED_AT],
                None,
            )
        self._tails[resource_id] = tail
        while len(self._tails) > _OBJECTS:
            self._tails.popitem(last=False)
        return tail

    def _target_keyframe(self, source: _SourceSegment, tail: _Tail | None) -> tuple[int, bytes]:
        """The target's copy of a source segment's keyframe (the same bytes), made when there
        is none."""
        known = self._keyframes.get(source.keyframe_id)
        if known is None:
            if tail is not None and tail.keyframe_blob == source.keyframe_blob:
                known = tail.keyframe_id
            else:
                known = self._row_ids["keyframes"].take()
                self._rows["keyframes"].append((known, source.keyframe_blob))
                self.report.add("keyframes", 1)
            if len(self._keyframes) >= _KEYFRAME_IDS:
                self._keyframes.clear()
            self._keyframes[source.keyframe_id] = known
        return known, source.keyframe_blob

    # -- writing -------------------------------------------------------------------------
    def _copy(self, items: Sequence[tuple[int, int, int]]) -> None:
        """One batch, in one target transaction."""
        revisions = self._read(items)
        if not revisions:
            return
        with self.dst:
            self.ids.begin()
            for row_ids in self._row_ids.values():
                row_ids.begin()
            made = self._target_resources({r.source.resource_id for r in revisions})
            for r in revisions:
                # 0: a segment of a resource the source lacks (a damaged source): not copied
                r.target_resource = self._resources.get(r.source.resource_id, 0)
            unknown = [r for r in revisions if not r.target_resource]
            self.report.unreadable += len(unknown)
            revisions = [r for r in revisions if r.target_resource]
            present = self._present(revisions, made)
            new = [r for r in revisions if r.key() not in present]
            self.report.add("revisions", len(new), len(revisions) - len(new))
            for r in new:  # in the source's order: see the module docstring
                r.entry = [self.ids.take(), *r.entry[1:]]
            by_resource: dict[int, list[_Revision]] = {}
            for r in new:
                by_resource.setdefault(r.target_resource, []).append(r)
            for resource_id, group in by_resource.items():
                group.sort(key=lambda r: seg.order(r.entry))
                self._place(resource_id, group)
            for table, sql in _WRITES.items():
                many(self.dst, sql, self._rows[table])
                self._rows[table].clear()
            self._index_pods(by_resource)
            if new:
                # Into the target's past, most of it: screens reading it read again.
                write_marks.rewrote(self.dst, "copy", len(new))
            self.ids.finish()
        self._touched.update(by_resource)

    def _index_pods(self, by_resource: dict[int, list[_Revision]]) -> None:
        """The batch's Pod revisions into ``pod_digests``, after its rows are written."""
        relaid, self._relaid = self._relaid, set()
        for rid in pod_digests.pod_ids(self.dst, list(by_resource)):
            if rid in relaid:
                self._pods.forget()
                pod_digests.rebuild(self.dst, [rid])
                continue
            for r in by_resource[rid]:
                content = pod_digests.content_of_revision(r.entry, r.body)
                self._pods.written(rid, int(r.entry[seg.ID]), r.at, content)

    def _place(self, resource_id: int, group: list[_Revision]) -> None:
        """Write one object's new revisions into its segments, and the time index."""
        rows = self._rows["revisions"]
        tail = self._tail(resource_id)
        late = [r for r in group if tail is not None and r.at < tail.last_at]
        if late:
            self._relaid.add(resource_id)
        for r in late:
            rows.append((r.us, r.entry[seg.ID], self._insert_late(resource_id, r)))
        if late:
            self._tails.pop(resource_id, None)
            tail = self._tail(resource_id)
        fresh = group[len(late) :]
        run: list[_Revision] = []
        for r in fresh:
            if run and run[0].source.id == r.source.id:
                run.append(r)
                continue
            if run:
                tail = self._write_run(resource_id, tail, run)
            run = [r]
        if run:
            tail = self._write_run(resource_id, tail, run)
        first = group[0].at
        latest = fresh[-1].entry if fresh else None
        gone = latest[seg.OBSERVED_AT] if latest and latest[seg.CHANGE] == "deleted" else None
        self._rows["lifetimes"].append((first, first, int(latest is not None), gone, resource_id))

    def _write_run(self, resource_id: int, tail: _Tail | None, run: list[_Revision]) -> _Tail:
        """Revisions of one source segment, after the object's latest: onto its latest
        target segment when that continues the same source segment (or, found in the
        target, has room), else into a new one against the source segment's keyframe."""
        source = run[0].source
        continues = tail is not None and (
            tail.origin == source.id or (tail.origin is None and tail.count < seg.SEGMENT_SIZE)
        )
        if tail is not None and continues:
            compressor, decompressor = self._codec(tail.keyframe_id, tail.keyframe_blob)
            entries, data = seg.decode(tail.body, decompressor)
            bodies = [*seg.split(data, entries), *(r.body for r in run)]
            entries += [r.entry for r in run]
            tail.body = seg.encode(entries, bodies, compressor)
            tail.count = len(entries)
            self._rows["segment_bodies"].append((tail.count, tail.body, tail.id))
        else:
            keyframe_id, keyframe_blob = self._target_keyframe(source, tail)
            compressor = self._codec(keyframe_id, keyframe_blob)[0]
            body = seg.encode([r.entry for r in run], [r.body for r in run], compressor)
            first_at = run[0].at
            new = self._row_ids["segments"].take()
            self._rows["segments"].append((new, resource_id, first_at, len(run), keyframe_id, body))
            tail = _Tail(new, first_at, keyframe_id, keyframe_blob, body, len(run), first_at, None)
        tail.origin = source.id
        tail.last_at = run[-1].at
        self._tails[resource_id] = tail
        self._rows["revisions"].extend((r.us, r.entry[seg.ID], tail.id) for r in run)
        return tail

    def _insert_late(self, resource_id: int, r: _Revision) -> int:
        """A revision older than the object's latest in the target: into the segment whose
        span holds it (the latest starting at or before it, else the first), in order."""
        select = (
            f"SELECT {_SEGMENT_COLUMNS} FROM segments s JOIN keyframes k ON k.id = s.keyframe_id "
            "WHERE s.resource_id = ? "
        )
        row = (
            self.dst.execute(
                select + "AND s.first_at <= ? ORDER BY s.first_at DESC, s.id DESC LIMIT 1",
                (resource_id, r.at),
            ).fetchone()
            or self.dst.execute(
                select + "ORDER BY s.first_at, s.id LIMIT 1", (resource_id,)
            ).fetchone()
        )
        sid, _, keyframe_id, body, keyframe_blob = row
        compressor, decompressor = self._codec(keyframe_id, keyframe_blob)
        entries, data = seg.decode(body, decompressor)
        bodies = seg.split(data, entries)
        position = len(entries)
        while position > 0 and seg.order(entries[position - 1]) > seg.order(r.entry):
            position -= 1
        entries.insert(position, r.entry)
        bodies.insert(position, r.body)
        self.dst.execute(
            "UPDATE segments SET first_at = ?, count = ?, body = ? WHERE id = ?",
            (
                entries[0][seg.OBSERVED_AT],
                len(entries),
                seg.encode(entries, bodies, compressor),
                sid,
            ),
        )
        return int(sid)

    def _forget(self) -> None:
        """After a rolled-back batch: what was remembered of it is not in the target."""
        self._resources.clear()
        self._tails.clear()
        self._keyframes.clear()
        self._pods.forget()
        self._relaid.clear()
        for rows in self._rows.values():
            rows.clear()


def _triples(rows: Any) -> list[tuple[int, int, int]]:
    return [(int(a), int(b), int(c)) for a, b, c in rows]

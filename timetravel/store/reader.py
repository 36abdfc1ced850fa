"""Queries over recorded facts: state at a moment, changes in a window, gaps.

Every function takes a time as stored text (see ``domain.times.to_stored``) and returns
decoded records; callers never see SQL or blobs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlite_utils import Database

from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import collector_paused
from timetravel.store import codec
from timetravel.store.records import (
    GapRecord,
    ObservationRecord,
    RevisionRecord,
    revision_record,
)

_REVISION_COLUMNS = (
    "rv.id, rv.resource_id, res.cluster, res.api_group, res.kind, res.namespace, res.name, "
    "res.api_version, rv.observed_at, rv.change, rv.resource_version, rv.uid, rv.inferred, "
    "rv.status_only, rv.source, rv.server_time, rv.managers, rv.keyframe_id, rv.body, kf.body"
)

# A state's rows leave out what the reader keeps between calls: identities (they never
# change) and keyframe bodies (shared by many revisions, cached decompressed).
_STATE_COLUMNS = (
    "rv.id, rv.resource_id, rv.observed_at, rv.change, rv.resource_version, rv.uid, "
    "rv.inferred, rv.status_only, rv.source, rv.server_time, rv.managers, rv.keyframe_id, rv.body"
)
_IDENTITIES = 200_000

# The latest revision of each resource at or before :at, found with one index seek each.
_LATEST_AT = (
    "rv.id = (SELECT id FROM revisions WHERE resource_id = res.id AND observed_at <= :at "
    "ORDER BY observed_at DESC, id DESC LIMIT 1)"
)


class Reader:
    """Read access to one database; keeps a cache of decoded keyframes between calls."""

    def __init__(self, db: Database, *, keyframe_cache: int = 16384) -> None:
        self.db = db
        self.conn = db.conn
        self._keyframes = codec.KeyframeCache(keyframe_cache)
        # A database written before m004 and opened read-only has no lifetimes: every
        # identity is then a candidate, as before.
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(resources)")}
        self._lifetimes = "gone_at" in columns
        self._identities: dict[int, tuple[ResourceKey, str]] = {}

    def _record(self, row: Sequence[Any], with_body: bool = True) -> RevisionRecord:
        """A record from a row of ``_REVISION_COLUMNS`` (identity and keyframe joined)."""
        identity = (ResourceKey(*row[2:7]), row[7])
        return self._state_record((*row[:2], *row[8:19]), identity, row[19], with_body)

    def _state_record(
        self,
        row: Sequence[Any],
        identity: tuple[ResourceKey, str],
        keyframe_blob: bytes | None = None,
        with_body: bool = True,
    ) -> RevisionRecord:
        """A record from a row of ``_STATE_COLUMNS`` and the resource's identity."""
        (
            rev_id,
            resource_id,
            observed_at,
            change,
            rv,
            uid,
            inferred,
            status_only,
            source,
            server_time,
            managers,
            keyframe_id,
            body,
        ) = row
        raw = None
        if with_body:
            raw = codec.decode_body(
                body, keyframe_id, keyframe_blob, self._keyframes, rev_id, self._body_of
            )
        return revision_record(
            rev_id,
            resource_id,
            identity[0],
            identity[1],
            observed_at,
            change,
            rv,
            uid,
            bool(inferred),
            bool(status_only),
            source,
            server_time,
            managers,
            raw,
        )

    def _identities_of(self, resource_ids: Sequence[int]) -> dict[int, tuple[ResourceKey, str]]:
        known = self._identities
        missing = [rid for rid in set(resource_ids) if rid not in known]
        if len(known) + len(missing) > _IDENTITIES:
            known.clear()
            missing = list(set(resource_ids))
        for chunk in _chunks(missing):
            rows = self.conn.execute(
                "SELECT id, cluster, api_group, kind, namespace, name, api_version "
                f"FROM resources WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for rid, cluster, group, kind, namespace, name, api_version in rows:
                known[rid] = (ResourceKey(cluster, group, kind, namespace, name), api_version)
        return known

    def _cache_keyframes(self, keyframe_ids: set[int]) -> None:
        missing = [kid for kid in keyframe_ids if self._keyframes.get(kid) is None]
        for chunk in _chunks(missing):
            rows = self.conn.execute(
                f"SELECT id, body FROM revisions WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for kid, blob in rows:
                self._keyframes.put(kid, self._keyframes.decompress_keyframe(blob))

    def _body_of(self, revision_id: int) -> bytes | None:
        row = self.conn.execute("SELECT body FROM revisions WHERE id = ?", (revision_id,))
        found = row.fetchone()
        return None if found is None else bytes(found[0])

    def _select(
        self, where: str, params: dict[str, Any], tail: str = "", with_body: bool = True
    ) -> Iterator[Any]:
        if with_body:
            columns = _REVISION_COLUMNS
            join = "LEFT JOIN revisions kf ON kf.id = rv.keyframe_id"
        else:  # the same row shape without reading a blob
            columns = _REVISION_COLUMNS.replace("rv.body, kf.body", "NULL, NULL")
            join = ""
        sql = f"SELECT {columns} FROM resources res JOIN revisions rv ON {where} {join} {tail}"
        # fetchall: iterating the cursor would run a Python __next__ per row (the error
        # translating cursor of store.db), ~2 µs each over thousands of rows.
        return iter(self.conn.execute(sql, params).fetchall())

    def state_at(
        self,
        at: str,
        *,
        cluster: str | None = None,
        namespace: str | None = None,
        include_deleted: bool = False,
    ) -> list[RevisionRecord]:
        """Every resource live at ``at``: its latest revision at or before then."""
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
        if not include_deleted:
            filters.append("rv.change != 'deleted'")
        tail = ("WHERE " + " AND ".join(filters)) if filters else ""
        sql = f"SELECT {_STATE_COLUMNS} FROM resources res JOIN revisions rv ON {_LATEST_AT} {tail}"
        rows = self.conn.execute(sql, params).fetchall()
        # Thousands of records are alive at once and hold no reference cycles: collection
        # passes over them would only cost time.
        with collector_paused():
            identities = self._identities_of([row[1] for row in rows])
            self._cache_keyframes({row[11] for row in rows if row[11] is not None})
            records = [self._state_record(row, identities[row[1]]) for row in rows]
        # Sorted here, not by SQL: its sorter would copy every body blob once more.
        records.sort(key=lambda r: (r.key.namespace, r.key.kind, r.key.name, r.key.cluster))
        return records

    def object_at(self, key: ResourceKey, at: str) -> RevisionRecord | None:
        """The latest revision of one resource at or before ``at`` (deleted ones included)."""
        rows = list(
            self._select(
                _LATEST_AT,
                {"at": at, **_key_params(key)},
                "WHERE res.cluster = :cluster AND res.api_group = :group AND res.kind = :kind "
                "AND res.namespace = :namespace AND res.name = :name",
            )
        )
        return self._record(rows[0]) if rows else None

    def changes_between(
        self, start: str, end: str, *, with_body: bool = True, limit: int | None = None
    ) -> list[RevisionRecord]:
        """Revisions observed in [start, end], oldest first."""
        tail = "ORDER BY rv.observed_at, rv.id"
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        rows = self._select(
            "res.id = rv.resource_id AND rv.observed_at >= :start AND rv.observed_at <= :end",
            {"start": start, "end": end},
            tail,
            with_body,
        )
        return [self._record(row, with_body) for row in rows]

    def resource_ids_of_kinds(self, kinds: Sequence[tuple[str, str]]) -> list[int]:
        """Ids of every resource of these (group, kind) pairs."""
        pairs = sorted(set(kinds))
        if not pairs:
            return []
        values = ",".join("(?, ?)" for _ in pairs)
        rows = self.conn.execute(
            f"SELECT id FROM resources WHERE (api_group, kind) IN (VALUES {values})",
            [value for pair in pairs for value in pair],
        )
        return [int(rid) for (rid,) in rows]

    def revisions_of(
        self, resource_ids: Sequence[int], start: str, end: str
    ) -> list[RevisionRecord]:
        """Revisions of these resources observed in [start, end], oldest first."""
        out: list[RevisionRecord] = []
        for rid in resource_ids:
            rows = self._select(
                "res.id = rv.resource_id AND rv.resource_id = :rid "
                "AND rv.observed_at >= :start AND rv.observed_at <= :end",
                {"rid": rid, "start": start, "end": end},
                "ORDER BY rv.observed_at, rv.id",
            )
            out.extend(self._record(row) for row in rows)
        out.sort(key=lambda r: (r.observed_at, r.id))
        return out

    def previous(self, record: RevisionRecord) -> RevisionRecord | None:
        """The revision of the same resource just before ``record``."""
        rows = list(
            self._select(
                "rv.id = (SELECT id FROM revisions WHERE resource_id = :rid AND "
                "(observed_at < :at OR (observed_at = :at AND id < :id)) "
                "ORDER BY observed_at DESC, id DESC LIMIT 1) AND res.id = rv.resource_id",
                {"rid": record.resource_id, "at": record.observed_at, "id": record.id},
            )
        )
        return self._record(rows[0]) if rows else None

    def previous_many(self, records: Sequence[RevisionRecord]) -> dict[int, RevisionRecord | None]:
        """The revision just before each record (as :meth:`previous`), by record id; one
        statement per few hundred records instead of one per record."""
        out: dict[int, RevisionRecord | None] = {record.id: None for record in records}
        wanted = [(r.id, r.resource_id, r.observed_at) for r in records]
        for start in range(0, len(wanted), 300):
            chunk = wanted[start : start + 300]
            values = ",".join("(?, ?, ?)" for _ in chunk)
            sql = (
                f"WITH wanted(wid, rid, at) AS (VALUES {values}) "
                f"SELECT wanted.wid, {_REVISION_COLUMNS} FROM wanted "
                "JOIN revisions rv ON rv.id = (SELECT id FROM revisions WHERE resource_id = "
                "wanted.rid AND (observed_at < wanted.at OR (observed_at = wanted.at AND "
                "id < wanted.wid)) ORDER BY observed_at DESC, id DESC LIMIT 1) "
                "JOIN resources res ON res.id = rv.resource_id "
                "LEFT JOIN revisions kf ON kf.id = rv.keyframe_id"
            )
            params = [value for triple in chunk for value in triple]
            for row in self.conn.execute(sql, params).fetchall():
                out[row[0]] = self._record(row[1:])
        return out

    def history(
        self, resource_id: int, *, until: str | None = None, with_body: bool = True
    ) -> list[RevisionRecord]:
        """Every revision of one resource (up to ``until``), newest first."""
        where = "res.id = rv.resource_id AND rv.resource_id = :rid"
        params: dict[str, Any] = {"rid": resource_id}
        if until is not None:
            where += " AND rv.observed_at <= :until"
            params["until"] = until
        rows = self._select(where, params, "ORDER BY rv.observed_at DESC, rv.id DESC", with_body)
        return [self._record(row, with_body) for row in rows]

    def gaps_between(self, start: str, end: str) -> list[GapRecord]:
        rows = self.conn.execute(
            "SELECT id, cluster, source, started_at, ended_at, reason FROM gaps "
            "WHERE started_at <= ? AND ended_at >= ? ORDER BY started_at",
            (end, start),
        )
        return [GapRecord(*row) for row in rows]

    def observations_between(self, start: str, end: str) -> list[ObservationRecord]:
        """Warning events and the like observed in [start, end], oldest first."""
        rows = self.conn.execute(
            "SELECT observed_at, cluster, kind, severity, reason, message, object_kind, "
            "object_namespace, object_name, count FROM observations "
            "WHERE observed_at >= ? AND observed_at <= ? ORDER BY observed_at, id",
            (start, end),
        )
        return [ObservationRecord(*row) for row in rows]

    def clusters(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT name, server FROM clusters ORDER BY name")
        return [{"name": name, **({"server": server} if server else {})} for name, server in rows]

    def time_range(self) -> tuple[str | None, str | None]:
        """The first and last observation times in the store."""
        # Two subqueries: each is one end of the time index (min and max in one SELECT
        # scan the table).
        row = self.conn.execute(
            "SELECT (SELECT min(observed_at) FROM revisions), "
            "(SELECT max(observed_at) FROM revisions)"
        )
        first, last = row.fetchone()
        return first, last


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

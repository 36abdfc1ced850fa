"""Which image digests each Pod's containers ran, and since when: ``pod_digests``.

A report over a month asks what ran in each workload and when that changed; answering it
from the revisions means decoding and parsing every Pod revision of the month (a million
revisions' store: ~100 s). The writer keeps this index instead, in the same transaction
as the revision: a Pod's running containers (``status.containerStatuses[]`` and
``initContainerStatuses[]`` in state ``running`` with an image ID, normalized by
domain.images), with the owner that says whose workload it is, written only when they
change, in time order. A row of ``pod_digests`` is one change: the revision from which it
holds (``at``, ``revision_id``) and what the Pod runs from then, ``run_id``, a row of
``pod_runs`` (the content as JSON, stored once however many Pods and changes share it: a
workload's Pods run the same thing, and a Pod flipping between running and crashing goes
back and forth between two contents); ``run_id`` NULL says nothing runs from then (the Pod
stopped, or was deleted). A Pod's first row is its first revision running anything;
before it, nothing ran.

What each row holds is exactly what ``query.artifacts`` reads of a Pod revision for the
digests over time (container, digest, image, repository, the controlling owner and the
``pod-template-hash`` label), so an answer from the index is the answer from decoding
every revision (tests/test_pod_digests_property.py checks that on random histories).
Times are integer microseconds, as in ``revisions``, and read back as the stored text
``domain.times.to_stored`` writes (the text every writer of the store uses).

Kept true by everything that writes revisions: the writer (``PodDigests``: a revision
observed before the Pod's latest lays the Pod's rows out again from its revisions),
``timetravel copy`` (the Pods it wrote to, from their target revisions), ``check
--repair`` (the Pods it laid out again) and retention (store.prune: rows before the cut
go, the row in force moves onto the revision kept in force). Migration m013 fills it
for stores written before, from their stored revisions, once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import zstandard as zstd

from timetravel.domain.images import container_runs
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import from_micros, to_micros
from timetravel.domain.workloads import controller_of
from timetravel.store import codec, dialect
from timetravel.store import segments as seg
from timetravel.store.records import revision_record

# (container name, init container, digest, image as the spec names it, repository)
Running = tuple[str, bool, str, str, str | None]
# (controlling owner's kind, its name, the pod-template-hash label): whose workload
Owner = tuple[str | None, str | None, str | None]
# What a Pod runs from a revision on: () when nothing, else its owner and containers.
Content = tuple[()] | tuple[Owner, tuple[Running, ...]]

_UNDECODABLE = (zstd.ZstdError, ValueError, TypeError, IndexError, KeyError)
_INSERT = "INSERT INTO pod_digests (at_us, revision_id, resource_id, run_id) VALUES (?, ?, ?, ?)"
_CHUNK = 500  # resources read at once (SQLite's limit on parameters of older builds: 999)


_MINUTES: dict[int, str] = {}


def text_of(at_us: int) -> str:
    """The stored text of a time the index holds as integer microseconds, as
    ``domain.times.from_micros`` writes it (from the minute's text kept: a month's report
    reads a few hundred thousand)."""
    minute, rest = divmod(at_us, 60_000_000)
    head = _MINUTES.get(minute)
    if head is None:
        if len(_MINUTES) > 100_000:
            _MINUTES.clear()
        head = _MINUTES[minute] = from_micros(minute * 60_000_000)[:16]
    second, micro = divmod(rest, 1_000_000)
    return f"{head}:{second:02d}.{micro:06d}Z"


def is_pod(group: str, kind: str) -> bool:
    return group == "" and kind == "Pod"


def running_of(pod: Mapping[str, Any]) -> tuple[Running, ...]:
    """The running containers of one Pod object, in status order: the rule of
    ``query.artifacts.running_containers`` (domain.images.container_runs), without what
    the index does not keep."""
    return tuple(
        (run.name, run.init, run.found.digest, run.image, run.repository)
        for run in container_runs(dict(pod))
    )


def owner_of(pod: Mapping[str, Any]) -> Owner:
    """What of a Pod says which workload it runs for (domain.workloads.workload_of)."""
    meta = pod.get("metadata") or {}
    controller = controller_of(pod)
    template_hash = (meta.get("labels") or {}).get("pod-template-hash") or None
    return (
        controller[0] if controller else None,
        controller[1] if controller else None,
        None if template_hash is None else str(template_hash),
    )


def content_of(obj: Mapping[str, Any] | None, deleted: bool = False) -> Content:
    """What a Pod revision runs: () for a deletion, a body-less one or nothing running."""
    if deleted or obj is None:
        return ()
    running = running_of(obj)
    if not running:
        return ()
    return (owner_of(obj), running)


def pod_of(name: str, owner: Owner) -> dict[str, Any]:
    """A Pod object with only what ``workload_of`` reads of it, from an index row."""
    kind, owner_name, template_hash = owner
    meta: dict[str, Any] = {"name": name}
    if template_hash is not None:
        meta["labels"] = {"pod-template-hash": template_hash}
    if kind is not None:
        meta["ownerReferences"] = [{"kind": kind, "name": owner_name, "controller": True}]
    return {"metadata": meta}


def _body(content: Content) -> bytes:
    """A content as ``pod_runs`` stores it: JSON, ``[owner, [container, ...]]``."""
    return orjson.dumps(content)


def _content_of_body(body: Any) -> Content:
    if body is None:
        return ()
    owner, running = orjson.loads(body)
    return (
        (owner[0], owner[1], owner[2]),
        tuple((r[0], bool(r[1]), r[2], r[3], r[4]) for r in running),
    )


class _Runs:
    """The ``pod_runs`` row of each content, made when first needed (by its hash: a
    writer of another process may have made it meanwhile), and contents by id."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._ids: dict[Content, int] = {}
        self._contents: dict[int, Content] = {}

    def forget(self) -> None:
        self._ids.clear()  # made in a transaction rolled back, maybe
        self._contents.clear()

    def id_of(self, content: Content) -> int | None:
        if not content:
            return None
        found = self._ids.get(content)
        if found is not None:
            return found
        body = _body(content)
        digest = hashlib.blake2b(body, digest_size=16).digest()
        found = dialect.insert_id_or_none(
            self.conn,
            "INSERT INTO pod_runs (hash, body) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING",
            (digest, body.decode()),
        )
        if found is None:
            row = self.conn.execute("SELECT id FROM pod_runs WHERE hash = ?", (digest,)).fetchone()
            found = int(row[0])
        if len(self._ids) > 100_000:
            self._ids.clear()
        self._ids[content] = found
        return found

    def content(self, run_id: int | None, body: Any = None) -> Content:
        if run_id is None:
            return ()
        found = self._contents.get(run_id)
        if found is None:
            if body is None:
                row = self.conn.execute(
                    "SELECT body FROM pod_runs WHERE id = ?", (run_id,)
                ).fetchone()
                body = row[0] if row is not None else None
            found = _content_of_body(body)
            if len(self._contents) > 100_000:
                self._contents.clear()
            self._contents[run_id] = found
        return found


def groups(revisions: Iterable[tuple[int, str, Content]]) -> list[tuple[int, str, Content]]:
    """The groups of one Pod's revisions ((id, at, content), in revision order): a group
    where its content differs from the revision's before (nothing, before the first)."""
    out = []
    previous: Content = ()
    for revision_id, at, content in revisions:
        if content != previous:
            out.append((revision_id, at, content))
            previous = content
    return out


# -- decoding stored revisions ------------------------------------------------------------
class _Decoder:
    """Pod revisions from their segments (keyframes cached), as the reader decodes them."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.keyframes = codec.KeyframeCache(1024)

    def _keyframe(self, keyframe_id: int) -> bytes:
        raw = self.keyframes.get(keyframe_id)
        if raw is None:
            row = self.conn.execute(
                "SELECT body FROM keyframes WHERE id = ?", (keyframe_id,)
            ).fetchone()
            if row is None:
                raise ValueError(f"keyframe {keyframe_id} is missing")
            raw = self.keyframes.decompress_keyframe(bytes(row[0]))
            self.keyframes.put(keyframe_id, raw)
        return raw

    def revisions(self, segment_rows: Sequence[Sequence[Any]]) -> list[tuple[int, str, Content]]:
        """(id, at, content) of every revision of these segment rows ((keyframe_id, body)
        each), in revision order; a segment that cannot be decoded is left out, as readers
        leave it out."""
        entries: list[tuple[seg.Entry, bytes]] = []
        for keyframe_id, body in segment_rows:
            try:
                decompressor = self.keyframes.decompressor(keyframe_id, self._keyframe(keyframe_id))
                found, data = seg.decode(bytes(body), decompressor)
                bodies = seg.split(data, found)
            except _UNDECODABLE:
                continue
            entries.extend(zip(found, bodies, strict=True))
        entries.sort(key=lambda pair: seg.order(pair[0]))
        return [
            (int(e[seg.ID]), str(e[seg.OBSERVED_AT]), content_of_revision(e, body))
            for e, body in entries
        ]


_NOBODY = ResourceKey("", "", "Pod", "", "")


def content_of_revision(entry: seg.Entry, body: bytes) -> Content:
    """A stored revision's content (its segment entry and body), its body parsed as the
    reader parses it."""
    if entry[seg.CHANGE] == "deleted":
        return ()
    record = revision_record(
        0, 0, _NOBODY, "v1", "", "updated", None, None, False, False, "", None, None, body
    )
    try:
        obj = record.obj
    except ValueError:
        return ()
    return content_of(obj if isinstance(obj, dict) else None)


def _segment_rows(conn: Any, resource_ids: Sequence[int]) -> dict[int, list[tuple[Any, Any]]]:
    out: dict[int, list[tuple[Any, Any]]] = {rid: [] for rid in resource_ids}
    for start in range(0, len(resource_ids), _CHUNK):
        chunk = list(resource_ids[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT resource_id, keyframe_id, body FROM segments "
            f"WHERE resource_id IN ({marks}) ORDER BY resource_id, first_at, id",
            chunk,
        ).fetchall()
        for rid, keyframe_id, body in rows:
            out[int(rid)].append((int(keyframe_id), body))
    return out


def rebuild(
    conn: Any,
    resource_ids: Sequence[int],
    decoder: _Decoder | None = None,
    runs: _Runs | None = None,
) -> None:
    """Lay out again the rows of these Pods from their stored revisions (in the caller's
    transaction): after a revision came late, a copy, a repair."""
    ids = sorted(set(resource_ids))
    if not ids:
        return
    decoder = decoder or _Decoder(conn)
    runs = runs or _Runs(conn)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM pod_digests WHERE resource_id IN ({marks})", chunk)
        rows = [
            (to_micros(at), revision_id, rid, runs.id_of(content))
            for rid, segments in _segment_rows(conn, chunk).items()
            for revision_id, at, content in groups(decoder.revisions(segments))
        ]
        if rows:
            conn.executemany(_INSERT, rows)


def pod_ids(conn: Any, resource_ids: Sequence[int] | None = None) -> list[int]:
    """The ids of the core Pods among these resources (None: of the store)."""
    sql = "SELECT id FROM resources WHERE api_group = '' AND kind = 'Pod'"
    if resource_ids is None:
        return [int(r[0]) for r in conn.execute(sql + " ORDER BY id").fetchall()]
    out: list[int] = []
    ids = sorted(set(resource_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        out += [int(r[0]) for r in conn.execute(f"{sql} AND id IN ({marks})", chunk).fetchall()]
    return out


def fill(conn: Any) -> int:
    """Fill ``pod_digests`` from every stored Pod revision (migration m013); returns the
    rows written."""
    decoder = _Decoder(conn)
    runs = _Runs(conn)
    written = 0
    ids = pod_ids(conn)
    for start in range(0, len(ids), _CHUNK):
        rows = [
            (to_micros(at), revision_id, rid, runs.id_of(content))
            for rid, segments in _segment_rows(conn, ids[start : start + _CHUNK]).items()
            for revision_id, at, content in groups(decoder.revisions(segments))
        ]
        if rows:
            conn.executemany(_INSERT, rows)
        written += len(rows)
    return written


def stored_groups(conn: Any, rid: int) -> list[tuple[int, str, Content]]:
    """A Pod's rows as ``pod_digests`` holds them ((revision id, at, content), in order),
    to compare with :func:`groups` of its revisions."""
    rows = conn.execute(
        "SELECT p.revision_id, p.at_us, r.body FROM pod_digests p "
        "LEFT JOIN pod_runs r ON r.id = p.run_id WHERE p.resource_id = ? "
        "ORDER BY p.at_us, p.revision_id",
        (rid,),
    ).fetchall()
    return [(int(r[0]), text_of(int(r[1])), _content_of_body(r[2])) for r in rows]


# -- the writer's side ------------------------------------------------------------------------
class PodDigests:
    """Keeps ``pod_digests`` as a writer stores Pod revisions, in its transaction. It
    remembers each recent Pod's latest row (the caller must :meth:`forget` after a
    rollback)."""

    def __init__(self, conn: Any, *, cache_size: int = 100_000) -> None:
        self.conn = conn
        self._cache_size = cache_size
        # resource id -> (at, revision id) of its latest revision seen, its content then
        self._latest: OrderedDict[int, tuple[tuple[str, int], Content]] = OrderedDict()
        self._decoder: _Decoder | None = None
        self._runs = _Runs(conn)

    def forget(self) -> None:
        self._latest.clear()
        self._decoder = None
        self._runs.forget()

    def _load(self, rid: int) -> tuple[tuple[str, int], Content]:
        found = self._latest.get(rid)
        if found is not None:
            self._latest.move_to_end(rid)
            return found
        head = self.conn.execute(
            "SELECT at_us, revision_id, run_id FROM pod_digests WHERE resource_id = ? "
            "ORDER BY at_us DESC, revision_id DESC LIMIT 1",
            (rid,),
        ).fetchone()
        if head is None:
            return (("", 0), ())
        return ((text_of(int(head[0])), int(head[1])), self._runs.content(head[2]))

    def _remember(self, rid: int, latest: tuple[tuple[str, int], Content]) -> None:
        self._latest[rid] = latest
        self._latest.move_to_end(rid)
        while len(self._latest) > self._cache_size:
            self._latest.popitem(last=False)

    def written(
        self,
        rid: int,
        revision_id: int,
        at: str,
        content: Content,
        *,
        first: bool = False,
        after: str | None = None,
    ) -> None:
        """A Pod revision was just stored. ``first``: the Pod had no revision before.
        ``after``: the time of the Pod's latest revision before this one, when known (a
        revision before it came late: the Pod's rows are laid out again)."""
        if first:
            latest: tuple[tuple[str, int], Content] = (("", 0), ())
        else:
            latest = self._load(rid)
        here = (at, revision_id)
        if here < latest[0] or (after is not None and at < after):
            self._latest.pop(rid, None)
            if self._decoder is None:
                self._decoder = _Decoder(self.conn)
            rebuild(self.conn, [rid], self._decoder, self._runs)
            return
        if content != latest[1]:
            # One statement: on PostgreSQL it goes with the writer's own batch.
            row = (to_micros(at), revision_id, rid, self._runs.id_of(content))
            self.conn.execute(_INSERT, row)
        self._remember(rid, (here, content))


# -- retention --------------------------------------------------------------------------------
def prune(conn: Any, kept: Mapping[int, tuple[str, int]], gone: Sequence[int]) -> None:
    """In a prune's transaction: the rows of objects ``gone`` go; for each object of
    ``kept`` (resource id -> time and id of its base, the revision it keeps in force at
    the cut, its first from now on) its rows up to its base go, and the row in force
    then, if anything ran, holds from the base (what its stored revisions now say).
    ``pod_runs`` stay (a few contents, shared)."""
    ids = sorted(set(gone))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        conn.execute(
            f"DELETE FROM pod_digests WHERE resource_id IN ({','.join('?' * len(chunk))})", chunk
        )
    bases = {rid: (to_micros(at), revision_id) for rid, (at, revision_id) in kept.items()}
    rids = sorted(bases)
    for start in range(0, len(rids), _CHUNK):
        chunk = rids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT resource_id, at_us, revision_id, run_id FROM pod_digests "
            f"WHERE resource_id IN ({marks}) AND at_us <= ? "
            "ORDER BY resource_id, at_us, revision_id",
            [*chunk, max(bases[rid][0] for rid in chunk)],
        ).fetchall()
        in_force: dict[int, Any] = {}
        for rid, at_us, _, run_id in rows:
            if int(at_us) <= bases[int(rid)][0]:
                in_force[int(rid)] = run_id  # the last one up to the base
        for rid, run_id in in_force.items():
            conn.execute(
                "DELETE FROM pod_digests WHERE resource_id = ? AND at_us <= ?", (rid, bases[rid][0])
            )
            if run_id is not None:
                conn.execute(_INSERT, (*bases[rid], rid, run_id))


# -- reading -------------------------------------------------------------------------------
class PodGroup:
    """What one Pod runs from one revision on (``running`` empty: nothing). A plain class
    with slots: a month's report reads a few hundred thousand of them."""

    __slots__ = ("at", "key", "owner", "resource_id", "revision_id", "running")

    def __init__(
        self,
        key: ResourceKey,
        at: str,
        revision_id: int,
        owner: Owner,
        running: tuple[Running, ...],
        resource_id: int = 0,
    ) -> None:
        self.key = key
        self.at = at
        self.revision_id = revision_id
        self.owner = owner
        self.running = running
        self.resource_id = resource_id

    def moved(self, at: str, revision_id: int) -> PodGroup:
        """The same content, from another revision."""
        return PodGroup(self.key, at, revision_id, self.owner, self.running, self.resource_id)


_READ = "p.at_us, p.revision_id, p.resource_id, p.run_id, r.body"
_RUNS = "LEFT JOIN pod_runs r ON r.id = p.run_id"
_NO_OWNER: Owner = (None, None, None)
_ID_CHUNK = 500  # Pods a statement of running_at(ids=...) names


def pod_keys(conn: Any, cluster: str | None = None) -> dict[int, ResourceKey]:
    """The keys of the store's Pods (``cluster``: of that cluster's) by resource id, read
    at once: a join per index row costs more."""
    sql = "SELECT id, cluster, namespace, name FROM resources WHERE api_group = '' AND kind = 'Pod'"
    params: list[Any] = []
    if cluster is not None:
        sql += " AND cluster = ?"
        params.append(cluster)
    return {
        int(rid): ResourceKey(str(c), "", "Pod", str(ns), str(name))
        for rid, c, ns, name in conn.execute(sql, params).fetchall()
    }


def _groups_of(rows: Iterable[Sequence[Any]], keys: Mapping[int, ResourceKey]) -> list[PodGroup]:
    """Rows (``_READ``) as groups; those of resources without a key (another cluster's)
    left out."""
    contents: dict[int, Content] = {}
    out: list[PodGroup] = []
    for at_us, revision_id, rid, run_id, body in rows:
        key = keys.get(rid)
        if key is None:
            continue
        at = text_of(at_us)
        if run_id is None:
            out.append(PodGroup(key, at, revision_id, _NO_OWNER, (), rid))
            continue
        content = contents.get(run_id)
        if content is None:
            content = contents[run_id] = _content_of_body(body)
        out.append(PodGroup(key, at, revision_id, content[0], content[1], rid))  # type: ignore[misc]
    return out


def running_at(
    conn: Any,
    at: str,
    *,
    cluster: str | None = None,
    keys: Mapping[int, ResourceKey] | None = None,
    ids: Sequence[int] | None = None,
) -> list[PodGroup]:
    """The group in force at ``at`` of each Pod live then that runs something, in the
    order a state lists them (namespace, name, cluster). ``ids``: of these Pods only (a
    step's few, by resource id), where the rest would be read for nothing."""
    params: dict[str, Any] = {"at": at, "at_us": to_micros(at)}
    where = (
        "res.api_group = '' AND res.kind = 'Pod' AND res.first_at <= :at "
        "AND (res.gone_at IS NULL OR res.gone_at > :at)"
    )
    if cluster is not None:
        where += " AND res.cluster = :cluster"
        params["cluster"] = cluster
    latest = (
        "SELECT at_us, revision_id FROM pod_digests WHERE resource_id = res.id "
        "AND at_us <= :at_us ORDER BY at_us DESC, revision_id DESC LIMIT 1"
    )
    if dialect.is_postgres(conn):
        sql = (
            f"SELECT {_READ} FROM resources res CROSS JOIN LATERAL ({latest}) g "
            f"JOIN pod_digests p ON p.at_us = g.at_us AND p.revision_id = g.revision_id {_RUNS} "
            f"WHERE {where} ORDER BY p.at_us, p.revision_id"
        )
    else:
        # CROSS JOIN: SQLite's order of the loops, the Pods outside (one seek each); else
        # its planner scans the whole index and seeks the Pods.
        sql = (
            f"SELECT {_READ} FROM resources res CROSS JOIN pod_digests p "
            f"ON (p.at_us, p.revision_id) = ({latest}) {_RUNS} "
            f"WHERE {where} ORDER BY p.at_us, p.revision_id"
        )
    if ids is None:
        rows = conn.execute(sql, params).fetchall()
    else:
        rows = []
        for start in range(0, len(ids), _ID_CHUNK):
            # Resource ids are the store's own integers: written into the statement.
            chosen = ", ".join(str(int(i)) for i in ids[start : start + _ID_CHUNK])
            restricted = sql.replace(f"WHERE {where}", f"WHERE res.id IN ({chosen}) AND {where}")
            rows.extend(conn.execute(restricted, params).fetchall())
        rows.sort(key=lambda row: (row[0], row[1]))
    if keys is None:
        keys = pod_keys(conn, cluster)
    found = [g for g in _groups_of(rows, keys) if g.running]
    found.sort(key=lambda g: (g.key.namespace, g.key.name, g.key.cluster))
    return found


def changes_between(
    conn: Any,
    start: str,
    end: str,
    *,
    cluster: str | None = None,
    with_start: bool = False,
    keys: Mapping[int, ResourceKey] | None = None,
) -> list[PodGroup]:
    """Every group from a revision observed in (start, end] (``with_start``: [start,
    end]), in revision order."""
    sql = (
        f"SELECT {_READ} FROM pod_digests p {_RUNS} "
        f"WHERE p.at_us {'>=' if with_start else '>'} ? AND p.at_us <= ? "
        "ORDER BY p.at_us, p.revision_id"
    )
    rows = conn.execute(sql, (to_micros(start), to_micros(end))).fetchall()
    return _groups_of(rows, keys if keys is not None else pod_keys(conn, cluster))


def first_revisions_at(conn: Any, at: str, *, cluster: str | None = None) -> dict[int, int]:
    """The first revision observed at exactly ``at`` of each Pod that has one (resource id
    -> revision id), from the time index: whether a Pod's first revision of that instant
    opened a group tells whether what ran before it was seen again then."""
    sql = (
        "SELECT s.resource_id, min(rv.id) FROM revisions rv "
        "JOIN segments s ON s.id = rv.segment_id JOIN resources res ON res.id = s.resource_id "
        "WHERE rv.observed_us = ? AND res.api_group = '' AND res.kind = 'Pod'"
    )
    params: list[Any] = [to_micros(at)]
    if cluster is not None:
        sql += " AND res.cluster = ?"
        params.append(cluster)
    rows = conn.execute(sql + " GROUP BY s.resource_id", params).fetchall()
    return {int(rid): int(revision_id) for rid, revision_id in rows}


def in_force_before(conn: Any, resource_ids: Sequence[int], at: str) -> dict[int, PodGroup]:
    """The group in force just before ``at`` of each of these Pods that has one."""
    out: dict[int, PodGroup] = {}
    wanted: list[tuple[int, list[Any]]] = []
    for rid in sorted(set(resource_ids)):
        head = conn.execute(
            "SELECT at_us, revision_id FROM pod_digests WHERE resource_id = ? AND at_us < ? "
            "ORDER BY at_us DESC, revision_id DESC LIMIT 1",
            (rid, to_micros(at)),
        ).fetchone()
        if head is None:
            continue
        rows = conn.execute(
            f"SELECT {_READ} FROM pod_digests p {_RUNS} WHERE p.at_us = ? AND p.revision_id = ?",
            (head[0], head[1]),
        ).fetchall()
        wanted.append((rid, rows))
    if not wanted:
        return out
    keys = pod_keys(conn)
    for rid, rows in wanted:
        found = _groups_of(rows, keys)
        if found:
            out[rid] = found[0]
    return out

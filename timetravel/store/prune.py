"""Retention: history older than a cut is removed, the state at the cut stays exactly
answerable (``timetravel prune --before T``, ``timetravel record --keep D``).

What goes and what stays, for a cut T:

- Objects: each keeps the revision in force just before T (its *base*: the state at T,
  and the revision before each later change) and everything from T on; an object whose
  base is a deletion with nothing after it goes entirely (store.prune_revisions).
- Git: ref updates before T but the one in force then; the desired sets nothing kept
  names; ``declared_changes`` made again where sets went (store.prune_git). Commits older
  than T that nothing kept names.
- Gaps that ended, and Warning events observed, before T.
- Pipeline runs and audit events: those that can bear on no change from T on. A change's
  cause weighs the runs and audit events of its whole UTC day (store's ``CauseFinder``),
  so they are kept from the start of T's day (of T - 2 min: an audit event may precede the
  write it records), runs by the end of their window with its slack: the cause of every
  change from T on is weighed with the same evidence.
- ``meta`` ``history_starts_at`` (``history_starts_at:<cluster>`` for one cluster's
  prune) says where kept history starts: readers show the time before it as not known.

Every batch is one transaction, in an order where the store between any two of them is
consistent (``timetravel check`` passes) and answers every question about T and after as
before: the cut is written first, then objects a batch at a time (each object whole in
one), gaps, Warning events, runs and audit events, each repository's ref updates and then
its sets (newest first, each run of sets with the index of the set after it), commits,
and last the keyframes no segment uses any more. A prune killed anywhere (SIGKILL between
or inside a batch) is finished by running it again; what it did is not done twice.

Scope: the whole store, or one cluster of it (``cluster``): that cluster's objects, gaps
and Warning events and the repositories bound to it; runs, audit events and commits are
shared by every cluster and stay.

Space: a SQLite file keeps freed pages for the rows written next. A database made with
auto_vacuum=INCREMENTAL (every new one, store.db) gives them back with
``PRAGMA incremental_vacuum``; an older one is rebuilt once by ``VACUUM`` (it needs free
disk space for a copy) and is incremental from then on. PostgreSQL's ``VACUUM`` (run
here; autovacuum would too) makes the space reusable by the same tables. Pruning 26 of the
27 days of the bench's 1,000,000-revision store took 37.5 s and left 14.6 of 151.6 MB; a
prune an hour later, as ``record --keep`` makes them, 1.1 s (BENCHMARKS.md, Retention).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from timetravel.domain.attribution import AUDIT_BEFORE, RUN_SLACK
from timetravel.domain.times import from_stored, stored_to_rfc3339, to_stored
from timetravel.errors import UserError
from timetravel.store import codec, dialect, prune_git, prune_revisions, write_marks
from timetravel.store.copy_parts import StartProgress, chunks, marks, quiet
from timetravel.store.handle import StoreDB

# Objects pruned in one transaction. Each batch deletes revisions spread over the whole
# time index, rewriting most of its pages: fewer, larger batches cost less. Pruning 953,261
# of the bench store's 1,000,000 revisions took 61-64 s in batches of 500, 45 s of 2,000,
# 43 s of 5,000 (~1 s a transaction at 2,000).
BATCH = 2000
ROWS = 5000  # rows of another table removed in one transaction
META_KEY = "history_starts_at"
Reclaim = Literal["full", "incremental", "none"]

# What the report calls each kind of row, in its order.
_NAMES = {
    "revisions": ("revision", "revisions"),
    "segments": ("segment", "segments"),
    "objects": ("object gone before the cut", "objects gone before the cut"),
    "keyframes": ("keyframe", "keyframes"),
    "gaps": ("gap", "gaps"),
    "observations": ("Warning event", "Warning events"),
    "ref_updates": ("ref update", "ref updates"),
    "desired_sets": ("desired set", "desired sets"),
    "commits": ("commit", "commits"),
    "pipeline_runs": ("pipeline run", "pipeline runs"),
    "audit_events": ("audit event", "audit events"),
}
_PG_TABLES = (
    "revisions",
    "segments",
    "keyframes",
    "resources",
    "gaps",
    "observations",
    "ref_updates",
    "desired_sets",
    "declared_changes",
    "pod_digests",
    "pod_runs",
    "commits",
    "pipeline_runs",
    "audit_events",
)


@dataclass
class PruneReport:
    """What a prune removed (a dry run: would remove), and the store's size."""

    before: str
    dry_run: bool = False
    cluster: str | None = None
    removed: dict[str, int] = field(default_factory=dict)
    bases: int = 0  # objects with history before the cut that keep one revision of it
    rewritten: int = 0  # segments encoded again (their base now opens them)
    skipped: int = 0  # objects left as they were (a segment that cannot be decoded)
    bytes_before: int | None = None
    bytes_after: int | None = None
    free_after: int | None = None  # SQLite: bytes of free pages left in the file
    space: str = ""  # how space was given back
    seconds: float = 0.0

    def add(self, name: str, count: int) -> None:
        if count:
            self.removed[name] = self.removed.get(name, 0) + count

    def lines(self) -> list[str]:
        """The summary a person reads."""
        parts = [
            _count(self.removed[name], *words)
            for name, words in _NAMES.items()
            if self.removed.get(name)
        ]
        verb = "would remove" if self.dry_run else "removed"
        scope = f" of cluster {self.cluster}" if self.cluster else ""
        head = f"history{scope} before {stored_to_rfc3339(self.before)}: "
        out = [
            head
            + (f"{verb} {', '.join(parts)}" if parts else "nothing to remove")
            + ("" if self.dry_run else f" in {self.seconds:.1f} s")
        ]
        if self.bases:
            out.append(
                f"{self.bases:,} objects keep the revision in force at the cut as their first"
            )
        if self.skipped:
            out.append(
                f"{self.skipped:,} objects left as they were (a segment cannot be decoded): "
                "run `timetravel check`"
            )
        if self.bytes_before is not None:
            size = f"database {_mb(self.bytes_before)}"
            if self.bytes_after is not None:
                size += f" before, {_mb(self.bytes_after)} after"
            if self.free_after:
                size += (
                    f" ({_mb(self.free_after)} of it free pages, reused by what is recorded next)"
                )
            if self.space:
                size += f"; {self.space}"
            out.append(size)
        elif self.space:
            out.append(self.space)
        if self.dry_run:
            out.append("dry run: nothing was changed")
        return out


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def evidence_from(cut: str) -> str:
    """Where the evidence of causes (runs, audit events) is kept from: the start of the
    UTC day of ``cut`` - AUDIT_BEFORE (see the module docstring)."""
    day = (from_stored(cut) - AUDIT_BEFORE).date()
    return f"{day.isoformat()}T00:00:00.000000Z"


def meta_key(cluster: str | None) -> str:
    return META_KEY if cluster is None else f"{META_KEY}:{cluster}"


def kept_from(conn: Any, cluster: str | None = None) -> str | None:
    """Where kept history starts (stored text), for ``cluster`` (None: for the store: the
    latest cut of any of its clusters); None when nothing was ever pruned."""
    rows = conn.execute(
        "SELECT key, value FROM meta WHERE key = ? OR key LIKE ?", (META_KEY, META_KEY + ":%")
    ).fetchall()
    wanted = [
        str(value)
        for key, value in rows
        if key == META_KEY or cluster is None or key == meta_key(cluster)
    ]
    return max(wanted) if wanted else None


class Pruner:
    """One prune, a transaction at a time: :meth:`batches` yields after each, so a caller
    may interleave its own writes (a recorder) or stop anywhere (a test)."""

    def __init__(
        self,
        db: StoreDB,
        before: str,
        *,
        cluster: str | None = None,
        dry_run: bool = False,
        batch: int = BATCH,
        reclaim: Reclaim = "full",
        progress: StartProgress = quiet,
    ) -> None:
        self.db = db
        self.conn = db.conn
        self.cut = before
        self.cluster = cluster
        self.dry_run = dry_run
        self.batch = batch
        self.reclaim = reclaim
        self.progress = progress
        self.postgres = dialect.is_postgres(self.conn)
        self.report = PruneReport(before, dry_run, cluster)
        # What a dry run would have removed by the time commits are looked at.
        self._refs: set[int] = set()
        self._sets: set[int] = set()
        self._runs: set[int] = set()

    def batches(self) -> Iterator[str]:
        """Prune; yields the name of each part after each of its transactions."""
        started = time.monotonic()
        whole = self.cluster is None
        self._size_before()
        yield from self._mark()
        yield from self._objects()
        cluster = "" if whole else " AND cluster = ?"
        extra = [] if whole else [self.cluster]
        yield from self._rows("gaps", f"ended_at < ?{cluster}", [self.cut, *extra])
        yield from self._rows("observations", f"observed_at < ?{cluster}", [self.cut, *extra])
        if whole:
            floor = evidence_from(self.cut)
            run_end = to_stored(from_stored(floor) - RUN_SLACK)
            yield from self._rows(
                "pipeline_runs",
                "COALESCE(finished_at, reported_at, started_at) < ?",
                [run_end],
                into=self._runs,
            )
            yield from self._rows("audit_events", "stage_at < ?", [floor])
        yield from self._git()
        if whole:
            yield from self._commits()
        yield from self._keyframes()
        yield from self._space()
        self.report.seconds = time.monotonic() - started

    def run(self) -> PruneReport:
        for _ in self.batches():
            pass
        return self.report

    # -- the parts -------------------------------------------------------------------------
    def _mark(self) -> Iterator[str]:
        """The cut, first: from now on readers say the time before it is not kept."""
        if self.dry_run:
            return
        with self.conn:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                "SET value = CASE WHEN excluded.value > meta.value THEN excluded.value "
                "ELSE meta.value END",
                (meta_key(self.cluster), self.cut),
            )
        yield "cut"

    def _objects(self) -> Iterator[str]:
        conn = self.conn
        where = "first_at < ?" + ("" if self.cluster is None else " AND cluster = ?")
        params: list[Any] = [self.cut] + ([] if self.cluster is None else [self.cluster])
        total = int(
            conn.execute(f"SELECT count(*) FROM resources WHERE {where}", params).fetchone()[0]
        )
        tally = self.progress("pruning objects", total, "objects")
        keyframes = prune_revisions.Keyframes(conn)
        after = -(2**62)
        try:
            while True:
                rows = conn.execute(
                    f"SELECT id FROM resources WHERE id > ? AND {where} ORDER BY id LIMIT ?",
                    [after, *params, self.batch],
                ).fetchall()
                if not rows:
                    return
                ids = [int(r[0]) for r in rows]
                after = ids[-1]
                if self.dry_run:
                    self._prune_objects(ids, keyframes)
                else:
                    with conn:
                        self._prune_objects(ids, keyframes)
                    yield "objects"
                tally.advance(len(ids))
        finally:
            tally.close()

    def _prune_objects(self, ids: list[int], keyframes: prune_revisions.Keyframes) -> None:
        conn = self.conn
        segments = prune_revisions.segments_before(conn, ids, self.cut)
        later = prune_revisions.changing_later(conn, ids, self.cut)
        keyframes.load({int(row[3]) for rows in segments.values() for row in rows})
        # SQLite gives a new row the largest id + 1: the rows holding the largest ids stay,
        # so no id is ever given again to something else (readers keep rows by id).
        newest_segment = _max_id(conn, "segments")
        newest_resource = _max_id(conn, "resources")
        plans = []
        for rid, rows in segments.items():
            try:
                found = prune_revisions.plan(rid, rows, rid in later, self.cut, keyframes)
                if (
                    found is not None
                    and found.gone
                    and (rid == newest_resource or newest_segment in found.segments)
                ):
                    # It keeps its deletion: its rows hold the largest ids.
                    found = prune_revisions.plan(
                        rid, rows, rid in later, self.cut, keyframes, may_go=False
                    )
            except prune_revisions.Undecodable:
                self.report.skipped += 1
                continue
            if found is None or newest_segment in found.segments:
                self.report.bases += 1  # nothing to remove: its first revision is its base
                continue
            plans.append(found)
        if not self.dry_run:
            prune_revisions.write(conn, plans)
            write_marks.rewrote(conn, "prune")  # history taken out: screens read again
        for found in plans:
            self.report.add("revisions", found.revisions)
            self.report.add("segments", len(found.segments))
            self.report.add("objects", int(found.gone))
            self.report.bases += int(not found.gone)
            self.report.rewritten += int(found.rewrite is not None)

    def _rows(
        self, table: str, where: str, params: list[Any], into: set[int] | None = None
    ) -> Iterator[str]:
        """Remove the rows of ``table`` matching ``where``, ``ROWS`` at a time."""
        conn = self.conn
        select = f"SELECT id FROM {table} WHERE {where} ORDER BY id"
        if self.dry_run:
            ids = [int(r[0]) for r in conn.execute(select, params).fetchall()]
            self.report.add(table, len(ids))
            if into is not None:
                into.update(ids)
            return
        while True:
            ids = [int(r[0]) for r in conn.execute(f"{select} LIMIT {ROWS}", params).fetchall()]
            if not ids:
                return
            with conn:
                for chunk in chunks(ids):
                    conn.execute(f"DELETE FROM {table} WHERE id IN ({marks(chunk)})", chunk)
            self.report.add(table, len(ids))
            yield table

    def _git(self) -> Iterator[str]:
        conn = self.conn
        if self.cluster is None:
            repos = conn.execute("SELECT id FROM repos ORDER BY id").fetchall()
        else:
            repos = conn.execute(
                "SELECT id FROM repos WHERE cluster = ? ORDER BY id", (self.cluster,)
            ).fetchall()
        keep_commits = prune_git.run_commits(conn, without=self._runs)
        cache = codec.KeyframeCache(16)
        for (repo_id,) in repos:
            repo_id = int(repo_id)
            ref_ids = prune_git.ref_updates_to_remove(conn, repo_id, self.cut)
            if ref_ids and not self.dry_run:
                with conn:
                    prune_git.remove_ref_updates(conn, ref_ids)
                yield "ref_updates"
            self.report.add("ref_updates", len(ref_ids))
            self._refs.update(ref_ids)
            heads = prune_git.heads(conn, repo_id, ref_ids if self.dry_run else ())
            for group in prune_git.set_groups(conn, repo_id, heads, keep_commits):
                if not self.dry_run:
                    try:
                        with conn:
                            prune_git.remove_group(conn, repo_id, group, cache)
                    except prune_git.Named:
                        break  # the branch moved back meanwhile: its sets wait for next time
                    yield "desired_sets"
                self.report.add("desired_sets", len(group.dropped))
                self._sets.update(s.id for s in group.dropped)

    def _commits(self) -> Iterator[str]:
        conn = self.conn
        named = prune_git.named_commits(
            conn, without_refs=self._refs, without_sets=self._sets, without_runs=self._runs
        )
        old = [sha for sha in prune_git.old_commits(conn, self.cut) if sha not in named]
        if self.dry_run:
            self.report.add("commits", len(old))
            return
        for chunk in chunks(old):
            with conn:
                self.report.add("commits", prune_git.remove_commits(conn, chunk, self.cut))
            yield "commits"

    def _keyframes(self) -> Iterator[str]:
        """Keyframes no segment uses any more (shared ones stay while one does)."""
        if self.dry_run:
            return
        conn = self.conn
        unused = (
            "NOT EXISTS (SELECT 1 FROM segments s WHERE s.keyframe_id = keyframes.id)"
            if self.postgres
            else "id NOT IN (SELECT keyframe_id FROM segments)"
        )
        newest = _max_id(conn, "keyframes")
        ids = [
            int(r[0])
            for r in conn.execute(
                f"SELECT id FROM keyframes WHERE {unused} AND id < ? ORDER BY id", (newest,)
            ).fetchall()
        ]
        for start in range(0, len(ids), ROWS):
            part = ids[start : start + ROWS]
            with conn:
                for chunk in chunks(part):
                    # Tested again as they go: a segment written since may use one.
                    conn.execute(
                        f"DELETE FROM keyframes WHERE id IN ({marks(chunk)}) AND {unused}", chunk
                    )
            self.report.add("keyframes", len(part))
            yield "keyframes"

    # -- space -----------------------------------------------------------------------------
    def _size_before(self) -> None:
        self.report.bytes_before = self._size()

    def _size(self) -> int | None:
        conn = self.conn
        if self.postgres:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            return int(row[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        return pages * int(conn.execute("PRAGMA page_size").fetchone()[0])

    def _space(self) -> Iterator[str]:
        """Give the space back (see the module docstring), and measure what is left."""
        conn = self.conn
        if self.dry_run:
            return
        if self.postgres:
            if self.reclaim == "full":
                for table in _PG_TABLES:
                    conn.execute(f"VACUUM {table}")  # outside a transaction: autocommit
                self.report.space = "PostgreSQL VACUUM: the space is reused by what is written next"
                yield "space"
            self.report.bytes_after = self._size()
            return
        mode = int(conn.execute("PRAGMA auto_vacuum").fetchone()[0])
        if mode == 2 and self.reclaim != "none":
            # As a script: stepped to its end (a statement's first step frees one page).
            conn.executescript("PRAGMA incremental_vacuum;")
            self.report.space = "free pages given back (incremental vacuum)"
            yield "space"
        elif self.reclaim == "full":
            # Once per database made before auto_vacuum=INCREMENTAL: later prunes give
            # pages back without rewriting the file.
            try:
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                conn.execute("VACUUM")
            except UserError as exc:  # the disk too full for the copy VACUUM makes
                self.report.space = (
                    f"not given back ({exc}): the free pages are reused by what is recorded next"
                )
            else:
                self.report.space = "rewritten by VACUUM (incremental from now on)"
            yield "space"
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.report.bytes_after = self._size()
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        self.report.free_after = free * int(conn.execute("PRAGMA page_size").fetchone()[0])


def _max_id(conn: Any, table: str) -> int:
    row = conn.execute(f"SELECT max(id) FROM {table}").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def prune(
    db: StoreDB,
    before: str,
    *,
    cluster: str | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
    reclaim: Reclaim = "full",
    progress: StartProgress = quiet,
) -> PruneReport:
    """Remove the history of ``db`` older than ``before`` (stored text), keeping the state
    at ``before`` and everything after it exactly as it answers now (see the module
    docstring). The caller holds the writer lease of what is pruned."""
    return Pruner(
        db,
        before,
        cluster=cluster,
        dry_run=dry_run,
        batch=batch,
        reclaim=reclaim,
        progress=progress,
    ).run()


__all__ = [
    "BATCH",
    "META_KEY",
    "PruneReport",
    "Pruner",
    "evidence_from",
    "kept_from",
    "meta_key",
    "prune",
]

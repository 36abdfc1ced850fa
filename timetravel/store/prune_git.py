"""Pruning one repository's git facts (store.prune): where its branch pointed before the
cut, and the desired sets nothing kept names.

Kept: every ref update at or after the cut and the one in force just before it (desired
state at any T from the cut on reads it); the desired sets of the commits those point to,
of the commits kept pipeline runs name (whole or abbreviated: what a run deployed is
weighed against it), the repository's latest set (a recorder's next set is compressed
against it), and the set each of those is a delta against.

``declared_changes`` says, per set, which objects' entries differ from the repository's
previous set (store.declared); the version of an object in a set is its latest row at or
before it. When sets go, the set after them is compared with the set before them (none: it
lists every object it declares) and its rows are written again, in the same transaction:
each transaction leaves a history whose versions answer as before for every kept set.
Runs of sets are removed newest first, so a set is never removed before the deltas against
it (PostgreSQL checks the reference).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from timetravel.store import codec, declared
from timetravel.store.copy_parts import chunks, marks


@dataclass(frozen=True)
class SetRow:
    id: int
    sha: str
    keyframe_id: int | None


@dataclass(frozen=True)
class Group:
    """Sets removed together: a run of consecutive sets (by id) nothing keeps, and the
    kept set after them (None: the run is the repository's newest, never the case while
    the newest set is kept), and the kept set before them (None: they are the first)."""

    dropped: tuple[SetRow, ...]
    following: SetRow | None
    preceding: SetRow | None


def ref_updates_to_remove(conn: Any, repo_id: int, cut: str) -> list[int]:
    """The ids of the ref updates before ``cut`` but the one in force just before it."""
    rows = conn.execute(
        "SELECT id FROM ref_updates WHERE repo_id = ? AND observed_at < ? "
        "ORDER BY observed_at DESC, id DESC",
        (repo_id, cut),
    ).fetchall()
    return [int(r[0]) for r in rows[1:]]


def remove_ref_updates(conn: Any, ids: Sequence[int]) -> None:
    for chunk in chunks(list(ids)):
        conn.execute(f"DELETE FROM ref_updates WHERE id IN ({marks(chunk)})", chunk)


def run_commits(conn: Any, without: Collection[int] = ()) -> list[str]:
    """The commits pipeline runs name (lower case, as sets are filed), but the runs with
    the ids given (a dry run's), for the sets they keep."""
    gone = set(without)
    rows = conn.execute(
        "SELECT id, commit_sha FROM pipeline_runs WHERE commit_sha IS NOT NULL"
    ).fetchall()
    return sorted(
        {
            str(sha).strip().lower()
            for run_id, sha in rows
            if int(run_id) not in gone and len(str(sha).strip()) >= 7
        }
    )


def heads(conn: Any, repo_id: int, removed: Sequence[int] = ()) -> set[str]:
    """The commits the repository's ref updates point to, but those of ``removed``."""
    gone = set(removed)
    rows = conn.execute("SELECT id, sha FROM ref_updates WHERE repo_id = ?", (repo_id,))
    return {str(sha) for rid, sha in rows.fetchall() if int(rid) not in gone}


def set_groups(
    conn: Any, repo_id: int, heads: set[str], keep_commits: Sequence[str]
) -> list[Group]:
    """The runs of sets to remove, newest first (see the module docstring): the sets of
    ``heads`` are kept, and those of commits starting with one of ``keep_commits``."""
    sets = [
        SetRow(int(r[0]), str(r[1]), None if r[2] is None else int(r[2]))
        for r in conn.execute(
            "SELECT id, sha, keyframe_id FROM desired_sets WHERE repo_id = ? ORDER BY id",
            (repo_id,),
        ).fetchall()
    ]
    if not sets:
        return []
    prefixes = tuple(keep_commits)
    kept = {s.id for s in sets if s.sha in heads or (prefixes and s.sha.startswith(prefixes))}
    kept.add(sets[-1].id)
    kept |= {s.keyframe_id for s in sets if s.id in kept and s.keyframe_id is not None}
    groups: list[Group] = []
    run: list[SetRow] = []
    preceding: SetRow | None = None
    for s in sets:
        if s.id not in kept:
            run.append(s)
            continue
        if run:
            groups.append(Group(tuple(run), s, preceding))
            run = []
        preceding = s
    if run:
        groups.append(Group(tuple(run), None, preceding))
    groups.reverse()
    return groups


def remove_group(conn: Any, repo_id: int, group: Group, cache: codec.KeyframeCache) -> None:
    """Remove one group's sets and index the set after them against the set before them,
    in the caller's transaction. Raises :class:`Named` (roll back: nothing done) when a ref
    update names one of them now (a branch moved back to it since the groups were
    planned)."""
    ids = [s.id for s in group.dropped]
    shas = [s.sha for s in group.dropped]
    # A write first: from here SQLite holds the write lock, so what is read next is what
    # every other writer committed, and stays so until this commits.
    for chunk in chunks(ids):
        conn.execute(f"DELETE FROM declared_changes WHERE set_id IN ({marks(chunk)})", chunk)
    for chunk in chunks(shas):
        named = conn.execute(
            f"SELECT 1 FROM ref_updates WHERE repo_id = ? AND sha IN ({marks(chunk)}) LIMIT 1",
            [repo_id, *chunk],
        ).fetchone()
        if named is not None:
            raise Named(repo_id)
    following = group.following
    if following is not None:
        before = _index(conn, group.preceding.id, cache) if group.preceding else None
        conn.execute("DELETE FROM declared_changes WHERE set_id = ?", (following.id,))
        current = _index(conn, following.id, cache)
        declared.record_changes(_Db(conn), repo_id, following.id, before, current)
    for chunk in chunks(ids):
        conn.execute(f"DELETE FROM desired_sets WHERE id IN ({marks(chunk)})", chunk)


class Named(Exception):
    """A set planned for removal is a branch's head again: its group is rolled back."""


class _Db:
    """The store handle declared.record_changes takes, over a connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Any = None) -> Any:
        return self.conn.execute(sql, parameters or ())


def _index(conn: Any, set_id: int, cache: codec.KeyframeCache) -> declared.Index:
    row = conn.execute(
        "SELECT d.keyframe_id, d.body, k.body FROM desired_sets d "
        "LEFT JOIN desired_sets k ON k.id = d.keyframe_id WHERE d.id = ?",
        (set_id,),
    ).fetchone()
    if row is None:
        return {}
    keyframe_body = None if row[2] is None else bytes(row[2])
    raw = codec.decode_body(bytes(row[1]), row[0], keyframe_body, cache, set_id)
    return declared.index_of_stored(codec.loads(raw)["objects"] if raw else [])


def old_commits(conn: Any, cut: str) -> list[str]:
    """The commits older than ``cut``."""
    rows = conn.execute("SELECT sha FROM commits WHERE committed_at < ?", (cut,))
    return sorted(str(r[0]) for r in rows.fetchall())


def named_commits(
    conn: Any,
    *,
    without_refs: Collection[int] = (),
    without_sets: Collection[int] = (),
    without_runs: Collection[int] = (),
) -> set[str]:
    """The commits a ref update, a desired set or a pipeline run names, but those with
    the ids given (what a dry run would have removed by then)."""
    out: set[str] = set()
    for sql, ids in (
        ("SELECT id, sha, previous_sha FROM ref_updates", without_refs),
        ("SELECT id, sha, NULL FROM desired_sets", without_sets),
        (
            "SELECT id, commit_sha, NULL FROM pipeline_runs WHERE commit_sha IS NOT NULL",
            without_runs,
        ),
    ):
        without = set(ids)
        for row_id, a, b in conn.execute(sql).fetchall():
            if int(row_id) not in without:
                out.update(str(x) for x in (a, b) if x)
    return out


def remove_commits(conn: Any, shas: Sequence[str], cut: str) -> int:
    """Remove these commits where they are still older than ``cut`` and named by nothing
    (tested again here, in the caller's transaction); how many went."""
    cursor = conn.execute(
        f"DELETE FROM commits WHERE sha IN ({marks(shas)}) AND committed_at < ? " + _UNNAMED,
        [*shas, cut],
    )
    return max(int(cursor.rowcount), 0)


_UNNAMED = (
    "AND sha NOT IN (SELECT sha FROM ref_updates) "
    "AND sha NOT IN (SELECT previous_sha FROM ref_updates WHERE previous_sha IS NOT NULL) "
    "AND sha NOT IN (SELECT sha FROM desired_sets) "
    "AND sha NOT IN (SELECT commit_sha FROM pipeline_runs WHERE commit_sha IS NOT NULL)"
)

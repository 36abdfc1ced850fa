"""Copying a recorded history from one store to another (``timetravel copy``).

:func:`copy_store` copies between any two stores (SQLite or PostgreSQL, either way). It
is idempotent and resumable: every batch is one target transaction, and a fact already in
the target (by its natural key, below) is skipped, so a copy run twice adds nothing and a
copy killed at any point (SIGKILL included) is finished by running it again.

Revisions are read along the source's time index (by time, then id), a batch at a time.
Each copied revision gets a new id, taken as the target's writer takes them (SQLite's
counter in ``meta``, PostgreSQL's ``revision_ids`` blocks), so none collides with the
target's own ids, in the order read: ids only break ties between revisions of one instant
(readers order by time, then id), and batches commit in time order, so a copy (finished
by a rerun or not) orders them as the source does. Only revisions of one instant that two
different copies brought (a ``since`` copy completed later by a whole one) come in the
order they were copied.

The ids are inside the segment entries too, so segments are decoded and encoded again:
always, one path for every case (100,000 revisions of 10,893 objects copy file to file in
12-16 s, into PostgreSQL in 21 s, out of it in 12 s). A revision continues the object's
latest target segment when that segment continues the same source segment, else starts
one against the source segment's keyframe, whose row is copied byte for byte: into an
empty store the copy has the source's segments and keyframes, ids aside. A revision older
than the object's latest in the target (two histories merged) goes into the segment whose
time span it holds, as the writer places a late one. A later run (a rerun after an
interruption, a copy of what is new) may store once more a keyframe that objects share
(~1 KB each): the answers are the same.

Natural keys: a revision by its object's identity, ``observed_at``, resourceVersion and
change; a gap by (cluster, source, started_at, ended_at); a Warning event by its
``dedupe_key``; a commit by sha; a repository by (path, branch); a ref update by
(repository, observed_at, sha); a desired set by (repository, sha); a pipeline run by
(provider, pipeline, run_id), a later report of it replacing an earlier one; an audit event
by ``audit_id``, a later stage replacing an earlier one.

Not copied: ``manifest_cache`` (rebuilt when needed), ``declared_changes`` (made again for
each desired set written: it is relative to the target's previous set), ``pod_digests``
(made for each Pod revision written, as the writer makes it: store.pod_digests),
``recorder_state`` (each recorder's own liveness: the target's recorders keep theirs).

``cluster`` copies one cluster: its objects, gaps and Warning events, the repositories that
feed it (bound to it or to none) with their commits, and every pipeline run and audit
event (neither says which cluster it was about; the causes of the cluster's changes read
them as they do in the source). ``since`` copies facts observed at or after it, plus for
each object its latest revision before it when the object was live then or changes after
it (the state at ``since`` and every change after it answer as in the source), and for
each repository where its branch pointed then.

The work is in store.copy_revisions (revisions, segments, keyframes) and store.copy_facts
(the rest); store.copy_parts holds what they share.
"""

from __future__ import annotations

import time
from typing import Any

from timetravel.errors import UserError
from timetravel.store import copy_revisions
from timetravel.store.copy_facts import FactCopy
from timetravel.store.copy_parts import (
    CopyReport,
    Scope,
    StartProgress,
    Tally,
    meta,
    quiet,
    where_of,
)
from timetravel.store.copy_revisions import RevisionCopy
from timetravel.store.handle import StoreDB
from timetravel.store.secret_key import PER_OBJECT, key_id, save_key

__all__ = [
    "CopyReport",
    "Scope",
    "StartProgress",
    "Tally",
    "adopt_key",
    "clusters_to_copy",
    "copy_store",
]


def _key_of(conn: Any) -> tuple[str | None, str | None]:
    """(key id, scheme) a store's Secret values are hashed with; the id None when none
    was set up. A store written before the key left the database still holds the key."""
    kid = meta(conn, "redaction_key_id")
    if kid is None and (legacy := meta(conn, "redaction_key")) is not None:
        kid = key_id(bytes.fromhex(legacy))
    return kid, meta(conn, "redaction_scheme")


def _scheme_name(scheme: str | None) -> str:
    return "per Secret" if scheme == PER_OBJECT else "shared"


def adopt_key(source: StoreDB, target: StoreDB) -> None:
    """Make the target hash Secret values as the source did: a target without a key takes
    the source's key id and scheme (the key itself stays outside both). A UserError when
    the target already hashes with another key or scheme: a copy would show every Secret
    as changed where its two histories meet."""
    source_id, source_scheme = _key_of(source.conn)
    if source_id is None:
        return  # nothing in the source was hashed
    legacy = meta(source.conn, "redaction_key")
    if legacy is not None:
        # Only in this old source: kept where the target's writers look for it, as the
        # source's next writer would (store.secret_key).
        save_key(bytes.fromhex(legacy))
    target_id, target_scheme = _key_of(target.conn)
    if target_id is None:
        with target.conn:
            for key, value in (
                ("redaction_key_id", source_id),
                ("redaction_scheme", source_scheme),
            ):
                if value is not None:
                    target.conn.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )
        return
    if (target_id, target_scheme == PER_OBJECT) != (source_id, source_scheme == PER_OBJECT):
        raise UserError(
            f"cannot copy: {where_of(source)} hashes Secret values with key {source_id} "
            f"({_scheme_name(source_scheme)}), {where_of(target)} with key {target_id} "
            f"({_scheme_name(target_scheme)}); copy into a new store"
        )


def clusters_to_copy(source: StoreDB, cluster: str | None) -> list[str]:
    """The source's clusters a copy takes; a UserError naming the choices when ``cluster``
    is not one of them."""
    names = [str(r[0]) for r in source.conn.execute("SELECT name FROM clusters ORDER BY name")]
    if cluster is None:
        return names
    if cluster not in names:
        have = ", ".join(names) or "none"
        raise UserError(f"{where_of(source)}: no cluster {cluster!r} (it has: {have})")
    return [cluster]


def copy_store(
    source: StoreDB,
    target: StoreDB,
    scope: Scope | None = None,
    *,
    progress: StartProgress = quiet,
    batch: int | None = None,
) -> CopyReport:
    """Copy what ``scope`` names from ``source`` into ``target`` (see the module docstring);
    returns what was added and what was already there."""
    started = time.monotonic()
    scope = scope or Scope()
    report = CopyReport()
    clusters = clusters_to_copy(source, scope.cluster)
    adopt_key(source, target)
    _copy_clusters(source, target, clusters, report)
    RevisionCopy(source, target, scope, report, batch or copy_revisions.BATCH).run(progress)
    facts = FactCopy(source, target, scope, report)
    facts.run(progress)
    report.seconds = time.monotonic() - started
    return report


def _copy_clusters(
    source: StoreDB, target: StoreDB, clusters: list[str], report: CopyReport
) -> None:
    rows = [
        r
        for r in source.conn.execute(
            "SELECT name, server, context, first_seen FROM clusters ORDER BY name"
        ).fetchall()
        if r[0] in clusters
    ]
    with target.conn:
        for row in rows:
            cursor = target.conn.execute(
                "INSERT INTO clusters (name, server, context, first_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                tuple(row),
            )
            report.add("clusters", cursor.rowcount, 1 - cursor.rowcount)

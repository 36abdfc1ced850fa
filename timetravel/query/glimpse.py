"""The rows a far jump shows first: a screen of them around the selection, before the rest.

A far jump (go to, home, end, a click on a zoomed-out timeline) reads the state in full and
makes every row: half a second at 10,000 objects, seconds at 100,000, most of it spent on
rows no one sees yet. :func:`glimpse` makes the rows the list shows first instead:

- every row's key, from the identities alive around the moment (``Reader.alive_around``:
  the lifetimes of ``resources``, one scan, nothing decoded) and the objects git declares
  then that none of them is (missing);
- the rows within ``span`` of the selected one, made exactly as a build makes them (their
  revisions read with the same seek, compared with git under the moment's ignore rules);
  an identity listed alive that was in fact deleted then (an object made again later
  keeps its identity) is dropped there;
- every other row :data:`~timetravel.query.rows.PENDING`: its key, nothing else.

The set is marked incomplete (no counts yet) and the screen asks for the whole moment
next (``incremental.build``), which replaces it: the same rows where the glimpse made
them (``tests/test_glimpse.py`` compares them on both engines).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime

from timetravel.domain.model import ResourceKey
from timetravel.query.desired import DesiredKey, DesiredState
from timetravel.query.ignore_policy import IgnorePolicy
from timetravel.query.incremental import dkey_of, repos_of
from timetravel.query.rows import (
    ResourceRow,
    ResourceSet,
    Rows,
    Stop,
    check,
    missing_key,
    never,
    pending_row,
    row_order,
)
from timetravel.query.scope import Scope
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# Rows made on either side of the selected one: more than a tall terminal shows, so the
# list can be scrolled a page before the whole set lands.
SPAN = 120
# Fewer objects alive than this, the screen builds the moment at once (a tenth of a
# second): a glimpse would only flash "counting…".
LEAST = 3000


def glimpse(
    reader: Reader,
    desired: DesiredState,
    rows: Rows,
    at: datetime,
    stored: str,
    scope: Scope,
    clusters: Sequence[str],
    policy: IgnorePolicy,
    near: ResourceKey | None,
    span: int | None = None,
    stop: Stop = never,
    least: int = 0,
) -> ResourceSet | None:
    """The rows around ``near`` (the first rows when it is not listed) made, the others
    pending; None where the store cannot list identities without reading them (no
    lifetimes), or where fewer than ``least`` are alive: the caller builds the moment in
    full. ``span``: rows made on either side (None: :data:`SPAN`, read at the call)."""
    span = SPAN if span is None else span
    check(stop)
    alive = reader.alive_around(stored, cluster=scope.revisions)
    if alive is None or len(alive) < least:
        return None
    sides, declared = desired.merged_at(stored, scope.cluster)
    check(stop)
    cluster = clusters[0] if clusters else "default"
    # The identities of each declared key (several where the list shows every cluster):
    # whether any is live decides if the object is missing.
    same: dict[DesiredKey, list[tuple[int, ResourceKey]]] = {}
    for ident, key in alive:
        dkey = (key.group, key.kind, key.namespace, key.name)
        if dkey in declared:
            same.setdefault(dkey, []).append((ident, key))
    missing = {
        missing_key(dkey, match, cluster): match
        for dkey, match in declared.items()
        if dkey not in same
    }
    keys: list[tuple[int | None, ResourceKey]] = list(alive)  # in the list's order
    if missing:
        keys = list(heapq.merge(keys, sorted(((None, k) for k in missing), key=_order), key=_order))
    check(stop)
    centre = 0
    if near is not None:
        centre = next((i for i, (_, key) in enumerate(keys) if key == near), 0)
    lo, hi = max(0, centre - span), min(len(keys), centre + span + 1)
    window = keys[lo:hi]
    wanted: set[int] = set()
    for some, key in window:
        if some is not None:
            wanted.add(some)
            wanted.update(r for r, _ in same.get(dkey_of(key), ()))
    found = reader.states_of(sorted(wanted), stored)

    def live(rid: int) -> RevisionRecord | None:
        record = found.get(rid)
        return None if record is None or record.deleted else record

    made: dict[ResourceKey, ResourceRow] = {}
    records: dict[ResourceKey, RevisionRecord] = {}
    for rid, key in window:
        dkey = dkey_of(key)
        match = declared.get(dkey)
        last: RevisionRecord | None
        if rid is None:
            row, last = rows.missing_row(reader, key, missing[key], stored)
        elif (last := live(rid)) is not None:
            row = rows.live_row(last, match, policy)
        elif match is not None and not any(live(other) for other, _ in same[dkey]):
            # Listed alive, deleted then (made again later), and git declares it: missing,
            # as a build says.
            row, last = rows.missing_row(reader, missing_key(dkey, match, cluster), match, stored)
        else:
            continue  # listed alive, deleted then: not a row
        made[row.key] = row
        if last is not None:
            records[row.key] = last
    listed = [pending_row(key) for _, key in keys[:lo]]
    listed.extend(made.values())
    listed.extend(pending_row(key) for _, key in keys[hi:])
    shown = {key for _, key in window}
    if any(key not in shown for key in made):
        listed.sort(key=row_order)  # a deleted identity's key became a missing one's
    return ResourceSet(
        at=at,
        rows=tuple(listed),
        counts={},  # not known yet: the whole moment brings them
        clusters=tuple(clusters),
        repos=repos_of(sides),
        cluster=scope.cluster,
        records=records,
        positions={row.key: index for index, row in enumerate(listed)},
        complete=False,
    )


def _order(entry: tuple[int | None, ResourceKey]) -> tuple[str, str, str, str]:
    key = entry[1]
    return (key.namespace, key.kind, key.name, key.cluster)

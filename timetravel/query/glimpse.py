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

from collections.abc import Sequence
from datetime import datetime

from timetravel.domain.model import ResourceKey
from timetravel.query.desired import DeclaredObject, DesiredKey, DesiredState
from timetravel.query.ignore_policy import IgnorePolicy
from timetravel.query.incremental import dkey_of, repos_of
from timetravel.query.rows import (
    PENDING,
    ResourceRow,
    ResourceSet,
    Rows,
    Stop,
    check,
    count_rows,
    missing_key,
    never,
    row_order,
)
from timetravel.query.scope import Scope
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# Rows made on either side of the selected one: more than a tall terminal shows, so the
# list can be scrolled a page before the whole set lands.
SPAN = 120


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
    span: int = SPAN,
    stop: Stop = never,
) -> ResourceSet | None:
    """The rows around ``near`` (the first rows when it is not listed) made, the others
    pending; None where the store cannot list identities without reading them (no
    lifetimes): the caller builds the moment in full."""
    check(stop)
    alive = reader.alive_around(stored, cluster=scope.revisions)
    if alive is None:
        return None
    sides, declared = desired.merged_at(stored, scope.cluster)
    check(stop)
    cluster = clusters[0] if clusters else "default"
    live_dkeys = {dkey_of(key) for key in alive.values()}
    ids = {key: rid for rid, key in alive.items()}
    missing: dict[ResourceKey, DeclaredObject] = {
        missing_key(dkey, match, cluster): match
        for dkey, match in declared.items()
        if dkey not in live_dkeys
    }
    keys = sorted([*ids, *missing], key=_key_order)
    check(stop)
    centre = 0
    if near is not None:
        try:
            centre = keys.index(near)
        except ValueError:
            centre = 0
    lo, hi = max(0, centre - span), min(len(keys), centre + span + 1)
    window = keys[lo:hi]
    # The revisions of the window's objects, and of every identity of a declared one's key
    # (another cluster's): whether any of them is live decides if it is missing.
    same: dict[DesiredKey, list[ResourceKey]] = {}
    for key in ids:
        same.setdefault(dkey_of(key), []).append(key)
    wanted: set[ResourceKey] = set()
    for key in window:
        if key in ids:
            wanted.add(key)
            if dkey_of(key) in declared:
                wanted.update(same[dkey_of(key)])
    found = reader.states_of([ids[k] for k in wanted], stored)

    def live(key: ResourceKey) -> RevisionRecord | None:
        record = found.get(ids[key])
        return None if record is None or record.deleted else record

    made: dict[ResourceKey, ResourceRow] = {}
    records: dict[ResourceKey, RevisionRecord] = {}
    for key in window:
        dkey = dkey_of(key)
        match = declared.get(dkey)
        last: RevisionRecord | None
        if key in missing:
            row, last = rows.missing_row(reader, key, missing[key], stored)
        elif (last := live(key)) is not None:
            row = rows.live_row(last, match, policy)
        elif match is not None and not any(live(other) for other in same[dkey]):
            # Listed alive, deleted then (made again later), and git declares it: missing,
            # as a build says.
            row, last = rows.missing_row(reader, missing_key(dkey, match, cluster), match, stored)
        else:
            continue  # listed alive, deleted then: not a row
        made[row.key] = row
        if last is not None:
            records[row.key] = last
    listed = [ResourceRow(key, PENDING, None, None, None) for key in keys[:lo]]
    listed.extend(made.values())
    listed.extend(ResourceRow(key, PENDING, None, None, None) for key in keys[hi:])
    if any(key not in ids and key not in missing for key in made):
        listed.sort(key=row_order)  # a deleted identity's key became a missing one's
    return ResourceSet(
        at=at,
        rows=tuple(listed),
        counts=count_rows(listed),
        clusters=tuple(clusters),
        repos=repos_of(sides),
        cluster=scope.cluster,
        records=records,
        positions={row.key: index for index, row in enumerate(listed)},
        complete=False,
    )


def _key_order(key: ResourceKey) -> tuple[str, str, str, str]:
    return (key.namespace, key.kind, key.name, key.cluster)

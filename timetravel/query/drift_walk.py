"""The drift open at the cursor, for the screen: walked back from the cursor, stoppable.

:func:`timetravel.query.drift.drift_history` builds every drift interval of a resource from the
first revision, with the desired set of every commit the branch ever moved to: seconds
to tens of seconds on a long history, and nothing can stop it. The screen only needs the
interval open at the cursor, so this walks back from the cursor through the same events
(the resource's revisions, the branch's moves) and stops at the first one after which
the resource was not drifted. States are kept by event, so moving the cursor later reuses
them; ``stop`` is looked at between events.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from timetravel.domain.drift import DriftInterval
from timetravel.domain.model import ResourceKey
from timetravel.query.causes import CauseFinder
from timetravel.query.desired import DesiredState
from timetravel.query.ignore_policy import NO_RULES, IgnorePolicy
from timetravel.query.moment import CompareCache, compare
from timetravel.query.rows import Stop, check
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# States kept by (resource, event); beyond this many they start over.
STATES_KEPT = 200_000


@dataclass(frozen=True)
class _Event:
    at: str
    change: RevisionRecord | None  # None: the branch moved
    live: RevisionRecord | None  # the revision live just after the event (None: not live)
    before: RevisionRecord | None = None  # for a change: the revision before it


class DriftWalker:
    """Finds open drift intervals over one store; one per screen (states are shared)."""

    def __init__(self, compare_cache: CompareCache) -> None:
        self._compare_cache = compare_cache
        self._states: dict[tuple[object, ...], str] = {}

    def forget(self) -> None:
        self._states.clear()

    def open_at(
        self,
        reader: Reader,
        desired: DesiredState,
        causes: CauseFinder,
        key: ResourceKey,
        at: str,
        stop: Stop,
        cluster: str | None = None,
        policy: IgnorePolicy = NO_RULES,
    ) -> DriftInterval | None:
        """The drift interval of ``key`` open at ``at`` (None when it is not drifted),
        as :func:`timetravel.query.drift.drift_history` would end; desired state is what
        the repositories feeding ``cluster`` declare (None: every repository)."""
        latest = reader.object_at(key, at)
        if latest is None:
            return None
        events = _events(reader, desired, latest, at, cluster)
        dkey = (key.group, key.kind, key.namespace, key.name)
        opened: _Event | None = None
        for event in reversed(events):
            check(stop)
            if self._state(desired, latest.resource_id, dkey, event, cluster, policy) != "drifted":
                break
            opened = event
        if opened is None:
            return None
        if opened.change is None:
            return DriftInterval(opened.at, None, "commit", None, None)
        why = causes.explain(opened.change, opened.before)
        return DriftInterval(opened.at, why.actor, why.cause, None, None)

    def _state(
        self,
        desired: DesiredState,
        resource_id: int,
        dkey: tuple[str, str, str, str],
        event: _Event,
        cluster: str | None,
        policy: IgnorePolicy = NO_RULES,
    ) -> str:
        version = desired.version_at(dkey, event.at, cluster)
        live_id = event.live.id if event.live is not None else None
        # With the declared-object index a state is known by what was live and which
        # version git declared, whatever the commit; without it, by event.
        known_key: tuple[object, ...] = (
            (resource_id, event.at, event.change.id if event.change else None, cluster)
            if version is None
            else (resource_id, live_id, version, cluster)
        ) + (policy.fingerprint,)
        known = self._states.get(known_key)
        if known is None:
            if version is None:
                declared = desired.merged_at(event.at, cluster)[1].get(dkey)
            else:
                declared = desired.declared(dkey, event.at, version, cluster)
            known, _ = compare(declared, event.live, self._compare_cache, policy)
            if len(self._states) >= STATES_KEPT:
                self._states.clear()
            self._states[known_key] = known
        return known


def _events(
    reader: Reader, desired: DesiredState, latest: RevisionRecord, at: str, cluster: str | None
) -> list[_Event]:
    """The resource's revisions and the moves of the branches feeding ``cluster`` up to
    ``at``, oldest first; a move at the same instant as a revision comes first (as in
    ``drift_history``)."""
    revisions = list(reversed(reader.history(latest.resource_id, until=at)))
    times = [r.observed_at for r in revisions]
    moves = sorted({u.observed_at for u, _ in desired.ref_updates_between("", at, cluster)})
    events: list[_Event] = []
    for move in moves:
        # Live at the move: the latest revision strictly before it.
        index = bisect_right(times, move) - 1
        while index >= 0 and times[index] == move:
            index -= 1
        events.append(_Event(move, None, _alive(revisions[index]) if index >= 0 else None))
    before: RevisionRecord | None = None
    for record in revisions:
        events.append(_Event(record.observed_at, record, _alive(record), before))
        before = record
    events.sort(key=lambda e: (e.at, e.change is not None))
    return events


def _alive(record: RevisionRecord) -> RevisionRecord | None:
    return None if record.deleted else record

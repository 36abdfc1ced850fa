"""What one reflector's watch carries to the writer, and how a watch is kept honest.

A reflector lists, then watches from the list's resourceVersion; the messages here go
through the recorder's queue to its one writer: observations, a (re)list's end
(``ListDone``, so vanished objects become inferred deletes) and Warning Events.
:class:`WatchStream` holds back the first events of a watch until it is clear whether the
server honoured the resourceVersion asked for or replayed everything.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from timetravel.domain.model import Observation, ResourceKey
from timetravel.sources.kube import ResourceType

REPLAY_WINDOW = 2.0  # seconds at the start of a watch in which a replay would show


@dataclass(frozen=True)
class ListDone:
    """A (re)list finished: these keys were present; others of the scope are gone."""

    cluster: str
    rtype: ResourceType
    namespace: str | None
    present: frozenset[ResourceKey]
    observed_at: str


@dataclass(frozen=True)
class WarningSeen:
    """A Warning Event seen on a watch, kept as a timeline observation."""

    cluster: str
    observed_at: str
    event: dict[str, Any]


@dataclass
class Stats:
    """What the status lines report, counted from the reflector and writer threads."""

    events: int = 0
    revisions: int = 0
    warnings: int = 0
    gaps: int = 0
    errors: int = 0
    relists: int = 0
    last_error: str | None = None
    types: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Reflectors waiting to reconnect, by (type, namespace): the backoff they wait.
    backing_off: dict[tuple[str, str | None], float] = field(default_factory=dict)
    # What /metrics breaks down (recorder/metrics.py reads them when scraped, so counting
    # costs the hot path one lock per event, as the total alone did).
    events_by_type: dict[str, int] = field(default_factory=dict)
    revisions_by_change: dict[str, int] = field(default_factory=dict)
    revisions_by_type: dict[tuple[str, str], int] = field(default_factory=dict)  # (type, change)
    gaps_by_source: dict[str, int] = field(default_factory=dict)
    relists_by_type: dict[str, int] = field(default_factory=dict)
    # time.monotonic() of the last event, bookmark or list, by reflector (type, namespace).
    heard_at: dict[tuple[str, str | None], float] = field(default_factory=dict)
    last_event_at: float | None = None  # time.monotonic() of the last watch event
    write_failures: int = 0

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def heard(self, reflector: tuple[str, str | None], *, event: bool) -> None:
        """A reflector received a watch event (``event``), or a bookmark or a list."""
        now = time.monotonic()
        with self.lock:
            self.heard_at[reflector] = now
            if event:
                self.events += 1
                name = reflector[0]
                self.events_by_type[name] = self.events_by_type.get(name, 0) + 1
                self.last_event_at = now

    def wrote(
        self, by_change: dict[str, int], by_type: dict[tuple[str, str], int] | None = None
    ) -> None:
        """Revisions were written, by change (created, updated, deleted), and by resource
        type and change."""
        with self.lock:
            for change, n in by_change.items():
                self.revisions += n
                self.revisions_by_change[change] = self.revisions_by_change.get(change, 0) + n
            for key, n in (by_type or {}).items():
                self.revisions_by_type[key] = self.revisions_by_type.get(key, 0) + n

    def gap(self, source: str, relisted: str | None = None) -> None:
        """A gap of ``source`` was written; ``relisted``: the resource type it relisted."""
        with self.lock:
            self.gaps += 1
            self.gaps_by_source[source] = self.gaps_by_source.get(source, 0) + 1
            if relisted is not None:
                self.relists += 1
                self.relists_by_type[relisted] = self.relists_by_type.get(relisted, 0) + 1

    def waiting(self, reflector: tuple[str, str | None], delay: float | None) -> None:
        """A reflector backs off for ``delay`` seconds before reconnecting; None: it is
        connected again."""
        with self.lock:
            if delay is None:
                self.backing_off.pop(reflector, None)
            else:
                self.backing_off[reflector] = delay

    def reconnecting(self) -> tuple[int, float]:
        """How many resource types are backing off, and the longest wait among them."""
        with self.lock:
            waits = dict(self.backing_off)
        return len({name for name, _ in waits}), max(waits.values(), default=0.0)


def _rv_number(rv: str | None) -> int | None:
    """A resourceVersion as a number, or None. resourceVersions are opaque by contract, but
    kube-apiserver serves etcd revisions (increasing integers); anything else turns the
    replay check off rather than guessing."""
    return int(rv) if rv and rv.isdigit() else None


def later_rv(current: str | None, new: str) -> str:
    """The resourceVersion to resume from: never moved back by a replayed older event."""
    old_n, new_n = _rv_number(current), _rv_number(new)
    if old_n is not None and new_n is not None and new_n < old_n:
        return str(current)
    return new


def _track(present: set[ResourceKey], kind: str, obj: dict[str, Any], cluster: str) -> None:
    try:
        key = ResourceKey.of(obj, cluster)
    except (KeyError, TypeError):
        return
    if kind == "DELETED":
        present.discard(key)
    else:
        present.add(key)


def _inferred(obs: Observation) -> Observation:
    """``obs`` as what a list said exists, not a change seen when it happened."""
    return replace(obs, inferred=True, source="list")


class WatchStream:
    """One watch's defence against a server that ignores the resourceVersion asked for.

    Such a server replays every object as ADDED at the start of the watch. An honest one
    only sends events after that resourceVersion, in increasing order; so an event at or
    before it (or an out-of-order one in the leading ADDED events) shows a replay. Leading
    ADDED events are held until the stream shows which it is (for ``REPLAY_WINDOW``
    seconds at most: a replay comes first, in one burst). In a replay, versions already
    known are skipped and the others are inferred: they say what exists, not when it
    changed.
    """

    def __init__(self, rv: str | None, *, track: bool) -> None:
        self.start = _rv_number(rv)
        self.last = self.start
        self.replayed = False
        self.leading = track
        self.held: list[Observation] = []
        self.opened = time.monotonic()
        # Until the first bookmark: which objects the stream showed, for a replay's deletes.
        self.present: set[ResourceKey] | None = set() if track else None

    def stale(self, rv: Any) -> bool:
        """True for a version at or before the one asked for: a replay, and already known."""
        number = _rv_number(str(rv) if rv else None)
        if self.start is not None and number is not None and number <= self.start:
            self.replayed = True
            return True
        return False

    def route(self, obs: Observation, rv: Any) -> list[Observation]:
        """What to queue now for this event: nothing while held or skipped."""
        if self.present is not None:
            _track(self.present, obs.event, obs.obj, obs.cluster)
        if self.stale(rv):
            return self.release()
        if not (self.leading and obs.event == "ADDED"):
            return [*self.end_leading(), obs]
        number = _rv_number(str(rv) if rv else None)
        if number is not None and self.last is not None and number <= self.last:
            self.replayed = True
        if number is not None:
            self.last = number if self.last is None else max(self.last, number)
        if self.replayed:
            return [*self.release(), _inferred(obs)]
        if time.monotonic() - self.opened <= REPLAY_WINDOW:
            self.held.append(obs)
            return []
        return [*self.end_leading(), obs]  # no sign of a replay: an honest stream

    def release(self) -> list[Observation]:
        held, self.held = self.held, []
        return [_inferred(o) for o in held] if self.replayed else held

    def end_leading(self) -> list[Observation]:
        self.leading = False
        return self.release()

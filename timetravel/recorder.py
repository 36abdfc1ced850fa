"""The live recorder: reflectors (list, then watch) feeding one writer through a bounded queue.

Each resource type has a reflector thread: a paginated list, then a watch from the
list's resourceVersion with bookmarks. The reflector tracks the resourceVersion itself,
re-watches from it after a dropped or silent connection (nothing is missed: the server
replays from there), and relists on 410 Expired; a relist is reconciled against the store
(changed objects become inferred revisions, vanished ones inferred deletes) and the span
it could not see is recorded as a gap. One writer thread owns the database.
"""

from __future__ import annotations

import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from timetravel.domain.model import Gap, Observation, ResourceKey
from timetravel.domain.times import to_stored, utc_now
from timetravel.errors import UserError
from timetravel.sources.kube import DEFAULT_EXCLUDED, Expired, Kube, KubeError, ResourceType
from timetravel.store.db import open_database
from timetravel.store.writer import RecorderState, RevisionWriter, record_warning_event

QUEUE_SIZE = 5000
BATCH = 1000


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
    cluster: str
    observed_at: str
    event: dict[str, Any]


@dataclass
class Stats:
    events: int = 0
    revisions: int = 0
    warnings: int = 0
    gaps: int = 0
    errors: int = 0
    relists: int = 0
    last_error: str | None = None
    types: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


class MonotonicClock:
    """UTC now that never goes backwards for one recorder; a step back is reported once."""

    def __init__(self, now: Callable[[], datetime] = utc_now) -> None:
        self._now = now
        self._last: datetime | None = None
        self._lock = threading.Lock()
        self.steps: list[tuple[datetime, datetime]] = []

    def __call__(self) -> str:
        with self._lock:
            current = self._now()
            if self._last is not None and current <= self._last:
                if self._last - current > timedelta(seconds=1):
                    self.steps.append((self._last, current))
                current = self._last + timedelta(microseconds=1)
            self._last = current
            return to_stored(current)


class Backoff:
    def __init__(self, first: float = 0.2, cap: float = 30.0) -> None:
        self.first, self.cap, self.current = first, cap, first

    def next(self) -> float:
        delay = self.current
        self.current = min(self.cap, self.current * 2)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.current = self.first


class Recorder:
    """Records one cluster into one database until ``stop`` is set."""

    def __init__(
        self,
        db_path: Path,
        kube: Kube,
        *,
        namespaces: Iterable[str] = (),
        resources: Iterable[str] = (),
        exclude: Iterable[str] = (),
        watch_timeout: int = 300,
        rediscover_every: float = 60.0,
        status_every: float = 10.0,
        heartbeat_every: float = 5.0,
        status_stream: TextIO | None = None,
        verbose: bool = False,
        clock: MonotonicClock | None = None,
    ) -> None:
        self.db_path = db_path
        self.kube = kube
        self.cluster = kube.connection.cluster
        self.namespaces = tuple(namespaces)
        self.resources = tuple(r for r in resources if r)
        self.exclude = tuple(e for e in exclude if e)
        self.watch_timeout = watch_timeout
        self.rediscover_every = rediscover_every
        self.status_every = status_every
        self.heartbeat_every = heartbeat_every
        self.status_stream = status_stream if status_stream is not None else sys.stderr
        self.verbose = verbose
        self.clock = clock or MonotonicClock()
        self.stop = threading.Event()
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
        self.stats = Stats()
        self._reflectors: dict[tuple[str, str | None], threading.Thread] = {}
        self._writer_done = threading.Event()
        self._writer_error: BaseException | None = None
        self.ready = threading.Event()  # set once every first list is written

    # -- what to watch ------------------------------------------------------------------
    def wanted(self, rtype: ResourceType) -> bool:
        if any(rtype.matches(word) for word in self.exclude):
            return False
        if self.resources:
            return any(rtype.matches(word) for word in self.resources)
        return rtype.name not in DEFAULT_EXCLUDED

    def watches_warnings(self, rtype: ResourceType) -> bool:
        return rtype.name == "events" and not any(rtype.matches(w) for w in self.exclude)

    def discover(self) -> list[ResourceType]:
        try:
            return self.kube.discover()
        except KubeError as exc:
            raise UserError(self._connection_message(exc)) from None

    def _connection_message(self, exc: KubeError) -> str:
        conn = self.kube.connection
        where = f"cluster {conn.cluster} at {conn.server}"
        if exc.status == 401:
            return f"{where}: unauthorized (check the kubeconfig credentials)"
        if exc.status == 403:
            return f"{where}: forbidden (the account needs get, list and watch)"
        return f"cannot reach {where}: {exc}"

    # -- running ------------------------------------------------------------------------
    def run(self) -> None:
        """Record until ``stop`` is set; raises UserError if the cluster cannot be reached."""
        types = self.discover()
        writer = threading.Thread(target=self._write_loop, name="tt-writer", daemon=True)
        writer.start()
        self._start_reflectors(types)
        next_discovery = time.monotonic() + self.rediscover_every
        next_status = time.monotonic() + self.status_every
        while not self.stop.wait(0.2):
            if self._writer_done.is_set():
                break
            now = time.monotonic()
            if now >= next_discovery:
                next_discovery = now + self.rediscover_every
                try:
                    self._start_reflectors(self.kube.discover())
                except KubeError as exc:
                    self._error(f"discovery: {exc}")
            if now >= next_status and self.status_every > 0:
                next_status = now + self.status_every
                self._status()
        self.stop.set()
        writer.join(timeout=30)
        if self._writer_error is not None:
            raise self._writer_error
        self._status(final=True)

    def _start_reflectors(self, types: list[ResourceType]) -> None:
        scopes: list[str | None] = list(self.namespaces) or [None]
        for rtype in types:
            warnings_only = self.watches_warnings(rtype)
            if not warnings_only and not self.wanted(rtype):
                continue
            for namespace in scopes if rtype.namespaced else [None]:
                ident = (rtype.name, namespace)
                if ident in self._reflectors:
                    continue
                thread = threading.Thread(
                    target=self._reflect,
                    args=(rtype, namespace, warnings_only),
                    name=f"tt-{rtype.name}-{namespace or 'all'}",
                    daemon=True,
                )
                self._reflectors[ident] = thread
                thread.start()
        self.stats.types = len({name for name, _ in self._reflectors})

    def _put(self, item: Any) -> bool:
        """Queue an item, waiting while the writer is behind; False once stopping."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _reflect(self, rtype: ResourceType, namespace: str | None, warnings_only: bool) -> None:
        rv: str | None = None
        backoff = Backoff()
        last_seen = self.clock()
        relist_reason: str | None = None
        while not self.stop.is_set():
            try:
                if rv is None:
                    rv = self._list(rtype, namespace, warnings_only)
                    if relist_reason is not None:
                        now = self.clock()
                        self._put(
                            Gap(self.cluster, f"watch:{rtype.name}", last_seen, now, relist_reason)
                        )
                        self.stats.add(gaps=1, relists=1)
                    relist_reason = None
                    last_seen = self.clock()
                for event in self.kube.watch(
                    rtype, rv, namespace, timeout_seconds=self.watch_timeout
                ):
                    if self.stop.is_set():
                        return
                    kind = event.get("type")
                    obj = event.get("object") or {}
                    new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                    last_seen = self.clock()
                    backoff.reset()
                    if kind != "BOOKMARK":
                        obj.setdefault("kind", rtype.kind)
                        obj.setdefault("apiVersion", rtype.api_version)
                        self.stats.add(events=1)
                        if warnings_only:
                            if obj.get("type") == "Warning":
                                self._put(WarningSeen(self.cluster, last_seen, obj))
                        elif kind in ("ADDED", "MODIFIED", "DELETED"):
                            self._put(Observation(self.cluster, str(kind), obj, last_seen))
                    if new_rv:
                        rv = str(new_rv)
            except Expired as exc:
                relist_reason = f"watch expired (410 Gone), relisted: {exc}"
                rv = None
            except KubeError as exc:
                self._error(f"{rtype.name}: {exc}")
                self.stop.wait(backoff.next())

    def _list(self, rtype: ResourceType, namespace: str | None, warnings_only: bool) -> str:
        present: set[ResourceKey] = set()
        list_rv = ""
        observed_at = self.clock()
        for items, page_rv in self.kube.list_pages(rtype, namespace):
            list_rv = list_rv or page_rv
            for obj in items:
                if warnings_only:
                    if obj.get("type") == "Warning":
                        self._put(WarningSeen(self.cluster, observed_at, obj))
                    continue
                try:
                    present.add(ResourceKey.of(obj, self.cluster))
                except (KeyError, TypeError):
                    continue
                # Found by listing, not seen happening: its moment is not known exactly.
                self._put(
                    Observation(
                        self.cluster, "ADDED", obj, observed_at, inferred=True, source="list"
                    )
                )
        if not warnings_only:
            self._put(ListDone(self.cluster, rtype, namespace, frozenset(present), self.clock()))
        return list_rv

    def _error(self, message: str) -> None:
        self.stats.add(errors=1)
        self.stats.last_error = message
        if self.verbose:
            self.status_stream.write(f"timetravel: {message}\n")
            self.status_stream.flush()

    # -- the writer ---------------------------------------------------------------------
    def _write_loop(self) -> None:
        try:
            db = open_database(self.db_path)
            writer = RevisionWriter(db)
            writer.ensure_cluster(
                self.cluster, self.kube.connection.server, self.kube.connection.context
            )
            state = RecorderState(db, f"cluster:{self.cluster}")
            gap = state.start(self.clock(), detail=self.kube.connection.server)
            if gap is not None:
                writer.record_gap(gap)
                self.stats.add(gaps=1)
            next_beat = time.monotonic() + self.heartbeat_every
            while True:
                items = self._drain()
                if items:
                    self._apply(writer, items)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_every
                    state.beat(self.clock())
                    self._clock_steps(writer)
                if self.stop.is_set() and self.queue.empty():
                    break
            state.stop(self.clock())
            db.conn.close()
        except BaseException as exc:  # reported by run(); the recorder must not hang
            self._writer_error = exc
        finally:
            self._writer_done.set()

    def _drain(self) -> list[Any]:
        items: list[Any] = []
        try:
            items.append(self.queue.get(timeout=0.1))
        except queue.Empty:
            return items
        while len(items) < BATCH:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _apply(self, writer: RevisionWriter, items: list[Any]) -> None:
        pending: list[Observation] = []

        def flush() -> None:
            if pending:
                result = writer.write(pending)
                self.stats.add(revisions=result.written)
                pending.clear()

        for item in items:
            if isinstance(item, Observation):
                pending.append(item)
            elif isinstance(item, ListDone):
                flush()
                self._reconcile(writer, item)
            elif isinstance(item, WarningSeen):
                flush()
                with writer.conn:
                    if record_warning_event(
                        writer.conn, item.cluster, item.observed_at, item.event
                    ):
                        self.stats.add(warnings=1)
            elif isinstance(item, Gap):
                flush()
                writer.record_gap(item)
        flush()

    def _reconcile(self, writer: RevisionWriter, done: ListDone) -> None:
        """Objects the store has as live but the list did not show were deleted unseen."""
        live = writer.live_objects(done.cluster, done.rtype.group, done.rtype.kind, done.namespace)
        gone = [key for key in live if key not in done.present]
        deletes = []
        for key in gone:
            obj = writer.last_object(key)
            if obj is None:
                continue
            obj = {**obj, "apiVersion": obj.get("apiVersion") or done.rtype.api_version}
            deletes.append(
                Observation(
                    done.cluster, "DELETED", obj, done.observed_at, inferred=True, source="list"
                )
            )
        if deletes:
            result = writer.write(deletes)
            self.stats.add(revisions=result.written)

    def _clock_steps(self, writer: RevisionWriter) -> None:
        while self.clock.steps:
            before, after = self.clock.steps.pop(0)
            writer.record_gap(
                Gap(
                    self.cluster,
                    "clock",
                    to_stored(after),
                    to_stored(before),
                    f"system clock stepped back {before - after}; times held monotonic",
                )
            )

    def _status(self, final: bool = False) -> None:
        if self.status_every <= 0 and not final:
            return
        s = self.stats
        conn = self.kube.connection
        line = (
            f"timetravel: {'stopped' if final else 'recording'} {conn.context or conn.cluster}"
            f" ({conn.server}): {s.types} resource types, {s.events:,} events, "
            f"{s.revisions:,} revisions, {s.warnings:,} warnings, gaps {s.gaps}, "
            f"errors {s.errors}"
        )
        if s.last_error and (self.verbose or final):
            line += f" (last error: {s.last_error})"
        self.status_stream.write(line + "\n")
        self.status_stream.flush()

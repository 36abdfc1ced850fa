"""The live recorder: reflectors (list, then watch) feeding one writer through a bounded queue.

Each resource type has a reflector thread: a paginated list, then a watch from the
list's resourceVersion with bookmarks. The reflector tracks the resourceVersion itself,
re-watches from it after a dropped or silent connection (nothing is missed: the server
replays from there, but late: the break is recorded as a gap and what it delivers late is
placed by the server's times, see reception.py), and relists on 410 Expired; a relist is
reconciled against the store (changed objects become inferred revisions, vanished ones
inferred deletes) and the span it could not see is recorded as a gap. One writer thread
owns the database.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from timetravel.domain.model import Gap, Observation, ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.times import to_stored
from timetravel.errors import UserError
from timetravel.recorder.clock import Backoff, MonotonicClock
from timetravel.recorder.reception import Cut, Reception
from timetravel.recorder.retention import Retention
from timetravel.recorder.stream import ListDone, Stats, WarningSeen, WatchStream, later_rv
from timetravel.sources.kube import DEFAULT_EXCLUDED, Expired, Kube, KubeError, ResourceType
from timetravel.store.db import open_database
from timetravel.store.location import Location
from timetravel.store.recorder_state import RecorderState, latest_time
from timetravel.store.writer import RETRYABLE, RevisionWriter, record_warning_event, validate

# Parsed events waiting for the writer, ~24 KB of Python objects each: a full queue is
# about one batch being written plus one waiting, which keeps the recorder near 300 MB at
# 20,000 watched objects while the watches (not the API server) absorb a burst.
QUEUE_SIZE = 1000
# A gap of one watch (a relist after 410 Expired, or a server that replayed everything).
_WATCH_GAP = "watch:"
BATCH = 1000
GIVE_UP_AFTER = 10.0  # seconds of failing writes after stop before giving up


class Recorder:
    """Records one cluster into one database until ``stop`` is set."""

    def __init__(
        self,
        db_path: Path | Location,
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
        # (API group, kind) -> the type's name (deployments.apps), for /metrics.
        self._type_names: dict[tuple[str, str], str] = {}
        self._writer_done = threading.Event()
        self._writer_error: BaseException | None = None
        self._writer_ready = threading.Event()
        # Set once every reflector of the first discovery has listed: from then on each
        # change reaches the store as an observed (not inferred) revision.
        self.ready = threading.Event()
        self._unlisted: set[tuple[str, str | None]] = set()
        self._unlisted_lock = threading.Lock()
        # For --listen (recorder/health.py): when the write loop last went round
        # (time.monotonic()), why the store refuses writes while it does, and a timer of
        # each batch written (seconds).
        self.writer_beat: float | None = None
        self.write_failing: str | None = None
        self.on_write: Callable[[float], None] | None = None
        # ``record --keep``: pruned in the writer thread, between batches (recorder/retention).
        self.retention: Retention | None = None

    @property
    def writer_running(self) -> bool:
        """Whether the writer thread is still going (it ends on stop or on an error)."""
        return not self._writer_done.is_set()

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
            return (
                f"{where}: forbidden (the account needs list and watch on resources, "
                "get on /api and /apis)"
            )
        return f"cannot reach {where}: {exc}"

    # -- running ------------------------------------------------------------------------
    def run(self) -> None:
        """Record until ``stop`` is set; raises UserError if the cluster cannot be reached."""
        types = self.discover()
        writer = threading.Thread(target=self._write_loop, name="tt-writer", daemon=True)
        writer.start()
        # The writer first reads where this source's times stand (see _write_loop); nothing
        # is observed before that.
        while not self._writer_ready.wait(0.05):
            if self._writer_done.is_set():
                if self._writer_error is not None:
                    raise self._writer_error
                return
        with self._unlisted_lock:
            self._unlisted = set(self._start_reflectors(types))
            if not self._unlisted:
                self.ready.set()
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

    def _start_reflectors(self, types: list[ResourceType]) -> list[tuple[str, str | None]]:
        """Start a reflector for each wanted type not yet watched; returns the new ones."""
        started: list[tuple[str, str | None]] = []
        scopes: list[str | None] = list(self.namespaces) or [None]
        for rtype in types:
            warnings_only = self.watches_warnings(rtype)
            if not warnings_only and not self.wanted(rtype):
                continue
            self._type_names[(rtype.group, rtype.kind)] = rtype.name
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
                started.append(ident)
                thread.start()
        self.stats.types = len({name for name, _ in self._reflectors})
        return started

    def _listed(self, ident: tuple[str, str | None]) -> None:
        with self._unlisted_lock:
            if ident in self._unlisted:
                self._unlisted.discard(ident)
                if not self._unlisted:
                    self.ready.set()

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
        ident = (rtype.name, namespace)
        source = f"{_WATCH_GAP}{rtype.name}"
        rv: str | None = None
        backoff = Backoff()
        # Since when this reflector has not been receiving, if it is not: a break is a gap,
        # and what the resumed watch delivers late is placed in it (see reception.py).
        reception = Reception(self.clock)
        relist_reason: str | None = None

        def connected() -> None:
            backoff.ok()
            self.stats.waiting(ident, None)
            self.stats.heard(ident, event=False)

        def opened() -> None:
            connected()
            reception.opened()

        while not self.stop.is_set():
            try:
                if rv is None:
                    rv = self._list(rtype, namespace, warnings_only)
                    connected()
                    self._listed(ident)
                    if relist_reason is not None:
                        since = reception.cut_since or reception.last
                        self._put(Gap(self.cluster, source, since, self.clock(), relist_reason))
                    relist_reason = None
                    reception.relisted()
                # A server may ignore the resourceVersion asked for, replay every object and
                # never send what happened while the watch was down, deletes included (see
                # WatchStream). Such a replay is used as a list: at its end (the first bookmark,
                # or the end of the stream) objects it did not show are inferred deleted, and
                # the span is recorded as a gap.
                stream = WatchStream(rv, track=not warnings_only)
                watch_from = reception.last
                resumed_from = rv
                try:
                    for event in self.kube.watch(
                        rtype, rv, namespace, timeout_seconds=self.watch_timeout, opened=opened
                    ):
                        if self.stop.is_set():
                            return
                        kind = str(event.get("type"))
                        obj = event.get("object") or {}
                        new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                        last_seen = reception.heard()
                        self.stats.heard(ident, event=kind != "BOOKMARK")
                        if reception.cut_since is not None:
                            # Delivering again after a break: how far the server is now says
                            # which of what follows happened in the gap.
                            now_rv = self.kube.current_version(rtype, namespace)
                            self._put(reception.resume(now_rv, self.cluster, source, resumed_from))
                        catch_up = reception.catch_up
                        if kind == "BOOKMARK":
                            if catch_up is not None and catch_up.caught_up_by(new_rv):
                                reception.catch_up = None
                            self._put_all(stream.end_leading())
                            if stream.replayed and stream.present is not None:
                                self._replay_done(rtype, namespace, rv, stream.present, watch_from)
                            stream.present = None
                        else:
                            obj.setdefault("kind", rtype.kind)
                            obj.setdefault("apiVersion", rtype.api_version)
                            if warnings_only:
                                if obj.get("type") == "Warning" and not stream.stale(new_rv):
                                    self._put(WarningSeen(self.cluster, last_seen, obj))
                            elif kind in ("ADDED", "MODIFIED", "DELETED"):
                                observation = Observation(self.cluster, kind, obj, last_seen)
                                if catch_up is not None and catch_up.covers(new_rv):
                                    observation = catch_up.mark(observation)
                                elif catch_up is not None:
                                    reception.catch_up = None  # made after the watch resumed
                                self._put_all(stream.route(observation, new_rv))
                        if new_rv:
                            rv = later_rv(rv, str(new_rv))
                finally:
                    self._put_all(stream.end_leading())  # what was received is kept
                reception.ended()
                if stream.replayed and stream.present is not None:  # a clean end of stream
                    self._replay_done(rtype, namespace, rv, stream.present, watch_from)
            except Expired as exc:
                relist_reason = f"watch expired (410 Gone), relisted: {exc}"
                rv = None
            except KubeError as exc:
                self._error(f"{rtype.name}: {exc}")
                reception.broke(str(exc))
                delay = backoff.next()
                self.stats.waiting(ident, delay)
                self.stop.wait(delay)

    def _put_all(self, items: list[Observation]) -> None:
        for item in items:
            self._put(item)

    def _replay_done(
        self,
        rtype: ResourceType,
        namespace: str | None,
        rv: str,
        present: set[ResourceKey],
        since: str,
    ) -> None:
        now = self.clock()
        self._put(ListDone(self.cluster, rtype, namespace, frozenset(present), now))
        reason = (
            "server ignored the resourceVersion and replayed every object; "
            f"changes while the watch was down are inferred (now at {rv})"
        )
        self._put(Gap(self.cluster, f"{_WATCH_GAP}{rtype.name}", since, now, reason))

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

    def _report(self, message: str) -> None:
        """A line on the status stream whatever --verbose says: the user must know."""
        self.status_stream.write(f"timetravel: {printable(message)}\n")
        self.status_stream.flush()

    def _error(self, message: str) -> None:
        self.stats.add(errors=1)
        self.stats.last_error = message
        if self.verbose:
            self.status_stream.write(f"timetravel: {printable(message)}\n")
            self.status_stream.flush()

    # -- the writer ---------------------------------------------------------------------
    def _write_loop(self) -> None:
        try:
            db = open_database(self.db_path)
            writer = RevisionWriter(db)
            source = f"cluster:{self.cluster}"
            latest = latest_time(db, self.cluster, source)
            if latest is not None:
                self.clock.hold_after(latest)
            writer.ensure_cluster(
                self.cluster, self.kube.connection.server, self.kube.connection.context
            )
            state = RecorderState(db, source)
            gap = state.start(self.clock(), detail=self.kube.connection.server)
            if gap is not None:
                writer.record_gap(gap)
                self.stats.gap(gap.source)
            self._writer_ready.set()
            self._write_until_stopped(writer, state)
            state.stop(self.clock())
            db.conn.close()
        except BaseException as exc:  # reported by run(); the recorder must not hang
            self._writer_error = exc
        finally:
            self._writer_ready.set()
            self._writer_done.set()

    def _write_until_stopped(self, writer: RevisionWriter, state: RecorderState) -> None:
        """Write what the reflectors queue. A write that fails (disk full, database locked
        by another writer, an I/O error) is reported once, and the same items are retried
        with backoff until it works: nothing is dropped, and the queue's bound holds the
        reflectors back meanwhile. If stopped while still failing, it gives up after
        ``GIVE_UP_AFTER`` seconds with a UserError; the next start relists, so what was
        held comes back as inferred changes, and the time in between is a gap."""
        next_beat = time.monotonic() + self.heartbeat_every
        pending: list[Any] = []
        failing: str | None = None
        retry_at = 0.0
        backoff = Backoff(first=0.1, cap=5.0)
        stopped_at: float | None = None
        while True:
            now = time.monotonic()
            self.writer_beat = now
            if not pending and failing is None:
                pending = self._drain()
            elif now < retry_at:
                time.sleep(min(0.1, retry_at - now))  # not stop.wait: it may be set already
            if pending and time.monotonic() >= retry_at:
                try:
                    self._apply(writer, pending)
                except RETRYABLE as exc:
                    reason = str(getattr(exc, "reason", exc))
                    if failing is None:
                        self._report(
                            f"cannot write to {self.db_path}: {reason}; holding what is seen "
                            "and retrying"
                        )
                    failing = self.write_failing = reason
                    self.stats.add(errors=1, write_failures=1)
                    self.stats.last_error = f"write: {reason}"
                    retry_at = time.monotonic() + backoff.next()
                else:
                    self.write_failing = None
                    if failing is not None:
                        self._report(f"writing to {self.db_path} again")
                        failing = None
                        backoff.reset()
            if time.monotonic() >= next_beat and failing is None:
                next_beat = time.monotonic() + self.heartbeat_every
                try:
                    state.beat(self.clock())
                    self._clock_steps(writer)
                except RETRYABLE as exc:
                    # The next write reports it; the beat is retried.
                    self.write_failing = str(getattr(exc, "reason", exc))
                else:
                    self.write_failing = None
            retention = self.retention
            idle = not pending and failing is None and not self.stop.is_set()
            if retention is not None and idle and retention.step(writer.db):
                # It may have rewritten or removed segments the writer remembers.
                writer = RevisionWriter(writer.db)
            if self.stop.is_set():
                if not pending and self.queue.empty():
                    return
                stopped_at = stopped_at or time.monotonic()
                if failing is not None and time.monotonic() - stopped_at > GIVE_UP_AFTER:
                    held = len(pending) + self.queue.qsize()
                    raise UserError(
                        f"{self.db_path}: stopped while writes fail ({failing}); {held} "
                        "observations not written: the next start relists them as inferred "
                        "changes and records the gap"
                    )

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
        """Write ``items`` in order, removing each as it is committed: when a write fails,
        ``items`` holds exactly what is still to be written, so a retry neither loses nor
        repeats anything."""
        while items:
            run = 0
            while run < len(items) and isinstance(items[run], Observation):
                run += 1
            if run:
                batch = []
                for obs in items[:run]:
                    try:
                        validate(obs)
                    except ValueError as exc:  # a server sent something that is not an object
                        self._error(f"skipped an event: {exc}")
                        continue
                    batch.append(obs)
                self._write(writer, batch)
                del items[:run]
                continue
            item = items[0]
            if isinstance(item, ListDone):
                self._reconcile(writer, item)
            elif isinstance(item, WarningSeen):
                with writer.conn:
                    if record_warning_event(
                        writer.conn, item.cluster, item.observed_at, item.event
                    ):
                        self.stats.add(warnings=1)
            elif isinstance(item, Cut):
                writer.record_gap(item.gap)
                self.stats.gap(item.gap.source)
            elif isinstance(item, Gap):
                writer.record_gap(item)
                # Counted as written: one queued as the recorder stops may never be (the
                # next start relists anyway), and the figures say what the store holds.
                relist = item.source.startswith(_WATCH_GAP)
                self.stats.gap(item.source, item.source[len(_WATCH_GAP) :] if relist else None)
            del items[0]

    def _write(self, writer: RevisionWriter, batch: list[Observation]) -> None:
        started = time.perf_counter()
        result = writer.write(batch)
        if self.on_write is not None:
            self.on_write(time.perf_counter() - started)
        by_type: dict[tuple[str, str], int] = {}
        for (group, kind, change), n in result.by_kind.items():
            name = self._type_names.get((group, kind)) or (f"{kind}.{group}" if group else kind)
            by_type[(name, change)] = by_type.get((name, change), 0) + n
        self.stats.wrote(result.by_change, by_type)

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
            self._write(writer, deletes)

    def _clock_steps(self, writer: RevisionWriter) -> None:
        while self.clock.steps:
            before, after = self.clock.steps[0]
            writer.record_gap(
                Gap(
                    self.cluster,
                    "clock",
                    to_stored(after),
                    to_stored(before),
                    f"system clock stepped back {before - after}; times held monotonic",
                )
            )
            self.clock.steps.pop(0)  # only once written: a failed write keeps it

    def _status(self, final: bool = False) -> None:
        if self.status_every <= 0 and not final:
            return
        s = self.stats
        conn = self.kube.connection
        doing = "stopped" if final else "recording"
        if not final and not self.ready.is_set():
            with self._unlisted_lock:
                left = len(self._unlisted)
            doing = f"listing ({left} of {s.types} types left)" if s.types else "discovering"
        waiting, backoff = s.reconnecting()
        if waiting and not final:
            kinds = "type" if waiting == 1 else "types"
            wait = f"{backoff:.1f}" if backoff < 10 else f"{backoff:.0f}"
            doing = f"reconnecting {waiting} {kinds} (backoff {wait}s), {doing}"
        line = (
            f"timetravel: {doing} {conn.context or conn.cluster}"
            f" ({conn.server}): {s.types} resource types, {s.events:,} events, "
            f"{s.revisions:,} revisions, {s.warnings:,} warnings, gaps {s.gaps}, "
            f"errors {s.errors}"
        )
        if s.last_error and (self.verbose or final):
            line += f" (last error: {printable(s.last_error)})"
        self.status_stream.write(line + "\n")
        self.status_stream.flush()

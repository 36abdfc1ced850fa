"""Every read of the store the screen makes, in thread workers that a newer request stops.

A Textual thread worker cannot be stopped: cancelling it marks it finished at once while
its thread keeps computing, so superseded threads pile up, fight the event loop for the
GIL and fill the executor. So each kind of load runs in one :class:`LoadSlot`: at most one
thread computes it. A newer request sets the running one's ``stop``, which the data layer
looks at between resources (it gives up with
:class:`~timetravel.query.rows.Superseded`), and starts when that worker has really
ended. Workers are never cancelled, so their state tells when their thread is done.
Results reach the app as messages.

What a load reads names the cluster shown: switching clusters at the same moment is a new
request, which stops the running one; results name the cluster they were asked for, so
one that arrives after a switch is dropped.

While keys arrive, running loads also pause at their next look at ``stop`` (``hold``):
the repaint a key asks for then has the GIL to itself, and the loads resume once the keys
have been quiet for a moment (the data they read is not wanted before then anyway).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from textual.app import App
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, get_current_worker

from timetravel.domain.model import ResourceKey
from timetravel.query.rows import ResourceSet, Stop, Superseded, check
from timetravel.query.screen import ScreenData
from timetravel.tui.keys import QUIET
from timetravel.tui.messages import (
    AroundLoaded,
    ArtifactsLoaded,
    CausesLoaded,
    DetailLoaded,
    DriftLoaded,
    ProvenanceLoaded,
    ResourcesLoaded,
    TimelineLoaded,
)

# A load: reads the store (looking at ``stop`` between steps), returns what to post.
Job = Callable[[Stop], Message | None]

# Threads for the app's workers: a thread per kind of load, the store poller, seeks and
# exports, with room to spare.
THREADS = 16
# How often a paused load looks whether it was superseded meanwhile.
PARKED_POLL = 0.05
# How long the whole moment after a glimpse waits for the selection's detail to land.
DETAIL_FIRST = 1.0
# How long the moment's rows load runs before a key that came meanwhile parks it. A step
# takes 1-10 ms of work (more with the GIL shared), but one across a commit compares every
# object it changed with git (500 at 10,000 objects: ~0.3 s); parked, it held the slot
# until the keys stopped. Finished, the next key steps from it. Builds run longer: parked.
ROWS_PARK_AFTER = 0.5


def collect_young() -> None:
    """Run the collections a load's allocations have made due, now that it has ended.

    A load leaves tens of thousands of young objects (decoded revisions, rows, views); with
    the collector thresholds timetravel runs with, the collection they are due for walks
    them all (20-50 ms holding the GIL). Run in the load's thread as it ends, rather than
    in whichever thread allocates next, often the event loop handling a key.
    """
    young, older, _ = gc.get_count()
    first, second, _ = gc.get_threshold()
    if older >= second - 1:
        gc.collect(1)
    elif young >= first // 4:
        gc.collect(0)


class LoadSlot:
    """One kind of load: one thread at a time; the newest request waits for it, others
    it replaced are dropped."""

    def __init__(
        self,
        app: App[None],
        group: str,
        quiet: threading.Event,
        last_key: Callable[[], float] = lambda: 0.0,
        *,
        follows: bool = False,
        rows_first: Callable[[], bool] = lambda: False,
        park_after: float = 0.0,
    ) -> None:
        self.app = app
        self.group = group
        self.quiet = quiet  # cleared while keys arrive
        self.last_key = last_key  # when the last key arrived (time.monotonic)
        # A load that follows the moment's rows and detail (counts of the timeline, the
        # changes around, causes, summaries): not started while keys arrive (resume()).
        self.follows = follows
        # True while the moment's rows are read and none has landed yet, or the
        # selection's detail is read: what follows waits for them too (a far jump's
        # glimpse, and a step's detail, share the GIL with nothing else).
        self.rows_first = rows_first
        # Parked only once it has run this long: a step's rows (a few milliseconds) land
        # though the next key came meanwhile, and the slot is free for that key's moment.
        # Parked at once, they held the slot until the keys stopped, and every moment of a
        # held key after it passed unread.
        self.park_after = park_after
        self.worker: Worker[None] | None = None
        self.running: object = None  # what the running load reads
        self.superseded = threading.Event()  # the running load's stop
        self.pending: tuple[object, Job] | None = None

    @property
    def busy(self) -> bool:
        return self.worker is not None or self.pending is not None

    def request(self, what: object, job: Job) -> None:
        """Read ``what`` with ``job``, once the running load (if any) has stopped."""
        if self.worker is None:
            if self.follows and (not self.quiet.is_set() or self.rows_first()):
                self.pending = (what, job)  # once the keys are quiet and the rows shown
                return
            self._start(what, job)
        elif what == self.running and not self.superseded.is_set():
            self.pending = None  # the running load already reads it
        else:
            self.superseded.set()
            self.pending = (what, job)

    def finished(self, worker: Worker[None]) -> None:
        """A worker ended: when it is this slot's, start what was asked meanwhile."""
        if worker is not self.worker:
            return
        self.worker = None
        self.resume()

    def resume(self) -> None:
        """Start what was asked meanwhile, unless it follows and keys still arrive."""
        if self.worker is not None or self.pending is None:
            return
        if self.follows and (not self.quiet.is_set() or self.rows_first()):
            return
        pending, self.pending = self.pending, None
        self._start(*pending)

    def _start(self, what: object, job: Job) -> None:
        app, quiet, last_key, park_after = self.app, self.quiet, self.last_key, self.park_after
        superseded = self.superseded = threading.Event()
        started = time.monotonic()

        def run() -> None:
            worker = get_current_worker()

            def ended() -> bool:
                # Workers are cancelled only when the app shuts down.
                return superseded.is_set() or worker.is_cancelled

            def stop() -> bool:
                # Parked while keys that came after it started keep coming; a load asked
                # after the last key reads the moment that key moved to: it runs.
                while (
                    last_key() > started
                    and time.monotonic() - started >= park_after
                    and not quiet.wait(PARKED_POLL)
                    and not ended()
                ):
                    pass
                return ended()

            try:
                message = job(stop)
            except Superseded:
                return
            finally:
                collect_young()
            if message is not None and not ended():
                app.post_message(message)

        self.running = what
        self.worker = app.run_worker(run, group=self.group, thread=True, exit_on_error=False)


class Loads:
    """The screen's loads by kind; ``busy`` while any of them is asked or running."""

    KINDS = (
        "resources",
        "detail",
        "drift",
        "around",
        "timeline",
        "causes",
        "artifacts",
        "provenance",
    )

    # What the moment's rows and detail come before: started once keys are quiet, so a held
    # key's every moment gets its rows and detail first (issue 26).
    FOLLOW = frozenset({"drift", "around", "timeline", "causes", "artifacts", "provenance"})

    def __init__(self, app: App[None], data: ScreenData) -> None:
        self.app = app
        self.data = data
        self.quiet = threading.Event()
        self.quiet.set()
        self.hold_for = QUIET
        self._release: Timer | None = None
        self.last_key = 0.0
        self.rows_wanted = False  # the moment's rows asked, none landed yet
        # The unknown-provenance rows counted last: (marks, positions, how many).
        self._flagged: tuple[object, object, int] | None = None
        self.slots = {
            kind: LoadSlot(
                app,
                kind,
                self.quiet,
                lambda: self.last_key,
                follows=kind in self.FOLLOW,
                rows_first=self._primary_pending,
                park_after=ROWS_PARK_AFTER if kind == "resources" else 0.0,
            )
            for kind in self.KINDS
        }

    @property
    def busy(self) -> bool:
        return any(slot.busy for slot in self.slots.values())

    @staticmethod
    def own_threads() -> None:
        """Give the running loop an executor with enough threads. Thread workers run on
        its default one, min(32, cores + 4) threads: six on two cores, fewer than the loads
        (some paused), the poller and a seek use at once, and a seek would queue."""
        executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="timetravel")
        asyncio.get_running_loop().set_default_executor(executor)

    def hold(self) -> None:
        """A key arrived: running loads pause until keys have been quiet for ``hold_for``."""
        self.last_key = time.monotonic()
        self.quiet.clear()
        if self._release is not None:
            self._release.stop()
        self._release = self.app.set_timer(self.hold_for, self._resume)

    def _resume(self) -> None:
        self._release = None
        self.quiet.set()
        for slot in self.slots.values():
            slot.resume()

    def finished(self, worker: Worker[None]) -> None:
        slot = self.slots.get(worker.group)
        if slot is not None:
            slot.finished(worker)
        if worker.group == "resources" and not self.slots["resources"].busy:
            self.rows_landed()  # ended without rows (failed, superseded): none to wait for
        elif worker.group == "detail" and not self._primary_pending() and self.quiet.is_set():
            for slot in self.slots.values():
                slot.resume()  # what waited for the detail

    def _primary_pending(self) -> bool:
        """The moment's rows or the selection's detail are still to land: a load that
        follows them would share the GIL with them (at 100,000 objects the unknown
        provenance of a step held the detail back by ~0.4 s)."""
        return self.rows_wanted or self.slots["detail"].busy

    def rows_landed(self) -> None:
        """The moment's rows (or a glimpse of them) are on screen: what follows may start."""
        if self.rows_wanted:
            self.rows_wanted = False
            if self.quiet.is_set():
                for slot in self.slots.values():
                    slot.resume()

    def resources(self, at: datetime, near: ResourceKey | None = None) -> None:
        """The rows at ``at``. Where that means reading the moment in full (a far jump),
        the rows around ``near`` (the selection) come first, the whole set after them
        (issue 26: only what is seen first; counts and the rest follow)."""
        data = self.data
        app = self.app
        self.rows_wanted = True

        def job(stop: Stop) -> Message:
            found = data.resources_at(at, stop=stop, glimpse=True, near=near)
            if found.complete:
                return ResourcesLoaded(found)
            app.post_message(ResourcesLoaded(found))
            # The selection's detail first: the whole moment holds the GIL for seconds at
            # 100,000 objects, and the detail is what the glimpse is shown with.
            waited = time.monotonic()
            while self.slots["detail"].busy and time.monotonic() - waited < DETAIL_FIRST:
                check(stop)
                time.sleep(0.01)
            check(stop)
            return ResourcesLoaded(data.resources_at(at, stop=stop))

        self.slots["resources"].request((data.cluster, at), job)

    def detail(self, key: ResourceKey, at: datetime) -> None:
        data = self.data
        self.slots["detail"].request(
            (data.cluster, key, at),
            lambda stop: DetailLoaded(data.detail(key, at, drift=False, stop=stop)),
        )

    def drift(self, key: ResourceKey, at: datetime) -> None:
        data = self.data
        self.slots["drift"].request(
            (data.cluster, key, at),
            lambda stop: DriftLoaded(key, at, data.drift_at(key, at, stop=stop)),
        )

    def around(self, at: datetime) -> None:
        data = self.data
        cluster = data.cluster

        def job(stop: Stop) -> Message:
            changes, after = data.changes_around(at, stop=stop)
            return AroundLoaded(at, changes, after, cluster)

        self.slots["around"].request((cluster, at), job)

    def timeline(self, start: datetime, end: datetime, buckets: int) -> None:
        data = self.data
        cluster = data.cluster

        def job(stop: Stop) -> Message:
            density = data.density(start, end, buckets)
            return TimelineLoaded(density, data.markers(start, end, stop=stop), cluster)

        self.slots["timeline"].request((cluster, start, end, buckets), job)

    def causes(self, resources: ResourceSet, keys: Collection[ResourceKey]) -> None:
        data = self.data
        self.slots["causes"].request(
            (resources.cluster, resources.at, tuple(keys)),
            lambda stop: CausesLoaded(resources.at, data.causes_of(resources, keys, stop=stop)),
        )

    def artifacts(self, key: ResourceKey, at: datetime) -> None:
        """The chain of each digest ``key``'s row runs at ``at`` (the cause panel's). It
        reads every Pod revision of the look-back in one go: it starts once keys are
        quiet, and a newer request waits for it to end."""
        data = self.data
        cluster = data.cluster

        def job(stop: Stop) -> Message:
            check(stop)
            return ArtifactsLoaded(key, at, data.artifacts_of(key, at), cluster)

        self.slots["artifacts"].request((cluster, key, at), job)

    def provenance(self, resources: ResourceSet) -> None:
        """The rows of ``resources`` running a digest of unknown provenance."""
        data = self.data

        def job(stop: Stop) -> Message:
            unknown = data.unknown_provenance(resources, stop)
            positions = resources.positions
            known = self._flagged  # a step that moved neither: the count of before
            if known is not None and known[0] is unknown and known[1] is positions:
                flagged = known[2]
            else:
                flagged = sum(1 for key in unknown if key in positions)
                self._flagged = (unknown, positions, flagged)
            return ProvenanceLoaded(resources.at, unknown, resources.cluster, (positions, flagged))

        self.slots["provenance"].request((resources.cluster, resources.at), job)

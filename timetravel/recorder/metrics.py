"""``/metrics`` of a recording process, in a Prometheus registry of its own.

The counts are the recorder's own :class:`~timetravel.recorder.stream.Stats` and the git
followers' counters, read when scraped (a custom collector), so recording pays nothing
for them beyond the one lock per event the status line already took; only the store's
write latency is a prometheus_client Histogram, observed once per batch (up to 1,000
observations). A registry per process rather than the library's global one keeps several
recorders in one test run apart. docs/METRICS.md lists every metric and suggests alerts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from timetravel.recorder.health import Monitor

# A batch is 1 to 1,000 observations at ~0.1 ms each on SQLite: a few ms to ~0.1 s;
# seconds mean a slow disk or a distant PostgreSQL, tens of seconds a lock held elsewhere.
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The registry of one recording process."""

    def __init__(self, monitor: Monitor) -> None:
        self.registry = CollectorRegistry()
        self.write_seconds = Histogram(
            "timetravel_store_write_seconds",
            "Time to write one batch of observations to the store (successful writes).",
            ["cluster"],
            buckets=WRITE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Recorded(monitor))

    def write_timer(self, cluster: str) -> Callable[[float], None]:
        """What the recorder of ``cluster`` calls with each batch's write time."""
        return self.write_seconds.labels(cluster).observe


def _counter(
    name: str, doc: str, labels: list[str], values: dict[tuple[str, ...], float]
) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, doc: str, labels: list[str], values: dict[tuple[str, ...], float]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


class _Recorded(Collector):
    """What the recorder and the git followers counted, as of the scrape."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        ready, _ = self.monitor.ready()
        yield _gauge(
            "timetravel_ready", "1 when /readyz answers 200, else 0.", [], {(): float(ready)}
        )
        yield from self._cluster(now)
        yield from self._git(now)

    def _cluster(self, now: float) -> Iterator[Metric]:
        recorder = self.monitor.recorder
        if recorder is None:
            return
        c = recorder.cluster
        s = recorder.stats
        with s.lock:
            events = dict(s.events_by_type)
            revisions = dict(s.revisions_by_type)
            gaps = dict(s.gaps_by_source)
            relists = dict(s.relists_by_type)
            heard = dict(s.heard_at)
            last_event = s.last_event_at
            warnings, errors, failures, types = s.warnings, s.errors, s.write_failures, s.types
        backing_off, _ = s.reconnecting()
        lag: dict[tuple[str, ...], float] = {}
        for (name, _namespace), at in heard.items():
            # A type watched in several namespaces is as late as its latest-heard watch.
            lag[(c, name)] = max(lag.get((c, name), 0.0), now - at)
        since = last_event if last_event is not None else self.monitor.started_at
        yield _counter(
            "timetravel_events",
            "Watch events received (not bookmarks), by resource type.",
            ["cluster", "resource"],
            {(c, name): n for name, n in events.items()},
        )
        yield _counter(
            "timetravel_revisions",
            "Revisions written to the store, by resource type and change (created, updated, "
            "deleted).",
            ["cluster", "resource", "change"],
            {(c, name, change): n for (name, change), n in revisions.items()},
        )
        yield _counter(
            "timetravel_warning_events",
            "Warning Events written as timeline observations.",
            ["cluster"],
            {(c,): warnings},
        )
        yield _counter(
            "timetravel_relists",
            "Relists written (a watch expired with 410 Gone, or a server replayed every object).",
            ["cluster", "resource"],
            {(c, name): n for name, n in relists.items()},
        )
        yield _counter(
            "timetravel_gaps",
            "Recording gaps written, by source (watch:<type>, cluster:<name> for downtime, clock).",
            ["cluster", "source"],
            {(c, source): n for source, n in gaps.items()},
        )
        yield _counter(
            "timetravel_errors",
            "Errors met while recording (API errors, failed writes, skipped events).",
            ["cluster"],
            {(c,): errors},
        )
        yield _counter(
            "timetravel_store_write_failures",
            "Failed writes to the store (each retried until it works).",
            ["cluster"],
            {(c,): failures},
        )
        yield _gauge(
            "timetravel_watch_lag_seconds",
            "Seconds since a resource type last delivered (event, bookmark, list, new watch).",
            ["cluster", "resource"],
            lag,
        )
        yield _gauge(
            "timetravel_last_event_age_seconds",
            "Seconds since the last watch event of any type (since the start without one).",
            ["cluster"],
            {(c,): max(0.0, now - since)},
        )
        yield _gauge(
            "timetravel_queue_depth",
            "Observations queued for the writer.",
            ["cluster"],
            {(c,): recorder.queue.qsize()},
        )
        yield _gauge(
            "timetravel_queue_capacity",
            "Observations the queue holds before the watches are held back.",
            ["cluster"],
            {(c,): recorder.queue.maxsize},
        )
        yield _gauge(
            "timetravel_resource_types",
            "Resource types being recorded.",
            ["cluster"],
            {(c,): types},
        )
        yield _gauge(
            "timetravel_backing_off_types",
            "Resource types whose watch is waiting to reconnect after an error.",
            ["cluster"],
            {(c,): backing_off},
        )

    def _git(self, now: float) -> Iterator[Metric]:
        sources = list(self.monitor.git_sources)
        if not sources:
            return
        labels = ["repo", "branch"]
        updates: dict[tuple[str, ...], float] = {}
        fetch_errors: dict[tuple[str, ...], float] = {}
        sync_errors: dict[tuple[str, ...], float] = {}
        fetch_age: dict[tuple[str, ...], float] = {}
        sync_age: dict[tuple[str, ...], float] = {}
        pending: dict[tuple[str, ...], float] = {}
        for source in sources:
            key = (source.path, source.branch.branch)
            updates[key] = source.commits_recorded
            fetch_errors[key] = source.fetch_errors
            sync_errors[key] = source.sync_errors
            pending[key] = source.renders_pending
            sync_age[key] = now - (source.synced_at or self.monitor.started_at)
            if source.fetch_interval:
                fetch_age[key] = now - (source.fetched_at or self.monitor.started_at)
        yield _counter(
            "timetravel_git_ref_updates",
            "Ref updates (commits becoming desired) recorded, backfill included.",
            labels,
            updates,
        )
        yield _counter("timetravel_git_fetch_errors", "Failed `git fetch`es.", labels, fetch_errors)
        yield _counter(
            "timetravel_git_sync_errors",
            "Failed looks at the branch (ref missing, unreadable commit).",
            labels,
            sync_errors,
        )
        yield _gauge(
            "timetravel_git_sync_age_seconds",
            "Seconds since the branch was last read into the store successfully.",
            labels,
            sync_age,
        )
        yield _gauge(
            "timetravel_git_renders_pending",
            "Commits recorded whose desired set is not rendered yet (a backfill renders after).",
            labels,
            pending,
        )
        yield _gauge(
            "timetravel_git_fetch_age_seconds",
            "Seconds since the last successful `git fetch` (branches that track a remote).",
            labels,
            fetch_age,
        )

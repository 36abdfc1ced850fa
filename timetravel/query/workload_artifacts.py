"""The artifacts of the resource the screen has selected: the chain of each digest it runs
(the cause panel), which digests it ran when (the ``a`` key), and which rows run a digest
of unknown provenance (the resource list's state and its ``prov:unknown`` filter).

A row of the list is a workload (Deployment, StatefulSet, DaemonSet, CronJob), a part of
one (a ReplicaSet, a Job: its own Pods only) or a Pod (its own containers only); each is
answered from its workload's digests (:mod:`.artifacts`, :mod:`.chain`), limited to its
Pods. Nothing here is Textual; the screen calls it from worker threads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from timetravel.domain.builds import Build
from timetravel.domain.model import ResourceKey
from timetravel.domain.workloads import GROUPS, WORKLOAD_KINDS, controller_of, workload_of
from timetravel.query import provenance
from timetravel.query.artifacts import (
    DigestEvent,
    DigestSpan,
    RunningContainer,
    digest_events,
    digest_history,
    images_at,
)
from timetravel.query.causes import CauseFinder
from timetravel.query.chain import BUILT, ArtifactChain, chains_at, provenance_of
from timetravel.store.builds import builds_of_digests
from timetravel.store.handle import StoreDB
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# The kinds whose rows have artifacts.
ARTIFACT_KINDS = frozenset({*WORKLOAD_KINDS, "Pod"})


@dataclass(frozen=True)
class Subject:
    """The workload a row's artifacts come from, and which of its Pods are the row's."""

    row: ResourceKey
    workload: ResourceKey
    pod: str | None = None  # a Pod's row: that Pod only
    pod_prefix: str | None = None  # a ReplicaSet's or Job's row: the Pods it made

    def owns(self, pod: str) -> bool:
        if self.pod is not None:
            return pod == self.pod
        if self.pod_prefix is not None:
            return pod.startswith(self.pod_prefix)
        return True


@dataclass(frozen=True)
class WorkloadArtifacts:
    """The chains of the digests a row runs at ``at`` (empty: it runs none recorded)."""

    key: ResourceKey
    at: str
    workload: ResourceKey
    chains: tuple[ArtifactChain, ...]


@dataclass(frozen=True)
class DigestRun:
    """One digest a row ran in the window: when, in which Pods, and who built it."""

    span: DigestSpan
    provenance: str  # built | unknown | node-local
    build: Build | None
    running_at_cursor: bool

    @property
    def unknown_provenance(self) -> bool:
        return self.provenance != BUILT


@dataclass(frozen=True)
class ArtifactHistory:
    """Which digests a row ran in [start, end], and when each started and stopped."""

    key: ResourceKey
    workload: ResourceKey
    start: str
    end: str
    at: str  # the cursor
    runs: tuple[DigestRun, ...]  # oldest first sighting first
    events: tuple[DigestEvent, ...]  # starts and stops after ``start``, in time order


def _group_of(kind: str) -> str:
    return GROUPS.get(kind, "")


def subject_of(reader: Reader, key: ResourceKey, at: str) -> Subject | None:
    """The workload whose digests answer for ``key``'s row; None for a kind without any."""
    if key.kind not in ARTIFACT_KINDS or key.group != _group_of(key.kind):
        return None
    if key.kind in ("Deployment", "StatefulSet", "DaemonSet", "CronJob"):
        return Subject(key, key)
    record = reader.object_at(key, at)
    obj = record.obj if record is not None else None
    if obj is None:
        return Subject(key, key, pod=key.name if key.kind == "Pod" else None)

    def lookup(kind: str, name: str) -> dict[str, Any] | None:
        found = reader.object_at(
            ResourceKey(key.cluster, _group_of(kind), kind, key.namespace, name), at
        )
        return found.obj if found is not None and not found.deleted else None

    if key.kind == "Pod":
        kind, name = workload_of(obj, lookup)
        workload = ResourceKey(key.cluster, _group_of(kind), kind, key.namespace, name)
        return Subject(key, workload, pod=key.name)
    owner = controller_of(obj)  # a ReplicaSet's Deployment, a Job's CronJob
    if owner is None or owner[0] not in ("Deployment", "CronJob"):
        return Subject(key, key, pod_prefix=f"{key.name}-")
    workload = ResourceKey(key.cluster, _group_of(owner[0]), owner[0], key.namespace, owner[1])
    return Subject(key, workload, pod_prefix=f"{key.name}-")


def artifacts_of(
    reader: Reader,
    db: StoreDB,
    causes: CauseFinder,
    key: ResourceKey,
    at: str,
    since: str,
    *,
    cluster: str | None = None,
) -> WorkloadArtifacts | None:
    """The chain of every digest ``key``'s row runs at ``at`` (first sightings and
    re-pushed tags looked for from ``since``); None for a row without artifacts."""
    subject = subject_of(reader, key, at)
    if subject is None:
        return None
    found = chains_at(reader, db, causes, at, since, cluster=cluster, workloads=[subject.workload])
    chains = []
    for chain in found:
        pods = tuple(p for p in chain.pods if subject.owns(p))
        if pods:
            chains.append(chain if pods == chain.pods else dataclasses.replace(chain, pods=pods))
    return WorkloadArtifacts(key, at, subject.workload, tuple(chains))


def history_of(
    reader: Reader,
    db: StoreDB,
    key: ResourceKey,
    at: str,
    start: str,
    end: str,
    *,
    cluster: str | None = None,
) -> ArtifactHistory | None:
    """Which digests ``key``'s row ran in [start, end]; None for a row without artifacts."""
    subject = subject_of(reader, key, at)
    if subject is None:
        return None
    spans = []
    for span in digest_history(reader, start, end, cluster=cluster, workloads=[subject.workload]):
        pods = {p for p in span.pods if subject.owns(p)}
        if pods:
            spans.append(span if pods == span.pods else dataclasses.replace(span, pods=pods))
    running = {
        digest
        for w in images_at(reader, at, cluster=cluster)
        if w.workload == subject.workload
        for digest, containers in w.by_digest.items()
        if any(subject.owns(c.pod.name) for c in containers)
    }
    builds = builds_of_digests(db, {s.digest for s in spans})
    runs = []
    for span in spans:
        # The span's repository and digest, as a container running it: a runtime's bare
        # image ID matches no build and reads as unknown here (the chain tells it apart).
        probe = RunningContainer(
            key, "", min(span.images, default=""), span.digest, span.repository, True, None
        )
        provenance, mine = provenance_of(probe, builds.get(span.digest, []))
        runs.append(DigestRun(span, provenance, mine[0] if mine else None, span.digest in running))
    events: list[DigestEvent] = []
    if subject.workload == key or (subject.pod is None and subject.pod_prefix is None):
        _, every = digest_events(reader, start, end, cluster=cluster)
        events = [e for e in every if e.workload == subject.workload]
    return ArtifactHistory(key, subject.workload, start, end, at, tuple(runs), tuple(events))


def unknown_provenance(
    reader: Reader, db: StoreDB, at: str, state: Iterable[RevisionRecord]
) -> dict[ResourceKey, tuple[str, ...]]:
    """The rows running a digest no recorded build produced at ``at``, each with those
    digests: the workload, the Pods running it and their ReplicaSet or Job. ``state``:
    the objects live at ``at``. The screen keeps these and moves them by its steps
    (:mod:`.provenance`)."""
    return dict(provenance.build(reader, db, at, state, None).unknown)

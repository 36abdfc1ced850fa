"""What really ran: the image digests of each workload's containers, at a moment and over time.

From the recorded Pods (``status.containerStatuses[].imageID``, any runtime's form, see
:mod:`timetravel.domain.images`) through their owners to the workload an operator asks
about (:mod:`timetravel.domain.workloads`). A rollout shows two digests at once: the old
ReplicaSet's Pods still run while the new one's start.

A container counts as running at T when its recorded state at T is ``running`` with an
image ID; one still pulling (``waiting``, no image ID) or ended (``terminated``) does not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from timetravel.domain.images import container_runs
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_micros
from timetravel.domain.workloads import GROUPS, workload_of
from timetravel.store import pod_digests
from timetravel.store.builds import builds_of_digests
from timetravel.store.pod_digests import Owner, PodGroup, Running, pod_of
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

_OWNER_KINDS = (("apps", "ReplicaSet"), ("batch", "Job"))


@dataclass(frozen=True)
class RunningContainer:
    """One container of one Pod, running one image digest."""

    pod: ResourceKey
    container: str
    image: str  # as the Pod's spec names it (a tag, which can move)
    digest: str  # sha256:<hex>
    repository: str | None
    repo_digest: bool  # a registry's manifest digest (else a node-local image ID)
    started_at: str | None  # the container's own startedAt (RFC 3339), when recorded
    init: bool = False


@dataclass(frozen=True)
class WorkloadImages:
    """The digests one workload ran at a moment, each with the containers running it."""

    workload: ResourceKey
    by_digest: dict[str, list[RunningContainer]]

    @property
    def digests(self) -> list[str]:
        return sorted(self.by_digest)


@dataclass
class DigestSpan:
    """A digest a workload ran over a window: from its first sighting to its last."""

    workload: ResourceKey
    digest: str
    images: set[str] = field(default_factory=set)
    repository: str | None = None
    first_seen: str = ""
    last_seen: str = ""
    pods: set[str] = field(default_factory=set)


def running_containers(pod: Mapping[str, Any], key: ResourceKey) -> list[RunningContainer]:
    """The running containers of one Pod object, with the digests they run."""
    return [
        RunningContainer(
            pod=key,
            container=run.name,
            image=run.image,
            digest=run.found.digest,
            repository=run.repository,
            repo_digest=run.found.repo_digest,
            started_at=run.started_at,
            init=run.init,
        )
        for run in container_runs(dict(pod))
    ]


def workload_key(pod: RevisionRecord, owners: Mapping[tuple[str, str, str], Any]) -> ResourceKey:
    obj = pod.obj or {}
    ns = pod.key.namespace

    def lookup(kind: str, name: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = owners.get((kind, ns, name))
        return found

    kind, name = workload_of(obj, lookup)
    return ResourceKey(pod.key.cluster, GROUPS.get(kind, ""), kind, ns, name)


def owner_objects(records: Iterable[RevisionRecord]) -> dict[tuple[str, str, str], Any]:
    return {
        (r.key.kind, r.key.namespace, r.key.name): r.obj
        for r in records
        if (r.key.group, r.key.kind) in _OWNER_KINDS and not r.deleted and r.obj is not None
    }


def images_at(
    reader: Reader,
    at: str,
    *,
    cluster: str | None = None,
    state: Sequence[RevisionRecord] | None = None,
) -> list[WorkloadImages]:
    """Every workload's running digests at ``at`` (stored time text), by workload key.
    ``state``: the state at ``at`` when the caller read it already (a snapshot has)."""
    if state is None:
        state = reader.state_at(at, cluster=cluster)
    owners = owner_objects(state)
    grouped: dict[ResourceKey, dict[str, list[RunningContainer]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for record in state:
        if record.key.kind != "Pod" or record.key.group or record.obj is None:
            continue
        containers = running_containers(record.obj, record.key)
        if not containers:
            continue
        workload = workload_key(record, owners)
        for container in containers:
            grouped[workload][container.digest].append(container)
    return [
        WorkloadImages(workload, {d: list(cs) for d, cs in by_digest.items()})
        for workload, by_digest in sorted(grouped.items())
    ]


def digest_history_from_revisions(
    reader: Reader,
    start: str,
    end: str,
    *,
    cluster: str | None = None,
    workloads: Sequence[ResourceKey] | None = None,
) -> list[DigestSpan]:
    """:func:`digest_history` computed by decoding every Pod revision of the window (what
    it did before the ``pod_digests`` index; kept as the reference the index is tested
    against, tests/test_pod_digests_property.py)."""
    first = reader.state_at(start, cluster=cluster)
    ids = reader.resource_ids_of_kinds([("", "Pod"), *_OWNER_KINDS])
    changes = reader.revisions_of(ids, start, end)
    if cluster is not None:
        changes = [r for r in changes if r.key.cluster == cluster]
    # Owners from the whole window, whenever each was seen: Pods and ReplicaSets come on
    # watches of their own, so a Pod's owner can be recorded just after the Pod, and an
    # owner reference does not change over an object's life.
    owners = {**owner_objects(first), **owner_objects(changes)}
    wanted = set(workloads) if workloads is not None else None
    spans: dict[tuple[ResourceKey, str], DigestSpan] = {}
    # Each Pod's running digests, as of its latest revision so far, and since when.
    current: dict[ResourceKey, tuple[ResourceKey, dict[str, RunningContainer], str]] = {}

    def close(pod: ResourceKey, until: str) -> None:
        held = current.pop(pod, None)
        if held is None:
            return
        workload, running, _ = held
        for digest in running:
            spans[(workload, digest)].last_seen = max(spans[(workload, digest)].last_seen, until)

    def open_(record: RevisionRecord, at: str) -> None:
        if record.deleted or record.obj is None:
            return
        containers = running_containers(record.obj, record.key)
        if not containers:
            return
        workload = workload_key(record, owners)
        if wanted is not None and workload not in wanted:
            return
        running = {c.digest: c for c in containers}
        current[record.key] = (workload, running, at)
        for digest, c in running.items():
            span = spans.get((workload, digest))
            if span is None:
                span = spans[(workload, digest)] = DigestSpan(
                    workload, digest, repository=c.repository, first_seen=at, last_seen=at
                )
            span.images.add(c.image)
            span.pods.add(record.key.name)
            span.last_seen = max(span.last_seen, at)

    for record in first:
        if record.key.kind == "Pod" and not record.key.group:
            open_(record, start)
    for record in changes:
        if (record.key.group, record.key.kind) in _OWNER_KINDS:
            continue
        close(record.key, record.observed_at)
        open_(record, record.observed_at)
    for pod in list(current):
        close(pod, end)
    return sorted(spans.values(), key=lambda s: (s.first_seen, str(s.workload), s.digest))


@dataclass(frozen=True)
class DigestEvent:
    """A digest starting or stopping to run in a workload (its first Pod up, its last down)."""

    at: str
    workload: ResourceKey
    digest: str
    started: bool  # else stopped
    images: tuple[str, ...] = ()


def digest_events_from_revisions(
    reader: Reader, start: str, end: str, *, cluster: str | None = None
) -> tuple[dict[ResourceKey, set[str]], list[DigestEvent]]:
    """:func:`digest_events` computed by decoding every Pod revision of the window (the
    reference the ``pod_digests`` index is tested against)."""
    first = reader.state_at(start, cluster=cluster)
    ids = reader.resource_ids_of_kinds([("", "Pod"), *_OWNER_KINDS])
    changes = reader.revisions_of(ids, start, end)
    if cluster is not None:
        changes = [r for r in changes if r.key.cluster == cluster]
    owners = {**owner_objects(first), **owner_objects(changes)}
    pods: dict[ResourceKey, tuple[ResourceKey, dict[str, RunningContainer]]] = {}
    counts: dict[tuple[ResourceKey, str], int] = defaultdict(int)
    events: list[DigestEvent] = []

    def running_of(record: RevisionRecord) -> tuple[ResourceKey, dict[str, RunningContainer]]:
        if record.deleted or record.obj is None:
            return workload_key(record, owners), {}
        containers = running_containers(record.obj, record.key)
        return workload_key(record, owners), {c.digest: c for c in containers}

    for record in first:
        if record.key.kind == "Pod" and not record.key.group:
            workload, running = running_of(record)
            pods[record.key] = (workload, running)
            for digest in running:
                counts[(workload, digest)] += 1
    at_start: dict[ResourceKey, set[str]] = defaultdict(set)
    for (workload, digest), n in counts.items():
        if n:
            at_start[workload].add(digest)
    for record in changes:
        if record.key.kind != "Pod" or record.key.group or record.observed_at <= start:
            continue
        workload, running = running_of(record)
        old_workload, old_running = pods.get(record.key, (workload, {}))
        for digest in old_running.keys() - running.keys():
            counts[(old_workload, digest)] -= 1
            if counts[(old_workload, digest)] == 0:
                events.append(DigestEvent(record.observed_at, old_workload, digest, False))
        for digest in running.keys() - old_running.keys():
            counts[(workload, digest)] += 1
            if counts[(workload, digest)] == 1:
                image = running[digest].image
                events.append(DigestEvent(record.observed_at, workload, digest, True, (image,)))
        pods[record.key] = (workload, running)
    return dict(at_start), events


# -- from the index ---------------------------------------------------------------------------
# The answers below read ``pod_digests`` (store/pod_digests.py): what each Pod ran, a group
# of rows where it changed, written with the revision. They are the answers of the
# ``_from_revisions`` functions above, which decode every Pod revision of the window: a
# revision that changes nothing of what a Pod runs changes nothing in them either (each
# is a union of spans, or a count that does not move), so the revisions where something
# changed, taken in the same order, give the same answer. One exception, at the window's
# start, is made up for (``_seen_again_at``). The owners (ReplicaSets, Jobs: few, and
# not in the index) are still read from their revisions.


def _window_owners(
    reader: Reader, start: str, end: str, cluster: str | None
) -> dict[tuple[str, str, str], Any]:
    """The owners a Pod's workload is found through, as the decoding path has them: the
    ReplicaSets and Jobs of the state at ``start``, then (later ones winning) of every
    revision in [start, end]."""
    ids = reader.resource_ids_of_kinds(list(_OWNER_KINDS))
    if not ids:
        return {}
    first = [
        r
        for r in reader.states_of(ids, start).values()
        if not r.deleted and (cluster is None or r.key.cluster == cluster)
    ]
    first.sort(key=lambda r: (r.key.namespace, r.key.kind, r.key.name, r.key.cluster))
    changes = reader.revisions_of(ids, start, end)
    if cluster is not None:
        changes = [r for r in changes if r.key.cluster == cluster]
    return {**owner_objects(first), **owner_objects(changes)}


class Workloads:
    """The workload of a Pod group, by its owner (a few owners serve thousands of Pods).

    ``owners``: ReplicaSets and Jobs by (kind, namespace, name), as :func:`owner_objects`
    keys them; ``by_cluster``: by (cluster, kind, namespace, name) instead (a Pod's owner
    is then looked for in its own cluster only: ``query.provenance``)."""

    def __init__(self, owners: Mapping[Any, Any], *, by_cluster: bool = False) -> None:
        self.owners = owners
        self.by_cluster = by_cluster
        self._known: dict[tuple[str, str, Owner], ResourceKey] = {}

    def of(self, group: PodGroup) -> ResourceKey:
        key = group.key
        # Owned through a kind of GROUPS, the workload is an owner's, whatever the Pod's
        # name; else it is the Pod itself.
        by_owner = group.owner[0] in GROUPS
        cached = (key.cluster, key.namespace, group.owner)
        if by_owner and cached in self._known:
            return self._known[cached]
        cluster, ns = key.cluster, key.namespace
        owners = self.owners

        def lookup(kind: str, name: str) -> Mapping[str, Any] | None:
            found: Mapping[str, Any] | None = owners.get(
                (cluster, kind, ns, name) if self.by_cluster else (kind, ns, name)
            )
            return found

        kind, name = workload_of(pod_of(key.name, group.owner), lookup)
        found = ResourceKey(cluster, GROUPS.get(kind, ""), kind, ns, name)
        if by_owner:
            self._known[cached] = found
        return found


def _by_digest(group: PodGroup) -> dict[str, Running]:
    """A group's running containers by digest (the last container of a digest wins, as in
    the decoding path's ``{c.digest: c for c in containers}``)."""
    return {running[2]: running for running in group.running}


def _seen_again_at(
    conn: Any, start: str, cluster: str | None, changes: list[PodGroup]
) -> list[PodGroup]:
    """The changes from ``start`` on with what the decoding path sees again at ``start``:
    it opens each Pod's state at ``start``, then goes through every revision observed at
    ``start`` once more. A Pod whose first revision of that instant changed nothing (no
    group) shows there what ran before it, as a group of its own."""
    firsts = pod_digests.first_revisions_at(conn, start, cluster=cluster)
    if not firsts:
        return changes
    instant = pod_digests.text_of(to_micros(start))  # the index's text of that time
    opened = {(g.resource_id, g.revision_id) for g in changes if g.at == instant}
    quiet = {rid: rev for rid, rev in firsts.items() if (rid, rev) not in opened}
    before = pod_digests.in_force_before(conn, list(quiet), start)
    again = [group.moved(start, quiet[rid]) for rid, group in before.items()]
    at_start = sorted([g for g in changes if g.at == instant] + again, key=lambda g: g.revision_id)
    return at_start + [g for g in changes if g.at != instant]


def digest_history(
    reader: Reader,
    start: str,
    end: str,
    *,
    cluster: str | None = None,
    workloads: Sequence[ResourceKey] | None = None,
) -> list[DigestSpan]:
    """Which digests each workload ran in [start, end], oldest first sighting first.

    A Pod's revision says what ran from its time until the Pod's next revision (or the
    window's end); a digest's span is the union over every Pod of the workload. Read from
    the ``pod_digests`` index (see :func:`digest_history_from_revisions`)."""
    conn = reader.conn
    keys = pod_digests.pod_keys(conn, cluster)
    at_start = pod_digests.running_at(conn, start, cluster=cluster, keys=keys)
    changes = pod_digests.changes_between(
        conn, start, end, cluster=cluster, with_start=True, keys=keys
    )
    changes = _seen_again_at(conn, start, cluster, changes)
    resolve = Workloads(_window_owners(reader, start, end, cluster))
    wanted = set(workloads) if workloads is not None else None
    spans: dict[tuple[ResourceKey, str], DigestSpan] = {}
    current: dict[ResourceKey, tuple[ResourceKey, dict[str, Running]]] = {}

    def close(pod: ResourceKey, until: str) -> None:
        held = current.pop(pod, None)
        if held is None:
            return
        workload, running = held
        for digest in running:
            span = spans[(workload, digest)]
            span.last_seen = max(span.last_seen, until)

    def open_(group: PodGroup, at: str) -> None:
        if not group.running:
            return
        workload = resolve.of(group)
        if wanted is not None and workload not in wanted:
            return
        running = _by_digest(group)
        current[group.key] = (workload, running)
        for digest, (_, _, _, image, repository) in running.items():
            span = spans.get((workload, digest))
            if span is None:
                span = spans[(workload, digest)] = DigestSpan(
                    workload, digest, repository=repository, first_seen=at, last_seen=at
                )
            span.images.add(image)
            span.pods.add(group.key.name)
            span.last_seen = max(span.last_seen, at)

    for group in at_start:
        open_(group, start)
    for group in changes:
        close(group.key, group.at)
        open_(group, group.at)
    for pod in list(current):
        close(pod, end)
    return sorted(spans.values(), key=lambda s: (s.first_seen, str(s.workload), s.digest))


def digest_events(
    reader: Reader, start: str, end: str, *, cluster: str | None = None
) -> tuple[dict[ResourceKey, set[str]], list[DigestEvent]]:
    """What each workload ran at ``start``, and every digest that started or stopped
    running in it in (start, end], in time order: a rollout is a start (the new digest's
    first Pod) then a stop (the old one's last Pod gone). Read from the ``pod_digests``
    index (see :func:`digest_events_from_revisions`)."""
    conn = reader.conn
    keys = pod_digests.pod_keys(conn, cluster)
    at_start = pod_digests.running_at(conn, start, cluster=cluster, keys=keys)
    changes = pod_digests.changes_between(conn, start, end, cluster=cluster, keys=keys)
    resolve = Workloads(_window_owners(reader, start, end, cluster))
    # By number: a month holds a few hundred thousand changes, and hashing a key (a
    # dataclass) each time cost more than the rest. Pods by resource id, workloads by
    # their place in ``workloads``.
    workloads: list[ResourceKey] = []
    numbers: dict[ResourceKey, int] = {}
    by_owner: dict[tuple[str, str, Owner], int] = {}

    def number(group: PodGroup) -> int:
        cached = (group.key.cluster, group.key.namespace, group.owner)
        found = by_owner.get(cached)
        if found is not None:
            return found
        workload = resolve.of(group)
        found = numbers.get(workload)
        if found is None:
            found = numbers[workload] = len(workloads)
            workloads.append(workload)
        if group.owner[0] in GROUPS:  # else the Pod is its own workload: by its name
            by_owner[cached] = found
        return found

    pods: dict[int, tuple[int, dict[str, Running]]] = {}
    counts: dict[tuple[int, str], int] = defaultdict(int)
    events: list[DigestEvent] = []
    for group in at_start:
        workload, running = number(group), _by_digest(group)
        pods[group.resource_id] = (workload, running)
        for digest in running:
            counts[(workload, digest)] += 1
    first: dict[ResourceKey, set[str]] = defaultdict(set)
    for (workload, digest), n in counts.items():
        if n:
            first[workloads[workload]].add(digest)
    nothing: dict[str, Running] = {}
    for group in changes:
        old_workload, old_running = pods.get(group.resource_id, (-1, nothing))
        if group.running:
            running, workload = _by_digest(group), number(group)
        else:
            # Nothing runs: what the Pod's workload is does not matter (nothing starts).
            running, workload = nothing, old_workload
        # Set differences, as the decoding path takes them: the order of the events of
        # one instant is theirs.
        for digest in old_running.keys() - running.keys():
            counts[(old_workload, digest)] -= 1
            if counts[(old_workload, digest)] == 0:
                events.append(DigestEvent(group.at, workloads[old_workload], digest, False))
        for digest in running.keys() - old_running.keys():
            counts[(workload, digest)] += 1
            if counts[(workload, digest)] == 1:
                image = running[digest][3]
                events.append(DigestEvent(group.at, workloads[workload], digest, True, (image,)))
        pods[group.resource_id] = (workload, running)
    return dict(first), events


@dataclass(frozen=True)
class UnknownImage:
    """A digest no recorded build produced, starting to run in a workload."""

    at: str  # stored time text
    workload: ResourceKey
    digest: str
    image: str  # as the Pods' specs name it (else the digest, short)

    @property
    def summary(self) -> str:
        return f"{self.workload.display()} runs {self.image}: no recorded build made it"


def unknown_images(reader: Reader, start: str, end: str, cluster: str | None) -> list[UnknownImage]:
    """Where an image digest no recorded build produced starts running in a workload in
    (start, end], once per workload and digest, oldest first: unknown provenance, as the
    cause panel and ``/ prov:unknown`` say it (a node-local image ID, which no build can
    be matched with, too). Read from the ``pod_digests`` index."""
    running, events = digest_events(reader, start, end, cluster=cluster)
    started = [e for e in events if e.started and e.digest not in running.get(e.workload, set())]
    if not started:
        return []
    builds = builds_of_digests(reader.db, {e.digest for e in started})
    out = []
    seen: set[tuple[ResourceKey, str]] = set()
    for event in started:
        if (event.workload, event.digest) in seen or builds.get(event.digest):
            continue
        seen.add((event.workload, event.digest))
        image = event.images[0] if event.images else event.digest[:19]
        out.append(UnknownImage(event.at, event.workload, event.digest, image))
    return out

"""The path from a running digest back to its source: build, commit, deploy, first run.

For each digest a workload runs at T (:mod:`.artifacts`):

- the builds that produced it (``record-build``; :mod:`timetravel.store.builds`), with
  their run and source repository and commit. None: **unknown provenance** — nothing
  recorded built this image; a node-local image ID (a runtime's bare ``sha256:``) cannot
  be matched with any build and is said to be so;
- the change that put its image reference into the workload's spec, and its cause (the
  config commit, the pipeline run or sync, the person);
- when it first ran, within the look-back window (``since``);
- tags that named another digest in that window: a **mutable tag re-pushed** (the same
  ``image:`` text in the spec, a different binary), which no config change explains.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from timetravel.domain.builds import Build
from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.times import stored_to_rfc3339
from timetravel.query.artifacts import (
    DigestSpan,
    RunningContainer,
    digest_history,
    images_at,
    owner_objects,
    running_containers,
    workload_key,
)
from timetravel.query.causes import CauseFinder
from timetravel.store.builds import builds_of_digests
from timetravel.store.handle import StoreDB
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

BUILT = "built"
UNKNOWN = "unknown"
NODE_LOCAL = "node-local"  # a runtime's bare image ID: no registry digest to match


@dataclass(frozen=True)
class Deployed:
    """The change that made the workload's spec name the image, and why it happened."""

    at: str
    image: str
    cause: str
    actor: str | None
    commit: str | None  # the config commit
    run: PipelineRun | None


@dataclass(frozen=True)
class ArtifactChain:
    workload: ResourceKey
    digest: str
    repository: str | None
    images: tuple[str, ...]  # the spec's references that ran it
    pods: tuple[str, ...]  # running it at T
    provenance: str  # built | unknown | node-local
    builds: tuple[Build, ...] = ()
    deployed: Deployed | None = None
    first_seen: str | None = None  # within the look-back window
    seen_since_window_start: bool = False  # it was already running when the window began
    retagged: tuple[str, ...] = ()  # tags that named another digest in the window

    @property
    def unknown_provenance(self) -> bool:
        return self.provenance != BUILT

    def to_json(self) -> dict[str, Any]:
        build = self.builds[0] if self.builds else None
        return {
            "digest": self.digest,
            "repository": self.repository,
            "images": list(self.images),
            "workload": {
                "kind": self.workload.kind,
                "namespace": self.workload.namespace or None,
                "name": self.workload.name,
            },
            "pods": list(self.pods),
            "provenance": self.provenance,
            "build": build.to_json() if build else None,
            "deployed": None
            if self.deployed is None
            else {
                "at": stored_to_rfc3339(self.deployed.at),
                "image": self.deployed.image,
                "cause": self.deployed.cause,
                "actor": self.deployed.actor,
                "commit": self.deployed.commit,
                "pipeline_run": self.deployed.run.to_json() if self.deployed.run else None,
            },
            "first_seen": stored_to_rfc3339(self.first_seen) if self.first_seen else None,
            "retagged": list(self.retagged),
        }


def provenance_of(
    container: RunningContainer, builds: Sequence[Build]
) -> tuple[str, tuple[Build, ...]]:
    """Whether a recorded build produced the digest a container runs, and which: those of
    its repository first (one digest may be pushed to several)."""
    if not container.repo_digest:
        return NODE_LOCAL, ()
    found = tuple(b for b in builds if container.repository in (None, b.repository))
    found = found or tuple(builds)
    return (BUILT if found else UNKNOWN), found


def spec_images(obj: dict[str, Any] | None) -> set[str]:
    """The image references a workload's (or a Pod's) spec names."""
    if not obj:
        return set()
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "CronJob":
        spec = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get(
            "spec"
        ) or {}
    elif kind != "Pod":
        spec = (spec.get("template") or {}).get("spec") or {}
    return {
        str(c["image"])
        for part in ("containers", "initContainers")
        for c in spec.get(part) or []
        if isinstance(c, dict) and c.get("image")
    }


def _deployed(
    reader: Reader, causes: CauseFinder, workload: RevisionRecord, image: str, at: str
) -> Deployed | None:
    """The earliest revision of the latest unbroken run naming ``image``, explained."""
    history = reader.history(workload.resource_id, until=at)  # newest first
    since: RevisionRecord | None = None
    for record in history:
        if record.deleted or image not in spec_images(record.obj):
            break
        since = record
    if since is None:
        return None
    why = causes.explain(since, reader.previous(since))
    return Deployed(since.observed_at, image, why.cause, why.actor, why.commit, why.run)


def chains_at(
    reader: Reader,
    db: StoreDB,
    causes: CauseFinder,
    at: str,
    since: str,
    *,
    cluster: str | None = None,
    workloads: Sequence[ResourceKey] | None = None,
) -> list[ArtifactChain]:
    """The chain of every digest running at ``at`` (of ``workloads``, or every one), with
    first sightings and re-pushed tags looked for from ``since``."""
    running = images_at(reader, at, cluster=cluster)
    if workloads is not None:
        wanted = set(workloads)
        running = [w for w in running if w.workload in wanted]
    if not running:
        return []
    spans = digest_history(
        reader, since, at, cluster=cluster, workloads=[w.workload for w in running]
    )
    by_workload: dict[ResourceKey, list[DigestSpan]] = defaultdict(list)
    for each in spans:
        by_workload[each.workload].append(each)
    builds = builds_of_digests(db, {d for w in running for d in w.by_digest})
    out = []
    for w in running:
        record = reader.object_at(w.workload, at) if w.workload.kind != "Pod" else None
        seen = by_workload.get(w.workload, [])
        for digest, containers in sorted(w.by_digest.items()):
            images = tuple(sorted({c.image for c in containers}))
            repository = containers[0].repository
            provenance, found = provenance_of(containers[0], builds.get(digest, []))
            span = next((s for s in seen if s.digest == digest), None)
            retagged = tuple(
                sorted(
                    image
                    for image in images
                    if any(s.digest != digest and image in s.images for s in seen)
                )
            )
            deployed = None
            if record is not None and not record.deleted:
                deployed = next(
                    (
                        d
                        for image in images
                        if (d := _deployed(reader, causes, record, image, at)) is not None
                    ),
                    None,
                )
            out.append(
                ArtifactChain(
                    workload=w.workload,
                    digest=digest,
                    repository=repository,
                    images=images,
                    pods=tuple(sorted({c.pod.name for c in containers})),
                    provenance=provenance,
                    builds=found,
                    deployed=deployed,
                    first_seen=span.first_seen if span else None,
                    seen_since_window_start=bool(span and span.first_seen == since),
                    retagged=retagged,
                )
            )
    return out


def chains_in_snapshot(
    reader: Reader,
    db: StoreDB,
    at: str,
    state: Sequence[RevisionRecord],
    window: Sequence[tuple[RevisionRecord, ChangeView]],
) -> list[ArtifactChain]:
    """The chains of a snapshot, from what it has read already: the state at ``at`` and
    the window's changes (with their causes). Read nothing more but the builds.

    Within the window: a digest's first sighting (None: it ran before the window began);
    the change that put its image into the workload's spec, when that was in the window
    (None: before it); a tag that ran another digest in the window."""
    running = images_at(reader, at, state=state)
    if not running:
        return []
    owners = {**owner_objects(state), **owner_objects(r for r, _ in window)}
    first: dict[tuple[ResourceKey, str], str] = {}
    tags: dict[tuple[ResourceKey, str], set[str]] = defaultdict(set)  # (workload, image) -> digests
    deployed: dict[tuple[ResourceKey, str], Deployed] = {}
    for record, view in window:
        if record.observed_at > at or record.obj is None or record.deleted:
            continue
        if record.key.kind == "Pod" and not record.key.group:
            workload = workload_key(record, owners)
            for c in running_containers(record.obj, record.key):
                first.setdefault((workload, c.digest), record.observed_at)
                tags[(workload, c.image)].add(c.digest)
        elif record.change in ("created", "updated"):
            for image in spec_images(record.obj):
                touched = any(f.path.endswith(".image") and f.after == image for f in view.fields)
                if touched or record.change == "created":
                    deployed[(record.key, image)] = Deployed(
                        record.observed_at,
                        image,
                        view.cause,
                        view.actor,
                        view.commit,
                        view.pipeline_run,
                    )
    builds = builds_of_digests(db, {d for w in running for d in w.by_digest})
    out = []
    for w in running:
        for digest, containers in sorted(w.by_digest.items()):
            images = tuple(sorted({c.image for c in containers}))
            repository = containers[0].repository
            provenance, found = provenance_of(containers[0], builds.get(digest, []))
            seen = first.get((w.workload, digest))
            out.append(
                ArtifactChain(
                    workload=w.workload,
                    digest=digest,
                    repository=repository,
                    images=images,
                    pods=tuple(sorted({c.pod.name for c in containers})),
                    provenance=provenance,
                    builds=found,
                    deployed=next(
                        (deployed[(w.workload, i)] for i in images if (w.workload, i) in deployed),
                        None,
                    ),
                    first_seen=seen,
                    seen_since_window_start=seen is None,
                    retagged=tuple(
                        sorted(
                            i
                            for i in images
                            if len(tags.get((w.workload, i), set()) | {digest}) > 1
                        )
                    ),
                )
            )
    return out

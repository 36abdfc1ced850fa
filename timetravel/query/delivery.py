"""Delivery figures from the record: DORA's four keys, each with the deploys it counts.

The definitions are DORA's (dora.dev, "DORA's software delivery metrics: the four keys"):

- **deployment frequency**: how often changes reach production;
- **lead time for changes**: from a change's commit to it running in production;
- **change failure rate**: the share of deployments that cause a failure in production
  needing immediate remediation (a rollback, a hotfix);
- **failed deployment recovery time**: from such a deployment to recovering from it.

What each word means here, from what timetravel records:

- a **deployment** is a digest starting to run in a workload (its first Pod running it)
  that the workload had not run earlier in the window. A digest it did run earlier coming
  back is a **rollback**: a remediation, counted under the deployment it undid, not as a
  deployment of a change (a revert commit that redeploys the old image is one);
- **lead time**: from the source commit's committer time (``record-build`` reads it from
  the build's checkout) to the deployment; a deployment whose digest no build with a
  commit time names has none, and is listed as such;
- a deployment **failed** when, within ``failure_window`` after it, the workload rolled
  back to an earlier digest, or a pipeline run or sync naming the workload as a target
  ended failed. A revert that ships a newly built image is not recognized as a failure;
- **recovery time**: from a failed deployment to the next digest starting in the workload
  (the rollback or the fix).

The deployments come from :func:`~timetravel.query.artifacts.digest_events`, which reads
the Pods' running digests where they changed (the ``pod_digests`` index the writer keeps,
store/pod_digests.py): a month of a large cluster in a few seconds, not every Pod revision
of it decoded.

Medians and 90th percentiles are nearest-rank: the value at rank ceil(p x n) of the n
sorted values, so each is a real deployment's figure that a reader can find in the list.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from timetravel.domain.builds import Build
from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import from_stored, stored_to_rfc3339
from timetravel.query.artifacts import digest_events
from timetravel.store.builds import builds_of_digests
from timetravel.store.handle import StoreDB
from timetravel.store.reader import Reader
from timetravel.store.runs import pipeline_runs_between

FAILED_STATUSES = frozenset({"failed", "failure", "error", "errored"})


@dataclass
class Deployment:
    at: str
    workload: ResourceKey
    digest: str
    image: str
    build: Build | None
    lead_time: timedelta | None
    rollback: bool = False  # the digest ran earlier in the window: a remediation
    failed_by: list[str] = field(default_factory=list)  # why it counts as failed
    recovered_at: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.failed_by)

    @property
    def recovery_time(self) -> timedelta | None:
        if not self.failed or self.recovered_at is None:
            return None
        return from_stored(self.recovered_at) - from_stored(self.at)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": stored_to_rfc3339(self.at),
            "workload": {
                "cluster": self.workload.cluster,
                "kind": self.workload.kind,
                "namespace": self.workload.namespace or None,
                "name": self.workload.name,
            },
            "digest": self.digest,
            "image": self.image,
            "rollback": self.rollback,
            "commit": self.build.commit if self.build else None,
            "commit_at": self.build.commit_at if self.build else None,
            "lead_time_seconds": _seconds(self.lead_time),
            "failed": self.failed,
            "failed_by": list(self.failed_by),
            "recovered_at": stored_to_rfc3339(self.recovered_at) if self.recovered_at else None,
            "recovery_time_seconds": _seconds(self.recovery_time),
        }


@dataclass(frozen=True)
class DeliveryFigures:
    since: str
    until: str
    failure_window: timedelta
    deployments: tuple[Deployment, ...]  # of changes: rollbacks left out
    rollbacks: tuple[Deployment, ...]

    @property
    def days(self) -> float:
        return (from_stored(self.until) - from_stored(self.since)).total_seconds() / 86400

    @property
    def per_day(self) -> float:
        return len(self.deployments) / self.days if self.days > 0 else 0.0

    @property
    def lead_times(self) -> list[timedelta]:
        return sorted(d.lead_time for d in self.deployments if d.lead_time is not None)

    @property
    def failed(self) -> list[Deployment]:
        return [d for d in self.deployments if d.failed]

    @property
    def change_failure_rate(self) -> float | None:
        return len(self.failed) / len(self.deployments) if self.deployments else None

    @property
    def recovery_times(self) -> list[timedelta]:
        return sorted(t for d in self.failed if (t := d.recovery_time) is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": stored_to_rfc3339(self.since),
            "until": stored_to_rfc3339(self.until),
            "days": round(self.days, 3),
            "failure_window_seconds": _seconds(self.failure_window),
            "deployment_frequency": {
                "deployments": len(self.deployments),
                "per_day": round(self.per_day, 3),
            },
            "lead_time_for_changes": {
                "counted": len(self.lead_times),
                "without_commit_time": len(self.deployments) - len(self.lead_times),
                "median_seconds": _seconds(percentile(self.lead_times, 0.5)),
                "p90_seconds": _seconds(percentile(self.lead_times, 0.9)),
            },
            "change_failure_rate": {
                "failed": len(self.failed),
                "deployments": len(self.deployments),
                "rate": None
                if self.change_failure_rate is None
                else round(self.change_failure_rate, 4),
            },
            "failed_deployment_recovery_time": {
                "counted": len(self.recovery_times),
                "median_seconds": _seconds(percentile(self.recovery_times, 0.5)),
                "p90_seconds": _seconds(percentile(self.recovery_times, 0.9)),
            },
            "deployments": [d.to_json() for d in self.deployments],
            "rollbacks": [d.to_json() for d in self.rollbacks],
        }


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def percentile(values: Sequence[timedelta], p: float) -> timedelta | None:
    """Nearest-rank percentile: the value at rank ceil(p x n) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered)))
    return ordered[rank - 1]


def _names(run: PipelineRun, workload: ResourceKey) -> bool:
    return any(t.matches(workload.kind, workload.namespace, workload.name) for t in run.targets)


def delivery_figures(
    reader: Reader,
    db: StoreDB,
    since: str,
    until: str,
    *,
    cluster: str | None = None,
    failure_window: timedelta = timedelta(hours=1),
) -> DeliveryFigures:
    """The four keys over [since, until] (stored time text)."""
    at_start, events = digest_events(reader, since, until, cluster=cluster)
    ran: dict[ResourceKey, set[str]] = defaultdict(set)
    for workload, digests in at_start.items():
        ran[workload] |= digests
    started = [e for e in events if e.started]
    builds = builds_of_digests(db, {e.digest for e in started})
    every: list[Deployment] = []
    for event in started:
        build = next(iter(builds.get(event.digest, [])), None)
        lead = None
        if build is not None and build.commit_at is not None:
            lead = from_stored(event.at) - from_stored(build.commit_at)
        every.append(
            Deployment(
                at=event.at,
                workload=event.workload,
                digest=event.digest,
                image=event.images[0] if event.images else "",
                build=build,
                lead_time=lead,
                rollback=event.digest in ran[event.workload],
            )
        )
        ran[event.workload].add(event.digest)
    runs = [
        r
        for r in pipeline_runs_between(db, since, until, cluster=cluster)
        if (r.status or "").lower() in FAILED_STATUSES
    ]
    by_workload: dict[ResourceKey, list[Deployment]] = defaultdict(list)
    for deployment in every:
        by_workload[deployment.workload].append(deployment)
    for deployments in by_workload.values():
        for index, deployment in enumerate(deployments):
            if deployment.rollback:
                continue
            limit = from_stored(deployment.at) + failure_window
            later = deployments[index + 1 :]
            rolled = next((d for d in later if d.rollback and from_stored(d.at) <= limit), None)
            if rolled is not None:
                deployment.failed_by.append(f"rolled back at {stored_to_rfc3339(rolled.at)}")
            for run in runs:
                ended = run.finished_at or run.reported_at
                if (
                    ended is not None
                    and deployment.at <= ended
                    and from_stored(ended) <= limit
                    and _names(run, deployment.workload)
                ):
                    deployment.failed_by.append(
                        f"{run.provider} {run.pipeline} #{run.run_id} {run.status}"
                    )
            if deployment.failed_by and later:
                deployment.recovered_at = later[0].at
    return DeliveryFigures(
        since=since,
        until=until,
        failure_window=failure_window,
        deployments=tuple(d for d in every if not d.rollback),
        rollbacks=tuple(d for d in every if d.rollback),
    )

"""Pipeline runs: what a CI system's environment says about the run, and the facts stored.

``record-run`` reads these variables when its flags are absent. Only variables the CI
system sets itself are read, except for Tekton and Argo Workflows, which put no run
identity in a step's environment by default: there the variables below must be exported
by the Task or template (each line says from what).

GitHub Actions (``GITHUB_ACTIONS=true``)
    pipeline ``GITHUB_WORKFLOW``; run_id ``GITHUB_RUN_ID`` (``ID-attempt-N`` for a re-run,
    from ``GITHUB_RUN_ATTEMPT``); url ``GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/ID``;
    commit ``GITHUB_SHA``; actor ``GITHUB_TRIGGERING_ACTOR`` else ``GITHUB_ACTOR``.
    GitHub exposes no start time and no run status.
GitLab CI (``GITLAB_CI=true``)
    pipeline ``CI_PROJECT_PATH``; run_id ``CI_PIPELINE_ID``; url ``CI_PIPELINE_URL``; commit
    ``CI_COMMIT_SHA``; actor ``GITLAB_USER_LOGIN``; started_at ``CI_PIPELINE_CREATED_AT``;
    status ``CI_JOB_STATUS`` (set in ``after_script`` only; the job's, not the pipeline's).
Jenkins (``JENKINS_URL`` with ``BUILD_NUMBER`` or ``BUILD_ID``)
    pipeline ``JOB_NAME``; run_id ``BUILD_NUMBER`` else ``BUILD_ID``; url ``BUILD_URL``;
    commit ``GIT_COMMIT`` (git plugin); actor ``BUILD_USER_ID`` (build-user-vars plugin).
Azure Pipelines (``TF_BUILD=True``)
    pipeline ``BUILD_DEFINITIONNAME``; run_id ``BUILD_BUILDID``; url from
    ``SYSTEM_COLLECTIONURI`` + ``SYSTEM_TEAMPROJECT``; commit ``BUILD_SOURCEVERSION``;
    actor ``BUILD_REQUESTEDFOREMAIL`` else ``BUILD_REQUESTEDFOR``.
Buildkite (``BUILDKITE=true``)
    pipeline ``BUILDKITE_PIPELINE_SLUG``; run_id ``BUILDKITE_BUILD_NUMBER``; url
    ``BUILDKITE_BUILD_URL``; commit ``BUILDKITE_COMMIT``; actor
    ``BUILDKITE_BUILD_CREATOR_EMAIL`` else ``BUILDKITE_BUILD_CREATOR``.
CircleCI (``CIRCLECI=true``)
    pipeline ``CIRCLE_PROJECT_USERNAME/CIRCLE_PROJECT_REPONAME``; run_id
    ``CIRCLE_WORKFLOW_ID`` else ``CIRCLE_BUILD_NUM``; url ``CIRCLE_BUILD_URL``; commit
    ``CIRCLE_SHA1``; actor ``CIRCLE_USERNAME``.
Tekton (``TEKTON_PIPELINE_RUN`` set; export from the Task)
    run_id ``TEKTON_PIPELINE_RUN`` (``$(context.pipelineRun.name)``, or the pod label
    ``tekton.dev/pipelineRun`` through the downward API); pipeline ``TEKTON_PIPELINE``
    (``$(context.pipeline.name)``); ``TEKTON_NAMESPACE`` (``$(context.pipelineRun.namespace)``)
    and ``TEKTON_DASHBOARD_URL`` build the url; commit ``TEKTON_COMMIT`` (e.g. the
    git-clone Task's ``commit`` result); actor ``TEKTON_ACTOR``; service_account
    ``TEKTON_SERVICE_ACCOUNT`` (the PipelineRun's ``serviceAccountName``, as
    ``NAMESPACE/NAME``).
Argo Workflows (``ARGO_WORKFLOW_NAME`` set)
    run_id ``ARGO_WORKFLOW_NAME`` (set by Argo's executor in recent versions, else export
    ``{{workflow.name}}``); pipeline ``ARGO_WORKFLOW_TEMPLATE`` (export the
    ``workflows.argoproj.io/workflow-template`` label or the template's name);
    ``ARGO_WORKFLOW_NAMESPACE`` (``{{workflow.namespace}}``) and ``ARGO_SERVER_URL`` build
    the url; commit ``ARGO_COMMIT``; actor ``ARGO_ACTOR``
    (``{{workflow.creator}}`` / the ``workflows.argoproj.io/creator`` label); service_account
    ``ARGO_SERVICE_ACCOUNT`` (``{{workflow.serviceAccountName}}``).

``CI=true`` alone names no system: nothing is detected.

Any CI system
    clusters ``TIMETRAVEL_CLUSTER``: the cluster (or comma-separated clusters) the run
    deploys to, in a store that records several; set it once in the deploy job's
    environment instead of passing ``--cluster`` to every report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from timetravel.domain.times import parse_rfc3339, stored_to_rfc3339

__all__ = [
    "CLUSTER_VARIABLE",
    "TERMINAL_STATUSES",
    "DetectedRun",
    "PipelineRun",
    "PipelineRunFacts",
    "Target",
    "clusters_from_env",
    "detect_run",
    "normalize_service_account",
    "normalize_status",
    "parse_target",
]

_STATUS_SYNONYMS = {
    "success": "success",
    "succeeded": "success",
    "successful": "success",
    "passed": "success",
    "ok": "success",
    "failed": "failed",
    "failure": "failed",
    "fail": "failed",
    "error": "failed",
    "errored": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "aborted": "cancelled",
    "running": "running",
    "in_progress": "running",
    "in-progress": "running",
    "started": "running",
}
# A run in one of these is over: its report time bounds its end.
TERMINAL_STATUSES = frozenset({"success", "failed", "cancelled", "skipped", "unstable"})


def normalize_status(status: str) -> str:
    """One vocabulary across CI systems: success, failed, cancelled, running, or as given.

    ``SUCCESS`` (Jenkins), ``succeeded`` (Tekton, Argo), ``canceled`` (GitLab) and the like
    map to the same word so a reader can compare runs of different systems.
    """
    word = status.strip().lower()
    return _STATUS_SYNONYMS.get(word, word)


@dataclass(frozen=True)
class DetectedRun:
    """What a CI environment tells about the current run (None where it says nothing)."""

    provider: str
    pipeline: str | None = None
    run_id: str | None = None
    url: str | None = None
    commit: str | None = None
    actor: str | None = None
    started_at: datetime | None = None
    status: str | None = None
    service_account: str | None = None


def _get(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _true(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() == "true"


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        # A variable in an unexpected form is not worth failing a deploy step over.
        return None


def _status(value: str | None) -> str | None:
    return normalize_status(value) if value else None


def _github(env: Mapping[str, str]) -> DetectedRun | None:
    if not _true(env, "GITHUB_ACTIONS"):
        return None
    run_id = _get(env, "GITHUB_RUN_ID")
    attempt = _get(env, "GITHUB_RUN_ATTEMPT")
    repo = _get(env, "GITHUB_REPOSITORY")
    url = None
    if run_id and repo:
        server = (_get(env, "GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
        url = f"{server}/{repo}/actions/runs/{run_id}"
    if run_id and attempt and attempt != "1":
        # A re-run is a new execution (new times, maybe a new actor) of the same run id.
        run_id = f"{run_id}-attempt-{attempt}"
        if url:
            url = f"{url}/attempts/{attempt}"
    return DetectedRun(
        provider="github-actions",
        pipeline=_get(env, "GITHUB_WORKFLOW"),
        run_id=run_id,
        url=url,
        commit=_get(env, "GITHUB_SHA"),
        actor=_get(env, "GITHUB_TRIGGERING_ACTOR", "GITHUB_ACTOR"),
    )


def _gitlab(env: Mapping[str, str]) -> DetectedRun | None:
    if not _true(env, "GITLAB_CI"):
        return None
    return DetectedRun(
        provider="gitlab-ci",
        pipeline=_get(env, "CI_PROJECT_PATH"),
        run_id=_get(env, "CI_PIPELINE_ID"),
        url=_get(env, "CI_PIPELINE_URL"),
        commit=_get(env, "CI_COMMIT_SHA"),
        actor=_get(env, "GITLAB_USER_LOGIN"),
        started_at=_time(_get(env, "CI_PIPELINE_CREATED_AT")),
        status=_status(_get(env, "CI_JOB_STATUS")),
    )


def _jenkins(env: Mapping[str, str]) -> DetectedRun | None:
    if not _get(env, "JENKINS_URL") or not _get(env, "BUILD_NUMBER", "BUILD_ID"):
        return None
    return DetectedRun(
        provider="jenkins",
        pipeline=_get(env, "JOB_NAME"),
        run_id=_get(env, "BUILD_NUMBER", "BUILD_ID"),
        url=_get(env, "BUILD_URL"),
        commit=_get(env, "GIT_COMMIT"),
        actor=_get(env, "BUILD_USER_ID"),
    )


def _azure(env: Mapping[str, str]) -> DetectedRun | None:
    if not _true(env, "TF_BUILD"):
        return None
    run_id = _get(env, "BUILD_BUILDID")
    collection = _get(env, "SYSTEM_COLLECTIONURI")
    project = _get(env, "SYSTEM_TEAMPROJECT")
    url = None
    if run_id and collection and project:
        url = f"{collection.rstrip('/')}/{project}/_build/results?buildId={run_id}"
    return DetectedRun(
        provider="azure-pipelines",
        pipeline=_get(env, "BUILD_DEFINITIONNAME"),
        run_id=run_id,
        url=url,
        commit=_get(env, "BUILD_SOURCEVERSION"),
        actor=_get(env, "BUILD_REQUESTEDFOREMAIL", "BUILD_REQUESTEDFOR"),
    )


def _buildkite(env: Mapping[str, str]) -> DetectedRun | None:
    if not _true(env, "BUILDKITE"):
        return None
    return DetectedRun(
        provider="buildkite",
        pipeline=_get(env, "BUILDKITE_PIPELINE_SLUG"),
        run_id=_get(env, "BUILDKITE_BUILD_NUMBER"),
        url=_get(env, "BUILDKITE_BUILD_URL"),
        commit=_get(env, "BUILDKITE_COMMIT"),
        actor=_get(env, "BUILDKITE_BUILD_CREATOR_EMAIL", "BUILDKITE_BUILD_CREATOR"),
    )


def _circleci(env: Mapping[str, str]) -> DetectedRun | None:
    if not _true(env, "CIRCLECI"):
        return None
    owner = _get(env, "CIRCLE_PROJECT_USERNAME")
    repo = _get(env, "CIRCLE_PROJECT_REPONAME")
    pipeline = f"{owner}/{repo}" if owner and repo else repo
    return DetectedRun(
        provider="circleci",
        pipeline=pipeline,
        run_id=_get(env, "CIRCLE_WORKFLOW_ID", "CIRCLE_BUILD_NUM"),
        url=_get(env, "CIRCLE_BUILD_URL"),
        commit=_get(env, "CIRCLE_SHA1"),
        actor=_get(env, "CIRCLE_USERNAME"),
    )


def _tekton(env: Mapping[str, str]) -> DetectedRun | None:
    run = _get(env, "TEKTON_PIPELINE_RUN")
    if run is None:
        return None
    namespace = _get(env, "TEKTON_NAMESPACE")
    dashboard = _get(env, "TEKTON_DASHBOARD_URL")
    url = None
    if dashboard and namespace:
        url = f"{dashboard.rstrip('/')}/#/namespaces/{namespace}/pipelineruns/{run}"
    account = _get(env, "TEKTON_SERVICE_ACCOUNT")
    if account and "/" not in account and ":" not in account and namespace:
        # The PipelineRun's serviceAccountName lives in the PipelineRun's namespace.
        account = f"{namespace}/{account}"
    return DetectedRun(
        provider="tekton",
        pipeline=_get(env, "TEKTON_PIPELINE"),
        run_id=run,
        url=url,
        commit=_get(env, "TEKTON_COMMIT"),
        actor=_get(env, "TEKTON_ACTOR"),
        status=_status(_get(env, "TEKTON_STATUS")),
        service_account=normalize_service_account(account) if account else None,
    )


def _argo(env: Mapping[str, str]) -> DetectedRun | None:
    name = _get(env, "ARGO_WORKFLOW_NAME")
    if name is None:
        return None
    namespace = _get(env, "ARGO_WORKFLOW_NAMESPACE")
    server = _get(env, "ARGO_SERVER_URL")
    url = None
    if server and namespace:
        url = f"{server.rstrip('/')}/workflows/{namespace}/{name}"
    account = _get(env, "ARGO_SERVICE_ACCOUNT")
    if account and "/" not in account and ":" not in account and namespace:
        account = f"{namespace}/{account}"
    return DetectedRun(
        provider="argo-workflows",
        pipeline=_get(env, "ARGO_WORKFLOW_TEMPLATE"),
        run_id=name,
        url=url,
        commit=_get(env, "ARGO_COMMIT"),
        actor=_get(env, "ARGO_ACTOR"),
        service_account=normalize_service_account(account) if account else None,
    )


# First match wins; the hosted systems come first because their markers are unambiguous,
# while the Tekton/Argo variables are set by users and could leak into another CI's job.
_DETECTORS: tuple[Callable[[Mapping[str, str]], DetectedRun | None], ...] = (
    _github,
    _gitlab,
    _azure,
    _buildkite,
    _circleci,
    _jenkins,
    _tekton,
    _argo,
)


def detect_run(env: Mapping[str, str]) -> DetectedRun | None:
    """The run a CI environment describes, or None outside a CI system it knows."""
    for detector in _DETECTORS:
        run = detector(env)
        if run is not None:
            return run
    return None


CLUSTER_VARIABLE = "TIMETRAVEL_CLUSTER"


def clusters_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """The clusters ``TIMETRAVEL_CLUSTER`` names (comma-separated), each once, in order;
    none when it is unset or blank."""
    names = (name.strip() for name in env.get(CLUSTER_VARIABLE, "").split(","))
    return tuple(dict.fromkeys(name for name in names if name))


_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*(\.[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True, order=True)
class Target:
    """An object a pipeline run says it deploys: ``KIND/NS/NAME`` or ``KIND/NAME``.

    ``namespace`` is ``""`` for a cluster-scoped target; ``name`` ``*`` means every object
    of that kind (in that namespace). ``kind`` may carry a group (``Deployment.apps``).
    """

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def matches(self, kind: str, namespace: str, name: str) -> bool:
        """Whether an object is this target (kind compared without case or group)."""
        own_kind = self.kind.split(".", 1)[0].lower()
        return (
            own_kind == kind.lower()
            and self.namespace == namespace
            and (self.name == "*" or self.name == name)
        )


def parse_target(text: str) -> Target:
    """Parse ``KIND/NS/NAME`` (namespaced) or ``KIND/NAME`` (cluster-scoped).

    Raises ValueError with the reason when the text is not one of those.
    """
    parts = text.strip().split("/")
    if len(parts) == 3:
        kind, namespace, name = parts
        if not namespace:
            raise ValueError("empty namespace: write KIND/NAME for a cluster-scoped object")
    elif len(parts) == 2:
        kind, name = parts
        namespace = ""
    else:
        raise ValueError("expected KIND/NS/NAME, or KIND/NAME for a cluster-scoped object")
    if not _KIND.fullmatch(kind):
        raise ValueError(f"{kind!r} is not a Kubernetes kind (like Deployment)")
    if namespace and (len(namespace) > 63 or not _NAMESPACE.fullmatch(namespace)):
        raise ValueError(f"{namespace!r} is not a namespace name")
    # Names are path segments: RBAC objects use ':' (system:kube-aggregator), so only
    # what cannot appear in one is refused.
    if not name or len(name) > 253 or any(c.isspace() or c == "%" for c in name):
        raise ValueError(f"{name!r} is not an object name")
    return Target(kind=kind, namespace=namespace, name=name)


_SA_SHORT = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?)/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)")


def normalize_service_account(text: str) -> str:
    """``NS/NAME`` becomes the audit username ``system:serviceaccount:NS:NAME``.

    Anything else (a full service-account username, a cloud IAM user) is kept as given:
    it is what the audit log's ``user.username`` will show for the pipeline's requests.
    """
    value = text.strip()
    match = _SA_SHORT.fullmatch(value)
    if match:
        return f"system:serviceaccount:{match.group(1)}:{match.group(3)}"
    return value


@dataclass(frozen=True)
class PipelineRunFacts:
    """One report of a pipeline run (record-run, or one seen in the cluster).

    Times are aware datetimes; ``reported_at`` is when this report was made.
    """

    provider: str
    pipeline: str
    run_id: str
    reported_at: datetime
    source: str = "record-run"
    url: str | None = None
    commit: str | None = None
    status: str | None = None
    actor: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    targets: tuple[Target, ...] = ()
    service_account: str | None = None
    clusters: tuple[str, ...] = ()  # where the run deploys; none said: any


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline run, one type from the store through attribution to the snapshot.

    Either every ``record-run`` report of it merged (``source`` "record-run", ``id`` its
    row), or a run seen in the cluster (an Argo CD sync, a Tekton PipelineRun...; ``id``
    None). Times are stored text (``domain.times.to_stored``): fixed width, so comparable.
    ``clusters`` are the clusters it deploys to (``record-run --cluster``, or the cluster
    a run was seen in); none: not said, it may have changed any cluster.
    """

    provider: str
    pipeline: str
    run_id: str
    commit: str | None
    url: str | None = None
    status: str | None = None
    actor: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    reported_at: str | None = None
    targets: tuple[Target, ...] = ()
    service_account: str | None = None
    source: str = "record-run"
    id: int | None = None
    clusters: tuple[str, ...] = ()

    def in_cluster(self, cluster: str) -> bool:
        """Whether the run may have changed objects of ``cluster``."""
        return not self.clusters or cluster in self.clusters

    @property
    def window(self) -> tuple[str, str] | None:
        """The span the run is known to cover: [started_at, finished_at], falling back to
        the report time where the CI system did not tell; None when no time is known."""
        end = self.finished_at or self.reported_at or self.started_at
        if end is None:
            return None
        start = self.started_at or end
        return (min(start, end), end)

    def to_json(self) -> dict[str, str | None]:
        """The snapshot schema's ``pipeline_run`` object (times in RFC 3339)."""
        return {
            "provider": self.provider,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "url": self.url,
            "commit": self.commit,
            "status": self.status,
            "actor": self.actor,
            "started_at": stored_to_rfc3339(self.started_at) if self.started_at else None,
            "finished_at": stored_to_rfc3339(self.finished_at) if self.finished_at else None,
        }

"""Pipeline runs the cluster itself records: Argo CD syncs, Flux reconciliations, Tekton
PipelineRuns and Argo Workflows, read from the objects the recorder already keeps."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from timetravel.domain.ci_env import PipelineRun, Target
from timetravel.domain.times import parse_rfc3339, to_stored

# (group, kind) of the objects that describe runs.
RUN_KINDS = (
    ("argoproj.io", "Application"),
    ("argoproj.io", "Workflow"),
    ("tekton.dev", "PipelineRun"),
    ("kustomize.toolkit.fluxcd.io", "Kustomization"),
    ("helm.toolkit.fluxcd.io", "HelmRelease"),
)
FAILED = ("failed", "error", "false")


def _time(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return to_stored(parse_rfc3339(value))
    except ValueError:
        return None


def _argocd(obj: dict[str, Any]) -> list[PipelineRun]:
    name = obj["metadata"]["name"]
    status = obj.get("status") or {}
    dest = ((obj.get("spec") or {}).get("destination") or {}).get("namespace") or "*"
    targets = tuple(
        Target(str(r.get("kind")), str(r.get("namespace") or ""), str(r.get("name")))
        for r in status.get("resources") or []
        if isinstance(r, dict) and r.get("kind") and r.get("name")
    ) or (Target("*", str(dest), "*"),)
    runs = []
    op = status.get("operationState")
    if isinstance(op, dict) and op.get("startedAt"):
        sync = (op.get("operation") or {}).get("sync") or {}
        initiated = (op.get("operation") or {}).get("initiatedBy") or {}
        revision = (op.get("syncResult") or {}).get("revision") or sync.get("revision")
        started = _time(op.get("startedAt"))
        runs.append(
            PipelineRun(
                provider="argocd",
                pipeline=name,
                run_id=f"{name}@{op.get('startedAt')}",
                commit=revision or None,
                status=str(op.get("phase") or "") or None,
                actor=initiated.get("username")
                or ("automated" if initiated.get("automated") else None),
                started_at=started,
                finished_at=_time(op.get("finishedAt")),
                reported_at=started,
                targets=targets,
            )
        )
    for entry in status.get("history") or []:
        if not isinstance(entry, dict):
            continue
        started = _time(entry.get("deployStartedAt") or entry.get("deployedAt"))
        runs.append(
            PipelineRun(
                provider="argocd",
                pipeline=name,
                run_id=f"{name}@{entry.get('deployStartedAt') or entry.get('deployedAt')}",
                commit=entry.get("revision"),
                status="Succeeded",
                actor=(entry.get("initiatedBy") or {}).get("username"),
                started_at=started,
                finished_at=_time(entry.get("deployedAt")),
                reported_at=started,
                targets=targets,
            )
        )
    return runs


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return {}


def _tekton(obj: dict[str, Any]) -> list[PipelineRun]:
    meta = obj["metadata"]
    status = obj.get("status") or {}
    params = {
        p.get("name"): p.get("value")
        for p in (obj.get("spec") or {}).get("params") or []
        if isinstance(p, dict)
    }
    commit = next(
        (str(params[k]) for k in ("revision", "git-revision", "commit", "sha") if params.get(k)),
        None,
    )
    succeeded = _condition(status, "Succeeded")
    state = {"True": "Succeeded", "False": "Failed"}.get(str(succeeded.get("status")), "Running")
    pipeline = (
        (meta.get("labels") or {}).get("tekton.dev/pipeline")
        or ((obj.get("spec") or {}).get("pipelineRef") or {}).get("name")
        or meta["name"]
    )
    started = _time(status.get("startTime"))
    return [
        PipelineRun(
            "tekton",
            pipeline,
            meta["name"],
            commit,
            status=state,
            started_at=started,
            finished_at=_time(status.get("completionTime")),
            reported_at=started,
            targets=(Target("*", meta.get("namespace") or "", "*"),),
        )
    ]


def _workflow(obj: dict[str, Any]) -> list[PipelineRun]:
    meta = obj["metadata"]
    status = obj.get("status") or {}
    started = _time(status.get("startedAt"))
    template = (meta.get("labels") or {}).get("workflows.argoproj.io/workflow-template")
    return [
        PipelineRun(
            "argo-workflows",
            template or meta["name"],
            meta["name"],
            None,
            status=status.get("phase"),
            started_at=started,
            finished_at=_time(status.get("finishedAt")),
            reported_at=started,
        )
    ]


def _flux(obj: dict[str, Any]) -> list[PipelineRun]:
    meta = obj["metadata"]
    status = obj.get("status") or {}
    ready = _condition(status, "Ready")
    at = _time(ready.get("lastTransitionTime"))
    revision = status.get("lastAppliedRevision") or status.get("lastAttemptedRevision")
    if not revision or at is None:
        return []
    commit = str(revision).rsplit(":", 1)[-1].rsplit("/", 1)[-1]  # main@sha1:abc -> abc
    state = "Succeeded" if ready.get("status") == "True" else str(ready.get("reason") or "Failed")
    target_ns = (obj.get("spec") or {}).get("targetNamespace") or "*"
    return [
        PipelineRun(
            "flux",
            meta["name"],
            f"{meta['name']}@{revision}",
            commit,
            status=state,
            started_at=at,
            finished_at=at,
            reported_at=at,
            targets=(Target("*", target_ns, "*"),),
        )
    ]


def runs_from_object(
    group: str, kind: str, obj: dict[str, Any] | None, cluster: str | None = None
) -> list[PipelineRun]:
    """The runs an object describes (none when it is not a run-describing kind); seen in
    ``cluster``, they are that cluster's runs (their ``clusters``)."""
    runs = _runs_from_object(group, kind, obj)
    if cluster is None:
        return runs
    return [replace(run, clusters=(cluster,)) for run in runs]


def _runs_from_object(group: str, kind: str, obj: dict[str, Any] | None) -> list[PipelineRun]:
    if not obj or not isinstance(obj.get("metadata"), dict):
        return []
    if (group, kind) == ("argoproj.io", "Application"):
        return _argocd(obj)
    if (group, kind) == ("tekton.dev", "PipelineRun"):
        return _tekton(obj)
    if (group, kind) == ("argoproj.io", "Workflow"):
        return _workflow(obj)
    if group.endswith("toolkit.fluxcd.io"):
        return _flux(obj)
    return []


def is_failed(run: PipelineRun) -> bool:
    return (run.status or "").lower() in FAILED or (run.status or "").endswith("Failed")

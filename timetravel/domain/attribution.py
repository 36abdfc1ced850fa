"""Why a change happened: pipeline, gitops, manual, controller, or unknown (DESIGN.md).

Pure: the caller gathers the evidence (which field managers touched the object, audit
events near it, pipeline runs around it, the commit git declared then) and this module
weighs it. The audit log is the strongest evidence of *who*; a recorded pipeline run is
the strongest evidence of *why*.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.managed_fields import ManagerTouch
from timetravel.domain.times import from_stored, to_stored

ANNOTATION_RUN_URL = "timetravel.io/pipeline-run-url"
ANNOTATION_COMMIT = "timetravel.io/commit"
GITLAB_PREFIX = "app.gitlab.com/"
ARGOCD_TRACKING = "argocd.argoproj.io/tracking-id"

# Runs of GitOps controllers (seen in the cluster): their changes are `gitops`, not `pipeline`.
GITOPS_PROVIDERS = ("argocd", "flux")

# Deploy-tool managers that are a deploy only as a server-side apply (see is_deploy_write).
APPLY_ONLY_MANAGERS = ("kubectl",)

# How far around a run's start/finish a change still counts as made by it: deploy steps
# report late, and the recorder sees a write a moment after it happens.
RUN_SLACK = timedelta(minutes=2)
# An audit event's stageTimestamp is at or just before the moment the recorder saw the write.
AUDIT_BEFORE = timedelta(minutes=2)
AUDIT_AFTER = timedelta(seconds=10)


@dataclass(frozen=True)
class ManagerRules:
    """Which field managers are GitOps controllers, people, or other controllers."""

    gitops: tuple[str, ...] = (
        "argocd-controller",
        "argocd-application-controller",
        "argocd-server",
        "kustomize-controller",
        "helm-controller",
        "source-controller",
        "gotk-",
        "flux",
        "fleet-agent",
    )
    manual: tuple[str, ...] = (
        "kubectl-edit",
        "kubectl-patch",
        "kubectl-scale",
        "kubectl-set",
        "kubectl-annotate",
        "kubectl-label",
        "kubectl-client-side-apply",
        "kubectl-replace",
        "kubectl-create",
        "kubectl-rollout",
        "kubectl",
        "k9s",
        "lens",
    )
    controller: tuple[str, ...] = (
        "kube-controller-manager",
        "cluster-autoscaler",
        "kube-scheduler",
        "kubelet",
        "vpa-",
        "keda-",
        "-operator",
        "-controller",
        "cert-manager",
        "cert-manager-",
        # Well-known controllers whose field manager is their bare name: a Secret rotated by
        # external-secrets is a controller's change, not one of unknown cause.
        "external-secrets",
        "external-dns",
        "argo-rollouts",
        "kyverno",
        "reloader",
    )
    # Managers a CI step uses to deploy (kubectl apply from a job, helm): a person when no
    # run claims the change, the run when one does. These write whole manifests (``kubectl
    # apply -f``, ``--server-side``, ``helm upgrade``, ``kustomize build | kubectl apply``);
    # kubectl's other verbs (kubectl-edit, -patch, -scale, -set...) change a field or two by
    # hand and are not here: a run never claims them by the commit it deployed.
    deploy_tools: tuple[str, ...] = ("kubectl-client-side-apply", "kubectl", "helm", "kustomize")
    pipeline_service_accounts: tuple[str, ...] = ()

    @functools.cached_property
    def _kinds(self) -> dict[str, str]:
        """``kind_of`` by manager name: a snapshot asks about the same few managers thousands
        of times."""
        return {}

    def _matches(self, manager: str, patterns: Iterable[str]) -> bool:
        for pattern in patterns:
            if pattern.startswith("-") and manager.endswith(pattern):
                return True
            if pattern.endswith("-") and manager.startswith(pattern):
                return True
            if manager == pattern:
                return True
        return False

    def kind_of(self, manager: str) -> str:
        """``gitops``, ``manual``, ``controller`` or ``unknown`` for a field manager name."""
        kind = self._kinds.get(manager)
        if kind is None:
            kind = self._classify(manager)
            self._kinds[manager] = kind
        return kind

    def _classify(self, manager: str) -> str:
        if self._matches(manager, self.gitops):
            return "gitops"
        if self._matches(manager, self.manual):
            return "manual"
        if self._matches(manager, self.controller):
            return "controller"
        return "unknown"

    def is_deploy_tool(self, manager: str) -> bool:
        return self._matches(manager, self.deploy_tools)

    def is_deploy_write(self, manager: str, operation: str | None) -> bool:
        """Whether a write by ``manager`` with ``operation`` (managedFields' ``Apply`` or
        ``Update``; None when unknown) is a deploy tool applying manifests.

        kubectl names its server-side apply plain ``kubectl``, but kubectl before the
        per-verb names (``kubectl-edit``...) wrote every edit, patch and scale as ``kubectl``
        with operation ``Update``: under that name only an ``Apply`` is a deploy.
        """
        if not self.is_deploy_tool(manager):
            return False
        return manager not in APPLY_ONLY_MANAGERS or operation == "Apply"


def run_window(run: PipelineRun) -> tuple[str | None, str | None]:
    """When ``run`` may have changed things, with slack on both sides."""
    start = run.started_at or run.reported_at
    end = run.finished_at or run.reported_at or run.started_at
    if start is None or end is None:
        return None, None
    return _shift(start, -RUN_SLACK), _shift(end, RUN_SLACK)


def targets_resource(run: PipelineRun, kind: str, namespace: str, name: str) -> bool:
    """Whether a target of ``run`` names this object (``*`` is a wildcard for each part;
    a kind is compared without case or group)."""
    for target in run.targets:
        t_kind = target.kind.split(".", 1)[0]
        if (
            (t_kind in ("*", kind) or t_kind.lower() == kind.lower())
            and target.namespace in ("*", namespace)
            and target.name in ("*", name)
        ):
            return True
    return False


@dataclass(frozen=True)
class AuditFact:
    """A mutating request from the audit log, matched to the object it changed."""

    stage_at: str
    verb: str
    user: str | None
    impersonated_user: str | None = None
    field_manager: str | None = None
    subresource: str | None = None

    @property
    def identity(self) -> str | None:
        if self.impersonated_user and self.user:
            return f"{self.user} as {self.impersonated_user}"
        return self.user or self.impersonated_user


@dataclass(frozen=True)
class ChangeFacts:
    """What is known about one change of one object."""

    at: str  # observed_at (stored form)
    kind: str
    namespace: str
    name: str
    change: str  # created | updated | deleted
    status_only: bool
    touched: tuple[ManagerTouch, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)


# (commit, manager) -> whether the object after a change holds what that commit declares
# for it, on the fields it declares, and that manager wrote nothing the commit does not
# declare. The caller reads git; it is asked only for a deploy tool's write inside the
# window of a run that names no targets.
FitsCommit = Callable[[str, str], bool]


@dataclass(frozen=True)
class Attribution:
    cause: str
    actor: str | None
    field_managers: tuple[str, ...]
    commit: str | None
    run: PipelineRun | None
    evidence: str  # one line: why this cause


def _shift(stored: str, delta: timedelta) -> str:
    return to_stored(from_stored(stored) + delta)


def primary_manager(change: ChangeFacts) -> ManagerTouch | None:
    """The manager that made this change: the latest touch, spec before status."""
    return primary_touch(change.touched, change.status_only)


def primary_touch(touched: Sequence[ManagerTouch], status_only: bool) -> ManagerTouch | None:
    """``primary_manager`` of a change with these touches."""
    touches = list(touched)
    if not touches:
        return None
    if not status_only:
        main = [t for t in touches if t.subresource != "status"]
        touches = main or touches
    return max(touches, key=lambda t: t.time or "")


def matching_audit(
    change: ChangeFacts, audits: Sequence[AuditFact], manager: str | None
) -> AuditFact | None:
    """The audit event that most likely made this change (same field manager first)."""
    if not audits:
        return None
    start = _shift(change.at, -AUDIT_BEFORE)
    end = _shift(change.at, AUDIT_AFTER)
    verbs = {"created": {"create"}, "deleted": {"delete", "deletecollection"}}.get(
        change.change, {"update", "patch", "apply"}
    )
    near = [a for a in audits if start <= a.stage_at <= end and a.verb in verbs]
    if not near:
        return None
    if manager:
        # A request made with another field manager did not make this write.
        near = [a for a in near if not a.field_manager or a.field_manager == manager]
        if not near:
            return None
    # The latest request before the recorder saw the write.
    return max(near, key=lambda a: a.stage_at)


def _named_by_annotation(run: PipelineRun, annotations: dict[str, str]) -> bool:
    """Annotations other tools already set name the run's project or application.

    Argo CD's tracking id starts with the Application's name (``payments:apps/Deployment:
    ns/name``); GitLab's ``app.gitlab.com/app`` is the project path slug of the pipeline.
    """
    tracking = annotations.get(ARGOCD_TRACKING)
    if run.provider == "argocd" and tracking and tracking.split(":", 1)[0] == run.pipeline:
        return True
    app = annotations.get(GITLAB_PREFIX + "app")
    if run.provider == "gitlab-ci" and app:
        slug = run.pipeline.lower().replace("/", "-").replace("_", "-").replace(".", "-")
        return app.lower() == slug
    return False


@dataclass(frozen=True)
class RunClaim:
    """A run that made a change, and whether it was known only by its commit's content."""

    run: PipelineRun
    by_content: bool = False


def matching_run(
    change: ChangeFacts,
    runs: Sequence[PipelineRun],
    manager: str | None,
    rules: ManagerRules,
    audit: AuditFact | None,
    *,
    operation: str | None = None,
    fits_commit: FitsCommit | None = None,
) -> RunClaim | None:
    """The pipeline run that made this change, or None.

    A run claims a change when the change is inside its time window and either names the
    run (annotation), is one of its declared targets, or was written by the run's service
    account (audit) — and never when the object says it was deployed from another commit.

    A run that names no targets (a job running ``kubectl apply -f`` that reports only its
    commit and times) also claims a deploy tool's write (``operation`` tells a server-side
    apply) when ``fits_commit(run.commit, manager)`` says the object now holds what that
    commit declares for it. A claim by naming beats one by content; among equals the run
    that started last wins.
    """
    if not runs:
        return None
    kind = rules.kind_of(manager) if manager else "unknown"
    if kind == "controller":
        return None  # an autoscaler or a controller wrote it, whatever run was going on
    # A person's own tool (kubectl edit/scale) is theirs even mid-deploy, unless the audit
    # log shows the run's service account behind it.
    by_account_only = kind == "manual" and not (manager and rules.is_deploy_tool(manager))
    # The run annotations stay on an object after the deploy that set them: they only say
    # who made a change written by a deploy tool.
    url = None if by_account_only else change.annotations.get(ANNOTATION_RUN_URL)
    commit = change.annotations.get(ANNOTATION_COMMIT)
    by_content_possible = bool(
        fits_commit is not None
        and manager
        and change.change != "deleted"
        and rules.is_deploy_write(manager, operation)
    )
    best: RunClaim | None = None
    for run in runs:
        if run.provider in GITOPS_PROVIDERS and manager and rules.kind_of(manager) != "gitops":
            continue
        if url and run.url == url:
            return RunClaim(run)
        if commit and run.commit and commit != run.commit:
            continue
        start, end = run_window(run)
        if start is None or end is None or not start <= change.at <= end:
            continue
        by_target = targets_resource(
            run, change.kind, change.namespace, change.name
        ) or _named_by_annotation(run, change.annotations)
        by_account = bool(
            audit
            and run.service_account
            and audit.user
            and audit.user.endswith(run.service_account)
        )
        # A run that names its targets speaks for those only; one that names none is
        # matched by the commit the object says it was deployed from.
        by_commit_and_tool = bool(
            not run.targets
            and commit
            and run.commit == commit
            and manager
            and rules.is_deploy_tool(manager)
        )
        claim: RunClaim | None = None
        if by_account or (not by_account_only and (by_target or by_commit_and_tool)):
            claim = RunClaim(run)
        elif (
            by_content_possible
            and not run.targets
            and run.commit
            and fits_commit is not None
            and manager
            and (best is None or best.by_content)
            and fits_commit(run.commit, manager)
        ):
            claim = RunClaim(run, by_content=True)
        if claim is not None and (best is None or _outranks(claim, best)):
            best = claim
    return best


def _outranks(claim: RunClaim, best: RunClaim) -> bool:
    if claim.by_content != best.by_content:
        return not claim.by_content
    return (claim.run.started_at or "") > (best.run.started_at or "")


# How the evidence of a claim by content begins: the run's label alone does not say why a
# run that named nothing claims the change, so readers show this line beside it.
CONTENT_EVIDENCE = "fields now match commit"


def claimed_by_content(evidence: str | None) -> bool:
    """Whether an attribution's evidence is a run's claim by content (:func:`matching_run`)."""
    return bool(evidence and evidence.startswith(CONTENT_EVIDENCE))


def short_sha(commit: str) -> str:
    """A commit as people quote it: its first seven characters."""
    return commit[:7]


def attribute(
    change: ChangeFacts,
    *,
    runs: Sequence[PipelineRun] = (),
    audits: Sequence[AuditFact] = (),
    desired_commit: str | None = None,
    rules: ManagerRules | None = None,
    fits_commit: FitsCommit | None = None,
) -> Attribution:
    """Weigh the evidence for one change; ``unknown`` when nothing can be shown.

    ``fits_commit(commit, manager)`` tells whether the object after the change holds what
    ``commit`` declares for it (:func:`matching_run`); without it no run claims by content."""
    rules = rules or ManagerRules()
    touch = primary_manager(change)
    manager = touch.manager if touch else None
    managers = tuple(dict.fromkeys(t.manager for t in change.touched))
    audit = matching_audit(change, audits, manager)
    if manager is None and audit is not None:
        manager = audit.field_manager
    actor = audit.identity if audit else manager
    annotated_commit = change.annotations.get(ANNOTATION_COMMIT)

    claim = matching_run(
        change,
        runs,
        manager,
        rules,
        audit,
        operation=touch.operation if touch else None,
        fits_commit=fits_commit,
    )
    run = claim.run if claim is not None else None
    if run is not None and run.provider in GITOPS_PROVIDERS:
        if rules.kind_of(manager or "") in ("gitops", "unknown"):
            return Attribution(
                "gitops",
                actor,
                managers,
                run.commit or desired_commit,
                run,
                f"{run.provider} sync {run.pipeline} of {run.commit or '?'}",
            )
        run = None
    if run is not None:
        evidence = f"pipeline run {run.provider} {run.pipeline}#{run.run_id}"
        if claim is not None and claim.by_content and run.commit:
            sha = short_sha(run.commit)
            evidence = f"{CONTENT_EVIDENCE} {sha} deployed by run #{run.run_id}"
        return Attribution(
            "pipeline",
            actor or run.actor,
            managers,
            run.commit or annotated_commit,
            run,
            evidence,
        )
    if audit and audit.user and audit.user in rules.pipeline_service_accounts:
        return Attribution(
            "pipeline",
            actor,
            managers,
            annotated_commit,
            None,
            f"audit user {audit.user} is a pipeline account",
        )
    kind = rules.kind_of(manager) if manager else "unknown"
    if kind == "gitops":
        return Attribution(
            "gitops",
            actor,
            managers,
            annotated_commit or desired_commit,
            None,
            f"field manager {manager} is a GitOps controller",
        )
    if kind == "controller":
        return Attribution(
            "controller",
            actor,
            managers,
            None,
            None,
            f"field manager {manager} is an in-cluster controller",
        )
    if kind == "manual":
        return Attribution(
            "manual",
            actor,
            managers,
            annotated_commit,
            None,
            f"field manager {manager} is a person's tool",
        )
    if audit is not None and audit.user and not audit.user.startswith("system:"):
        return Attribution(
            "manual", actor, managers, annotated_commit, None, f"audit user {audit.user}"
        )
    return Attribution(
        "unknown",
        actor,
        managers,
        annotated_commit,
        None,
        "no field manager, audit event or pipeline run explains it",
    )

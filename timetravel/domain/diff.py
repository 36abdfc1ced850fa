"""Desired (git) vs actual (live) field by field, and one revision vs the next.

Paths follow ``paths.py``. Comparison rules shared by both directions: named lists pair items
by name (order is not a difference), lists of scalars are one value, and a missing field, a
None field and (in a manifest) an empty map or list are all the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from timetravel.domain.managed_fields import (
    Owner,
    field_owners,
    is_manual_manager,
    owner_of,
    resolve_paths,
)
from timetravel.domain.paths import (
    Named,
    Segment,
    format_path,
    format_segment,
    is_atomic_list,
    is_named_list,
    item_segment,
    join,
    sort_key,
)
from timetravel.domain.quantity import quantities_equal

# Reasons a FieldDiff carries. Drift: "changed", "missing" (declared in git, absent live),
# "added" (live only, written by a person). Noise: "default" (API server/admission default),
# "status", "controller" (live only, written by a program that is not a person).
CHANGED, MISSING, ADDED = "changed", "missing", "added"
DEFAULT, STATUS, CONTROLLER = "default", "status", "controller"


@dataclass(frozen=True)
class FieldDiff:
    """One field where desired and actual differ; a side lacking the field holds None.
    ``noise`` marks a difference that is not drift (a default, status, a controller's
    field); ``reason`` says which kind of difference it is."""

    path: str
    desired: Any
    actual: Any
    noise: bool = False
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The schema's ``field_diff`` object."""
        return {"path": self.path, "desired": self.desired, "actual": self.actual}


# Fields whose schema type is IntOrString (or an int a manifest may quote): "8080" == 8080.
_INT_OR_STRING = frozenset(
    {
        "port",
        "targetPort",
        "containerPort",
        "hostPort",
        "nodePort",
        "healthCheckNodePort",
        "maxSurge",
        "maxUnavailable",
        "minAvailable",
    }
)
# Maps whose values are resource.Quantity (container resources, quotas, limit ranges, PV/PVC
# capacity, pod overhead), and quantity-valued keys elsewhere.
_QUANTITY_MAPS = frozenset(
    {
        "limits",
        "requests",
        "hard",
        "used",
        "capacity",
        "allocatable",
        "overhead",
        "default",
        "defaultRequest",
        "max",
        "min",
        "maxLimitRequestRatio",
    }
)
_QUANTITY_KEYS = frozenset({"sizeLimit", "averageValue"})


def _keys(segments: list[Segment]) -> list[str]:
    return [s for s in segments if isinstance(s, str)]


def _is_quantity(segments: list[Segment]) -> bool:
    keys = _keys(segments)
    if not keys:
        return False
    if keys[-1] in _QUANTITY_KEYS:
        return True
    if len(keys) >= 2 and keys[-2] == "target" and keys[-1] == "value":
        return True
    return isinstance(segments[-1], str) and len(keys) >= 2 and keys[-2] in _QUANTITY_MAPS


def _same(left: Any, right: Any) -> bool:
    """Exact structural equality that, unlike ==, keeps True apart from 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            _same(a, b) for a, b in zip(left, right, strict=True)
        )
    return bool(type(left) is type(right) and left == right) or (
        isinstance(left, int | float) and isinstance(right, int | float) and left == right
    )


def _scalar_equal(segments: list[Segment], desired: Any, actual: Any) -> bool:
    if type(desired) is type(actual) and desired == actual:
        return True  # the usual case; every rule below only forgives more
    if isinstance(desired, bool) or isinstance(actual, bool):
        return _same(desired, actual)
    keys = _keys(segments)
    if (
        keys
        and keys[-1] in _INT_OR_STRING
        and isinstance(desired, int | str)
        and isinstance(actual, int | str)
    ):
        return str(desired) == str(actual)
    if _is_quantity(segments) and not isinstance(desired, dict | list):
        return quantities_equal(desired, actual)
    return _same(desired, actual)


def _omitted(desired: Any) -> bool:
    """Whether a declared value is one the API server drops on write: null, an empty map or
    list (omitempty), a Go zero value (false, 0, ""), or a map holding only such values."""
    if desired is None or desired is False or desired == "" or desired == []:
        return True
    if isinstance(desired, int | float) and not isinstance(desired, bool) and desired == 0:
        return True
    return isinstance(desired, dict) and all(_omitted(v) for v in desired.values())


# --- Server and admission defaults -------------------------------------------------------
# A live-only field is a default when the API server (defaulting, allocation) or a standard
# admission plugin writes it to every object of its kind. The value matters: a default
# field a person later changed by hand is drift. Update-operation managers
# (kubectl-client-side-apply, kubectl-create) are recorded as owners of the defaults they
# triggered, so this table is consulted before managedFields.
Accept = Callable[[Any, Any], bool]
"""(value, parent map) -> whether value is the default there."""


def _is(expected: Any) -> Accept:
    def accept(value: Any, parent: Any) -> bool:
        return _same(value, expected)

    return accept


def _any(value: Any, parent: Any) -> bool:
    # Allocated or copied values (a clusterIP, the namespace applied into): any value is one
    # the server chose.
    return True


def _pull_policy(value: Any, parent: Any) -> bool:
    # SetDefaults_Container: Always for ":latest" or an untagged image, else IfNotPresent.
    image = str(parent.get("image") or "") if isinstance(parent, dict) else ""
    last = image.rsplit("/", 1)[-1]
    tag = last.split("@", 1)[0].partition(":")[2]
    untagged = not tag and "@" not in last
    return bool(value == ("Always" if untagged or tag == "latest" else "IfNotPresent"))


def _target_port(value: Any, parent: Any) -> bool:
    port = parent.get("port") if isinstance(parent, dict) else None
    return port is not None and str(port) == str(value)


def _service_account_copy(value: Any, parent: Any) -> bool:
    # Pod.spec.serviceAccount is the deprecated alias the server fills from serviceAccountName.
    name = parent.get("serviceAccountName", "default") if isinstance(parent, dict) else None
    return isinstance(value, str) and value == name


def _injected_token(value: Any, parent: Any) -> bool:
    # ServiceAccount admission adds a projected token volume and its mounts to each Pod.
    return isinstance(value, dict) and str(value.get("name", "")).startswith("kube-api-access-")


def _not_ready_toleration(value: Any, parent: Any) -> bool:
    # DefaultTolerationSeconds admission adds these two to each Pod.
    keys = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
    return (
        isinstance(value, dict) and value.get("key") in keys and value.get("effect") == "NoExecute"
    )


_WORKLOADS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
)
_POD_SPECS: dict[str, frozenset[str]] = {
    "spec": frozenset({"Pod"}),
    "spec.template.spec": _WORKLOADS,
    "spec.jobTemplate.spec.template.spec": frozenset({"CronJob"}),
}
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")

_POD_DEFAULTS: dict[str, Accept] = {
    "dnsPolicy": _is("ClusterFirst"),
    "restartPolicy": _is("Always"),
    "schedulerName": _is("default-scheduler"),
    "securityContext": _is({}),
    "terminationGracePeriodSeconds": _is(30),
    "volumes[*].configMap.defaultMode": _is(420),
    "volumes[*].secret.defaultMode": _is(420),
    "volumes[*].projected.defaultMode": _is(420),
    "volumes[*].downwardAPI.defaultMode": _is(420),
    "volumes[*].hostPath.type": _is(""),
    "volumes[*].downwardAPI.items[*].fieldRef.apiVersion": _is("v1"),
    "volumes[*].projected.sources[*].downwardAPI.items[*].fieldRef.apiVersion": _is("v1"),
    "volumes[*].projected.sources[*].serviceAccountToken.expirationSeconds": _is(3600),
}
_CONTAINER_DEFAULTS: dict[str, Accept] = {
    "terminationMessagePath": _is("/dev/termination-log"),
    "terminationMessagePolicy": _is("File"),
    "imagePullPolicy": _pull_policy,
    "resources": _is({}),
    "ports[*].protocol": _is("TCP"),
    "env[*].valueFrom.fieldRef.apiVersion": _is("v1"),
    "env[*].valueFrom.resourceFieldRef.divisor": _is("0"),
    **{
        f"{probe}.{key}": _is(value)
        for probe in _PROBES
        for key, value in (
            ("failureThreshold", 3),
            ("periodSeconds", 10),
            ("successThreshold", 1),
            ("timeoutSeconds", 1),
            ("httpGet.scheme", "HTTP"),
        )
    },
}
_BARE_POD_DEFAULTS: dict[str, Accept] = {
    "spec.enableServiceLinks": _is(True),
    "spec.preemptionPolicy": _is("PreemptLowerPriority"),
    "spec.priority": _is(0),
    "spec.serviceAccountName": _is("default"),
    "spec.serviceAccount": _service_account_copy,
    "spec.nodeName": _any,
    "spec.tolerations[*]": _not_ready_toleration,
    "spec.volumes[*]": _injected_token,
    **{f"spec.{c}[*].volumeMounts[*]": _injected_token for c in _CONTAINER_LISTS},
}
_HPA_BEHAVIOR: dict[str, Any] = {
    "scaleUp": {
        "policies": [
            {"periodSeconds": 15, "type": "Pods", "value": 4},
            {"periodSeconds": 15, "type": "Percent", "value": 100},
        ],
        "selectPolicy": "Max",
        "stabilizationWindowSeconds": 0,
    },
    "scaleDown": {
        "policies": [{"periodSeconds": 15, "type": "Percent", "value": 100}],
        "selectPolicy": "Max",
        "stabilizationWindowSeconds": 300,
    },
}
_PVC_ANNOTATIONS = (
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
)
_JOB_LABELS = (
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
)
_KIND_DEFAULTS: dict[str, dict[str, Accept]] = {
    "Deployment": {
        "spec.replicas": _is(1),
        "spec.strategy.type": _is("RollingUpdate"),
        "spec.strategy.rollingUpdate.maxSurge": _is("25%"),
        "spec.strategy.rollingUpdate.maxUnavailable": _is("25%"),
        "spec.progressDeadlineSeconds": _is(600),
        "spec.revisionHistoryLimit": _is(10),
        join("metadata.annotations", "deployment.kubernetes.io/revision"): _any,
    },
    "ReplicaSet": {
        "spec.replicas": _is(1),
        join("metadata.annotations", "deployment.kubernetes.io/revision"): _any,
    },
    "StatefulSet": {
        "spec.replicas": _is(1),
        "spec.revisionHistoryLimit": _is(10),
        "spec.podManagementPolicy": _is("OrderedReady"),
        "spec.updateStrategy.type": _is("RollingUpdate"),
        "spec.updateStrategy.rollingUpdate.partition": _is(0),
        "spec.persistentVolumeClaimRetentionPolicy.whenDeleted": _is("Retain"),
        "spec.persistentVolumeClaimRetentionPolicy.whenScaled": _is("Retain"),
        "spec.volumeClaimTemplates[*].apiVersion": _is("v1"),
        "spec.volumeClaimTemplates[*].kind": _is("PersistentVolumeClaim"),
        "spec.volumeClaimTemplates[*].spec.volumeMode": _is("Filesystem"),
        "spec.volumeClaimTemplates[*].status": _any,
    },
    "DaemonSet": {
        "spec.revisionHistoryLimit": _is(10),
        "spec.updateStrategy.type": _is("RollingUpdate"),
        "spec.updateStrategy.rollingUpdate.maxUnavailable": _is(1),
        "spec.updateStrategy.rollingUpdate.maxSurge": _is(0),
        join("metadata.annotations", "deprecated.daemonset.template.generation"): _any,
    },
    "Job": {
        "spec.backoffLimit": _is(6),
        "spec.completions": _is(1),
        "spec.parallelism": _is(1),
        "spec.completionMode": _is("NonIndexed"),
        "spec.suspend": _is(False),
        "spec.podReplacementPolicy": _is("TerminatingOrFailed"),
        "spec.selector": _any,
        **{join("spec.template.metadata.labels", label): _any for label in _JOB_LABELS},
        **{join("metadata.labels", label): _any for label in _JOB_LABELS},
    },
    "CronJob": {
        "spec.concurrencyPolicy": _is("Allow"),
        "spec.failedJobsHistoryLimit": _is(1),
        "spec.successfulJobsHistoryLimit": _is(3),
        "spec.suspend": _is(False),
    },
    "Service": {
        "spec.clusterIP": _any,
        "spec.clusterIPs": _any,
        "spec.ipFamilies": _any,
        "spec.ipFamilyPolicy": _any,
        "spec.sessionAffinity": _is("None"),
        "spec.internalTrafficPolicy": _is("Cluster"),
        "spec.externalTrafficPolicy": _is("Cluster"),
        "spec.allocateLoadBalancerNodePorts": _is(True),
        "spec.healthCheckNodePort": _any,
        "spec.type": _is("ClusterIP"),
        "spec.ports[*].protocol": _is("TCP"),
        "spec.ports[*].targetPort": _target_port,
        "spec.ports[*].nodePort": _any,
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds": _is(10800),
    },
    "PersistentVolumeClaim": {
        "spec.volumeName": _any,
        "spec.volumeMode": _is("Filesystem"),
        "spec.storageClassName": _any,
        "metadata.finalizers": _is(["kubernetes.io/pvc-protection"]),
        **{join("metadata.annotations", key): _any for key in _PVC_ANNOTATIONS},
    },
    "Namespace": {
        "spec.finalizers": _is(["kubernetes"]),
        join("metadata.labels", "kubernetes.io/metadata.name"): _any,
    },
    "Secret": {"type": _is("Opaque")},
    "HorizontalPodAutoscaler": {
        f"spec.behavior.{direction}.{key}": _is(value)
        for direction, policy in _HPA_BEHAVIOR.items()
        for key, value in policy.items()
    },
    "Pod": _BARE_POD_DEFAULTS,
}
# Any kind: the namespace a manifest left to `kubectl -n`/the GitOps tool, and bookkeeping
# that kubectl, Argo CD and Flux write beside what git declares.
_ANY_KIND_DEFAULTS: dict[str, Accept] = {
    "metadata.namespace": _any,
    join("metadata.annotations", "kubectl.kubernetes.io/last-applied-configuration"): _any,
    join("metadata.annotations", "argocd.argoproj.io/tracking-id"): _any,
    join("metadata.labels", "kustomize.toolkit.fluxcd.io/name"): _any,
    join("metadata.labels", "kustomize.toolkit.fluxcd.io/namespace"): _any,
    # What a CI step stamps on the objects it deploys, to say which run and commit did it.
    join("metadata.annotations", "timetravel.io/pipeline-run-url"): _any,
    join("metadata.annotations", "timetravel.io/commit"): _any,
    join("metadata.annotations", "app.gitlab.com/app"): _any,
    join("metadata.annotations", "app.gitlab.com/env"): _any,
}


def _build_defaults() -> dict[tuple[str, str], Accept]:
    table: dict[tuple[str, str], Accept] = {}
    for kind, entries in _KIND_DEFAULTS.items():
        table.update({(kind, pattern): accept for pattern, accept in entries.items()})
    for pod_spec, kinds in _POD_SPECS.items():
        for kind in kinds:
            for pattern, accept in _POD_DEFAULTS.items():
                table[(kind, f"{pod_spec}.{pattern}")] = accept
            for containers in _CONTAINER_LISTS:
                for pattern, accept in _CONTAINER_DEFAULTS.items():
                    table[(kind, f"{pod_spec}.{containers}[*].{pattern}")] = accept
    return table


_DEFAULTS = _build_defaults()


def _generic(segments: list[Segment]) -> str:
    text = "".join(format_segment(s) if isinstance(s, str) else "[*]" for s in segments)
    return text[1:] if text.startswith(".") else text


def is_default(kind: str, segments: list[Segment], value: Any, parent: Any) -> bool:
    """Whether ``value`` at ``segments`` of a live ``kind`` object is what the API server or
    a standard admission plugin writes when a manifest leaves the field out."""
    pattern = _generic(segments)
    accept = _DEFAULTS.get((kind, pattern)) or _ANY_KIND_DEFAULTS.get(pattern)
    return accept is not None and accept(value, parent)


@dataclass
class _Drift:
    kind: str
    # The owners by path, made when a live-only field first needs one: most objects have
    # none, and reading managedFields into paths costs more than the rest of the diff.
    owners_of: Callable[[], Mapping[str, Owner]]
    is_manual: Callable[[str], bool]
    out: list[FieldDiff] = field(default_factory=list)
    _owners: Mapping[str, Owner] | None = None

    @property
    def owners(self) -> Mapping[str, Owner]:
        if self._owners is None:
            self._owners = self.owners_of()
        return self._owners

    def emit(self, segments: list[Segment], desired: Any, actual: Any, reason: str) -> None:
        noise = reason in (DEFAULT, STATUS, CONTROLLER)
        self.out.append(FieldDiff(format_path(segments), desired, actual, noise, reason))

    def compare(self, segments: list[Segment], desired: Any, actual: Any, parent: Any) -> None:
        """Compare a field the manifest declares."""
        if desired is None:
            self.extra(segments, actual, parent)
        elif actual is None:
            if not _omitted(desired):
                self.emit(segments, desired, None, MISSING)
        elif isinstance(desired, dict) and isinstance(actual, dict):
            for key, value in desired.items():
                self.compare([*segments, key], value, actual.get(key), actual)
            for key in actual.keys() - desired.keys():
                self.extra([*segments, key], actual[key], actual)
        elif isinstance(desired, list) and isinstance(actual, list):
            self.compare_lists(segments, desired, actual)
        elif (
            isinstance(desired, dict | list)
            or isinstance(actual, dict | list)
            or not _scalar_equal(segments, desired, actual)
        ):
            self.emit(segments, desired, actual, CHANGED)

    def compare_lists(self, segments: list[Segment], desired: list[Any], actual: list[Any]) -> None:
        if is_atomic_list(desired) or is_atomic_list(actual):
            same = len(desired) == len(actual) and all(
                _scalar_equal(segments, d, a) for d, a in zip(desired, actual, strict=True)
            )
            if not same:
                self.emit(segments, desired, actual, CHANGED)
            return
        if is_named_list(desired) and is_named_list(actual):
            live = {item["name"]: item for item in actual}
            for item in desired:
                self.compare([*segments, Named(item["name"])], item, live.get(item["name"]), None)
            declared = {item["name"] for item in desired}
            for item in actual:
                if item["name"] not in declared:
                    self.extra_item([*segments, Named(item["name"])], item, None)
            return
        for position, item in enumerate(desired):
            live_item = actual[position] if position < len(actual) else None
            self.compare([*segments, position], item, live_item, None)
        for position in range(len(desired), len(actual)):
            self.extra_item([*segments, position], actual[position], None)

    def extra(self, segments: list[Segment], actual: Any, parent: Any) -> None:
        """Classify a live field the manifest does not declare, descending into maps and
        lists of items so that each leaf or list item is judged on its own."""
        if actual is None:
            return
        if segments and segments[0] == "status":
            self.emit(segments, None, actual, STATUS)
        elif is_default(self.kind, segments, actual, parent):
            self.emit(segments, None, actual, DEFAULT)
        elif isinstance(actual, dict) and actual:
            for key, value in actual.items():
                self.extra([*segments, key], value, actual)
        elif isinstance(actual, list) and actual and not is_atomic_list(actual):
            for position in range(len(actual)):
                self.extra_item([*segments, item_segment(actual, position)], actual[position], None)
        else:
            self.classify_by_owner(segments, actual)

    def extra_item(self, segments: list[Segment], item: Any, parent: Any) -> None:
        """Classify a whole list item only the live object has (an env var, a container)."""
        if is_default(self.kind, segments, item, parent):
            self.emit(segments, None, item, DEFAULT)
        else:
            self.classify_by_owner(segments, item)

    def classify_by_owner(self, segments: list[Segment], actual: Any) -> None:
        owner = owner_of(format_path(segments), self.owners) if self.owners else None
        if owner is not None and not self.is_manual(owner.manager):
            self.emit(segments, None, actual, CONTROLLER)
        else:
            self.emit(segments, None, actual, ADDED)


def diff_desired_actual(
    desired: Mapping[str, Any],
    actual: Mapping[str, Any],
    *,
    owners: Mapping[str, Owner] | None = None,
    managed_fields: Sequence[Mapping[str, Any]] | None = None,
    is_manual: Callable[[str], bool] = is_manual_manager,
) -> list[FieldDiff]:
    """Every difference between a manifest from git and the live object, sorted by path.

    ``actual`` is the live object without server bookkeeping (uid, resourceVersion,
    managedFields, ...). Each field ``desired`` declares must match (quantities by value,
    int-or-string ports as text, named lists by name); a declared value the server omits
    (null, empty, false/0/"") matches an absent one. A field only ``actual`` has is noise when
    it is ``status``, a documented server default (``_DEFAULTS`` below), or owned (per ``owners``,
    from ``field_owners``, or else per the live object's ``managed_fields``, read only if
    such a field needs an owner) by a manager ``is_manual`` rejects; otherwise it is drift
    (reason ``added``), which includes live-only fields nobody is known to own."""
    kind = str(actual.get("kind") or desired.get("kind") or "")
    live = dict(actual)

    def owners_of() -> Mapping[str, Owner]:
        known = owners
        if known is None and managed_fields:
            known = field_owners(managed_fields)
        return resolve_paths(known, live) if known else {}

    drift = _Drift(kind, owners_of, is_manual)
    drift.compare([], dict(desired), live, None)
    return sorted(drift.out, key=lambda d: sort_key(d.path))


def is_drifted(diffs: Iterable[FieldDiff]) -> bool:
    """Whether any difference is drift rather than noise."""
    return any(not d.noise for d in diffs)


class _Mismatch(Exception):
    """A declared field does not hold its value: stop looking."""


@dataclass
class _Holds(_Drift):
    """``_Drift`` that stops at the first declared field out of place and keeps only the
    live-only fields that would be drift, without their owners: ``holds_declared`` asks a
    yes or no of many changes, and most of a diff's cost is in what it gives and drops."""

    added: list[list[Segment]] = field(default_factory=list)

    def compare(self, segments: list[Segment], desired: Any, actual: Any, parent: Any) -> None:
        # A declared part the object holds as it is (a selector, labels, a port list) has
        # nothing out of place and nothing live-only in it: ``==`` runs in C.
        if desired == actual and desired is not None:
            return
        super().compare(segments, desired, actual, parent)

    def emit(self, segments: list[Segment], desired: Any, actual: Any, reason: str) -> None:
        if reason in (CHANGED, MISSING):
            raise _Mismatch
        if reason == ADDED:
            self.added.append(segments)


def holds_declared(
    desired: Mapping[str, Any],
    actual: Mapping[str, Any],
    *,
    managed_fields: Sequence[Mapping[str, Any]],
    writer: str,
) -> bool:
    """Whether ``actual`` holds what ``desired`` declares and ``writer`` added nothing else:
    every declared field has its declared value (drift's comparison rules: quantities by
    value, named lists by name, omitted empties), and no live-only field that would be drift
    is owned by ``writer`` (per ``managed_fields``).

    This is how a deploy of a commit is recognized in its result: a ``kubectl apply`` of
    the commit's manifests leaves them in place, while a person's edit or an apply of a
    changed file does not. Fields other managers own (an env var added by hand last week, a
    controller's annotation) are not the commit's to match.
    """
    live = dict(actual)
    # Without owners every live-only field that is neither status nor a default comes back
    # as "added"; managedFields are read only when there is such a field.
    holds = _Holds(str(live.get("kind") or desired.get("kind") or ""), dict, is_manual_manager)
    try:
        holds.compare([], dict(desired), live, None)
    except _Mismatch:
        return False
    if not holds.added:
        return True
    owners = resolve_paths(field_owners(managed_fields), live)
    for segments in holds.added:
        owner = owner_of(format_path(segments), owners)
        if owner is not None and owner.manager == writer:
            return False
    return True


def _identical(before: Any, after: Any) -> bool:
    """Whether two values are the same JSON, cheaply: ``==`` runs in C, and for maps and
    lists their encodings tell apart what ``==`` confuses (``True`` and ``1``). Values that
    differ only in a way ``_same`` forgives (``1`` and ``1.0``, key order) are not identical:
    the caller looks closer."""
    if before != after:
        return False
    if not isinstance(before, dict | list):
        return type(before) is type(after)
    try:
        return orjson.dumps(before) == orjson.dumps(after)
    except orjson.JSONEncodeError:  # an integer JSON cannot hold: compare field by field
        return False


def _child(path: str, segment: Segment) -> str:
    """``format_path`` of the parent's segments plus ``segment``, from the parent's text."""
    text = format_segment(segment)
    return text[1:] if not path and text.startswith(".") else path + text


def _changes(path: str, before: Any, after: Any, out: list[tuple[str, Any, Any]]) -> None:
    # Most of an object is untouched by a change (status churn): each child that is
    # identical on both sides is skipped whole, before a path is even made for it.
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            old, new = before.get(key), after.get(key)
            if not _identical(old, new):
                _changes(_child(path, key), old, new, out)
        return
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and not is_atomic_list(before)
        and not is_atomic_list(after)
    ):
        if is_named_list(before) and is_named_list(after):
            old_items = {item["name"]: item for item in before}
            new_items = {item["name"]: item for item in after}
            for name in [*old_items, *(n for n in new_items if n not in old_items)]:
                old, new = old_items.get(name), new_items.get(name)
                if not _identical(old, new):
                    _changes(_child(path, Named(name)), old, new, out)
        else:
            for position in range(max(len(before), len(after))):
                old = before[position] if position < len(before) else None
                new = after[position] if position < len(after) else None
                if not _identical(old, new):
                    _changes(_child(path, position), old, new, out)
        return
    if not _same(before, after):
        out.append((path, before, after))


def changed_fields(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[tuple[str, Any, Any]]:
    """The fields that differ between two revisions of one object as (path, before, after).

    A created object is compared with {} and a deleted one with {}. Maps are descended into;
    a field present on one side only is reported whole at its own path with None on the
    other side (None and absent are the same). Named lists pair items by name (reordering is
    no change), other lists of maps by index; lists of scalars are one value. Paths are in
    traversal order: map keys sorted, list items in order."""
    out: list[tuple[str, Any, Any]] = []
    _changes("", dict(before or {}), dict(after or {}), out)
    return out

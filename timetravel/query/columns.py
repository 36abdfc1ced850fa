"""The columns ``kubectl get`` prints for each kind, from a recorded object.

kubectl's printers (``pkg/printers/internalversion/printers.go``) read these cells from
the live object; here they are read from the object as recorded at a moment, and AGE is
measured to that moment, not to now. Objects without a status (what git declares) show
``-`` where kubectl would read the status, rather than a 0 that reads as "not ready".
Kinds without columns of their own get NAME and AGE, as kubectl prints a kind it has no
printer for. Pure: object in, cells out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from timetravel.domain.times import parse_rfc3339

NONE = "<none>"
UNKNOWN = "<unknown>"
NO_STATUS = "-"  # a cell read from the status of an object that has none (git's)

Cells = list[str]
Printer = Callable[[dict[str, Any]], Cells]


def human_duration(delta: timedelta) -> str:
    """A duration as kubectl's AGE column writes it (``duration.HumanDuration``)."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _status(obj: Mapping[str, Any], *path: str, counts: bool = True) -> str:
    """A status field as kubectl prints it (0 when absent), ``<none>`` without any status."""
    if not isinstance(obj.get("status"), Mapping):
        return NO_STATUS
    value = _get(obj, "status", *path)
    if counts:
        return str(_int(value))
    return NONE if value in (None, "") else str(value)


def _replicas(obj: Mapping[str, Any]) -> int:
    value = _get(obj, "spec", "replicas")
    return value if isinstance(value, int) else 1  # the API server's default


def _ready_of(obj: Mapping[str, Any], wanted: int) -> str:
    if not isinstance(obj.get("status"), Mapping):
        return f"{NO_STATUS}/{wanted}"
    return f"{_int(_get(obj, 'status', 'readyReplicas'))}/{wanted}"


def _containers(obj: Mapping[str, Any], *path: str) -> list[dict[str, Any]]:
    found = _get(obj, *path)
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _template_containers(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    if obj.get("kind") == "CronJob":
        return _containers(obj, "spec", "jobTemplate", "spec", "template", "spec", "containers")
    return _containers(obj, "spec", "template", "spec", "containers")


def _names_images(obj: Mapping[str, Any]) -> Cells:
    containers = _template_containers(obj)
    names = ",".join(str(c.get("name", "")) for c in containers)
    images = ",".join(str(c.get("image", "")) for c in containers)
    return [names or NONE, images or NONE]


def selector_text(selector: Any) -> str:
    """A label selector as kubectl prints it: ``app=api,tier in (web)``; ``<none>``."""
    if not isinstance(selector, Mapping):
        return NONE
    labels = selector.get("matchLabels")
    has_structure = "matchLabels" in selector or "matchExpressions" in selector
    if not has_structure:  # a Service's selector: a plain map
        labels = selector
    parts = [f"{k}={v}" for k, v in sorted((labels or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, Mapping):
            continue
        key, op = expression.get("key"), str(expression.get("operator", ""))
        values = ",".join(str(v) for v in expression.get("values") or [])
        if op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {op.lower()} ({values})")
    return ",".join(parts) or NONE


def _deployment(obj: dict[str, Any]) -> Cells:
    return [
        _ready_of(obj, _replicas(obj)),
        _status(obj, "updatedReplicas"),
        _status(obj, "availableReplicas"),
    ]


def _deployment_wide(obj: dict[str, Any]) -> Cells:
    return [*_names_images(obj), selector_text(_get(obj, "spec", "selector"))]


def _replicaset(obj: dict[str, Any]) -> Cells:
    return [str(_replicas(obj)), _status(obj, "replicas"), _status(obj, "readyReplicas")]


def _statefulset(obj: dict[str, Any]) -> Cells:
    return [_ready_of(obj, _replicas(obj))]


def _daemonset(obj: dict[str, Any]) -> Cells:
    node_selector = _get(obj, "spec", "template", "spec", "nodeSelector")
    return [
        _status(obj, "desiredNumberScheduled"),
        _status(obj, "currentNumberScheduled"),
        _status(obj, "numberReady"),
        _status(obj, "updatedNumberScheduled"),
        _status(obj, "numberAvailable"),
        selector_text(node_selector) if node_selector else NONE,
    ]


def _pod(obj: dict[str, Any]) -> Cells:
    containers = _containers(obj, "spec", "containers")
    statuses = _containers(obj, "status", "containerStatuses")
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(_int(s.get("restartCount")) for s in statuses)
    reason = _get(obj, "status", "reason") or _get(obj, "status", "phase") or "Unknown"
    for s in statuses:
        waiting = _get(s, "state", "waiting", "reason")
        terminated = _get(s, "state", "terminated", "reason")
        if waiting or terminated:
            reason = waiting or terminated
    if _get(obj, "metadata", "deletionTimestamp"):
        reason = "Terminating"
    if not isinstance(obj.get("status"), Mapping):
        return [f"{NO_STATUS}/{len(containers)}", NO_STATUS, NO_STATUS]
    return [f"{ready}/{len(containers)}", str(reason), str(restarts)]


def _pod_wide(obj: dict[str, Any]) -> Cells:
    gates = _containers(obj, "spec", "readinessGates")
    return [
        _status(obj, "podIP", counts=False),
        str(_get(obj, "spec", "nodeName") or NONE),
        _status(obj, "nominatedNodeName", counts=False),
        NONE if not gates else f"0/{len(gates)}",
    ]


def _ports(obj: Mapping[str, Any]) -> str:
    out = []
    for port in _containers(obj, "spec", "ports"):
        text = str(port.get("port", ""))
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        out.append(f"{text}/{port.get('protocol') or 'TCP'}")
    return ",".join(out) or NONE


def _service(obj: dict[str, Any]) -> Cells:
    kind = str(_get(obj, "spec", "type") or "ClusterIP")
    external = NONE
    if kind == "LoadBalancer":
        ingress = _containers(obj, "status", "loadBalancer", "ingress")
        external = ",".join(str(i.get("ip") or i.get("hostname")) for i in ingress) or "<pending>"
    elif kind == "ExternalName":
        external = str(_get(obj, "spec", "externalName") or NONE)
    elif _get(obj, "spec", "externalIPs"):
        external = ",".join(str(ip) for ip in _get(obj, "spec", "externalIPs"))
    cluster_ip = _get(obj, "spec", "clusterIP") or NONE
    return [kind, str(cluster_ip), external, _ports(obj)]


def _service_wide(obj: dict[str, Any]) -> Cells:
    return [selector_text(_get(obj, "spec", "selector"))]


def _data_count(obj: dict[str, Any]) -> str:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return str(count + len(obj.get("stringData") or {}))


def _secret(obj: dict[str, Any]) -> Cells:
    return [str(obj.get("type") or "Opaque"), _data_count(obj)]


def _namespace(obj: dict[str, Any]) -> Cells:
    return [str(_get(obj, "status", "phase") or "Active")]


def _node(obj: dict[str, Any]) -> Cells:
    conditions = _containers(obj, "status", "conditions")
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    status = (
        "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    )
    if _get(obj, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    labels = _get(obj, "metadata", "labels") or {}
    roles = sorted(
        key.split("/", 1)[1]
        for key in labels
        if key.startswith("node-role.kubernetes.io/") and "/" in key
    )
    return [status, ",".join(roles) or NONE]


def _node_version(obj: dict[str, Any]) -> Cells:
    return [str(_get(obj, "status", "nodeInfo", "kubeletVersion") or "")]


def _job(obj: dict[str, Any]) -> Cells:
    completions = _get(obj, "spec", "completions")
    wanted = str(completions) if isinstance(completions, int) else "1"
    succeeded = _int(_get(obj, "status", "succeeded"))
    start, end = _get(obj, "status", "startTime"), _get(obj, "status", "completionTime")
    duration = ""
    if isinstance(start, str) and isinstance(end, str):
        duration = human_duration(parse_rfc3339(end) - parse_rfc3339(start))
    return [f"{succeeded}/{wanted}", duration]


def _cronjob(obj: dict[str, Any]) -> Cells:
    return [
        str(_get(obj, "spec", "schedule") or ""),
        str(_get(obj, "spec", "timeZone") or NONE),
        str(bool(_get(obj, "spec", "suspend"))),
        str(len(_get(obj, "status", "active") or [])),
    ]


def _hpa(obj: dict[str, Any]) -> Cells:
    ref = _get(obj, "spec", "scaleTargetRef") or {}
    targets = []
    for metric in _containers(obj, "spec", "metrics"):
        resource = metric.get("resource") or {}
        target = resource.get("target") or {}
        if "averageUtilization" in target:
            targets.append(f"{resource.get('name')}: <unknown>/{target['averageUtilization']}%")
        elif "averageValue" in target:
            targets.append(f"{resource.get('name')}: <unknown>/{target['averageValue']}")
    return [
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        ", ".join(targets) or NONE,
        str(_get(obj, "spec", "minReplicas") or 1),
        str(_get(obj, "spec", "maxReplicas") or ""),
        _status(obj, "currentReplicas"),
    ]


def _ingress(obj: dict[str, Any]) -> Cells:
    hosts = [str(r.get("host")) for r in _containers(obj, "spec", "rules") if r.get("host")]
    addresses = [
        str(i.get("ip") or i.get("hostname"))
        for i in _containers(obj, "status", "loadBalancer", "ingress")
    ]
    ports = "80, 443" if _get(obj, "spec", "tls") else "80"
    return [
        str(_get(obj, "spec", "ingressClassName") or NONE),
        ",".join(hosts) or "*",
        ",".join(addresses),
        ports,
    ]


def _pvc(obj: dict[str, Any]) -> Cells:
    return [
        _status(obj, "phase", counts=False),
        str(_get(obj, "spec", "volumeName") or ""),
        str(_get(obj, "status", "capacity", "storage") or ""),
        ",".join(_access_modes(_get(obj, "spec", "accessModes"))),
        str(_get(obj, "spec", "storageClassName") or ""),
    ]


def _access_modes(modes: Any) -> list[str]:
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    return [short.get(str(m), str(m)) for m in modes or []]


def _application(obj: dict[str, Any]) -> Cells:
    return [
        str(_get(obj, "status", "sync", "status") or ""),
        str(_get(obj, "status", "health", "status") or ""),
    ]


def _application_wide(obj: dict[str, Any]) -> Cells:
    return [
        str(_get(obj, "status", "sync", "revision") or ""),
        str(_get(obj, "spec", "project") or ""),
    ]


def _nothing(obj: dict[str, Any]) -> Cells:
    return []


@dataclass(frozen=True)
class KindColumns:
    """The columns of one kind: before AGE, after AGE, and the extra ones of ``-o wide``."""

    headers: tuple[str, ...]
    cells: Printer
    wide_headers: tuple[str, ...] = ()
    wide: Printer = _nothing
    after_age: tuple[str, ...] = ()
    after: Printer = _nothing
    age: bool = True


_WORKLOAD_WIDE = ("CONTAINERS", "IMAGES", "SELECTOR")

COLUMNS: dict[tuple[str, str], KindColumns] = {
    ("Deployment", "apps"): KindColumns(
        ("READY", "UP-TO-DATE", "AVAILABLE"), _deployment, _WORKLOAD_WIDE, _deployment_wide
    ),
    ("ReplicaSet", "apps"): KindColumns(
        ("DESIRED", "CURRENT", "READY"), _replicaset, _WORKLOAD_WIDE, _deployment_wide
    ),
    ("StatefulSet", "apps"): KindColumns(
        ("READY",), _statefulset, ("CONTAINERS", "IMAGES"), _names_images
    ),
    ("DaemonSet", "apps"): KindColumns(
        ("DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR"),
        _daemonset,
        _WORKLOAD_WIDE,
        _deployment_wide,
    ),
    ("Pod", ""): KindColumns(
        ("READY", "STATUS", "RESTARTS"),
        _pod,
        ("IP", "NODE", "NOMINATED NODE", "READINESS GATES"),
        _pod_wide,
    ),
    ("Service", ""): KindColumns(
        ("TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"), _service, ("SELECTOR",), _service_wide
    ),
    ("ConfigMap", ""): KindColumns(("DATA",), lambda obj: [_data_count(obj)]),
    ("Secret", ""): KindColumns(("TYPE", "DATA"), _secret),
    ("Namespace", ""): KindColumns(("STATUS",), _namespace),
    ("Node", ""): KindColumns(
        ("STATUS", "ROLES"), _node, after_age=("VERSION",), after=_node_version
    ),
    ("ServiceAccount", ""): KindColumns(
        ("SECRETS",), lambda obj: [str(len(obj.get("secrets") or []))]
    ),
    ("PersistentVolumeClaim", ""): KindColumns(
        ("STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS"), _pvc
    ),
    ("Job", "batch"): KindColumns(
        ("COMPLETIONS", "DURATION"), _job, _WORKLOAD_WIDE, _deployment_wide
    ),
    ("CronJob", "batch"): KindColumns(
        ("SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE"),
        _cronjob,
        ("CONTAINERS", "IMAGES"),
        _names_images,
    ),
    ("HorizontalPodAutoscaler", "autoscaling"): KindColumns(
        ("REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS"), _hpa
    ),
    ("Ingress", "networking.k8s.io"): KindColumns(("CLASS", "HOSTS", "ADDRESS", "PORTS"), _ingress),
    # Argo CD's printer columns (its CRD's additionalPrinterColumns): no AGE there.
    ("Application", "argoproj.io"): KindColumns(
        ("SYNC STATUS", "HEALTH STATUS"),
        _application,
        ("REVISION", "PROJECT"),
        _application_wide,
        age=False,
    ),
}

DEFAULT = KindColumns((), _nothing)


def columns_of(kind: str, group: str) -> KindColumns:
    """The columns ``kubectl get`` prints for this kind (NAME and AGE for unknown ones)."""
    return COLUMNS.get((kind, group), DEFAULT)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as kubectl aligns them: each column as wide as its widest cell, three spaces
    apart, no trailing spaces."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("   ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"

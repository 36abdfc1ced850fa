"""Audit events as managed clusters export them, unwrapped into ``audit.k8s.io`` Events.

A managed control plane does not hand out the API server's audit log as it writes it:

- **GKE** (Cloud Logging): a ``LogEntry`` whose ``protoPayload`` is a
  ``google.cloud.audit.AuditLog`` (``serviceName`` ``k8s.io``). Its fields are mapped to
  the Event's, one each: ``operation.id`` is the request's auditID (GKE puts the API
  server's auditID there), ``methodName`` ``io.k8s.apps.v1.deployments.patch`` gives the
  verb (its last word), ``resourceName`` ``apps/v1/namespaces/payments/deployments/api``
  the objectRef (split as the API server splits a request path),
  ``authenticationInfo.principalEmail`` the user, ``requestMetadata`` the user agent and
  source IP, ``timestamp`` the stage's time, ``operation.first``/``last`` the stage, and
  ``status.code`` (a ``google.rpc.Code``) the response code by Google's own HTTP mapping,
  unless ``response`` is a Kubernetes ``Status`` with its HTTP code.
- **AKS** (Azure diagnostic settings): a record of category ``kube-audit`` or
  ``kube-audit-admin`` with the Event in ``properties.log``, an object or the Event as a
  JSON string; Event Hubs deliver them in ``{"records": [...]}``.
- **EKS** (CloudWatch Logs): a log event with the Event as a JSON string in ``message``:
  in ``aws logs filter-log-events``/``get-log-events`` output (``{"events": [...]}``), in a
  subscription's ``{"logEvents": [...]}``, or one per line; an S3 export writes each message
  after its time (``2026-11-19T21:30:00.000Z {...}``), see :func:`without_export_time`.

Nothing here guesses: a wrapper without what the Event needs is reported as that wrapper
("a GKE log entry without operation.id"), never as an Event that lacks an auditID.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "CONTAINERS",
    "Unwrapped",
    "gke_event",
    "items_of",
    "iter_items",
    "unwrap",
    "without_export_time",
]

# The lists a wrapper holds records in: a webhook's EventList, Azure's Event Hubs batches,
# CloudWatch's subscription payload and its API's output.
CONTAINERS = ("items", "records", "logEvents", "events")

# google.rpc.Code -> HTTP status, as google/rpc/code.proto states each one.
_RPC_TO_HTTP = {
    0: 200,
    1: 499,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
}
_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d+)?")
# Groups without a dot are the API server's own (io.k8s.apps -> apps); a dotted group is
# spelled in reverse (io.k8s.networking -> networking.k8s.io).
_DOTLESS_GROUPS = frozenset({"apps", "batch", "autoscaling", "policy", "extensions"})
# Subresources of a Namespace: namespaces/NAME/status is the Namespace's, not a namespaced
# resource named status (as the API server's RequestInfoFactory reads a path).
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
# A CloudWatch export to S3 writes each message after its time and a space.
_EXPORT_TIME = re.compile(
    rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d) (?=[{\[])"
)

GKE = "a GKE log entry"
AKS = "an AKS diagnostic record"
CLOUDWATCH = "a CloudWatch log event"


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """What one record holds: the Event (a dict in ``audit.k8s.io`` form) or why there is
    none; ``wrapper`` names the wrapper it came in (None: the record is the Event)."""

    wrapper: str | None
    event: Mapping[str, Any] | None = None
    problem: str | None = None


def without_export_time(line: bytes) -> bytes:
    """A line of a CloudWatch export to S3 without the time written before its message."""
    if line[:1].isdigit():
        match = _EXPORT_TIME.match(line)
        if match is not None:
            return line[match.end() :]
    return line


def items_of(value: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The name and value of the list a container holds its records in (EventList items,
    ``records``, ``logEvents``, ``events``), or None when ``value`` is a record itself."""
    if value.get("kind") == "EventList":
        return "items", value.get("items")
    for name in CONTAINERS[1:]:
        if name in value and "kind" not in value:
            return name, value[name]
    return None


def unwrap(record: Mapping[str, Any]) -> Unwrapped:
    """The audit Event in one record: itself, or unwrapped from a managed cluster's export."""
    if "protoPayload" in record:
        return gke_event(record)
    properties = record.get("properties")
    if isinstance(properties, dict) and ("log" in properties or "category" in record):
        return _aks_event(record, properties)
    if "message" in record and "kind" not in record:
        return _embedded(CLOUDWATCH, "message", record.get("message"))
    return Unwrapped(None, record)


def _embedded(wrapper: str, field: str, value: Any) -> Unwrapped:
    """An Event given as an object or as JSON text in a wrapper's ``field``."""
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            return Unwrapped(wrapper, problem=f"{wrapper} whose {field} is not JSON ({exc})")
    if not isinstance(value, dict):
        found = "nothing" if value is None else type(value).__name__
        return Unwrapped(wrapper, problem=f"{wrapper} whose {field} is {found}, not an Event")
    return Unwrapped(wrapper, value)


def _aks_event(record: Mapping[str, Any], properties: Mapping[str, Any]) -> Unwrapped:
    category = record.get("category")
    if isinstance(category, str) and not category.startswith("kube-audit"):
        # kube-apiserver, kube-scheduler, ...: the control plane's own logs, plain text.
        return Unwrapped(
            AKS, problem=f"{AKS} of category {category!r}, not kube-audit or kube-audit-admin"
        )
    if "log" not in properties:
        return Unwrapped(AKS, problem=f"{AKS} without properties.log")
    return _embedded(AKS, "properties.log", properties["log"])


def gke_event(entry: Mapping[str, Any]) -> Unwrapped:
    """A Cloud Logging entry of a GKE cluster's API server as the ``audit.k8s.io`` Event it
    records (the module docstring says which field gives which)."""
    payload = entry.get("protoPayload")
    if not isinstance(payload, dict):
        return Unwrapped(GKE, problem=f"{GKE} whose protoPayload is not an object")
    kind = payload.get("@type")
    service = payload.get("serviceName")
    if kind is not None and kind != "type.googleapis.com/google.cloud.audit.AuditLog":
        return Unwrapped(GKE, problem=f"{GKE} whose protoPayload is a {kind!r}, not an AuditLog")
    if service is not None and service != "k8s.io":
        # container.googleapis.com is GKE's own API (clusters, node pools), not Kubernetes.
        return Unwrapped(
            GKE, problem=f"{GKE} of service {service!r}, not the Kubernetes API (k8s.io)"
        )
    method = payload.get("methodName")
    if not isinstance(method, str) or not method:
        return Unwrapped(GKE, problem=f"{GKE} without protoPayload.methodName")
    operation = entry.get("operation")
    operation = operation if isinstance(operation, dict) else {}
    audit_id = operation.get("id")
    if not isinstance(audit_id, str) or not audit_id:
        return Unwrapped(GKE, problem=f"{GKE} without operation.id (the request's auditID)")
    timestamp = entry.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp:
        return Unwrapped(GKE, problem=f"{GKE} without timestamp")

    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "auditID": audit_id,
        "verb": method.rsplit(".", 1)[-1],
        "stageTimestamp": timestamp,
    }
    stage = _gke_stage(operation)
    if stage is not None:
        event["stage"] = stage
    auth = payload.get("authenticationInfo")
    if isinstance(auth, dict) and isinstance(auth.get("principalEmail"), str):
        event["user"] = {"username": auth["principalEmail"]}
    meta = payload.get("requestMetadata")
    if isinstance(meta, dict):
        if isinstance(meta.get("callerSuppliedUserAgent"), str):
            event["userAgent"] = meta["callerSuppliedUserAgent"]
        if isinstance(meta.get("callerIp"), str):
            event["sourceIPs"] = [meta["callerIp"]]
    resource_name = payload.get("resourceName")
    ref = _object_ref(resource_name, method)
    if ref is not None:
        event["objectRef"] = ref
    elif isinstance(resource_name, str) and resource_name:
        # A request for no resource (readyz, version, openapi/v2): its name is the path.
        event["requestURI"] = "/" + resource_name.lstrip("/")
    code = _gke_code(payload)
    if code is not None:
        event["responseStatus"] = {"code": code}
    # Read for a created object's name only (domain.audit keeps nothing else of them).
    for field, key in (("request", "requestObject"), ("response", "responseObject")):
        if isinstance(payload.get(field), dict):
            event[key] = payload[field]
    return Unwrapped(GKE, event)


def _gke_stage(operation: Mapping[str, Any]) -> str | None:
    """A request GKE logs in several entries (a watch, an exec) has ``first`` on the one
    when it started and ``last`` on the one when it ended; a short one is both at once."""
    if operation.get("last") is True:
        return "ResponseComplete"
    if operation.get("first") is True or operation.get("last") is False:
        return "ResponseStarted"
    return None


def _gke_code(payload: Mapping[str, Any]) -> int | None:
    response = payload.get("response")
    if isinstance(response, dict):
        kind = response.get("kind") or response.get("@type")
        code = response.get("code")
        if (
            isinstance(kind, str)
            and kind.endswith("Status")
            and isinstance(code, int)
            and not isinstance(code, bool)
        ):
            return code
    status = payload.get("status")
    if isinstance(status, dict):
        rpc = status.get("code")
        if rpc is None:
            return 200  # proto3 leaves a zero (OK) out
        if _is_int(rpc):
            return _RPC_TO_HTTP.get(rpc, 500)
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object_ref(resource_name: Any, method: str) -> dict[str, Any] | None:
    """The objectRef of ``group/version/[namespaces/NS/]resource[/name[/subresource]]``
    (``core`` for the core group); None for a path that names no resource (``readyz``).
    Group and version come from ``methodName`` when the resource name lacks them."""
    if not isinstance(resource_name, str) or not resource_name:
        return _from_method(method)
    parts = resource_name.strip("/").split("/")
    if len(parts) < 3 or not _VERSION.fullmatch(parts[1]):
        return _from_method(method)
    group, version, rest = parts[0], parts[1], parts[2:]
    ref: dict[str, Any] = {"apiGroup": "" if group == "core" else group, "apiVersion": version}
    if rest[0] == "namespaces" and len(rest) > 1:
        ref["namespace"] = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    ref["resource"] = rest[0]
    if len(rest) > 1:
        ref["name"] = rest[1]
    if len(rest) > 2:
        ref["subresource"] = "/".join(rest[2:])
    return ref


def _from_method(method: str) -> dict[str, Any] | None:
    """Group, version, resource (and subresource) from a method name alone:
    ``io.k8s.core.v1.pods.exec.create``."""
    words = method.split(".")
    at = next((i for i, w in enumerate(words) if _VERSION.fullmatch(w)), None)
    if at is None or at < 2 or len(words) < at + 3:
        return None
    prefix = words[:at]
    if prefix[:2] == ["io", "k8s"] and len(prefix) == 3:
        group = "" if prefix[2] == "core" else prefix[2]
        if group and group not in _DOTLESS_GROUPS:
            group += ".k8s.io"
    else:
        group = ".".join(reversed(prefix))
    ref: dict[str, Any] = {"apiGroup": group, "apiVersion": words[at], "resource": words[at + 1]}
    if len(words) > at + 3:
        ref["subresource"] = ".".join(words[at + 2 : -1])
    return ref


def iter_items(name: str, items: list[Any]) -> Iterator[tuple[str | None, Any]]:
    """The records of a container's list, each with where it was (when there are several:
    ``item 2 of 3 in records``)."""
    total = len(items)
    for index, item in enumerate(items, start=1):
        yield (f"item {index} of {total} in {name}" if total > 1 else None), item

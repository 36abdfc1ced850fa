"""Kubernetes audit events (``audit.k8s.io`` v1 and v1beta1) as plain facts: who did what, when.

The API server's log backend writes one ``Event`` per line; its webhook backend sends an
``EventList``. Both are read here, at any audit level (Metadata, Request, RequestResponse),
and so are the records managed clusters export them in (GKE's Cloud Logging entries, AKS's
diagnostic records, EKS's CloudWatch log events: ``domain.audit_managed``).

Only the request's metadata is kept. ``requestObject`` and ``responseObject`` are read for
one thing, the name of a created object (a ``generateName`` create has no name in its
``objectRef``), and are otherwise dropped: they can hold Secret values, and nothing in them
is needed to say who made a change.

A request is logged once per stage (RequestReceived, ResponseStarted, ResponseComplete,
Panic) under one ``auditID``. Only a finished one (ResponseComplete, or an event written
without a stage) describes a change that happened; the others are kept but marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from timetravel.domain.audit_managed import items_of, iter_items, unwrap
from timetravel.domain.times import (
    SUPPORTED_RANGE,
    TimeOutOfRange,
    in_supported_range,
    parse_rfc3339,
    to_stored,
)

__all__ = [
    "CONNECT_SUBRESOURCES",
    "MUTATING_VERBS",
    "READ_ONLY_VERBS",
    "AuditEvent",
    "BadLine",
    "audit_records",
    "guess_resource",
    "parse_audit_line",
    "parse_audit_records",
    "read_audit",
    "stage_rank",
]

# Verbs that change nothing: skipped on import (they are most of a real audit log).
READ_ONLY_VERBS = frozenset({"get", "list", "watch"})
MUTATING_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# A `create` on these opens a stream into a pod; the object itself does not change.
CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy", "log"})

DONE_STAGE = "ResponseComplete"
# Later stages of one request replace earlier ones; an event without a stage is final.
_STAGE_RANK = {"RequestReceived": 0, "ResponseStarted": 1, "ResponseComplete": 2, "Panic": 2}


def stage_rank(stage: str | None) -> int:
    """Order of the stages of one request; a missing or unknown stage counts as final."""
    if stage is None:
        return 2
    return _STAGE_RANK.get(stage, 2)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not an audit event, and why (``line_no`` counts from 1)."""

    line_no: int
    reason: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """The metadata of one audit event: never a request or response body.

    ``namespace`` is ``""`` for a cluster-scoped object (as in ``ResourceKey``) and None
    when the request named no object at all. ``api_group`` is ``""`` for the core group.
    ``cluster`` is the cluster whose API server logged it (``import-audit --cluster``);
    None when not known: the event may then explain a change in any cluster.
    """

    audit_id: str
    stage: str | None
    stage_at: str  # stored text (domain.times.to_stored): the store's one form of time
    verb: str
    user: str | None
    user_groups: tuple[str, ...] = ()
    impersonated_user: str | None = None
    user_agent: str | None = None
    field_manager: str | None = None
    api_group: str | None = None
    api_version: str | None = None
    resource: str | None = None
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None
    response_code: int | None = None
    request_uri: str | None = None
    level: str | None = None
    cluster: str | None = None

    def in_cluster(self, cluster: str) -> bool:
        """Whether this event may be about an object of ``cluster``."""
        return self.cluster is None or self.cluster == cluster

    @property
    def read_only(self) -> bool:
        return self.verb in READ_ONLY_VERBS

    @property
    def done(self) -> bool:
        """The request finished (its effect, if any, happened)."""
        return self.stage is None or self.stage == DONE_STAGE

    @property
    def succeeded(self) -> bool:
        return self.response_code is None or 200 <= self.response_code < 300

    @property
    def is_change(self) -> bool:
        """A finished, successful write to an object: evidence of who made a change."""
        return (
            self.done
            and self.succeeded
            and self.verb in MUTATING_VERBS
            and self.resource is not None
            and self.subresource not in CONNECT_SUBRESOURCES
        )

    @property
    def acting_user(self) -> str | None:
        """Whose authority the request used: the impersonated user when there is one."""
        return self.impersonated_user or self.user


def guess_resource(kind: str) -> str:
    """The plural resource name for a kind, the way Kubernetes guesses it.

    Audit events name resources (``deployments``), revisions name kinds (``Deployment``).
    This follows apimachinery's ``UnsafeGuessKindToResource`` (with ``-ys`` after a vowel:
    ``Gateway`` -> ``gateways``); a CRD with an irregular plural needs discovery, which a
    pure function cannot do.
    """
    lower = kind.lower()
    if not lower:
        return lower
    if lower == "endpoints":
        return lower
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _field_manager(request_uri: str | None) -> str | None:
    if not request_uri or "fieldManager=" not in request_uri:
        return None
    values = parse_qs(urlsplit(request_uri).query).get("fieldManager")
    return values[0] if values and values[0] else None


def _created_name(event: Mapping[str, Any]) -> str | None:
    # Only metadata.name is read from the bodies; nothing else of them is kept.
    for body_key in ("responseObject", "requestObject"):
        body = event.get(body_key)
        if isinstance(body, dict):
            meta = body.get("metadata")
            if isinstance(meta, dict) and _text(meta.get("name")):
                return str(meta["name"])
    return None


def event_from_dict(event: Mapping[str, Any], line_no: int = 1) -> AuditEvent | BadLine:
    """One decoded ``audit.k8s.io`` Event, or why it is not one."""
    kind = event.get("kind", "Event")
    if kind != "Event":
        return BadLine(line_no, f"kind is {kind!r}, not an audit Event")
    api_version = event.get("apiVersion")
    if api_version is not None and not (
        isinstance(api_version, str) and api_version.startswith("audit.k8s.io/")
    ):
        # A core/v1 Event (kubectl get events) has the same kind and nothing audit needs.
        return BadLine(line_no, f"apiVersion {api_version!r} is not audit.k8s.io")
    audit_id = _text(event.get("auditID"))
    if audit_id is None:
        return BadLine(line_no, "missing auditID")
    verb = _text(event.get("verb"))
    if verb is None:
        return BadLine(line_no, "missing verb")
    stamp = None
    for time_key in ("stageTimestamp", "requestReceivedTimestamp", "timestamp"):
        stamp = _text(event.get(time_key))
        if stamp is not None:
            break
    if stamp is None:
        return BadLine(line_no, "missing stageTimestamp (and requestReceivedTimestamp)")
    try:
        stage_at: datetime | None = parse_rfc3339(stamp)
    except TimeOutOfRange:
        stage_at = None
    except ValueError:
        return BadLine(line_no, f"timestamp is not RFC 3339: {stamp!r}")
    if stage_at is None or not in_supported_range(stage_at):
        return BadLine(
            line_no, f"timestamp {stamp!r} is outside the supported range ({SUPPORTED_RANGE})"
        )
    stage = event.get("stage")
    if stage is not None and not isinstance(stage, str):
        return BadLine(line_no, "stage is not a string")

    user = event.get("user")
    user = user if isinstance(user, dict) else {}
    groups = user.get("groups")
    user_groups = tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else ()
    impersonated = event.get("impersonatedUser")
    impersonated_user = (
        _text(impersonated.get("username")) if isinstance(impersonated, dict) else None
    )

    ref = event.get("objectRef")
    api_group = api_ver = resource = subresource = namespace = name = None
    if isinstance(ref, dict):
        api_group = _text(ref.get("apiGroup")) or ""
        api_ver = _text(ref.get("apiVersion"))
        resource = _text(ref.get("resource"))
        subresource = _text(ref.get("subresource"))
        namespace = _text(ref.get("namespace")) or ""
        name = _text(ref.get("name"))
        if name is None and verb == "create":
            name = _created_name(event)

    status = event.get("responseStatus")
    code = status.get("code") if isinstance(status, dict) else None
    response_code = code if isinstance(code, int) and not isinstance(code, bool) else None
    request_uri = _text(event.get("requestURI"))
    return AuditEvent(
        audit_id=audit_id,
        stage=stage,
        stage_at=to_stored(stage_at),
        verb=verb,
        user=_text(user.get("username")),
        user_groups=user_groups,
        impersonated_user=impersonated_user,
        user_agent=_text(event.get("userAgent")),
        field_manager=_field_manager(request_uri),
        api_group=api_group,
        api_version=api_ver,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
        response_code=response_code,
        request_uri=request_uri,
        level=_text(event.get("level")),
    )


def _decode(line: str | bytes, line_no: int) -> Any:
    """The JSON value of a line; None for a blank line; BadLine when it is not JSON."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return BadLine(line_no, "not UTF-8 text")
    if not line.strip():
        return None
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return BadLine(line_no, f"invalid JSON ({exc})")


def _expand(value: Any, line_no: int) -> Iterator[AuditEvent | BadLine]:
    if isinstance(value, list):
        # A JSON array of events or of wrapped records (what log shippers and
        # `gcloud logging read --format=json` write). Arrays nested in it are bad items,
        # not read recursively (a line of 1,000 nested arrays would exhaust the stack).
        for where, item in iter_items("the array", value):
            yield from _expand_object(item, line_no, where)
        return
    yield from _expand_object(value, line_no, None)


def _at(reason: str, where: str | None) -> str:
    return reason if where is None else f"{reason} ({where})"


def _within(outer: str | None, inner: str | None) -> str | None:
    return inner if outer is None else outer if inner is None else f"{inner}, {outer}"


def _expand_object(value: Any, line_no: int, where: str | None) -> Iterator[AuditEvent | BadLine]:
    if not isinstance(value, dict):
        yield BadLine(line_no, _at(f"expected a JSON object, found {type(value).__name__}", where))
        return
    container = items_of(value)
    if container is None:
        yield _record(value, line_no, where)
        return
    # A webhook's EventList, or a managed cluster's batch: records one level down only.
    name, items = container
    label = "EventList" if name == "items" else name
    if not isinstance(items, list):
        yield BadLine(line_no, _at(f"{label} without an {name} list", where))
        return
    for inner, item in iter_items(name, items):
        at = _within(where, inner)
        if isinstance(item, dict):
            yield _record(item, line_no, at)
        else:
            yield BadLine(line_no, _at(f"{label} item is {type(item).__name__}, not an object", at))


def _record(value: Mapping[str, Any], line_no: int, where: str | None) -> AuditEvent | BadLine:
    """The audit Event of one record: itself, or unwrapped from a managed cluster's export
    (a bad one says which wrapper it came in: see domain.audit_managed)."""
    found = unwrap(value)
    if found.event is None:
        return BadLine(line_no, _at(found.problem or "no audit Event", where))
    if found.wrapper is None and not {"kind", "auditID", "verb"} & value.keys():
        # Neither an Event nor a wrapper this reads: say what it has, not "missing auditID".
        keys = ", ".join(sorted(str(k) for k in value)[:8]) or "none"
        reason = f"not an audit Event, nor a GKE, AKS or EKS record of one (its keys: {keys})"
        return BadLine(line_no, _at(reason, where))
    event = event_from_dict(found.event, line_no)
    if isinstance(event, BadLine):
        reason = (
            event.reason
            if found.wrapper is None
            else f"the Event in {found.wrapper}: {event.reason}"
        )
        return BadLine(line_no, _at(reason, where))
    return event


def audit_records(value: Any, line_no: int = 1) -> Iterator[AuditEvent | BadLine]:
    """Every event in one decoded JSON value: an Event, an EventList, a managed cluster's
    wrapped record or batch of them (domain.audit_managed), or an array of any of these."""
    return _expand(value, line_no)


def parse_audit_records(line: str | bytes, line_no: int = 1) -> list[AuditEvent | BadLine]:
    """Every event on one line: one for an Event, all items of an EventList, none if blank."""
    value = _decode(line, line_no)
    if value is None:
        return []
    if isinstance(value, BadLine):
        return [value]
    return list(_expand(value, line_no))


def parse_audit_line(line: str | bytes, line_no: int = 1) -> AuditEvent | BadLine | None:
    """One line holding one audit Event; None for a blank line.

    An EventList line with several items cannot be one event: read those with
    :func:`parse_audit_records` or :func:`read_audit` (a one-item list is fine here).
    """
    records = parse_audit_records(line, line_no)
    if not records:
        return None
    if len(records) > 1:
        return BadLine(line_no, f"{len(records)} events on one line: use parse_audit_records")
    return records[0]


def read_audit(lines: Iterable[str | bytes]) -> Iterator[AuditEvent | BadLine]:
    """Every event and bad line of an audit log, in order (lines numbered from 1)."""
    for line_no, line in enumerate(lines, start=1):
        yield from parse_audit_records(line, line_no)

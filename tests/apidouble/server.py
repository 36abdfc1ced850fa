"""An HTTP double of the Kubernetes API server, for tests with the real `kubernetes` client.

Read-only over HTTP (discovery, get, list with limit/continue, watch with resourceVersion,
bookmarks and timeouts); writes come through the Python API, which keeps resourceVersion,
generation and managedFields as the real server does. Faults (dropped or stalled watches, 410
after compaction, failing requests, an outage) are switched on by tests. See DESIGN.md "Testing with real
parts". With `tls=(certificate, key)` it serves HTTPS instead, as kube-apiserver does (the
client's in-cluster loader speaks nothing else).

RBAC is off unless `rules` (ClusterRole PolicyRules) are given: then every request, resource
or non-resource, is authorized against exactly those rules after authentication, with the verb
kube-apiserver derives (GET on a collection is list, with ?watch or /watch/ it is watch, GET on
an object is get, POST create, PUT update, PATCH patch, DELETE delete or deletecollection), and
a refused one gets the server's 403 Forbidden Status and is logged in `forbidden` (see rbac.py).

Not modelled, on purpose: server-side apply merge semantics (operation="Apply" only labels the
entry), admission/validation/defaulting, namespace existence, finalizers and deletionTimestamp,
cascading deletes (CRD deletion leaves its objects), aggregated discovery (v2), protobuf, the
core/v1 and events.k8s.io/v1 Events sharing one store, set-based label selectors (400), and
selector-driven DELETED events in watches.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import orjson

from . import fieldsv1, rbac

Obj = dict[str, Any]
MAX_WATCH_SECONDS = 1800  # kube-apiserver --min-request-timeout default
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})  # Go's strconv.ParseBool
# metav1.StatusReason where it differs from the HTTP phrase (410 is "Expired" for rvs/tokens)
_REASONS = {410: "Expired", 422: "Invalid", 500: "InternalError", 504: "Timeout"}
_META_ORDER = ("name", "generateName", "namespace", "uid", "resourceVersion", "generation")
_META_ORDER += ("creationTimestamp", "labels", "annotations", "ownerReferences", "finalizers")


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    subresources: tuple[str, ...] = ()
    generation: bool = False  # whether the real server maintains metadata.generation
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gr(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def ref(self) -> str:  # how the server names the resource in messages: deployments.apps
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _rt(g: str, v: str, plural: str, kind: str, *subs: str, **kw: Any) -> ResourceType:
    return ResourceType(g, v, plural, kind, subresources=subs, **kw)


_NS, _GEN = {"namespaced": False}, {"generation": True}
BUILTIN = [
    _rt("", "v1", "namespaces", "Namespace", "status", **_NS, short_names=("ns",)),
    _rt("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _rt("", "v1", "secrets", "Secret"),
    _rt("", "v1", "services", "Service", "status", short_names=("svc",)),
    _rt("", "v1", "pods", "Pod", "status", short_names=("po",)),
    _rt("", "v1", "events", "Event", short_names=("ev",)),
    _rt("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _rt("", "v1", "nodes", "Node", "status", **_NS, short_names=("no",)),
    _rt("apps", "v1", "deployments", "Deployment", "status", "scale", **_GEN),
    _rt("apps", "v1", "replicasets", "ReplicaSet", "status", "scale", **_GEN),
    _rt("apps", "v1", "statefulsets", "StatefulSet", "status", "scale", **_GEN),
    _rt("apps", "v1", "daemonsets", "DaemonSet", "status", **_GEN),
    _rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", "status"),
    _rt("coordination.k8s.io", "v1", "leases", "Lease"),
    _rt("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", **_GEN),
    _rt("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
]
_CRD = _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
           "status", **_NS, **_GEN, short_names=("crd", "crds"))  # fmt: skip
BUILTIN.append(_CRD)


class DoubleError(Exception):
    """A write the real server would refuse (404 NotFound, 409 Conflict/AlreadyExists, ...)."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.reason = code, reason or _reason(code)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    verb: str  # as kube-apiserver's RequestInfo derives it (what RBAC and audit see)


class _Write(NamedTuple):  # who writes, for managedFields
    manager: str
    operation: str
    subresource: str | None
    time: datetime


@dataclass(slots=True)
class _Event:
    rv: int
    type: str
    rt: ResourceType
    key: str
    obj: Obj  # stored objects are never mutated, so events share them
    prev: Obj | None  # the object before this event, to rebuild a snapshot at an older rv
    line: bytes = b""


@dataclass(eq=False, slots=True)
class _Conn:
    sock: socket.socket
    cursor: int = -1  # for watches: the last rv this stream has looked at
    dropped: bool = False


def _reason(code: int) -> str:
    return _REASONS.get(code) or HTTPStatus(code).phrase.replace(" ", "").replace("-", "")


def status_body(
    code: int, message: str, reason: str | None = None, details: Obj | None = None
) -> Obj:
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body.update(message=message, reason=reason or _reason(code))
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _copy(obj: Obj) -> Obj:
    return orjson.loads(orjson.dumps(obj))  # a deep copy, several times faster than deepcopy


def _version_rank(v: str) -> tuple[int, int, int]:
    # Kube-aware version order, as for preferredVersion: v2 > v1 > v1beta2 > v1beta1 > v1alpha1.
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (-1, 0, 0)
    return (int(m[1]), {"alpha": 0, "beta": 1, None: 2}[m[2]], int(m[3] or 0))


class ApiDouble:
    """A Kubernetes API server double; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        require_auth: bool = True,
        bookmark_interval: float = 1.0,
        auto_compact_every: int | None = None,
        rules: Iterable[rbac.Rule] | None = None,
        user: str = rbac.DEFAULT_USER,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.token = secrets.token_hex(16)
        self.tls = tls  # (certificate, key): serve https, as kube-apiserver does
        self.require_auth = require_auth
        # None: no authorization (every authenticated request is allowed). Replace with
        # set_rules() while running.
        self.rules: list[Obj] | None = None if rules is None else rbac.validate(rules)
        self.user = user  # the authenticated user named in 403 messages
        self.forbidden: list[RequestRecord] = []  # requests refused by RBAC, in order
        self.bookmark_interval = bookmark_interval
        self.auto_compact_every = auto_compact_every
        self.stall = False
        self.down = False  # see go_down()
        self.ignore_resource_version = False
        self.requests: list[RequestRecord] = []
        self._cond = threading.Condition()
        self._types: list[ResourceType] = []
        self._objects: dict[tuple[str, str], dict[str, Obj]] = {}
        self._log: list[_Event] = []
        self._leaves: dict[tuple[tuple[str, str], str], tuple[Obj, dict[fieldsv1.Path, Any]]] = {}
        self._rv = 0
        self._compacted = 0
        self._auto_mark = 0
        self._conns: set[_Conn] = set()
        self._watches: set[_Conn] = set()
        self._failures: list[int] = []
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        for rt in BUILTIN:
            self._add_type(rt)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ApiDouble:
        self._stopping = False
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.double = self  # type: ignore[attr-defined]
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._shutdown(self._conns)  # also idle keep-alive connections: the server is gone
            self._cond.notify_all()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ApiDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server, "start() the double first"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def write_kubeconfig(
        self, path: str | Path, context: str = "double", namespace: str | None = None
    ) -> Path:
        ctx: Obj = {"cluster": context, "user": context}
        if namespace:
            ctx["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": ctx}],
            "current-context": context,
        }
        path = Path(path)
        path.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))  # JSON is YAML
        return path

    # -- faults ----------------------------------------------------------------------------

    def open_watches(self) -> int:
        """How many watch connections are being served now."""
        with self._cond:
            return len(self._watches)

    def drop_watches(self) -> None:
        """Cut every open watch mid-stream: no terminating chunk, the socket just goes away."""
        with self._cond:
            for w in self._watches:
                w.dropped = True
            self._shutdown(self._watches)
            self._cond.notify_all()

    def go_down(self) -> None:
        """Unreachable, as behind a network cut or while the server restarts: open watches
        are cut and every request is cut before an answer, until come_back(). Writes
        through the Python API go on (the cluster does not stop)."""
        with self._cond:
            self.down = True
        self.drop_watches()

    def come_back(self) -> None:
        with self._cond:
            self.down = False

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self._cond:
            self._failures.extend([status] * n)

    def compact(self) -> None:
        """Forget history up to now: watches and continue tokens from older rvs get 410."""
        with self._cond:
            self._compact(self._rv)

    def set_rules(self, rules: Iterable[rbac.Rule] | None) -> None:
        """Authorize by these PolicyRules from the next request on (None: allow everything)."""
        checked = None if rules is None else rbac.validate(rules)
        with self._cond:
            self.rules = checked

    @property
    def resource_version(self) -> int:
        return self._rv

    # -- Python write API (tests only; HTTP is read-only) ----------------------------------

    def create(
        self,
        obj: Obj,
        *,
        manager: str = "kubectl-client-side-apply",
        operation: str = "Update",
        subresource: str | None = None,
        at: datetime | None = None,
    ) -> Obj:
        rt, new, ns, name = self._incoming(obj)
        w = _Write(manager, operation, subresource, self._now(at))
        meta = new["metadata"]
        with self._cond:
            if self._key(ns, name) in self._objects[rt.gr]:
                raise DoubleError(409, f'{rt.ref} "{name}" already exists', "AlreadyExists")
            for k in ("resourceVersion", "managedFields", "generation"):
                meta.pop(k, None)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_ts(w.time))
            if rt.generation:
                meta["generation"] = 1
            if "status" in rt.subresources:
                new.pop("status", None)  # PrepareForCreate: status is the controllers' to write
            return self._commit(rt, self._key(ns, name), None, new, w)

    def update(
        self,
        obj: Obj,
        *,
        manager: str,
        operation: str = "Update",
        subresource: str | None = None,
        at: datetime | None = None,
    ) -> Obj:
        """Replace the whole object (PUT). A stale metadata.resourceVersion is a 409 Conflict."""
        rt, new, ns, name = self._incoming(obj)
        w = _Write(manager, operation, subresource, self._now(at))
        with self._cond:
            old = self._existing(rt, ns, name)
            sent_rv = new["metadata"].get("resourceVersion")
            if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise DoubleError(
                    409,
                    f'Operation cannot be fulfilled on {rt.ref} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                )
            new = self._prepare_update(rt, old, new, subresource)
            return self._commit(rt, self._key(ns, name), old, new, w)

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        fn: Callable[[Obj], object],
        *,
        manager: str,
        operation: str = "Update",
        subresource: str | None = None,
        at: datetime | None = None,
    ) -> Obj:
        """Apply `fn` to a deep copy of the current object and store the result (runs locked)."""
        rt = self._resolve(api_version, kind)
        ns = self._namespace(rt, namespace)
        w = _Write(manager, operation, subresource, self._now(at))
        with self._cond:
            old = self._existing(rt, ns, name)
            work = self._out(rt, old)
            fn(work)
            _, new, _, _ = self._incoming(work, copy=False)
            new = self._prepare_update(rt, old, new, subresource)
            return self._commit(rt, self._key(ns, name), old, new, w)

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj:
        rt = self._resolve(api_version, kind)
        ns = self._namespace(rt, namespace)
        with self._cond:
            old = self._existing(rt, ns, name)
            key = self._key(ns, name)
            del self._objects[rt.gr][key]
            self._leaves.pop((rt.gr, key), None)
            self._rv += 1
            # The DELETED event carries the object with the deletion's resourceVersion.
            gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
            self._record(_Event(self._rv, "DELETED", rt, key, gone, old))
            if rt == _CRD:
                self._register_crd(old, remove=True)
            return self._out(rt, gone)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        rt = self._resolve(api_version, kind)
        with self._cond:
            obj = self._objects[rt.gr].get(self._key(self._namespace(rt, namespace), name))
            return None if obj is None else self._out(rt, obj)

    def add_crd(
        self, group: str, version: str, kind: str, plural: str, namespaced: bool = True
    ) -> Obj:
        """Create a CustomResourceDefinition; its resource is in discovery at once."""
        names = {"plural": plural, "singular": kind.lower(), "kind": kind}
        names["listKind"] = kind + "List"
        schema = {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        }
        served = {"name": version, "served": True, "storage": True, "schema": schema}
        served["subresources"] = {"status": {}}
        spec = {"group": group, "names": names, "versions": [served]}
        spec["scope"] = "Namespaced" if namespaced else "Cluster"
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"}
        crd.update(metadata={"name": f"{plural}.{group}"}, spec=spec)
        self.create(crd)

        def established(o: Obj) -> None:
            cond = [
                {"type": t, "status": "True", "reason": r, "lastTransitionTime": _ts(self._now())}
                for t, r in (
                    ("NamesAccepted", "NoConflicts"),
                    ("Established", "InitialNamesAccepted"),
                )
            ]
            o["status"] = {"acceptedNames": names, "conditions": cond, "storedVersions": [version]}

        # As the apiextensions controllers do, in a status write of their own.
        return self.patch(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            f"{plural}.{group}",
            established,
            manager="kube-apiserver",
            subresource="status",
        )

    # -- storage internals (call with self._cond held unless noted) ------------------------

    def _add_type(self, rt: ResourceType) -> None:
        same = (rt.group, rt.version, rt.plural)
        self._types = [t for t in self._types if (t.group, t.version, t.plural) != same]
        self._types.append(rt)
        self._objects.setdefault(rt.gr, {})

    def _type_at(self, group: str, version: str, plural: str) -> ResourceType | None:
        for t in self._types:
            if (t.group, t.version, t.plural) == (group, version, plural):
                return t
        return None

    def _resolve(self, api_version: str, kind: str) -> ResourceType:
        for t in self._types:
            if t.api_version == api_version and t.kind == kind:
                return t
        raise DoubleError(404, f'no matches for kind "{kind}" in version "{api_version}"')

    def _namespace(self, rt: ResourceType, namespace: str | None) -> str:
        # Cluster-scoped: the server clears any namespace. Namespaced: kubectl's default.
        return (namespace or "default") if rt.namespaced else ""

    @staticmethod
    def _key(ns: str, name: str) -> str:
        return f"{ns}/{name}" if ns else name  # etcd key order: /registry/<resource>/<ns>/<name>

    @staticmethod
    def _now(at: datetime | None = None) -> datetime:
        if at is not None and at.tzinfo is None:
            raise ValueError("`at` must be timezone-aware")
        return at or datetime.now(UTC)

    def _incoming(self, obj: Obj, copy: bool = True) -> tuple[ResourceType, Obj, str, str]:
        rt = self._resolve(obj.get("apiVersion", ""), obj.get("kind", ""))
        new = _copy(obj) if copy else obj
        new.pop("apiVersion", None)  # stored without: list items omit them, like the server
        new.pop("kind", None)
        meta = new.setdefault("metadata", {})
        if not meta.get("name"):
            raise DoubleError(400, "metadata.name: Required value", "Invalid")
        ns = self._namespace(rt, meta.get("namespace"))
        if ns:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        return rt, new, ns, meta["name"]

    def _existing(self, rt: ResourceType, ns: str, name: str) -> Obj:
        obj = self._objects[rt.gr].get(self._key(ns, name))
        if obj is None:
            raise DoubleError(404, f'{rt.ref} "{name}" not found')
        return obj

    def _prepare_update(self, rt: ResourceType, old: Obj, new: Obj, sub: str | None) -> Obj:
        if sub is not None and sub not in rt.subresources:
            raise DoubleError(404, f"{rt.ref} has no subresource {sub!r}")
        # Stored objects are never mutated, so the result may share subtrees with `old`; only
        # its top level and metadata are written to by _commit.
        if sub == "status":  # a status write changes status only
            new = {**old, "metadata": dict(old["metadata"]), "status": new.get("status")}
        elif sub == "scale":  # a scale write changes spec.replicas only
            spec = {**old.get("spec", {}), "replicas": new.get("spec", {}).get("replicas")}
            new = {**old, "metadata": dict(old["metadata"]), "spec": spec}
        elif "status" in rt.subresources:  # a main-resource write cannot change status
            new["status"] = old.get("status")
        if new.get("status") is None:
            new.pop("status", None)
        meta = new["metadata"]
        for k in ("uid", "creationTimestamp", "generation"):  # server-owned, not the client's
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
        return new

    def _commit(self, rt: ResourceType, key: str, old: Obj | None, new: Obj, w: _Write) -> Obj:
        cached = self._leaves.get((rt.gr, key))
        old_leaves = cached[1] if cached and cached[0] is old else fieldsv1.leaves(old or {})
        new_leaves = fieldsv1.leaves(new)
        changed, removed = fieldsv1.diff(old_leaves, new_leaves)
        if old is not None and not changed and not removed:
            return self._out(rt, old)  # a no-op write: no new resourceVersion, no event
        meta = new["metadata"]
        spec_changed = any(p[0] not in ("f:metadata", "f:status") for p in changed | removed)
        if old is not None and rt.generation and spec_changed:
            meta["generation"] = old["metadata"].get("generation", 0) + 1
        meta["managedFields"] = fieldsv1.update_managed(
            old["metadata"].get("managedFields", []) if old else [],
            changed,
            removed,
            manager=w.manager,
            operation=w.operation,
            subresource=w.subresource,
            api_version=rt.api_version,
            time=_ts(w.time),
        )
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        ordered = {k: meta[k] for k in _META_ORDER if k in meta}
        new["metadata"] = ordered | meta  # the real server's field order, for readable dumps
        new["metadata"]["managedFields"] = new["metadata"].pop("managedFields")
        self._objects[rt.gr][key] = new
        self._leaves[(rt.gr, key)] = (new, new_leaves)
        self._record(_Event(self._rv, "ADDED" if old is None else "MODIFIED", rt, key, new, old))
        if rt == _CRD:
            self._register_crd(new)
        return self._out(rt, new)

    def _record(self, ev: _Event) -> None:
        self._log.append(ev)
        n = self.auto_compact_every
        if n and self._rv - self._auto_mark >= n:
            # As kube-apiserver's compaction loop: compact to the rv seen one interval ago,
            # so at least n writes of history remain.
            self._compact(self._auto_mark)
            self._auto_mark = self._rv
        self._cond.notify_all()

    def _compact(self, rv: int) -> None:
        self._compacted = max(self._compacted, rv)
        # Open watches keep reading their backlog (they are fed from the watch cache, not
        # etcd); only new watches and continue tokens from older rvs see the compaction.
        floor = min([self._compacted, *(w.cursor for w in self._watches)])
        del self._log[: bisect_right(self._log, floor, key=lambda e: e.rv)]

    def _register_crd(self, crd: Obj, remove: bool = False) -> None:
        spec = crd["spec"]
        names = spec["names"]
        for v in spec.get("versions", []):
            rt = ResourceType(
                spec["group"],
                v["name"],
                names["plural"],
                names["kind"],
                namespaced=spec.get("scope") == "Namespaced",
                subresources=("status",) if "status" in v.get("subresources", {}) else (),
                generation=True,
            )
            if remove or not v.get("served", True):
                self._types = [t for t in self._types if t != rt]
            else:
                self._add_type(rt)

    def _state_at(self, rt: ResourceType, rv: int) -> dict[str, Obj]:
        """The objects of one resource as of rv, rolled back from now through the event log."""
        state = dict(self._objects[rt.gr])
        for ev in reversed(self._log):
            if ev.rv <= rv:
                break
            if ev.rt.gr == rt.gr:
                if ev.prev is None:
                    state.pop(ev.key, None)
                else:
                    state[ev.key] = ev.prev
        return state

    @staticmethod
    def _out(rt: ResourceType, obj: Obj) -> Obj:
        return _copy({"kind": rt.kind, "apiVersion": rt.api_version, **obj})

    @staticmethod
    def _shutdown(conns: set[_Conn]) -> None:
        for c in conns:
            with contextlib.suppress(OSError):  # already closed by the peer
                c.sock.shutdown(socket.SHUT_RDWR)

    # -- discovery -------------------------------------------------------------------------

    def _groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for t in self._types:
            if t.version not in groups.setdefault(t.group, []):
                groups[t.group].append(t.version)
        for versions in groups.values():
            versions.sort(key=_version_rank, reverse=True)
        return groups

    def _api_group(self, name: str, versions: list[str]) -> Obj:
        gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}

    def _resource_list(self, group: str, version: str) -> Obj | None:
        resources: list[Obj] = []
        for t in self._types:
            if (t.group, t.version) != (group, version):
                continue
            verbs = [v for v in _VERBS if t.plural != "namespaces" or v != "deletecollection"]
            entry = {"name": t.plural, "singularName": t.kind.lower(), "namespaced": t.namespaced}
            entry.update(kind=t.kind, verbs=verbs)
            if t.short_names:
                entry["shortNames"] = list(t.short_names)
            resources.append(entry)
            for sub in t.subresources:  # listed separately, without list/watch
                s = {"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced}
                if sub == "scale":
                    s.update(group="autoscaling", version="v1", kind="Scale")
                else:
                    s["kind"] = t.kind
                s["verbs"] = ["get", "patch", "update"]
                resources.append(s)
        if not resources:
            return None
        body: Obj = {"kind": "APIResourceList"}
        if group:  # the legacy /api/v1 list has no apiVersion, the group ones do
            body["apiVersion"] = "v1"
        body.update(groupVersion=f"{group}/{version}" if group else version, resources=resources)
        return body


class _BadRequest(Exception):
    pass


def _selector(query: dict[str, str]) -> Callable[[Obj], bool]:
    """Equality-based labelSelector and metadata.name/namespace fieldSelector; else 400."""
    tests: list[Callable[[Obj], bool]] = []
    for term in filter(None, query.get("labelSelector", "").split(",")):
        m = re.fullmatch(r"\s*(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w.-]*))?\s*", term)
        if not m or (m[1] and m[3]):
            raise _BadRequest(f"unable to parse requirement: {term!r} (set-based: unsupported)")
        neg, key, op, val = m.groups()

        def label(o: Obj, neg: str = neg, key: str = key, op: str = op, val: str = val) -> bool:
            labels = o["metadata"].get("labels") or {}
            if op is None:
                return (key in labels) != bool(neg)
            return (labels.get(key) == val) == (op != "!=")

        tests.append(label)
    for term in filter(None, query.get("fieldSelector", "").split(",")):
        m = re.fullmatch(r"metadata\.(name|namespace)(==|=|!=)(.*)", term.strip())
        if not m:
            raise _BadRequest(f'field label not supported: "{term}"')
        fname, op, val = m.groups()

        def fld(o: Obj, fname: str = fname, op: str = op, val: str = val) -> bool:
            return (o["metadata"].get(fname, "") == val) == (op != "!=")

        tests.append(fld)
    return lambda o: all(t(o) for t in tests)


class _Target(NamedTuple):  # a resource request path, parsed
    group: str
    version: str
    ns: str
    plural: str
    name: str
    sub: str
    watch: bool


def _parse(method: str, path: str, query: dict[str, str]) -> tuple[str, _Target | None]:
    """The verb and target as kube-apiserver's RequestInfoFactory derives them; discovery and
    other non-resource paths have no target and the lower-cased method as verb."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return method.lower(), None
    watch = rest[0] == "watch"  # the legacy /watch/ path prefix
    rest = rest[1:] if watch else rest
    ns = ""
    # namespaces/{ns}/{resource}..., but namespaces/{name}[/status] is the Namespace itself
    if len(rest) > 2 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        ns, rest = rest[1], rest[2:]
    plural, name, sub = [*rest, "", "", ""][:3]
    methods = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    verb = methods.get(method, "get")
    if watch:
        verb = "watch"
    elif verb == "get" and not name:
        verb = "watch" if query.get("watch") in _TRUE else "list"
    elif verb == "delete" and not name:
        verb = "deletecollection"
    return verb, _Target(group, version, ns, plural, name, sub, verb == "watch")


def _attributes(
    raw_path: str, verb: str, t: _Target | None, query: dict[str, str]
) -> rbac.Attributes:
    """What RBAC sees of a request, as kube-apiserver's RequestInfoFactory derives it."""
    if t is None:  # matched against nonResourceURLs as sent, trailing slash included
        return rbac.Attributes(verb, raw_path, resource_request=False)
    name, ns = t.name, t.ns
    if not name and verb in ("list", "watch", "deletecollection"):
        for term in query.get("fieldSelector", "").split(","):
            m = re.fullmatch(r"\s*metadata\.name\s*==?\s*([^,]+?)\s*", term)
            if m and not {"/", "%"} & set(m[1]) and m[1] not in (".", ".."):
                name = m[1]
    if t.plural == "namespaces" and t.name:  # a Namespace object is in its own namespace
        ns = t.name
    return rbac.Attributes(verb, raw_path, True, t.group, t.version, ns, t.plural, t.sub, name)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is `ApiDouble.requests`

    def setup(self) -> None:
        super().setup()
        self.double: ApiDouble = self.server.double  # type: ignore[attr-defined]
        self.conn = _Conn(self.connection)
        with self.double._cond:
            self.double._conns.add(self.conn)

    def finish(self) -> None:
        with self.double._cond:
            self.double._conns.discard(self.conn)
        super().finish()

    def do_GET(self) -> None:
        try:
            self._handle()
        except OSError:
            self.close_connection = True  # the peer went away or a fault cut the socket

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self) -> None:
        d = self.double
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"  # the client asks for "/version/"
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        verb, res = _parse(self.command, path, query)
        if self.command != "GET":
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if d.down:  # never reached the server: no answer, no record of it
            self.close_connection = True
            return None
        record = RequestRecord(self.command, path, query, verb)
        with d._cond:
            d.requests.append(record)
            failure = d._failures.pop(0) if d._failures else None
        if failure:
            retry = {"Retry-After": "1"} if failure in (429, 503) else {}
            return self._status(failure, f"injected failure ({failure})", headers=retry)
        # the scheme is case-insensitive, as kube-apiserver reads it (the in-cluster loader
        # of the Python client sends "bearer")
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if d.require_auth and (scheme.lower(), token) != ("bearer", d.token):
            return self._status(401, "Unauthorized")
        with d._cond:
            rules = d.rules
        if rules is not None:
            attrs = _attributes(url.path, verb, res, query)
            if not rbac.allows(rules, attrs):
                with d._cond:
                    d.forbidden.append(record)
                message = rbac.forbidden_message(attrs, d.user)
                return self._status(403, message, "Forbidden", rbac.forbidden_details(attrs))
        if self.command != "GET":
            msg = "the server does not allow this method on the requested resource"
            return self._status(405, msg, details={})
        try:
            if res is None:
                return self._nonresource(path)
            return self._resource(res, query)
        except _BadRequest as e:
            return self._status(400, str(e))

    def _send(
        self,
        code: int,
        body: Obj | bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _status(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: Obj | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send(code, status_body(code, message, reason, details), headers)

    def _not_found(self) -> None:
        self._status(404, "the server could not find the requested resource", details={})

    def _nonresource(self, path: str) -> None:
        d = self.double
        parts = [p for p in path.split("/") if p]
        if path in ("/healthz", "/livez", "/readyz"):
            return self._send(200, b"ok", content_type="text/plain")
        with d._cond:
            groups = d._groups()
            if path == "/version":
                body: Obj | None = {
                    "major": "1",
                    "minor": "31",
                    "gitVersion": "v1.31.0",
                    "gitCommit": "0" * 40,
                    "gitTreeState": "clean",
                    "buildDate": "2024-08-13T07:28:49Z",
                    "goVersion": "go1.22.5",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                }
            elif parts == ["api"]:
                address = [{"clientCIDR": "0.0.0.0/0", "serverAddress": d.url.split("//")[1]}]
                body = {"kind": "APIVersions", "versions": groups[""]}
                body["serverAddressByClientCIDRs"] = address
            elif parts == ["apis"]:
                apis = [d._api_group(g, vs) for g, vs in groups.items() if g]
                body = {"kind": "APIGroupList", "apiVersion": "v1", "groups": apis}
            elif len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
                body = {"kind": "APIGroup", "apiVersion": "v1"}
                body.update(d._api_group(parts[1], groups[parts[1]]))
            elif len(parts) == 2 and parts[0] == "api":
                body = d._resource_list("", parts[1])
            elif len(parts) == 3 and parts[0] == "apis":
                body = d._resource_list(parts[1], parts[2])
            else:
                body = None
        return self._send(200, body) if body is not None else self._not_found()

    def _resource(self, t: _Target, query: dict[str, str]) -> None:
        d = self.double
        with d._cond:
            rt = d._type_at(t.group, t.version, t.plural)
        if rt is None or (t.ns and not rt.namespaced):
            return self._not_found()
        if t.watch:
            if t.name:  # /watch/.../{name}: the server turns it into a metadata.name selector
                query = {**query, "fieldSelector": f"metadata.name={t.name}"}
            return self._watch(rt, t.ns, query)
        if not t.name:
            return self._list(rt, t.ns, query)
        # GET of an object, or of its status (the same object); other subresources: 404
        if t.sub not in ("", "status") or (t.sub and t.sub not in rt.subresources):
            return self._not_found()
        if rt.namespaced and not t.ns:
            return self._not_found()
        with d._cond:
            obj = d._objects[rt.gr].get(d._key(t.ns, t.name))
        if obj is None:
            details = {"name": t.name, "group": t.group, "kind": t.plural}
            if not t.group:
                del details["group"]
            return self._status(404, f'{rt.ref} "{t.name}" not found', details=details)
        self._send(200, _full(rt, obj))

    def _list(self, rt: ResourceType, ns: str, query: dict[str, str]) -> None:
        d = self.double
        match = _selector(query)
        limit = _int(query.get("limit") or "0", "limit")
        token, start = query.get("continue"), ""
        exact = query.get("resourceVersionMatch") == "Exact"
        with d._cond:
            if token:
                try:
                    c = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
                    rv, start = int(c["rv"]), c["start"]
                except (ValueError, KeyError, TypeError) as e:
                    raise _BadRequest(f"continue key is not valid: {e}") from None
            elif exact:
                rv = _int(query.get("resourceVersion", ""), "resourceVersion")
            else:
                rv = d._rv
            if rv < d._compacted:
                msg = (
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                    if token
                    else f"too old resource version: {rv} ({d._compacted})"
                )
                return self._status(410, msg, "Expired")
            state = d._state_at(rt, rv) if rv < d._rv else d._objects[rt.gr]
            prefix = f"{ns}/" if ns else ""
            keys = sorted(k for k in state if k >= start and k.startswith(prefix))
            keys = [k for k in keys if match(state[k])]
            items = [state[k] for k in keys[: limit or None]]
        meta: Obj = {"resourceVersion": str(rv)}
        if limit and len(keys) > limit:
            # The real token: base64 of {"v","rv","start"}; the next page starts after our key.
            cont = {"v": "meta.k8s.io/v1", "rv": rv, "start": keys[limit - 1] + "\x00"}
            meta["continue"] = base64.urlsafe_b64encode(orjson.dumps(cont)).decode().rstrip("=")
            meta["remainingItemCount"] = len(keys) - limit
        body = {"kind": rt.kind + "List", "apiVersion": rt.api_version, "metadata": meta}
        body["items"] = items  # stored without kind/apiVersion, as list items are served
        self._send(200, body)

    def _watch(self, rt: ResourceType, ns: str, query: dict[str, str]) -> None:
        d = self.double
        match = _selector(query)
        prefix = f"{ns}/" if ns else ""

        def wanted(ev: _Event) -> bool:
            return ev.rt.gr == rt.gr and ev.key.startswith(prefix) and match(ev.obj)

        rv_param = query.get("resourceVersion", "")
        start_rv = _int(rv_param, "resourceVersion") if rv_param not in ("", "0") else None
        timeout = _int(query.get("timeoutSeconds") or str(MAX_WATCH_SECONDS), "timeoutSeconds")
        bookmarks = query.get("allowWatchBookmarks") in _TRUE
        deadline = time.monotonic() + timeout
        conn, initial, expired = self.conn, [], None
        with d._cond:
            if start_rv is None or d.ignore_resource_version:
                objs = d._objects[rt.gr]
                initial = [objs[k] for k in sorted(objs) if k.startswith(prefix)]
                conn.cursor = d._rv
            elif start_rv < d._compacted:
                msg = f"too old resource version: {start_rv} ({d._compacted})"
                expired = status_body(410, msg, "Expired")
            else:
                conn.cursor = start_rv
            d._watches.add(conn)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if expired:  # the real server answers 200, then one ERROR event, then ends
                self._chunks([_line("ERROR", expired)])
                return self._chunks([])
            lines = [_line("ADDED", _full(rt, o)) for o in initial if match(o)]
            if query.get("sendInitialEvents") in _TRUE and bookmarks:
                lines.append(_bookmark(rt, conn.cursor, initial_end=True))
            for i in range(0, len(lines), 1000):
                self._chunks(lines[i : i + 1000])
            next_bookmark = time.monotonic() + d.bookmark_interval
            while True:
                with d._cond:
                    out, done = self._wait(
                        conn, wanted, deadline, next_bookmark if bookmarks else None
                    )
                if done == "drop":
                    self.close_connection = True  # no terminating chunk: an abrupt cut
                    return None
                if done == "timeout":
                    return self._chunks([])  # the zero-length chunk: a clean end of stream
                if done == "bookmark":
                    next_bookmark = time.monotonic() + d.bookmark_interval
                    out = [_bookmark(rt, conn.cursor)]
                self._chunks(out)
        finally:
            with d._cond:
                d._watches.discard(conn)

    def _wait(
        self,
        conn: _Conn,
        wanted: Callable[[_Event], bool],
        deadline: float,
        next_bookmark: float | None,
    ) -> tuple[list[bytes], str]:
        """Block (holding d._cond) until there is something to send: events, a bookmark, the
        timeout, or a fault. Returns (event lines, reason)."""
        d = self.double
        while True:
            if conn.dropped or d._stopping or d.down:
                return [], "drop"
            if d.stall:  # a hung server: nothing at all, not even the clean end at timeout
                d._cond.wait(0.05)
                continue
            now = time.monotonic()
            # A bookmark first when due, so a busy stream still gets them; its rv is the cursor,
            # up to which every event has been sent.
            if next_bookmark is not None and now >= next_bookmark:
                return [], "bookmark"
            if d._log and d._log[-1].rv > conn.cursor:
                evs = d._log[bisect_right(d._log, conn.cursor, key=lambda e: e.rv) :]
                conn.cursor = evs[-1].rv
                out = [_event_line(ev) for ev in evs if wanted(ev)]
                if out:
                    return out, "events"
                continue
            if now >= deadline:
                return [], "timeout"
            d._cond.wait(min(deadline, next_bookmark or deadline) - now)

    def _chunks(self, lines: list[bytes]) -> None:
        """Each event is its own chunk; [] writes the terminating chunk."""
        if not lines:
            self.wfile.write(b"0\r\n\r\n")
            return
        self.wfile.write(b"".join(b"%x\r\n%s\r\n" % (len(ln), ln) for ln in lines))


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _BadRequest(f"{name}: Invalid value: {value!r}") from None


def _full(rt: ResourceType, obj: Obj) -> Obj:
    return {"kind": rt.kind, "apiVersion": rt.api_version, **obj}


def _line(type_: str, obj: Obj) -> bytes:
    return orjson.dumps({"type": type_, "object": obj}) + b"\n"


def _event_line(ev: _Event) -> bytes:
    if not ev.line:  # encoded once, shared by every watcher (a race only encodes twice)
        ev.line = _line(ev.type, _full(ev.rt, ev.obj))
    return ev.line


def _bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> bytes:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _line("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta})

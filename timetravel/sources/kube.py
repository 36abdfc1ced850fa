"""The cluster, read-only: kubeconfig resolution, discovery, paginated list, raw watch.

Only GET requests are ever made: discovery (the non-resource URLs /api, /api/*, /apis,
/apis/*), then list and watch of collections. No single object is ever read (no `get` of a
resource), so the in-cluster role (deploy/base/rbac.yaml) grants list and watch on resources and
`get` on those URLs only; a `get` on resources would also authorize exec, attach,
port-forward and node proxy. Responses are parsed as raw JSON; no client model objects are
built per event.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from timetravel.errors import UserError

# High-churn bookkeeping that says nothing about what was deployed; off unless asked for.
DEFAULT_EXCLUDED = frozenset(
    {
        "leases.coordination.k8s.io",
        "endpoints",
        "endpointslices.discovery.k8s.io",
        "events",
        "events.events.k8s.io",
        "componentstatuses",
    }
)


# One watch connection per resource type stays open; the pool must hold them all.
_POOL_SIZE = 128


class KubeError(Exception):
    """A failed request to the API server, with the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Expired(KubeError):
    """410 Gone: the resourceVersion asked for is older than the server keeps."""


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """``deployments.apps``; ``configmaps`` for the core group (as kubectl names them)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def matches(self, word: str) -> bool:
        """True when a user's word (plural, plural.group, kind, or kind.group) names this type."""
        word = word.strip().lower()
        return word in {
            self.plural,
            self.name,
            self.kind.lower(),
            f"{self.kind.lower()}.{self.group}" if self.group else self.kind.lower(),
        }


@dataclass(frozen=True)
class Connection:
    """An API client and what to call the cluster it talks to."""

    api: k8s_client.ApiClient
    cluster: str
    context: str | None
    server: str


def connect(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Resolve credentials as kubectl does: --kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster.

    Raises UserError when none works.
    """
    explicit = kubeconfig or os.environ.get("KUBECONFIG")
    default_path = Path(os.path.expanduser(k8s_config.KUBE_CONFIG_DEFAULT_LOCATION))
    if explicit or default_path.exists():
        config_file = kubeconfig  # None lets the client honour $KUBECONFIG (with merging)
        if kubeconfig and not Path(kubeconfig).exists():
            raise UserError(f"{kubeconfig}: no such kubeconfig file")
        try:
            contexts, current = k8s_config.list_kube_config_contexts(config_file=config_file)
            chosen = context or (current or {}).get("name")
            cluster_name = next(
                (c["context"].get("cluster") for c in contexts if c["name"] == chosen), chosen
            )
            configuration = k8s_client.Configuration()
            k8s_config.load_kube_config(
                config_file=config_file, context=context, client_configuration=configuration
            )
        except (k8s_config.ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
            raise UserError(f"kubeconfig: {exc}") from None
        configuration.connection_pool_maxsize = _POOL_SIZE
        return Connection(
            api=k8s_client.ApiClient(configuration),
            cluster=str(cluster_name or "default"),
            context=chosen,
            server=configuration.host,
        )
    try:
        configuration = k8s_client.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
        configuration.connection_pool_maxsize = _POOL_SIZE
    except k8s_config.ConfigException:
        raise UserError(
            "no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config) "
            "and not running in a cluster"
        ) from None
    return Connection(
        api=k8s_client.ApiClient(configuration),
        cluster="in-cluster",
        context=None,
        server=configuration.host,
    )


class Kube:
    """Raw read-only requests over one connection."""

    def __init__(self, connection: Connection, *, read_timeout: float = 90.0) -> None:
        self.connection = connection
        self.api = connection.api
        self.read_timeout = read_timeout

    def _open(
        self, path: str, query: dict[str, Any] | None = None, timeout: Any = None
    ) -> urllib3.BaseHTTPResponse:
        url_path = path + ("?" + urlencode(query) if query else "")
        method, url, headers, _, _ = self.api.param_serialize(
            "GET",
            url_path,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(method, url, headers, _request_timeout=timeout)
        except ApiException as exc:
            raise KubeError(f"GET {path}: {exc.status} {exc.reason}", exc.status) from None
        except urllib3.exceptions.HTTPError as exc:
            raise KubeError(f"GET {path}: {exc}") from None
        raw: urllib3.BaseHTTPResponse = response.response
        if not 200 <= raw.status <= 299:
            body = raw.data
            raw.release_conn()
            message = _status_message(body) or raw.reason or ""
            error_type = Expired if raw.status == 410 else KubeError
            raise error_type(f"GET {path}: {raw.status} {message}", raw.status)
        return raw

    def get_json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        response = self._open(path, query, timeout=(10, self.read_timeout))
        try:
            return orjson.loads(response.data)
        except urllib3.exceptions.HTTPError as exc:
            raise KubeError(f"GET {path}: {exc}") from None
        except orjson.JSONDecodeError as exc:
            raise KubeError(f"GET {path}: invalid JSON ({exc})") from None
        finally:
            response.release_conn()

    def discover(self) -> list[ResourceType]:
        """Every resource type that supports list and watch, at its group's preferred version."""
        found: list[ResourceType] = []
        core = self.get_json("/api")
        for version in core.get("versions", []):
            found += self._resources("", version, f"/api/{version}")
        groups = self.get_json("/apis")
        for group in groups.get("groups", []):
            preferred = (group.get("preferredVersion") or {}).get("version")
            if not preferred and group.get("versions"):
                preferred = group["versions"][0]["version"]
            if preferred:
                name = group["name"]
                try:
                    found += self._resources(name, preferred, f"/apis/{name}/{preferred}")
                except KubeError as exc:
                    # An aggregated API that is down must not stop the others from recording.
                    if exc.status in (None, 503, 404):
                        continue
                    raise
        return found

    def _resources(self, group: str, version: str, path: str) -> list[ResourceType]:
        listing = self.get_json(path)
        out = []
        for res in listing.get("resources", []):
            verbs = set(res.get("verbs") or [])
            if "/" in res["name"] or not {"list", "watch"} <= verbs:
                continue
            out.append(
                ResourceType(
                    group=group,
                    version=version,
                    plural=res["name"],
                    kind=res["kind"],
                    namespaced=bool(res.get("namespaced")),
                )
            )
        return out

    def list_pages(
        self, rtype: ResourceType, namespace: str | None = None, *, limit: int = 500
    ) -> Iterator[tuple[list[dict[str, Any]], str]]:
        """Yield (items, list resourceVersion) page by page; items get kind/apiVersion back."""
        token: str | None = None
        while True:
            query: dict[str, Any] = {"limit": limit}
            if token:
                query["continue"] = token
            page = self.get_json(rtype.path(namespace), query)
            items = page.get("items") or []
            for item in items:
                item.setdefault("kind", rtype.kind)
                item.setdefault("apiVersion", rtype.api_version)
            meta = page.get("metadata") or {}
            yield items, str(meta.get("resourceVersion") or "")
            token = meta.get("continue")
            if not token:
                return

    def current_version(self, rtype: ResourceType, namespace: str | None = None) -> str:
        """The server's resourceVersion now ("" when it gives none): a list of at most one
        object without a resourceVersion is a consistent read, so every change at or
        before the version it names has been made by the time it answers."""
        page = self.get_json(rtype.path(namespace), {"limit": 1})
        return str((page.get("metadata") or {}).get("resourceVersion") or "")

    def watch(
        self,
        rtype: ResourceType,
        resource_version: str,
        namespace: str | None = None,
        *,
        timeout_seconds: int = 300,
        opened: Callable[[], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Raw watch events from ``resource_version``, with bookmarks; ``opened`` is called
        once the server has accepted the watch, before its first event.

        Ends when the server closes the stream; raises KubeError when the connection
        breaks or stays silent longer than the read timeout, Expired on 410.
        """
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        response = self._open(rtype.path(namespace), query, timeout=(10, self.read_timeout))
        try:
            if opened is not None:
                opened()
            for line in _lines(response):
                event = orjson.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    code = status.get("code")
                    message = f"watch {rtype.name}: {code} {status.get('message', '')}"
                    if code == 410:
                        raise Expired(message, 410)
                    raise KubeError(message, code)
                yield event
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(f"watch {rtype.name}: connection lost ({exc})") from None
        except orjson.JSONDecodeError as exc:
            raise KubeError(f"watch {rtype.name}: invalid JSON in stream ({exc})") from None
        finally:
            response.release_conn()


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    pending = b""
    for chunk in response.stream(65536, decode_content=True):
        pending += chunk
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                break
            line, pending = pending[:cut], pending[cut + 1 :]
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _status_message(body: bytes | None) -> str | None:
    if not body:
        return None
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return str(status.get("message")) if isinstance(status, dict) else None

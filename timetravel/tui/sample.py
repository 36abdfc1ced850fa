"""A small, realistic recorded week, for the screen's tests and screenshots.

Built through the real ingest path (``import_events``: kubectl watch events), never by hand
written SQL. One cluster ``prod``; namespaces payments, checkout, frontend and monitoring;
Deployments, ConfigMaps, Services and Secrets; image rollouts, an autoscaler, a Thursday
evening incident with a ``kubectl edit`` and a ``kubectl scale``, a deleted Deployment and
a recorder gap. The clock is frozen at :data:`SAMPLE_NOW`.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from timetravel.domain.model import Gap
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.ingest import import_events
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter

SAMPLE_NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
INCIDENT = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)
_START = datetime(2026, 11, 13, 8, 0, tzinfo=UTC)
REGISTRY = "registry.example.com"


class _Cluster:
    """Objects as the API server holds them, and the watch events their changes make."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.rv = 1000

    def _emit(self, kind: str, obj: dict[str, Any], at: datetime) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append(
            {"type": kind, "object": copy.deepcopy(obj), "observed_at": to_rfc3339(at)}
        )

    def create(self, obj: dict[str, Any], at: datetime, manager: str = "argocd-controller") -> None:
        meta = obj["metadata"]
        meta["uid"] = f"uid-{meta['namespace']}-{meta['name']}"
        meta["creationTimestamp"] = to_rfc3339(at)
        meta["generation"] = 1
        meta["managedFields"] = [_entry(manager, "Apply", at)]
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj
        self._emit("ADDED", obj, at)

    def change(
        self,
        kind: str,
        namespace: str,
        name: str,
        at: datetime,
        manager: str,
        edit: Any,
        *,
        status_only: bool = False,
    ) -> None:
        obj = self.objects[(kind, namespace, name)]
        edit(obj)
        meta = obj["metadata"]
        if not status_only:
            meta["generation"] = int(meta.get("generation", 1)) + 1
        operation = "Update" if manager.startswith("kubectl") or status_only else "Apply"
        entries = [e for e in meta["managedFields"] if e["manager"] != manager]
        meta["managedFields"] = [*entries, _entry(manager, operation, at, status_only)]
        self._emit("MODIFIED", obj, at)

    def delete(self, kind: str, namespace: str, name: str, at: datetime) -> None:
        obj = self.objects.pop((kind, namespace, name))
        self._emit("DELETED", obj, at)


def _entry(manager: str, operation: str, at: datetime, status: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {"f:status": {}} if status else {"f:spec": {}}
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "apps/v1",
        "time": to_rfc3339(at),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        **({"subresource": "status"} if status else {}),
    }


def _deployment(namespace: str, name: str, image: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": namespace},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": f"{REGISTRY}/{namespace}/{name}:{image}",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                        }
                    ]
                },
            },
        },
        "status": {"replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas},
    }


def _configmap(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": dict(data),
    }


def _service(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def _secret(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace},
        "data": dict(data),
    }


def _set_image(tag: str) -> Any:
    def edit(obj: dict[str, Any]) -> None:
        container = obj["spec"]["template"]["spec"]["containers"][0]
        container["image"] = container["image"].rsplit(":", 1)[0] + ":" + tag

    return edit


def _set_replicas(count: int) -> Any:
    def edit(obj: dict[str, Any]) -> None:
        obj["spec"]["replicas"] = count

    return edit


def _set_ready(count: int) -> Any:
    def edit(obj: dict[str, Any]) -> None:
        obj["status"] = {"replicas": count, "readyReplicas": count, "updatedReplicas": count}

    return edit


def _add_env(name: str, value: str) -> Any:
    def edit(obj: dict[str, Any]) -> None:
        env = obj["spec"]["template"]["spec"]["containers"][0]["env"]
        env.append({"name": name, "value": value})

    return edit


def _set_data(key: str, value: str) -> Any:
    def edit(obj: dict[str, Any]) -> None:
        obj["data"][key] = value

    return edit


def sample_events() -> list[dict[str, Any]]:
    """The week's watch events, oldest first."""
    c = _Cluster()
    t = _START
    for ns, deploys in {
        "payments": [("api", "1.4.0", 3), ("worker", "1.4.0", 2)],
        "checkout": [("checkout", "2.11.3", 3), ("cart", "2.11.3", 3)],
        "frontend": [("web", "5.2.0", 4), ("legacy-banner", "0.9.1", 1)],
        "monitoring": [("grafana", "11.2.0", 1), ("prometheus", "2.54.1", 1)],
    }.items():
        for name, image, replicas in deploys:
            c.create(_deployment(ns, name, image, replicas), t)
            if name not in ("worker", "legacy-banner", "prometheus"):
                c.create(_service(ns, name), t)
            t += timedelta(seconds=20)
        t += timedelta(minutes=1)
    c.create(_configmap("payments", "api-config", {"TIMEOUT_MS": "800", "RETRIES": "2"}), t)
    c.create(_configmap("checkout", "checkout-flags", {"new_cart": "false"}), t)
    c.create(_configmap("frontend", "web-config", {"THEME": "autumn"}), t)
    c.create(_configmap("monitoring", "prometheus-rules", {"rules.yaml": "groups: []"}), t)
    c.create(_secret("payments", "db-credentials", {"password": "aHVudGVyMg=="}), t)
    c.create(_secret("checkout", "stripe-key", {"key": "c2tfbGl2ZV94eHg="}), t)

    day = _START.replace(hour=0)
    for n in range(1, 7):
        d = day + timedelta(days=n)
        # The autoscaler breathes with the day's traffic.
        c.change(
            "Deployment",
            "checkout",
            "cart",
            d + timedelta(hours=9),
            "kube-controller-manager",
            _set_replicas(5),
        )
        c.change(
            "Deployment",
            "checkout",
            "cart",
            d + timedelta(hours=9, minutes=2),
            "kube-controller-manager",
            _set_ready(5),
            status_only=True,
        )
        c.change(
            "Deployment",
            "checkout",
            "cart",
            d + timedelta(hours=19),
            "kube-controller-manager",
            _set_replicas(3),
        )
        c.change(
            "Deployment",
            "checkout",
            "cart",
            d + timedelta(hours=19, minutes=1),
            "kube-controller-manager",
            _set_ready(3),
            status_only=True,
        )
        c.change(
            "ConfigMap",
            "monitoring",
            "prometheus-rules",
            d + timedelta(hours=6),
            "argocd-controller",
            _set_data("rules.yaml", f"groups: [] # rev {n}"),
        )

    # Monday: secret rotation by the pipeline; Tuesday: payments 1.5.0 goes out via Argo CD.
    c.change(
        "Secret",
        "payments",
        "db-credentials",
        datetime(2026, 11, 16, 10, 5, tzinfo=UTC),
        "argocd-controller",
        _set_data("password", "czNjcjN0LW5ldw=="),
    )
    for name in ("api", "worker"):
        at = datetime(2026, 11, 17, 14, 0, tzinfo=UTC) + timedelta(
            minutes=3 if name == "worker" else 0
        )
        c.change("Deployment", "payments", name, at, "argocd-controller", _set_image("1.5.0"))
        c.change(
            "Deployment",
            "payments",
            name,
            at + timedelta(minutes=2),
            "kube-controller-manager",
            _set_ready(3 if name == "api" else 2),
            status_only=True,
        )
    # Wednesday: the banner is retired; checkout flips a flag.
    c.delete("Deployment", "frontend", "legacy-banner", datetime(2026, 11, 18, 10, 0, tzinfo=UTC))
    c.change(
        "ConfigMap",
        "checkout",
        "checkout-flags",
        datetime(2026, 11, 18, 15, 30, tzinfo=UTC),
        "argocd-controller",
        _set_data("new_cart", "true"),
    )
    # Thursday evening: a rollout, an incident, a hand edit and a hand scale.
    c.change(
        "Deployment",
        "payments",
        "api",
        datetime(2026, 11, 19, 21, 12, tzinfo=UTC),
        "argocd-controller",
        _set_image("1.5.1"),
    )
    c.change(
        "Deployment",
        "payments",
        "api",
        datetime(2026, 11, 19, 21, 14, tzinfo=UTC),
        "kube-controller-manager",
        _set_ready(1),
        status_only=True,
    )
    c.change(
        "Deployment",
        "payments",
        "api",
        datetime(2026, 11, 19, 21, 25, tzinfo=UTC),
        "kubectl-edit",
        _add_env("DB_POOL_SIZE", "50"),
    )
    c.change(
        "Deployment",
        "checkout",
        "checkout",
        datetime(2026, 11, 19, 21, 41, tzinfo=UTC),
        "kubectl-scale",
        _set_replicas(6),
    )
    c.change(
        "Deployment",
        "payments",
        "api",
        datetime(2026, 11, 19, 21, 44, tzinfo=UTC),
        "kube-controller-manager",
        _set_ready(3),
        status_only=True,
    )
    c.change(
        "ConfigMap",
        "payments",
        "api-config",
        datetime(2026, 11, 19, 22, 5, tzinfo=UTC),
        "kubectl-client-side-apply",
        _set_data("TIMEOUT_MS", "2000"),
    )
    c.change(
        "Deployment",
        "frontend",
        "web",
        datetime(2026, 11, 20, 8, 30, tzinfo=UTC),
        "argocd-controller",
        _set_image("5.3.0"),
    )
    return c.events


SAMPLE_GAP = Gap(
    cluster="prod",
    source="watch:prod",
    started_at=to_stored(datetime(2026, 11, 18, 2, 10, tzinfo=UTC)),
    ended_at=to_stored(datetime(2026, 11, 18, 2, 55, tzinfo=UTC)),
    reason="watch expired (410); relisted",
)


def build_sample_store(path: Path | str, events: list[dict[str, Any]] | None = None) -> Path:
    """Write the sample week into a new database at ``path``; returns the path."""
    import orjson

    db = open_database(path)
    lines = [orjson.dumps(e).decode() for e in (events or sample_events())]
    import_events(db, lines, cluster="prod", clock=lambda: SAMPLE_NOW)
    RevisionWriter(db).record_gap(SAMPLE_GAP)
    db.conn.close()
    return Path(path)

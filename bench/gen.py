"""Seeded generators of realistic Kubernetes objects and change streams.

Objects look like what the API server returns (bookkeeping, managedFields, status), sized
like real ones: a Deployment is ~3 KB of JSON, a Pod ~3 KB, a ConfigMap ~1 KB, an Event
~0.8 KB. Everything is driven by a ``random.Random(seed)`` so runs are reproducible.

Objects are built fresh per version (no deep copies), so generating a million of them is
cheap next to writing them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 1, 0, 0, 0, tzinfo=UTC)
TEAMS = ("payments", "checkout", "search", "identity", "catalog", "billing", "orders", "ml")
MANAGERS_SPEC = ("argocd-controller", "kubectl-edit", "helm", "kubectl-client-side-apply")


def ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def namespaces(n: int) -> list[str]:
    return [f"{TEAMS[i % len(TEAMS)]}-{i // len(TEAMS):02d}" for i in range(n)]


def _fields_spec() -> dict[str, Any]:
    return {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:team": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}},
            },
        },
    }


def _fields_status() -> dict[str, Any]:
    return {
        "f:status": {
            "f:availableReplicas": {},
            "f:conditions": {".": {}, 'k:{"type":"Available"}': {".": {}, "f:status": {}}},
            "f:observedGeneration": {},
            "f:readyReplicas": {},
            "f:replicas": {},
            "f:updatedReplicas": {},
        }
    }


@dataclass
class DeploymentState:
    namespace: str
    name: str
    uid: str
    image_tag: int = 1
    replicas: int = 3
    ready: int = 3
    generation: int = 1
    spec_manager: str = "argocd-controller"
    spec_time: datetime = T0
    status_time: datetime = T0
    log_level: str = "info"


def deployment(s: DeploymentState, rv: int) -> dict[str, Any]:
    """A Deployment as the API server returns it: ~3 KB of JSON."""
    app = s.name
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": app,
            "namespace": s.namespace,
            "uid": s.uid,
            "resourceVersion": str(rv),
            "generation": s.generation,
            "creationTimestamp": ts(T0),
            "labels": {
                "app": app,
                "team": s.namespace.split("-")[0],
                "app.kubernetes.io/part-of": s.namespace,
            },
            "annotations": {
                "deployment.kubernetes.io/revision": str(s.image_tag),
                "argocd.argoproj.io/tracking-id": (
                    f"{s.namespace}:apps/Deployment:{s.namespace}/{app}"
                ),
            },
            "managedFields": [
                {
                    "manager": s.spec_manager,
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": ts(s.spec_time),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": _fields_spec(),
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": ts(s.status_time),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": _fields_status(),
                    "subresource": "status",
                },
            ],
        },
        "spec": {
            "replicas": s.replicas,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": app}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": app, "team": s.namespace.split("-")[0]}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example.com/{s.namespace}/{app}:1.{s.image_tag}.0",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                            "env": [
                                {"name": "LOG_LEVEL", "value": s.log_level},
                                {"name": "SERVICE_NAME", "value": app},
                                {
                                    "name": "OTEL_EXPORTER_OTLP_ENDPOINT",
                                    "value": "http://otel:4317",
                                },
                            ],
                            "resources": {
                                "limits": {"cpu": "500m", "memory": "512Mi"},
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                                "periodSeconds": 10,
                                "timeoutSeconds": 1,
                                "successThreshold": 1,
                                "failureThreshold": 3,
                            },
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": f"{app}-config"}}],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                },
            },
        },
        "status": {
            "observedGeneration": s.generation,
            "replicas": s.replicas,
            "updatedReplicas": s.replicas,
            "readyReplicas": s.ready,
            "availableReplicas": s.ready,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if s.ready >= s.replicas else "False",
                    "lastUpdateTime": ts(s.status_time),
                    "lastTransitionTime": ts(s.status_time),
                    "reason": "MinimumReplicasAvailable"
                    if s.ready >= s.replicas
                    else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability."
                    if s.ready >= s.replicas
                    else "Deployment does not have minimum availability.",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "lastUpdateTime": ts(s.status_time),
                    "lastTransitionTime": ts(s.spec_time),
                    "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{app}-{s.image_tag:08x}" has successfully progressed.',
                },
            ],
        },
    }


@dataclass
class ConfigMapState:
    namespace: str
    name: str
    uid: str
    version: int = 1
    time: datetime = T0


def configmap(s: ConfigMapState, rv: int) -> dict[str, Any]:
    """A ConfigMap: ~1 KB."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": s.name,
            "namespace": s.namespace,
            "uid": s.uid,
            "resourceVersion": str(rv),
            "creationTimestamp": ts(T0),
            "labels": {"app": s.name.removesuffix("-config")},
            "managedFields": [
                {
                    "manager": "argocd-controller",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": ts(s.time),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {".": {}, "f:app.yaml": {}, "f:FEATURE_FLAGS": {}}},
                }
            ],
        },
        "data": {
            "FEATURE_FLAGS": f"checkout-v2={'on' if s.version % 2 else 'off'},fast-path=on",
            "app.yaml": (
                "server:\n  port: 8080\n  timeout: 30s\n"
                f"cache:\n  ttl: {60 * s.version}s\n  size: 1024\n"
                "database:\n  pool: 20\n  host: db.internal\n"
                f"limits:\n  rps: {100 + s.version}\n  burst: 50\n"
                "logging:\n  format: json\n  sampling: 0.1\n"
            ),
        },
    }


@dataclass
class PodState:
    namespace: str
    name: str
    uid: str
    owner: str
    node: int
    restarts: int = 0
    ready: bool = True
    time: datetime = T0
    ip: str = "10.0.0.1"


def pod(s: PodState, rv: int) -> dict[str, Any]:
    """A Pod with status: ~3 KB."""
    cond_time = ts(s.time)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": s.name,
            "namespace": s.namespace,
            "uid": s.uid,
            "resourceVersion": str(rv),
            "creationTimestamp": ts(T0),
            "generateName": s.name.rsplit("-", 1)[0] + "-",
            "labels": {"app": s.owner, "pod-template-hash": "5d9c7b8f6d"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{s.owner}-5d9c7b8f6d",
                    "uid": f"rs-{s.owner}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": ts(T0),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {}, "f:ownerReferences": {}}},
                },
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": cond_time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}}},
                    "subresource": "status",
                },
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": f"registry.example.com/{s.namespace}/{s.owner}:1.1.0",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}],
                    "resources": {
                        "limits": {"cpu": "500m", "memory": "512Mi"},
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                    },
                    "volumeMounts": [
                        {
                            "name": "kube-api-access",
                            "readOnly": True,
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        }
                    ],
                    "terminationMessagePath": "/dev/termination-log",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "volumes": [
                {
                    "name": "kube-api-access",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt"}},
                        ],
                    },
                }
            ],
            "nodeName": f"node-{s.node:03d}",
            "serviceAccountName": "default",
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "priority": 0,
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": f"192.168.{s.node // 250}.{s.node % 250}",
            "podIP": s.ip,
            "podIPs": [{"ip": s.ip}],
            "qosClass": "Burstable",
            "startTime": ts(T0),
            "conditions": [
                {
                    "type": t,
                    "status": "True" if s.ready or t == "PodScheduled" else "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": cond_time,
                }
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": s.ready,
                    "started": s.ready,
                    "restartCount": s.restarts,
                    "image": f"registry.example.com/{s.namespace}/{s.owner}:1.1.0",
                    "imageID": "registry.example.com/app@sha256:" + "ab" * 32,
                    "containerID": f"containerd://{s.uid.replace('-', '')}{s.restarts:04d}",
                    "state": {"running": {"startedAt": cond_time}}
                    if s.ready
                    else {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {}
                    if not s.restarts
                    else {"terminated": {"exitCode": 1, "reason": "Error"}},
                }
            ],
        },
    }


def event(
    namespace: str,
    name: str,
    uid: str,
    rv: int,
    involved: str,
    count: int,
    first: datetime,
    last: datetime,
    reason: str,
    message: str,
) -> dict[str, Any]:
    """A core/v1 Event: ~0.8 KB."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": str(rv),
            "creationTimestamp": ts(first),
        },
        "involvedObject": {
            "kind": "Pod",
            "namespace": namespace,
            "name": involved,
            "uid": f"uid-{involved}",
            "apiVersion": "v1",
            "fieldPath": "spec.containers{app}",
        },
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "node-001"},
        "firstTimestamp": ts(first),
        "lastTimestamp": ts(last),
        "count": count,
        "type": "Warning" if reason in ("BackOff", "Unhealthy") else "Normal",
        "reportingComponent": "kubelet",
        "reportingInstance": "node-001",
    }


# --- streams ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One watch event of a generated stream."""

    event: str  # ADDED / MODIFIED / DELETED
    obj: dict[str, Any]
    at: datetime


class Cluster:
    """A seeded cluster whose objects change over time: the source of every stream.

    ``live`` objects are kept as mutable states; each step picks a kind by weight and
    changes one object the way controllers and people do (status churn mostly).
    """

    def __init__(
        self,
        seed: int,
        *,
        deployments: int,
        configmaps: int,
        pods: int,
        namespaces_count: int = 50,
        start: datetime = T0,
    ) -> None:
        self.rnd = random.Random(seed)
        self.ns = namespaces(namespaces_count)
        self.rv = 1000
        self.now = start
        self._uid = 0
        self.deployments = [
            DeploymentState(self.ns[i % len(self.ns)], f"app-{i:05d}", self.uid())
            for i in range(deployments)
        ]
        self.configmaps = [
            ConfigMapState(self.ns[i % len(self.ns)], f"app-{i:05d}-config", self.uid())
            for i in range(configmaps)
        ]
        self.pods: list[PodState] = []
        self._pod_seq = 0
        for i in range(pods):
            self.pods.append(self._new_pod(i))
        self._event_seq = 0
        self.events: list[tuple[str, str, str, str, int, datetime, str, str]] = []

    def uid(self) -> str:
        self._uid += 1
        return f"{self._uid:08x}-0000-4000-8000-{self.rnd.getrandbits(48):012x}"

    def _new_pod(self, i: int) -> PodState:
        owner = self.deployments[i % len(self.deployments)] if self.deployments else None
        ns = owner.namespace if owner else self.ns[i % len(self.ns)]
        owner_name = owner.name if owner else f"app-{i:05d}"
        self._pod_seq += 1
        uid = self.uid()
        node = self.rnd.randrange(200)  # the draws in this order: the stream is seeded
        a, b, c = self.rnd.randrange(256), self.rnd.randrange(256), self.rnd.randrange(1, 255)
        return PodState(
            ns,
            f"{owner_name}-5d9c7b8f6d-{self._pod_seq:05x}",
            uid,
            owner_name,
            node=node,
            time=self.now,
            ip=f"10.{a}.{b}.{c}",
        )

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def initial(self) -> Iterator[Change]:
        """ADDED for every object (an initial list)."""
        for d in self.deployments:
            yield Change("ADDED", deployment(d, self.next_rv()), self.now)
        for c in self.configmaps:
            yield Change("ADDED", configmap(c, self.next_rv()), self.now)
        for p in self.pods:
            yield Change("ADDED", pod(p, self.next_rv()), self.now)

    def step(self, *, mix: dict[str, float], dt: timedelta) -> list[Change]:
        """Changes of one kind drawn from ``mix`` (keys: deploy_status, deploy_spec,
        configmap, pod_status, pod_replace, event): one change, two for a pod replaced."""
        return self._step(mix, dt)

    def _step(self, mix: dict[str, float], dt: timedelta) -> list[Change]:
        self.now += dt
        rnd = self.rnd
        what = rnd.choices(list(mix), weights=list(mix.values()))[0]
        if what == "deploy_status" and self.deployments:
            d = rnd.choice(self.deployments)
            d.status_time = self.now
            d.ready = d.replicas if d.ready < d.replicas else max(0, d.replicas - rnd.randint(1, 2))
            return [Change("MODIFIED", deployment(d, self.next_rv()), self.now)]
        if what == "deploy_spec" and self.deployments:
            d = rnd.choice(self.deployments)
            d.spec_time = d.status_time = self.now
            d.spec_manager = rnd.choice(MANAGERS_SPEC)
            r = rnd.random()
            if r < 0.6:
                d.image_tag += 1
            elif r < 0.85:
                d.replicas = rnd.randint(2, 8)
            else:
                d.log_level = rnd.choice(("info", "debug", "warn"))
            d.generation += 1
            return [Change("MODIFIED", deployment(d, self.next_rv()), self.now)]
        if what == "configmap" and self.configmaps:
            c = rnd.choice(self.configmaps)
            c.version += 1
            c.time = self.now
            return [Change("MODIFIED", configmap(c, self.next_rv()), self.now)]
        if what == "pod_replace" and self.pods:
            # A pod replaced by its ReplicaSet: the old one goes, a new one (new name) comes.
            i = rnd.randrange(len(self.pods))
            old = self.pods[i]
            self.pods[i] = new = self._new_pod(i)
            return [
                Change("DELETED", pod(old, self.next_rv()), self.now),
                Change("ADDED", pod(new, self.next_rv()), self.now),
            ]
        if what == "event":
            return [self._event()]
        # pod_status (and the fallback)
        p = rnd.choice(self.pods)
        p.time = self.now
        if rnd.random() < 0.3:
            p.restarts += 1
        p.ready = rnd.random() < 0.85
        return [Change("MODIFIED", pod(p, self.next_rv()), self.now)]

    def _event(self) -> Change:
        rnd = self.rnd
        if self.events and rnd.random() < 0.6:
            # A repeat of a recent event: the count goes up (MODIFIED).
            i = rnd.randrange(max(0, len(self.events) - 50), len(self.events))
            ns, name, uid, involved, count, first, reason, message = self.events[i]
            count += 1
            self.events[i] = (ns, name, uid, involved, count, first, reason, message)
            return Change(
                "MODIFIED",
                event(
                    ns, name, uid, self.next_rv(), involved, count, first, self.now, reason, message
                ),
                self.now,
            )
        p = rnd.choice(self.pods)
        reason, message = rnd.choice(
            (
                ("BackOff", "Back-off restarting failed container app in pod"),
                ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
                ("Pulled", "Container image already present on machine"),
                ("Scheduled", f"Successfully assigned {p.namespace}/{p.name} to node-001"),
            )
        )
        self._event_seq += 1
        name = f"{p.name}.{self._event_seq:016x}"
        rec = (p.namespace, name, self.uid(), p.name, 1, self.now, reason, message)
        self.events.append(rec)
        if len(self.events) > 500:
            del self.events[:250]
        return Change(
            "ADDED",
            event(
                p.namespace,
                name,
                rec[2],
                self.next_rv(),
                p.name,
                1,
                self.now,
                self.now,
                reason,
                message,
            ),
            self.now,
        )


# The mix a production cluster's watch stream has (share of events): mostly status churn.
REALISTIC_MIX = {
    "deploy_status": 0.25,
    "deploy_spec": 0.05,
    "configmap": 0.04,
    "pod_status": 0.30,
    "pod_replace": 0.08,
    "event": 0.28,
}

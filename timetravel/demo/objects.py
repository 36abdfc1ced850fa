"""Objects of the demo environment, and managedFields the way the API server keeps them."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

REGISTRY = "registry.example.com"


def fields_v1(*paths: str) -> dict[str, Any]:
    """A FieldsV1 trie for dotted paths with named list items (``containers[api].image``)."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for part in path.split("."):
            name, _, item = part.partition("[")
            node = node.setdefault(f"f:{name}", {})
            if item:
                key = "k:" + json.dumps({"name": item.rstrip("]")}, separators=(",", ":"))
                node = node.setdefault(key, {".": {}})
    return root


class Live:
    """One live object: its content and its field managers, changed like a server would."""

    def __init__(self, obj: dict[str, Any], uid: str) -> None:
        self.obj = copy.deepcopy(obj)
        self.obj["metadata"]["uid"] = uid
        self.rv = 0
        self.managed: dict[tuple[str, str, str], dict[str, Any]] = {}

    def write(
        self,
        rv: int,
        at: str,
        manager: str,
        paths: tuple[str, ...],
        *,
        operation: str = "Update",
        subresource: str = "",
    ) -> dict[str, Any]:
        """Record that ``manager`` set ``paths`` at ``at``; returns the object as served."""
        self.rv = rv
        key = (manager, operation, subresource)
        entry = self.managed.setdefault(
            key,
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": self.obj["apiVersion"],
                "fieldsType": "FieldsV1",
                "fieldsV1": {},
            },
        )
        if subresource:
            entry["subresource"] = subresource
        entry["time"] = at[:19] + "Z"
        _merge(entry["fieldsV1"], fields_v1(*paths))
        served = copy.deepcopy(self.obj)
        served["metadata"]["resourceVersion"] = str(rv)
        served["metadata"]["managedFields"] = copy.deepcopy(list(self.managed.values()))
        return served


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        _merge(into.setdefault(key, {}), value)


def deployment(
    namespace: str,
    name: str,
    image: str,
    replicas: int | None,
    *,
    env: dict[str, str] | None = None,
    port: int = 8080,
    cpu: str = "250m",
    memory: str = "256Mi",
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [container]},
        },
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": spec,
    }


def with_server_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """The Deployment as the API server stores it: defaults filled in (never drift)."""
    out = copy.deepcopy(obj)
    if out["kind"] != "Deployment":
        return out
    spec = out["spec"]
    spec.setdefault("replicas", 1)
    spec.update(progressDeadlineSeconds=600, revisionHistoryLimit=10)
    spec["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    pod = spec["template"]["spec"]
    pod.update(
        dnsPolicy="ClusterFirst",
        restartPolicy="Always",
        schedulerName="default-scheduler",
        securityContext={},
        terminationGracePeriodSeconds=30,
    )
    for container in pod["containers"]:
        container.update(
            terminationMessagePath="/dev/termination-log",
            terminationMessagePolicy="File",
            imagePullPolicy="IfNotPresent",
        )
    return out


def service(namespace: str, name: str, port: int = 80, target: int = 8080) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def configmap(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": dict(data),
    }


def hpa(namespace: str, name: str, low: int, high: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def application(name: str, path: str, destination: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example.com/platform/gitops.git",
                "path": path,
                "targetRevision": "main",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
            "syncPolicy": {"automated": {"selfHeal": name == "checkout", "prune": True}},
        },
    }


def image_digest(image: str) -> str:
    """The demo's registry digest of an image: made up, the same in every build of it."""
    return "sha256:" + hashlib.sha256(f"demo-image:{image}".encode()).hexdigest()


def pod(
    namespace: str,
    name: str,
    container: str,
    image: str,
    *,
    app: str,
    replicaset: str | None = None,
    template_hash: str | None = None,
) -> dict[str, Any]:
    """A Pod as its ReplicaSet creates it (or a bare one, ``kubectl run``): pending."""
    labels = {"app": app}
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if replicaset is not None and template_hash is not None:
        labels["pod-template-hash"] = template_hash
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": replicaset,
                "uid": f"5e1a-demo-{replicaset}",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": [{"name": container, "image": image}],
            "nodeName": "node-pool-a-" + str(sum(map(ord, name)) % 3 + 1),
            "restartPolicy": "Always",
        },
        "status": {"phase": "Pending"},
    }


def pod_running(container: str, image: str, started: str) -> dict[str, Any]:
    """The kubelet's status of a Pod whose container runs ``image`` (containerd's imageID:
    the repository and the manifest digest)."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": container,
                "image": image,
                "imageID": f"{repository}@{image_digest(image)}",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": started}},
            }
        ],
    }


def pod_waiting(container: str, image: str, reason: str, message: str) -> dict[str, Any]:
    """The kubelet's status of a Pod whose image cannot be pulled: no imageID."""
    return {
        "phase": "Pending",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {
                "name": container,
                "image": image,
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": reason, "message": message}},
            }
        ],
    }

"""Which workload a Pod belongs to, through its owner references.

A Deployment's Pods are owned by a ReplicaSet, which the Deployment owns; a CronJob's by a
Job; a StatefulSet's and a DaemonSet's directly. The chain is followed through the owners'
own recorded objects; where a ReplicaSet was not recorded (a recorder limited to some
kinds), its Deployment is still known from the name, which the Deployment controller makes
``<deployment>-<pod-template-hash>`` (the Pod carries the hash as a label).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# The kinds an operator asks about; a Pod owned by none of these is its own workload.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet")
# (kind, API group) of each kind an owner reference can name here.
GROUPS = {
    "Deployment": "apps",
    "ReplicaSet": "apps",
    "StatefulSet": "apps",
    "DaemonSet": "apps",
    "Job": "batch",
    "CronJob": "batch",
    "Pod": "",
}

Lookup = Callable[[str, str], Mapping[str, Any] | None]  # (kind, name) in the Pod's namespace


def controller_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the object's controlling owner (``controller: true``), else of its
    only owner; None for an object nothing owns."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    refs = [r for r in refs if isinstance(r, dict) and r.get("kind") and r.get("name")]
    chosen = [r for r in refs if r.get("controller")] or (refs if len(refs) == 1 else [])
    if not chosen:
        return None
    return str(chosen[0]["kind"]), str(chosen[0]["name"])


def workload_of(pod: Mapping[str, Any], lookup: Lookup) -> tuple[str, str]:
    """(kind, name) of the workload a Pod runs for; the Pod itself when nothing owns it."""
    meta = pod.get("metadata") or {}
    current: tuple[str, str] = ("Pod", str(meta.get("name", "")))
    owner = controller_of(pod)
    seen = 0
    while owner is not None and owner[0] in GROUPS and seen < 4:
        current = owner
        seen += 1
        kind, name = owner
        if kind == "ReplicaSet":
            found = lookup(kind, name)
            if found is None:
                inferred = _deployment_from_name(name, meta)
                return ("Deployment", inferred) if inferred else current
            owner = controller_of(found)
        elif kind == "Job":
            found = lookup(kind, name)
            owner = controller_of(found) if found is not None else None
        else:
            break
    return current


def _deployment_from_name(replicaset: str, pod_meta: Mapping[str, Any]) -> str | None:
    template_hash = ((pod_meta.get("labels") or {}).get("pod-template-hash")) or ""
    suffix = f"-{template_hash}"
    if template_hash and replicaset.endswith(suffix) and len(replicaset) > len(suffix):
        return replicaset[: -len(suffix)]
    return None

"""Which declared objects belong to a cluster, and which are some tool's configuration.

A GitOps repository holds YAML with ``apiVersion`` and ``kind`` that no API server serves:
``skaffold.yaml`` (``skaffold/v4beta11``), a kind cluster config (``kind.x-k8s.io``), a kpt or
kustomize function config, a kubeadm or kubelet configuration, a kubeconfig. Taken for desired
state they would show as "missing" forever. An object is a cluster object when its API group is

1. one the recorded cluster serves (when the caller knows them: it wins over the rest), or
2. not a tool's: not in :data:`TOOL_GROUPS`, not a group without a dot other than the built-in
   ones (``apps``, ``batch``, ``policy``, ``autoscaling``, ``extensions``: a
   CustomResourceDefinition's group must contain a dot, so no cluster can serve ``skaffold``),
   and, in the core group, of version ``v1`` and not a kubeconfig (``v1 Config``).

Everything else is skipped with a reason (:func:`tool_reason`), never dropped silently.
A custom resource whose CRD the cluster lacks stays desired: that is drift worth seeing.

Pure: groups arrive as strings.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

# Built-in groups without a dot; every other group of a real API is a DNS name with a dot.
DOTLESS_GROUPS = frozenset({"", "apps", "batch", "policy", "autoscaling", "extensions"})

# Groups (and group suffixes, after a dot) of tools' own configuration files: read by a tool on
# a workstation or in CI, never applied to a cluster.
TOOL_GROUPS: dict[str, str] = {
    "kustomize.config.k8s.io": "kustomize",
    "config.kubernetes.io": "kustomize/kpt function",
    "kpt.dev": "kpt",
    "kind.x-k8s.io": "kind",
    "k3d.io": "k3d",
    "ctlptl.dev": "ctlptl",
    "eksctl.io": "eksctl",
    "kops.k8s.io": "kops",
    "kubeadm.k8s.io": "kubeadm",
    "kubelet.config.k8s.io": "kubelet",
    "kubeproxy.config.k8s.io": "kube-proxy",
    "kubescheduler.config.k8s.io": "kube-scheduler",
    "kubecontrollermanager.config.k8s.io": "kube-controller-manager",
    "apiserver.config.k8s.io": "kube-apiserver",
    "audit.k8s.io": "kube-apiserver audit policy",
    "kuttl.dev": "kuttl",
    "chainsaw.kyverno.io": "chainsaw",
    "cli.kyverno.io": "kyverno CLI",
    "krew.googlecontainertools.github.com": "krew",
    "skaffold": "skaffold",
}
# Core-group kinds that are files, not API objects.
CORE_TOOL_KINDS: dict[str, str] = {"Config": "kubeconfig"}


def api_group(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> ``("apps", "v1")``; ``v1`` -> ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def tool_reason(obj: dict[str, Any], served: Collection[str] = ()) -> str | None:
    """Why ``obj`` is a tool's configuration rather than a cluster object, or ``None`` when it
    is a cluster object. ``served`` holds API groups the recorded cluster serves."""
    api_version = str(obj.get("apiVersion", ""))
    kind = str(obj.get("kind", ""))
    group, version = api_group(api_version)
    if group in served:
        return None
    what = f"{api_version} {kind}"
    if group == "":
        if kind in CORE_TOOL_KINDS:
            return f"{what}: {CORE_TOOL_KINDS[kind]} file, not a cluster object"
        if version != "v1":
            return f"{what}: the core API has only v1; not a cluster object"
        return None
    tool = TOOL_GROUPS.get(group) or next(
        (name for suffix, name in TOOL_GROUPS.items() if group.endswith("." + suffix)), None
    )
    if tool is not None:
        return f"{what}: {tool} configuration, not a cluster object"
    if "." not in group and group not in DOTLESS_GROUPS:
        return f"{what}: no cluster serves API group {group!r} (a custom group has a dot)"
    return None

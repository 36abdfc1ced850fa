"""Default namespaces of declared objects, and the repository's ``timetravel.toml``.

An object without ``metadata.namespace`` gets one from, longest directory prefix of its source
path first: the caller's explicit defaults, ``[namespaces]`` in ``timetravel.toml`` at the
repository root, an Argo CD Application's destination for its source path
(:mod:`timetravel.domain.argocd`); else ``default``. On equal prefixes the layers win in that
order. Cluster-scoped kinds get none: the built-in ones, and kinds that a
CustomResourceDefinition of the same commit declares ``scope: Cluster``.

``timetravel.toml`` at the repository root (read at each commit, so it changes with history)::

    [namespaces]            # default namespace by directory
    "apps/web" = "web"

    [desired]               # which declaration a cluster follows when several differ
    path = "kustomize"      # every cluster (a list is an order of preference)
    [desired.clusters]
    prod = "kustomize/overlays/prod"
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from timetravel.domain.manifests import is_cluster_scoped
from timetravel.domain.repopaths import ancestors, as_directory

CONFIG_FILE = "timetravel.toml"
DEFAULT_NAMESPACE = "default"
# Kinds whose objects decide other objects' namespaces.
NAMESPACING_KINDS = ("Application", "CustomResourceDefinition")


def config_namespaces(data: bytes) -> tuple[dict[str, str], str | None]:
    """``[namespaces]`` of a timetravel.toml as ``{directory: namespace}``, or nothing and why
    (one line)."""
    try:
        config = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"not read: {exc}"
    table = config.get("namespaces", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) and v for v in table.values()):
        return {}, "[namespaces] must map directories to namespace names"
    return {as_directory(prefix): namespace for prefix, namespace in table.items()}, None


def config_paths(data: bytes, cluster: str | None) -> tuple[tuple[str, ...], str, str | None]:
    """The paths ``[desired]`` of a timetravel.toml prefers for ``cluster``, in order, the
    cluster they were given for (``""``: every cluster), and why they could not be read."""
    try:
        config = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return (), "", f"not read: {exc}"
    table = config.get("desired", {})
    if not isinstance(table, dict):
        return (), "", "[desired] must be a table"
    clusters = table.get("clusters", {})
    if not isinstance(clusters, dict):
        return (), "", "[desired.clusters] must map cluster names to paths"
    given = ((clusters.get(cluster) if cluster else None, cluster), (table.get("path"), ""))
    for value, whom in given:
        if value is None:
            continue
        paths = [value] if isinstance(value, str) else value
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return (), "", "[desired] paths must be a path or a list of paths"
        return tuple(as_directory(p) for p in paths), whom or "", None
    return (), "", None


class NamespaceDefaults:
    """Default namespace by longest directory prefix; of layers given the same prefix, the
    last one given wins."""

    def __init__(self, *layers: Mapping[str, str]) -> None:
        self._by_prefix: dict[str, str] = {}
        for layer in layers:
            self._by_prefix.update(layer)
        # Equal keys mean equal answers: a caller can keep one instance per key.
        self.key = frozenset(self._by_prefix.items())
        self._found: dict[str, str] = {}  # path -> namespace, for paths looked up before

    def lookup(self, path: str) -> str:
        """The default namespace of objects declared at ``path`` (a file or a directory)."""
        if (found := self._found.get(path)) is None:
            found = self._found[path] = self._longest_prefix(path)
        return found

    def _longest_prefix(self, path: str) -> str:
        if path in self._by_prefix:
            return self._by_prefix[path]
        for ancestor in ancestors(path):
            if ancestor in self._by_prefix:
                return self._by_prefix[ancestor]
        return DEFAULT_NAMESPACE


def with_namespace(
    obj: dict[str, Any], path: str, namespaces: NamespaceDefaults, cluster_kinds: frozenset[str]
) -> dict[str, Any]:
    """``obj`` with its default namespace when it needs one; else ``obj`` itself. Never changes
    ``obj``: a copy carries the namespace."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and metadata.get("namespace"):
        return obj
    kind = str(obj.get("kind", ""))
    if is_cluster_scoped(kind) or kind in cluster_kinds:
        return obj
    # A shallow copy: the original is shared through the parse and render caches.
    copied = dict(obj)
    copied["metadata"] = {**(metadata or {}), "namespace": namespaces.lookup(path)}
    return copied


def namespacing(objects: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The objects that decide other objects' namespaces (Argo CD Applications, CRDs)."""
    return tuple(obj for obj in objects if obj.get("kind") in NAMESPACING_KINDS)


def cluster_scoped_crd_kinds(objects: Iterable[dict[str, Any]]) -> set[str]:
    """Kinds that the given CustomResourceDefinitions declare cluster-scoped (other objects are
    ignored)."""
    kinds: set[str] = set()
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("scope") == "Cluster":
            names = spec.get("names")
            if isinstance(names, dict) and isinstance(names.get("kind"), str):
                kinds.add(names["kind"])
    return kinds

"""Argo CD Applications declared in a repository: which of its directories they deploy, and into
which namespace.

An Application counts when it deploys from this repository: its source ``repoURL`` names one
of the clone's network remotes (``git@host:org/repo.git`` and ``https://host/org/repo`` are the
same), or the clone has no network remote to compare with, so any ``repoURL`` counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from timetravel.domain.repopaths import as_directory

# (API group, kind) of an Argo CD Application, as the store files it.
APPLICATION = ("argoproj.io", "Application")


def application_namespaces(
    objects: Iterable[dict[str, Any]], remote_urls: set[str]
) -> dict[str, str]:
    """``{source path: destination namespace}`` of the Applications among ``objects`` that
    deploy a directory of this repository; on a path named twice the first one wins.
    ``remote_urls`` is :func:`comparable_remote_urls` of the clone's remotes."""
    found: dict[str, str] = {}
    for obj in objects:
        if obj.get("kind") != "Application" or not str(obj.get("apiVersion", "")).startswith(
            "argoproj.io/"
        ):
            continue
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            continue
        destination = spec.get("destination")
        namespace = destination.get("namespace") if isinstance(destination, dict) else None
        if not isinstance(namespace, str) or not namespace:
            continue
        sources = [spec.get("source"), *(spec.get("sources") or [])]
        for source in sources:
            if not isinstance(source, dict) or not isinstance(source.get("path"), str):
                continue
            url = source.get("repoURL")
            if remote_urls and isinstance(url, str) and normalize_url(url) not in remote_urls:
                continue  # deploys a directory of another repository
            found.setdefault(as_directory(source["path"]), namespace)
    return found


def comparable_remote_urls(urls: Iterable[str]) -> set[str]:
    """The remote URLs of a clone that an Application's ``repoURL`` can name, normalized."""
    # A clone of a local path or bundle cannot be compared with an Application's repoURL.
    network = {u for u in urls if ("://" in u and not u.startswith("file://")) or "@" in u}
    return {normalize_url(u) for u in network}


def normalize_url(url: str) -> str:
    """``git@github.com:org/repo.git`` and ``https://github.com/org/repo`` compare equal."""
    text = url.strip().lower()
    scp_like = "://" not in text
    text = re.sub(r"^[a-z0-9+.-]+://", "", text)
    text = re.sub(r"^[^@/]+@", "", text)
    text = re.sub(r":\d+/", "/", text, count=1)
    if scp_like:
        text = text.replace(":", "/", 1)
    return text.removesuffix("/").removesuffix(".git")


def application_paths(
    objects: Iterable[dict[str, Any]], remote_urls: set[str], cluster: str | None
) -> tuple[str, ...]:
    """The directories of this repository that Applications among ``objects`` deploy, in path
    order: those of Applications whose ``destination.name`` is ``cluster`` when there are
    such, else those of every Application."""
    mine: dict[str, None] = {}
    every: dict[str, None] = {}
    for obj in objects:
        if obj.get("kind") != "Application" or not str(obj.get("apiVersion", "")).startswith(
            "argoproj.io/"
        ):
            continue
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            continue
        destination = spec.get("destination")
        name = destination.get("name") if isinstance(destination, dict) else None
        for source in [spec.get("source"), *(spec.get("sources") or [])]:
            if not isinstance(source, dict) or not isinstance(source.get("path"), str):
                continue
            url = source.get("repoURL")
            if remote_urls and isinstance(url, str) and normalize_url(url) not in remote_urls:
                continue
            path = as_directory(source["path"])
            every[path] = None
            if cluster is not None and name == cluster:
                mine[path] = None
    return tuple(sorted(mine or every))

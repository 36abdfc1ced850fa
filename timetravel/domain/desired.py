"""The desired state one commit declares: objects keyed by where they came from, in path order,
and the files or directories that could not be read.

A *unit* is what one source yields: a manifest file's objects, or a rendered directory's. Each
object of a unit becomes a :class:`DesiredObject` with that unit's path and its default
namespace (:mod:`timetravel.domain.namespaces`); units are ordered by path, and the objects of
one unit keep the order the file or the render gave them.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from timetravel.domain.namespaces import NamespaceDefaults, with_namespace

# (path, objects) of one file read or one directory rendered.
Unit = tuple[str, tuple[dict[str, Any], ...]]


@dataclass(frozen=True, slots=True)
class DesiredObject:
    """One desired object and where it came from: a file, or a rendered directory."""

    path: str
    obj: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ManifestError:
    """A file or directory whose desired state could not be read, and why (one line)."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class DesiredSet:
    """Everything one commit declares, in path order, and everything that could not be read."""

    objects: tuple[DesiredObject, ...] = ()
    errors: tuple[ManifestError, ...] = ()


@dataclass(frozen=True, slots=True)
class NamespacedUnit:
    """A unit's objects as declared, the defaults they were given, and the result."""

    declared: tuple[dict[str, Any], ...]  # as read or rendered
    namespaces: NamespaceDefaults
    cluster_kinds: frozenset[str]
    objects: tuple[DesiredObject, ...]  # with default namespaces


_unit_path = operator.itemgetter(0)


def namespace_units(
    units: Iterable[Unit],
    namespaces: NamespaceDefaults,
    cluster_kinds: frozenset[str],
    previous: Mapping[str, NamespacedUnit],
) -> tuple[list[DesiredObject], dict[str, NamespacedUnit]]:
    """Every unit's objects with their default namespaces, in path order, and each unit's
    result by path, to pass as ``previous`` next time.

    A unit whose objects are the very same tuple as in ``previous``, under the very same
    ``namespaces`` and equal ``cluster_kinds``, gives the very same DesiredObjects: nothing is
    copied again, and a caller can reuse what it derived from them by identity.
    """
    done: dict[str, NamespacedUnit] = {}
    objects: list[DesiredObject] = []
    for path, declared in sorted(units, key=_unit_path):
        known = previous.get(path)
        if (
            known is None
            or known.declared is not declared
            or known.namespaces is not namespaces
            or known.cluster_kinds != cluster_kinds
        ):
            known = NamespacedUnit(
                declared,
                namespaces,
                cluster_kinds,
                tuple(
                    DesiredObject(path, with_namespace(obj, path, namespaces, cluster_kinds))
                    for obj in declared
                ),
            )
        done[path] = known
        objects.extend(known.objects)
    return objects, done


def in_folder(path: str, folder: str) -> bool:
    """Whether a unit's ``path`` (a file, or a rendered directory) is ``folder`` or inside it;
    every path is inside the folder ``""`` (the whole repository)."""
    return not folder or path == folder or path.startswith(folder.rstrip("/") + "/")


def within(desired: DesiredSet, folder: str) -> DesiredSet:
    """What ``desired`` declares from ``folder`` of the repository (a cluster's folder of a
    repository that feeds several: ``clusters/prod``).

    A unit belongs to the folder its path is in: a kustomize overlay there is rendered with
    whatever bases it names elsewhere, while a directory outside it (another cluster's
    overlay, a base no overlay of this folder names) is left out.
    """
    if not folder:
        return desired
    return DesiredSet(
        objects=tuple(item for item in desired.objects if in_folder(item.path, folder)),
        errors=tuple(error for error in desired.errors if in_folder(error.path, folder)),
    )

"""The desired state one commit declares: objects keyed by where they came from, in path order,
and the files or directories that could not be read.

One object, one declaration: when several files or rendered directories declare the same object
(API group, kind, namespace, name) *differently*, one is chosen by :func:`resolve_conflicts`'s
rule and the others are reported as a :class:`Conflict`, never dropped silently:

1. the path ``timetravel.toml`` names for the cluster (``[desired] path`` for every cluster,
   ``[desired.clusters] NAME = path`` for one; a list is an order of preference);
2. else the source path of an Argo CD Application of this repository (one whose
   ``destination.name`` is the cluster's when there is such, else any);
3. else a declaration outside test and example folders (:data:`ASIDE_FOLDERS`);
4. else the last in path order (what timetravel showed before it chose by rule).

Under a preferred path, the declaration nearest to it wins (``kustomize`` over
``kustomize/tests/x``). Identical declarations are no conflict: they stay as they are (the
query shows the last in path order, all being the same object). Tool configuration
(:mod:`timetravel.domain.apigroups`) is not in the set: each file of it is a
:class:`SkippedFile` with the reason. docs/DESIRED.md says all of it for people.

A *unit* is what one source yields: a manifest file's objects, or a rendered directory's. Each
object of a unit becomes a :class:`DesiredObject` with that unit's path and its default
namespace (:mod:`timetravel.domain.namespaces`); units are ordered by path, and the objects of
one unit keep the order the file or the render gave them.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from timetravel.domain.apigroups import api_group
from timetravel.domain.namespaces import NamespaceDefaults, with_namespace
from timetravel.domain.repopaths import ROOT, under

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
class SkippedFile:
    """A file (or rendered directory) whose objects are not desired state, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """One object declared differently in several places, and the declaration shown."""

    key: tuple[str, str, str, str]  # API group, kind, namespace, name
    paths: tuple[str, ...]  # every declaration, in path order
    chosen: str
    reason: str  # which rule chose it

    @property
    def message(self) -> str:
        group, kind, namespace, name = self.key
        what = f"{kind}.{group}" if group else kind
        where = f"{namespace}/{name}" if namespace else name
        return (
            f"{what} {where} is declared differently in {len(self.paths)} places "
            f"({', '.join(self.paths)}); showing {self.chosen}: {self.reason}"
        )

    @property
    def note(self) -> str:
        """The line a screen shows beside the object."""
        return f"declared by {len(self.paths)} files; showing {self.chosen}"


@dataclass(frozen=True, slots=True)
class DesiredSet:
    """Everything one commit declares, in path order, and everything that could not be read,
    was not desired state, or was declared more than once."""

    objects: tuple[DesiredObject, ...] = ()
    errors: tuple[ManifestError, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()
    conflicts: tuple[Conflict, ...] = ()


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
        skipped=tuple(skip for skip in desired.skipped if in_folder(skip.path, folder)),
        conflicts=tuple(c for c in desired.conflicts if in_folder(c.chosen, folder)),
    )


# --- one declaration per object -----------------------------------------------------------------

# Folders whose declarations lose to any other: alternatives a repository keeps beside what it
# deploys (microservices-demo's kustomize/tests/*, CI's .github/).
ASIDE_FOLDERS = frozenset(
    {"test", "tests", "testdata", "e2e", "example", "examples", "samples", ".github", "hack"}
)

ObjectKey = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Preference:
    """Where a cluster's declarations come from, for :func:`resolve_conflicts`."""

    configured: tuple[str, ...] = ()  # timetravel.toml's paths for the cluster, in order
    configured_for: str = ""  # the cluster they were given for ("" for every cluster)
    deployed: tuple[str, ...] = ()  # Argo CD Applications' source paths


def object_key(obj: dict[str, Any]) -> ObjectKey | None:
    """(API group, kind, namespace, name), as the store files a declared object; ``None``
    for an object without a name."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name") or not obj.get("kind"):
        return None
    group, _ = api_group(str(obj.get("apiVersion") or ""))
    return (group, str(obj["kind"]), str(metadata.get("namespace") or ""), str(metadata["name"]))


def resolve_conflicts(
    objects: Sequence[DesiredObject], preference: Preference
) -> tuple[list[DesiredObject], list[Conflict]]:
    """One declaration per object declared differently in several places, by the module's
    rule, the others left out (in the order given); and those conflicts."""
    by_key: dict[ObjectKey, list[int]] = {}
    for index, item in enumerate(objects):
        key = object_key(item.obj)
        if key is not None:
            by_key.setdefault(key, []).append(index)
    dropped: set[int] = set()
    conflicts: list[Conflict] = []
    for key, indexes in by_key.items():
        if len(indexes) == 1:
            continue
        first = objects[indexes[0]].obj
        if all(objects[i].obj == first for i in indexes[1:]):
            continue  # the same object wherever it is declared: kept as it was, no conflict
        paths = [objects[i].path for i in indexes]
        chosen, reason = choose(paths, preference)
        kept = indexes[len(paths) - 1 - paths[::-1].index(chosen)]
        dropped.update(i for i in indexes if i != kept)
        conflicts.append(Conflict(key, tuple(sorted(set(paths))), chosen, reason))
    kept_objects = [item for i, item in enumerate(objects) if i not in dropped]
    conflicts.sort(key=lambda c: (c.chosen, c.key))
    return kept_objects, conflicts


def choose(paths: Sequence[str], preference: Preference) -> tuple[str, str]:
    """The path whose declaration is shown, of ``paths`` (in path order), and why."""
    for prefix in preference.configured:
        if found := _nearest(paths, prefix):
            whom = (
                f"cluster {preference.configured_for}"
                if preference.configured_for
                else "every cluster"
            )
            return found, f"timetravel.toml names {prefix} for {whom}"
    for prefix in preference.deployed:
        if found := _nearest(paths, prefix):
            return found, f"an Argo CD Application deploys {prefix}"
    main = [p for p in paths if ASIDE_FOLDERS.isdisjoint(p.split("/"))]
    if main and len(main) < len(paths):
        return main[-1], "the others are in test or example folders; the last in path order"
    return paths[-1], "no rule names one (timetravel.toml [desired]); the last in path order"


def _nearest(paths: Sequence[str], prefix: str) -> str | None:
    inside = [p for p in paths if under(p, prefix)]
    if not inside:
        return None
    depth = 0 if prefix == ROOT else prefix.count("/") + 1
    return min(inside, key=lambda p: (p.count("/") + 1 - depth if p != prefix else -1, p))

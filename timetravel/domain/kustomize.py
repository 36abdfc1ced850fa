"""Kustomize and Helm directories of a GitOps repository: which of them are rendered, and what
each render may read.

- A directory with a kustomization file is rendered as a whole, and only when it is a *root*:
  not a resource/base/component of another kustomization, unless an Argo CD Application
  deploys it directly, and not inside a Helm chart (a post-renderer's input). A
  ``kind: Component`` is never a root: it is a patch set that means something only inside
  the kustomizations that name it (built alone, kustomize fails on its patches: 4-6 false
  "kustomize build failed" errors per commit of microservices-demo before this rule).
- A directory with ``Chart.yaml`` is rendered with ``helm template`` unless it is a subchart
  or sits inside a kustomization.
- Everything under either kind of directory is input to a render, never a manifest of its own.
- A render reads its root directory plus whatever the root, and every kustomization it builds
  in, reaches outside the root: ``resources``/``bases``/``components`` and any other string
  that reads as a path out of the directory (patches, generators' files, replacements, ...).
- What a render's *output* depends on (:func:`render_reads`) is narrower than what is copied
  for it: each kustomization file of the closure and every path one of them names, not the
  whole root directory. A README, a test root or an unused Component beside the root does not
  make it render again (microservices-demo: 650 renders over its history before, see
  BENCHMARKS.md for after).

Pure: kustomization files arrive parsed (a mapping), directories as repository paths
(:mod:`timetravel.domain.repopaths`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from timetravel.domain.repopaths import ancestors, inside, resolve, under

# In the order kustomize looks for them: the first one present is the directory's.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
# Fields of a kustomization whose entries are other kustomizations (or files) to build in.
REFERENCE_FIELDS = ("resources", "bases", "components")


@dataclass(frozen=True, slots=True)
class Kustomization:
    """What one kustomization file builds in and may load, as repository paths."""

    directory: str
    file: str
    references: tuple[str, ...] = ()  # resolved resources/bases/components
    escaping: tuple[str, ...] = ()  # any path string that leaves directory
    problems: tuple[str, ...] = ()  # why the directory cannot be rendered
    component: bool = False  # ``kind: Component``: built only by what names it
    # Every path any string of the file may name, inside its directory or not (resolved,
    # whether it exists or not): what its build can read besides the file itself.
    reads: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RenderInputs:
    """What rendering one root kustomization reads, and why it cannot be rendered, if so."""

    paths: tuple[str, ...]  # the root directory first, then paths outside it, as first reached
    problems: tuple[str, ...]


def kustomization_file(present: Mapping[str, str]) -> str | None:
    """Of the kustomization files one directory holds (``{file name: path}``), the path of the
    one kustomize reads; ``None`` when there is none."""
    for name in KUSTOMIZATION_FILES:
        if name in present:
            return present[name]
    return None


def is_remote(reference: str) -> bool:
    """Whether a kustomization entry names another repository (a URL, ``git@...``): such
    entries are fetched by kustomize, never read from this tree."""
    return "://" in reference or reference.startswith(("git@", "github.com/", "gitlab.com/"))


def parse_kustomization(directory: str, file: str, doc: Mapping[str, Any]) -> Kustomization:
    """What a kustomization file builds in (``resources``/``bases``/``components``) and every
    path it may load from outside its directory. Remote entries are left out; an entry that
    leaves the repository is a problem."""
    references: list[str] = []
    escaping: list[str] = []
    reads: list[str] = []
    problems: list[str] = []
    for name in REFERENCE_FIELDS:
        entries = doc.get(name)
        for ref in entries if isinstance(entries, list) else ():
            if not isinstance(ref, str) or is_remote(ref):
                continue
            resolved = resolve(directory, ref)
            if resolved is None:
                problems.append(f"{name} entry {ref!r} is outside the repository")
            else:
                references.append(resolved)
    # Any string that reads as a path out of this directory (patches, generators'
    # files/envs, replacements, ...) is something kustomize may load: it is copied for the
    # render and is part of the render's cache key.
    for text in _strings(doc):
        for candidate in _candidates(text):
            if not _path_like(candidate):
                continue
            resolved = resolve(directory, candidate)
            if resolved is None:
                continue
            reads.append(resolved)
            if ".." in candidate and "\n" not in text and not under(resolved, directory):
                escaping.append(resolved)
    return Kustomization(
        directory,
        file,
        tuple(references),
        tuple(escaping),
        tuple(problems),
        component=doc.get("kind") == "Component",
        reads=tuple(dict.fromkeys(reads)),
    )


def _candidates(text: str) -> Iterator[str]:
    """The strings of a kustomization entry that may name a file: the entry, the path of
    ``key=path``, and in an inline document (a transformer's config, a patch) each value of a
    ``key: value`` or ``- value`` line, which may be a ``path:`` of its own."""
    if "\n" not in text:
        yield text
        if "=" in text:
            yield text.rpartition("=")[2]
        return
    for line in text.splitlines():
        value = line.partition(": ")[2] if ": " in line else line.strip().removeprefix("- ")
        value = value.strip().strip("'\"")
        if value and value != line.strip():
            yield value


def _path_like(text: str) -> bool:
    """Whether a kustomization's string may name a file: one line, not a URL, not empty."""
    return bool(text) and len(text) <= 4096 and "\n" not in text and not is_remote(text)


def owned_directories(kustomizations: Collection[str], charts: Collection[str]) -> set[str]:
    """The directories whose files are input to a render rather than manifests."""
    return set(kustomizations) | set(charts)


def is_render_input(
    path: str, directory: str, owned: Collection[str], known: MutableMapping[str, bool]
) -> bool:
    """Whether the file ``path`` in ``directory`` belongs to a render, so is not read as a
    manifest: reading it too would double objects or turn patches into objects. Files a
    kustomization names from elsewhere are not: kustomize refuses such files (load
    restrictions), and where they sit is usually a plain app of its own. ``known`` carries
    answers between calls (see :func:`~timetravel.domain.repopaths.inside`)."""
    return bool(owned) and (path in owned or inside(directory, owned, known))


def chart_roots(charts: Collection[str], kustomizations: Collection[str]) -> list[str]:
    """The chart directories rendered on their own, in path order: not a subchart, not input
    of a kustomization."""
    return [
        directory
        for directory in sorted(charts)
        if directory not in kustomizations
        and not any(a in charts or a in kustomizations for a in ancestors(directory))
    ]


def kustomize_roots(
    kustomizations: Mapping[str, Kustomization],
    charts: Collection[str],
    deployed: Collection[str],
) -> list[str]:
    """The kustomization directories rendered on their own, in path order.

    One built into another kustomization is rendered with it, unless ``deployed`` (the source
    paths of Argo CD Applications) names it too; one inside a chart is rendered with the chart;
    a Component only with what names it, never alone.
    """
    referenced = {
        ref
        for k in kustomizations.values()
        for ref in k.references
        if ref in kustomizations and ref != k.directory
    }
    return [
        directory
        for directory in sorted(kustomizations)
        if not kustomizations[directory].component
        and not any(a in charts for a in ancestors(directory))
        and (directory not in referenced or directory in deployed)
    ]


def render_inputs(root: Kustomization, kustomizations: Mapping[str, Kustomization]) -> RenderInputs:
    """The closure of rendering ``root``: its directory plus whatever it, and every
    kustomization it builds in, reaches outside it; and the problems of all of those."""
    problems = list(root.problems)
    paths: dict[str, None] = {root.directory: None}
    pending = [root.directory]
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        k = kustomizations.get(current)
        if k is None:
            continue
        if k is not root:
            problems.extend(k.problems)
        for path in (*k.references, *k.escaping):
            if path in kustomizations:
                pending.append(path)
            if not under(path, root.directory):
                paths[path] = None
    return RenderInputs(tuple(paths), tuple(problems))


def render_reads(
    root: Kustomization, kustomizations: Mapping[str, Kustomization]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What building ``root`` can read, for a cache key: ``(files, kustomization
    directories)``. ``files`` are paths (a file, a directory, or a path that is not there)
    any kustomization of the closure names; each of ``kustomization directories`` is read
    through its kustomization file names (all of them: two present is an error of its own).

    Kustomize reads nothing else of the tree: a render whose paths all hold the same objects
    as before gives the same output.
    """
    files: dict[str, None] = {}
    directories: dict[str, None] = {}
    pending = [root.directory]
    while pending:
        current = pending.pop()
        if current in directories:
            continue
        directories[current] = None
        k = kustomizations.get(current)
        if k is None:
            continue
        for path in (*k.references, *k.reads):
            if path in kustomizations:
                pending.append(path)
            else:
                files[path] = None
    return tuple(files), tuple(directories)


def release_name(directory: str) -> str:
    """The Helm release name a chart directory is rendered as: its name as a DNS label (at
    most 53 characters), ``release`` when nothing of it is left."""
    name = re.sub(r"[^a-z0-9-]+", "-", posixpath.basename(directory).lower()).strip("-")
    return name[:53].rstrip("-") or "release"


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)

"""Paths inside one commit's tree: ``a/b/c.yaml`` relative to the repository root, ``.`` for
the root itself, and ``/`` between names whatever the platform.

Pure: the tree is seen only through what a caller passes in (which paths exist, what a symlink
points to), so the same rules hold for a git tree, a test's dict, or anything else.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Collection, Iterator, MutableMapping

ROOT = "."

MAX_SYMLINK_HOPS = 40  # as Linux's MAXSYMLINKS


def join(directory: str, name: str) -> str:
    """The path of ``name`` inside ``directory``."""
    return name if directory == ROOT else f"{directory}/{name}"


def parent(path: str) -> str:
    """The directory that holds ``path`` (``.`` for a top-level name)."""
    return posixpath.dirname(path) or ROOT


def under(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or below it (every path is under the root)."""
    return directory == ROOT or path == directory or path.startswith(directory + "/")


def ancestors(path: str) -> Iterator[str]:
    """``a/b/c.yaml`` → ``a/b``, ``a``, ``.``: each enclosing directory, nearest first."""
    while path != ROOT:
        path = parent(path)
        yield path


def resolve(directory: str, reference: str) -> str | None:
    """A reference relative to ``directory`` as a repository path; ``None`` if it leaves the
    repository (or is absolute)."""
    if reference.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join("" if directory == ROOT else directory, reference))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def as_directory(text: str) -> str:
    """A directory as people write it in configuration (``apps/web/``, ``/apps``, ``""``) as a
    repository path: ``apps/web``, ``apps``, ``.``."""
    cleaned = posixpath.normpath(text.strip().strip("/")) if text.strip("/ ") else ROOT
    return ROOT if cleaned in ("", ".") else cleaned


def inside(directory: str, owned: Collection[str], known: MutableMapping[str, bool]) -> bool:
    """Whether ``directory`` is one of ``owned`` or below one.

    ``known`` carries answers between calls: the files of a tree share their directories, so
    each directory is looked at once however many files it holds.
    """
    chain = []
    current = directory
    while (answer := known.get(current)) is None:
        if current in owned:
            answer = True
            break
        chain.append(current)
        if current == ROOT:
            answer = False
            break
        current = parent(current)
    for visited in chain:
        known[visited] = answer
    return answer


def real_path(
    path: str, paths: Collection[str], link_target: Callable[[str], str | None]
) -> tuple[str | None, str | None]:
    """Follow the symlinks of ``path`` (its own and its directories') without leaving the tree:
    ``(real path, None)``, or ``(None, problem)`` for a link that points outside the tree,
    dangles or loops.

    ``paths`` holds every path of the tree; ``link_target(path)`` is the text a symlink holds,
    or ``None`` when ``path`` is not one. Targets are asked for only along the way.
    """
    return _real_path(path, paths, link_target, [0])


def _real_path(
    path: str,
    paths: Collection[str],
    link_target: Callable[[str], str | None],
    hops: list[int],
) -> tuple[str | None, str | None]:
    resolved = ROOT
    for name in path.split("/"):
        candidate = join(resolved, name)
        while candidate in paths and (target := link_target(candidate)) is not None:
            hops[0] += 1
            if hops[0] > MAX_SYMLINK_HOPS:
                return None, "symlink loop: not followed"
            joined = resolve(parent(candidate), target)
            if joined is None or not target:
                return None, f"symlink pointing outside the repository ({target}): not followed"
            real, problem = _real_path(joined, paths, link_target, hops)
            if problem is not None:
                return None, problem
            assert real is not None
            candidate = real
        if candidate not in paths:
            return None, f"symlink to a missing path ({candidate}): not followed"
        resolved = candidate
    return resolved, None

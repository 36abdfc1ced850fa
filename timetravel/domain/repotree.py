"""A commit's tree as an index of paths, put together from git's raw tree objects.

A :class:`Tree` holds every path of one directory, recursively, with the files a desired-state
read looks for: manifests by name, the kustomization file of each directory, chart directories,
symlinks. It is built from the directory's own listing and its subdirectories' ``Tree``s, so
consecutive commits share every directory that did not change.

Pure: the caller reads the tree objects (:func:`tree_entries` decodes one) and supplies the
subdirectories; nothing here reads git.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from timetravel.domain.kustomize import CHART_FILE, KUSTOMIZATION_FILES, kustomization_file
from timetravel.domain.manifests import is_manifest_path
from timetravel.domain.repopaths import ROOT, join

MODE_TREE = 0o040000
MODE_LINK = 0o120000
MODE_SUBMODULE = 0o160000

# (mode, name, object id) of one entry of a tree object.
Listing = list[tuple[int, str, str]]


@dataclass(frozen=True, slots=True)
class Entry:
    """One path of a tree: its canonical mode and the id of its object."""

    mode: int
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == MODE_TREE

    @property
    def is_link(self) -> bool:
        return self.mode == MODE_LINK

    @property
    def is_file(self) -> bool:
        return self.mode not in (MODE_TREE, MODE_LINK, MODE_SUBMODULE)


def canonical_mode(mode: int) -> int:
    """The mode as git reads it from a tree object (``canon_mode``): ``ls-tree`` shows this."""
    kind = mode & 0o170000
    if kind == MODE_TREE:
        return MODE_TREE
    if kind == MODE_LINK:
        return MODE_LINK
    if kind == 0o100000:
        return 0o100755 if mode & 0o100 else 0o100644
    return MODE_SUBMODULE


def tree_entries(data: bytes) -> Listing:
    """``(mode, name, object id)`` of each entry of a raw tree object, in the tree's order."""
    entries: Listing = []
    start = 0
    while start < len(data):
        space = data.index(b" ", start)
        nul = data.index(b"\0", space)
        # surrogateescape: a non-UTF-8 file name still round-trips to the file system.
        name = data[space + 1 : nul].decode("utf-8", errors="surrogateescape")
        sha = data[nul + 1 : nul + 21].hex()
        entries.append((canonical_mode(int(data[start:space], 8)), name, sha))
        start = nul + 21
    return entries


class Tree:
    """Every path of one directory of a commit, recursively, in ``git ls-tree -r -t`` order,
    with directory listings and the files a read looks for.

    ``subtree(path, id)`` gives the ``Tree`` of each subdirectory in ``listing``: a caller
    builds subdirectories first, or hands back the ones it kept from the last commit.
    """

    def __init__(
        self,
        path: str,
        sha: str,
        listing: Listing,
        subtree: Callable[[str, str], Tree],
    ) -> None:
        self.entries: dict[str, Entry] = {path: Entry(MODE_TREE, sha)}
        self.children: dict[str, list[str]] = {path: []}
        self.links: list[str] = []
        # Files that may hold manifests, by their names: (path, directory, entry).
        self.manifests: list[tuple[str, str, Entry]] = []
        self.kustomizations: dict[str, str] = {}  # directory -> its kustomization file
        self.charts: list[str] = []  # directories with a Chart.yaml
        self.subtrees: dict[tuple[str, str], Tree] = {}  # every directory below, by id
        kustomization_files: dict[str, str] = {}  # file name -> path
        for mode, name, child_sha in listing:
            child = join(path, name)
            self.children[path].append(child)
            if mode == MODE_TREE:
                self._include(child, child_sha, subtree(child, child_sha))
                continue
            entry = self.entries[child] = Entry(mode, child_sha)
            if mode == MODE_LINK:
                self.links.append(child)
            if mode != MODE_SUBMODULE and is_manifest_path(child):
                self.manifests.append((child, path, entry))
            if name in KUSTOMIZATION_FILES:
                kustomization_files[name] = child
            elif name == CHART_FILE:
                self.charts.append(path)
        if (file := kustomization_file(kustomization_files)) is not None:
            self.kustomizations[path] = file

    def _include(self, path: str, sha: str, sub: Tree) -> None:
        self.entries.update(sub.entries)
        self.children.update(sub.children)
        self.links += sub.links
        self.manifests += sub.manifests
        self.kustomizations.update(sub.kustomizations)
        self.charts += sub.charts
        self.subtrees[(path, sha)] = sub
        self.subtrees.update(sub.subtrees)

    def contents(
        self, paths: Iterable[str], link_targets: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        """What a copy of ``paths`` holds: ``({file: blob id}, [directory])``. A symlink is
        copied as the blob ``link_targets`` gives it, or left out; a path the tree does not
        have is left out (a reference to nothing: the renderer reports it)."""
        files: dict[str, str] = {}
        directories: list[str] = []
        for path in paths:
            entry = self.entries.get(path)
            if entry is None:
                continue
            if entry.is_tree:
                directories.append(path)
            for file in [path] if not entry.is_tree else self.walk(path):
                file_entry = self.entries[file]
                if file_entry.is_file:
                    files[file] = file_entry.sha
                elif file in link_targets:
                    files[file] = link_targets[file]
        return files, directories

    def walk(self, directory: str) -> Iterator[str]:
        """Every path under ``directory`` that is not a directory, at any depth."""
        stack = [directory]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if self.entries[child].is_tree:
                    stack.append(child)
                else:
                    yield child


def build_tree(
    root_sha: str, listing: Callable[[str], Listing], known: Mapping[tuple[str, str], Tree]
) -> Tree:
    """The tree of root tree object ``root_sha``, reusing every directory of ``known`` (by path
    and tree id): ``listing(id)`` is asked only for the tree objects of the others."""
    listings: dict[tuple[str, str], Listing] = {}
    pending = [(ROOT, root_sha)]
    while pending:  # every directory not known yet, each before its subdirectories
        key = pending.pop()
        if key in known or key in listings:
            continue
        entries = listing(key[1])
        listings[key] = entries
        pending.extend((join(key[0], n), sha) for mode, n, sha in entries if mode == MODE_TREE)
    built: dict[tuple[str, str], Tree] = {}

    def subtree(path: str, sha: str) -> Tree:
        return built.get((path, sha)) or known[(path, sha)]

    for path, sha in reversed(listings):  # subdirectories first
        built[(path, sha)] = Tree(path, sha, listings[(path, sha)], subtree)
    return subtree(ROOT, root_sha)

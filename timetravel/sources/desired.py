"""Desired state: the Kubernetes objects a git commit declares.

``DesiredReader.read_commit(sha)`` turns one commit's tree into a :class:`DesiredSet`:

- Plain manifest files (``.yaml``/``.yml``/``.json``) are parsed once per blob: results are
  cached by blob id on the reader (LRU) and optionally in a caller's ``blob_cache`` (the store
  can back it with SQLite), so reading a whole history parses each file version once.
- A directory with a kustomization is rendered as a whole (``kubectl kustomize`` or
  ``kustomize build``) from a temporary copy of exactly the files it can reach, and only when it
  is a *root*: not a resource/base/component of another kustomization, unless an Argo CD
  Application in the repository deploys it directly. Renders are cached by the ids of the trees
  and blobs copied, which are all the render can see, so an unchanged kustomization is rendered
  once for a whole history.
- A directory with ``Chart.yaml`` is rendered with ``helm template`` when helm is installed; its
  files (templates are Go templates, not YAML) are never parsed one by one.
- Objects without ``metadata.namespace`` get one from, longest directory prefix first: the
  ``namespace_defaults`` argument, ``[namespaces]`` in ``timetravel.toml`` at the repository
  root, an Argo CD Application's ``spec.destination.namespace`` for its ``spec.source.path``;
  else ``default``. Cluster-scoped kinds get none.
- Reading the commits of a history one after the other costs little more than what changed: a
  commit's tree is put together from the last commit's directories that did not change (tree
  objects through git's long-lived ``cat-file`` process), and a file or rendered directory whose
  objects and namespace defaults did not change yields the very same ``DesiredObject``s again,
  so callers can reuse what they derived from them by identity.
- Nothing is read outside the commit's tree: symlinks are resolved inside the tree and reported
  when they point outside it, dangle or loop. Every problem becomes a :class:`ManifestError`;
  ``read_commit`` raises only for a commit that does not exist.

Objects in a ``DesiredSet`` are shared with the caches: treat them as read-only.
"""

from __future__ import annotations

import operator
import os
import posixpath
import re
import tempfile
import tomllib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import git

from timetravel.domain.manifests import (
    MAX_MANIFEST_BYTES,
    ParsedFile,
    is_cluster_scoped,
    is_manifest_path,
    load_yaml_mapping,
    parse_manifest_file,
    too_large,
)
from timetravel.sources import render

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
CONFIG_FILE = "timetravel.toml"
DEFAULT_NAMESPACE = "default"
ROOT = "."

_MAX_SYMLINK_HOPS = 40  # as Linux's MAXSYMLINKS
_MAX_MATERIALIZED_BYTES = 256 * 1024 * 1024
_MAX_MESSAGE = 500
_MODE_TREE = 0o040000
_MODE_LINK = 0o120000
_MODE_SUBMODULE = 0o160000
# Fields of a kustomization whose entries are other kustomizations (or files) to build in.
_REFERENCE_FIELDS = ("resources", "bases", "components")
_NAMESPACING_KINDS = ("Application", "CustomResourceDefinition")


# --- public types -------------------------------------------------------------------------------


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


class BlobCache(Protocol):
    """A second-level cache of parse results, keyed by :func:`blob_cache_key`."""

    def get(self, sha: str) -> ParsedFile | None: ...

    def put(self, sha: str, parsed: ParsedFile) -> None: ...


@dataclass
class ReaderStats:
    """Counters that show the caches working (tests and progress lines read them)."""

    commits_read: int = 0
    blobs_parsed: int = 0
    cache_hits: int = 0
    renders: int = 0
    render_cache_hits: int = 0


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """A commit on the tracked branch, for backfilling desired state over time."""

    sha: str
    committed_at: datetime  # aware, UTC
    authored_at: datetime  # aware, UTC
    author: str  # "Name <email>"
    committer: str  # "Name <email>"
    summary: str
    message: str
    parents: tuple[str, ...]


def blob_cache_key(blob_sha: str, path: str) -> str:
    """The cache key of a blob's parse: its id, marked for JSON, which is parsed as JSON."""
    return f"{blob_sha}.json" if path.lower().endswith(".json") else blob_sha


def first_parent_history(repo: git.Repo, branch: str) -> list[CommitInfo]:
    """The first-parent history of ``branch``, oldest first: the commits the branch pointed to,
    as opposed to commits merged in from elsewhere."""
    commits = list(repo.iter_commits(branch, first_parent=True))
    commits.reverse()
    return [
        CommitInfo(
            sha=c.hexsha,
            committed_at=datetime.fromtimestamp(c.committed_date, tz=UTC),
            authored_at=datetime.fromtimestamp(c.authored_date, tz=UTC),
            author=f"{c.author.name} <{c.author.email}>",
            committer=f"{c.committer.name} <{c.committer.email}>",
            summary=_text(c.summary),
            message=_text(c.message),
            parents=tuple(p.hexsha for p in c.parents),
        )
        for c in commits
    ]


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


# --- paths --------------------------------------------------------------------------------------


def _join(directory: str, name: str) -> str:
    return name if directory == ROOT else f"{directory}/{name}"


def _parent(path: str) -> str:
    return posixpath.dirname(path) or ROOT


def _under(path: str, directory: str) -> bool:
    return directory == ROOT or path == directory or path.startswith(directory + "/")


def _ancestors(path: str) -> Iterator[str]:
    """``a/b/c.yaml`` → ``a/b``, ``a``, ``.``."""
    while path != ROOT:
        path = _parent(path)
        yield path


def _normalize(directory: str, reference: str) -> str | None:
    """A reference relative to ``directory`` as a repository path; ``None`` if it leaves the
    repository (or is absolute)."""
    if reference.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join("" if directory == ROOT else directory, reference))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def _is_remote(reference: str) -> bool:
    return "://" in reference or reference.startswith(("git@", "github.com/", "gitlab.com/"))


# --- one commit's tree --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    mode: int
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == _MODE_TREE

    @property
    def is_link(self) -> bool:
        return self.mode == _MODE_LINK

    @property
    def is_file(self) -> bool:
        return self.mode not in (_MODE_TREE, _MODE_LINK, _MODE_SUBMODULE)


def _canonical_mode(mode: int) -> int:
    """The mode as git reads it from a tree object (``canon_mode``): ``ls-tree`` shows this."""
    kind = mode & 0o170000
    if kind == _MODE_TREE:
        return _MODE_TREE
    if kind == _MODE_LINK:
        return _MODE_LINK
    if kind == 0o100000:
        return 0o100755 if mode & 0o100 else 0o100644
    return _MODE_SUBMODULE


def _tree_entries(data: bytes) -> list[tuple[int, str, str]]:
    """``(mode, name, object id)`` of each entry of a raw tree object, in the tree's order."""
    entries = []
    start = 0
    while start < len(data):
        space = data.index(b" ", start)
        nul = data.index(b"\0", space)
        # surrogateescape: a non-UTF-8 file name still round-trips to the file system.
        name = data[space + 1 : nul].decode("utf-8", errors="surrogateescape")
        sha = data[nul + 1 : nul + 21].hex()
        entries.append((_canonical_mode(int(data[start:space], 8)), name, sha))
        start = nul + 21
    return entries


class _Tree:
    """Every path of one directory of a commit, recursively, in ``git ls-tree -r -t`` order,
    with directory listings and the files a read looks for.

    A directory's ``_Tree`` is put together from its own tree object and its subdirectories'
    ``_Tree``s, so consecutive commits share every directory that did not change.
    """

    def __init__(
        self,
        path: str,
        sha: str,
        listing: list[tuple[int, str, str]],
        subtree: Callable[[str, str], _Tree],
    ) -> None:
        self.entries: dict[str, _Entry] = {path: _Entry(_MODE_TREE, sha)}
        self.children: dict[str, list[str]] = {path: []}
        self.links: list[str] = []
        # Files that may hold manifests, by their names: (path, directory, entry).
        self.manifests: list[tuple[str, str, _Entry]] = []
        self.kustomizations: dict[str, str] = {}  # directory -> its kustomization file
        self.charts: list[str] = []  # directories with a Chart.yaml
        self.subtrees: dict[tuple[str, str], _Tree] = {}  # every directory below, by id
        kustomization_files: dict[str, str] = {}
        for mode, name, child_sha in listing:
            child = _join(path, name)
            self.children[path].append(child)
            if mode == _MODE_TREE:
                self._include(child, child_sha, subtree(child, child_sha))
                continue
            entry = self.entries[child] = _Entry(mode, child_sha)
            if mode == _MODE_LINK:
                self.links.append(child)
            if mode != _MODE_SUBMODULE and is_manifest_path(child):
                self.manifests.append((child, path, entry))
            if name in KUSTOMIZATION_FILES:
                kustomization_files[name] = child
            elif name == CHART_FILE:
                self.charts.append(path)
        for name in KUSTOMIZATION_FILES:
            if name in kustomization_files:
                self.kustomizations[path] = kustomization_files[name]
                break

    def _include(self, path: str, sha: str, sub: _Tree) -> None:
        self.entries.update(sub.entries)
        self.children.update(sub.children)
        self.links += sub.links
        self.manifests += sub.manifests
        self.kustomizations.update(sub.kustomizations)
        self.charts += sub.charts
        self.subtrees[(path, sha)] = sub
        self.subtrees.update(sub.subtrees)

    def walk(self, directory: str) -> Iterator[str]:
        """Every non-tree path under ``directory`` (recursively)."""
        stack = [directory]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if self.entries[child].is_tree:
                    stack.append(child)
                else:
                    yield child


@dataclass(slots=True)
class _Kustomization:
    directory: str
    file: str
    references: list[str] = field(default_factory=list)  # resolved resources/bases/components
    escaping: list[str] = field(default_factory=list)  # any path string that leaves directory
    problems: list[str] = field(default_factory=list)


# A kustomization as read from its file, and the error that reading it reported.
_ReadKustomization = tuple[_Kustomization, ManifestError | None]


@dataclass(frozen=True, slots=True)
class _Parse:
    """A file's parse, and which of its objects decide other objects' namespaces."""

    sha: str  # the blob parsed
    parsed: ParsedFile
    namespacing: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Finished:
    """A unit's objects as one commit declared them, and what their namespaces came from."""

    declared: tuple[dict[str, Any], ...]  # as read or rendered
    namespaces: _Namespaces
    cluster_kinds: frozenset[str]
    objects: tuple[DesiredObject, ...]  # with default namespaces


@dataclass(frozen=True, slots=True)
class _Rendered:
    objects: tuple[dict[str, Any], ...]
    errors: tuple[ManifestError, ...]


# --- the reader ---------------------------------------------------------------------------------


class DesiredReader:
    """Reads the desired state of commits of one repository, caching across commits."""

    def __init__(
        self,
        repo: git.Repo,
        *,
        namespace_defaults: Mapping[str, str] | None = None,
        renderers: Mapping[str, str | None] | None = None,
        blob_cache: BlobCache | None = None,
        cache_size: int = 50_000,
        render_timeout: float = render.RENDER_TIMEOUT_S,
    ) -> None:
        self._repo = repo
        self._overrides = {
            _config_prefix(prefix): namespace
            for prefix, namespace in (namespace_defaults or {}).items()
        }
        self._renderers = dict(render.available_renderers() if renderers is None else renderers)
        self._blob_cache = blob_cache
        self._cache_size = cache_size
        self._render_timeout = render_timeout
        self.stats = ReaderStats()
        self._parsed: OrderedDict[str, ParsedFile] = OrderedDict()
        self._texts: dict[str, bytes] = {}  # small blobs: symlink targets, kustomizations
        self._configs: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
        self._renders: OrderedDict[tuple[object, ...], _Rendered] = OrderedDict()
        self._sets: OrderedDict[str, DesiredSet] = OrderedDict()
        self._trees: dict[tuple[str, str], _Tree] = {}  # the last commit's directories
        self._kustomization_files: dict[tuple[str, str, str], _ReadKustomization] = {}
        self._config_files: dict[str, tuple[dict[str, str], ManifestError | None]] = {}
        self._namespace_defaults: dict[frozenset[tuple[str, str]], _Namespaces] = {}
        self._last_parses: dict[str, _Parse] = {}  # the last commit's files, by path
        self._finished: dict[str, _Finished] = {}  # the last commit's units, by path
        self._remote_urls = _remote_urls(repo)

    # -- public --

    def read_commit(self, commit_sha: str) -> DesiredSet:
        """The desired state declared by ``commit_sha``. Raises only if there is no such commit."""
        commit = self._repo.commit(commit_sha)
        root_sha = commit.tree.hexsha
        self.stats.commits_read += 1
        # Identical trees (a revert, a merge that changes nothing, a poll of an unmoved branch)
        # declare identical state.
        if (known := self._sets.get(root_sha)) is not None:
            self._sets.move_to_end(root_sha)
            return known
        result = _CommitRead(self, self._tree(root_sha)).run()
        self._sets[root_sha] = result
        if len(self._sets) > 8:
            self._sets.popitem(last=False)
        return result

    # -- trees --

    def _tree(self, root_sha: str) -> _Tree:
        """The whole tree of a commit, reusing each directory of the last one read that is
        unchanged (same path, same tree id): a commit usually changes a few files."""
        known = self._trees
        listings: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
        pending = [(ROOT, root_sha)]
        while pending:  # every directory not known yet, each before its subdirectories
            key = pending.pop()
            if key in known or key in listings:
                continue
            listing = _tree_entries(self._object_bytes(key[1]))
            listings[key] = listing
            pending.extend(
                (_join(key[0], n), sha) for mode, n, sha in listing if mode == _MODE_TREE
            )
        built: dict[tuple[str, str], _Tree] = {}

        def subtree(path: str, sha: str) -> _Tree:
            return built.get((path, sha)) or known[(path, sha)]

        for path, sha in reversed(listings):  # subdirectories first
            built[(path, sha)] = _Tree(path, sha, listings[(path, sha)], subtree)
        root = subtree(ROOT, root_sha)
        self._trees = {**root.subtrees, (ROOT, root_sha): root}
        return root

    # -- blobs --

    def _object_bytes(self, sha: str) -> bytes:
        return bytes(self._repo.odb.stream(bytes.fromhex(sha)).read())

    def _blob_size(self, sha: str) -> int:
        return int(self._repo.odb.info(bytes.fromhex(sha)).size)

    def _small_blob(self, sha: str) -> bytes:
        if (data := self._texts.get(sha)) is None:
            data = b"" if self._blob_size(sha) > MAX_MANIFEST_BYTES else self._object_bytes(sha)
            self._texts[sha] = data
        return data

    def _parse(self, sha: str, path: str) -> ParsedFile:
        key = blob_cache_key(sha, path)
        if (parsed := self._parsed.get(key)) is not None:
            self._parsed.move_to_end(key)
            self.stats.cache_hits += 1
            return parsed
        if self._blob_cache is not None and (parsed := self._blob_cache.get(key)) is not None:
            self.stats.cache_hits += 1
        else:
            size = self._blob_size(sha)
            # The size is known before reading, so an oversized blob is never loaded.
            parsed = too_large(size) if size > MAX_MANIFEST_BYTES else None
            if parsed is None:
                parsed = parse_manifest_file(path, self._object_bytes(sha))
            self.stats.blobs_parsed += 1
            if self._blob_cache is not None:
                self._blob_cache.put(key, parsed)
        self._parsed[key] = parsed
        if len(self._parsed) > self._cache_size:
            self._parsed.popitem(last=False)
        return parsed

    def _yaml_config(self, sha: str) -> tuple[dict[str, Any] | None, str | None]:
        if (known := self._configs.get(sha)) is None:
            if self._blob_size(sha) > MAX_MANIFEST_BYTES:
                known = (None, "file too large")
            else:
                known = load_yaml_mapping(self._object_bytes(sha))
            self._configs[sha] = known
        return known

    # -- configuration --

    def _kustomization(self, directory: str, file: str, sha: str) -> _ReadKustomization:
        """The kustomization in blob ``sha`` read as ``directory``'s, and the error to report
        when it is not YAML. Read once per version: nothing else in the tree changes it."""
        key = (directory, file, sha)
        if (known := self._kustomization_files.get(key)) is None:
            doc, error = self._yaml_config(sha)
            if doc is None:
                # kustomize reports its own view of the file when it runs; ours says why the
                # directories it reaches are unknown.
                known = (
                    _Kustomization(directory, file),
                    ManifestError(file, f"kustomization not read: {error}"),
                )
            else:
                known = (_parse_kustomization(directory, file, doc), None)
            self._kustomization_files[key] = known
        return known

    def _config(self, sha: str) -> tuple[dict[str, str], ManifestError | None]:
        """``[namespaces]`` of a timetravel.toml blob, and the error to report about it."""
        if (known := self._config_files.get(sha)) is None:
            known = _config_namespaces(self._small_blob(sha))
            self._config_files[sha] = known
        return known

    def _namespaces(self, apps: Mapping[str, str], config: Mapping[str, str]) -> _Namespaces:
        """Namespace defaults for these layers, kept with the lookups already made while
        commits keep the same defaults (they seldom change)."""
        namespaces = _Namespaces(apps, config, self._overrides)
        if (known := self._namespace_defaults.get(namespaces.key)) is not None:
            return known
        if len(self._namespace_defaults) >= 8:
            self._namespace_defaults.clear()
        self._namespace_defaults[namespaces.key] = namespaces
        return namespaces

    # -- renders --

    def _cached_render(self, key: tuple[object, ...]) -> _Rendered | None:
        if (known := self._renders.get(key)) is not None:
            self._renders.move_to_end(key)
            self.stats.render_cache_hits += 1
        return known

    def _store_render(self, key: tuple[object, ...], rendered: _Rendered) -> None:
        self._renders[key] = rendered
        if len(self._renders) > 1024:
            self._renders.popitem(last=False)


class _CommitRead:
    """The work of one ``read_commit``: classification, parsing, rendering, namespaces."""

    def __init__(self, reader: DesiredReader, tree: _Tree) -> None:
        self.r = reader
        self.tree = tree
        self.errors: list[ManifestError] = []
        # (path, objects) of each file read and each directory rendered, in the order read.
        self.units: list[tuple[str, tuple[dict[str, Any], ...]]] = []
        # Of those objects, the ones that decide other objects' namespaces, in the same order.
        self.namespacing: list[dict[str, Any]] = []

    def run(self) -> DesiredSet:
        config_namespaces = self._config_namespaces()
        kustomizations = self._kustomizations()
        charts = set(self.tree.charts)
        referenced = {
            ref
            for k in kustomizations.values()
            for ref in k.references
            if ref in kustomizations and ref != k.directory
        }
        # Everything under a kustomization or chart directory is input to a render: reading
        # those files as manifests would double objects or turn patches into objects. Files a
        # kustomization names from elsewhere stay plain manifests too: kustomize refuses such
        # files (load restrictions), and where they sit is usually a plain app of its own.
        owned = set(kustomizations) | charts

        self._plain_files(owned)
        apps = _applications(self._declared("Application"), self.r._remote_urls)
        namespaces = self.r._namespaces(apps, config_namespaces)
        # Charts first: an app-of-apps chart yields the Applications that say which referenced
        # kustomizations are deployed on their own as well.
        for directory in sorted(charts):
            if directory in kustomizations or any(
                a in charts or a in kustomizations for a in _ancestors(directory)
            ):
                continue  # a subchart, or input of a kustomization
            self._render_chart(directory, namespaces.lookup(directory))
        apps = {**_applications(self._declared("Application"), self.r._remote_urls), **apps}
        for directory in sorted(kustomizations):
            if any(a in charts for a in _ancestors(directory)):
                continue  # part of a chart (a post-renderer's input), rendered with it
            if directory in referenced and directory not in apps:
                continue
            self._render_kustomization(kustomizations[directory], kustomizations)
        # Applications that came out of any render count for namespaces too; those written in
        # plain files win on equal paths, being what a person wrote down.
        apps = {**_applications(self._declared("Application"), self.r._remote_urls), **apps}
        namespaces = self.r._namespaces(apps, config_namespaces)
        cluster_kinds = frozenset(
            _cluster_scoped_crd_kinds(self._declared("CustomResourceDefinition"))
        )
        objects = self._finish(namespaces, cluster_kinds)
        self.errors.sort(key=lambda e: (e.path, e.message))
        return DesiredSet(objects=tuple(objects), errors=tuple(self.errors))

    def _declared(self, kind: str) -> list[dict[str, Any]]:
        """The objects of ``kind`` (one of ``_NAMESPACING_KINDS``) read or rendered so far."""
        return [obj for obj in self.namespacing if obj.get("kind") == kind]

    def _finish(
        self, namespaces: _Namespaces, cluster_kinds: frozenset[str]
    ) -> list[DesiredObject]:
        """Every unit's objects with their default namespaces, in path order (a unit's own
        order kept). A unit read from the same objects under the same defaults as in the last
        commit gives the very same DesiredObjects: nothing is copied again, and a caller can
        reuse what it derived from them by identity."""
        last = self.r._finished
        finished: dict[str, _Finished] = {}
        objects: list[DesiredObject] = []
        for path, declared in sorted(self.units, key=_unit_path):
            known = last.get(path)
            if (
                known is None
                or known.declared is not declared
                or known.namespaces is not namespaces
                or known.cluster_kinds != cluster_kinds
            ):
                known = _Finished(
                    declared,
                    namespaces,
                    cluster_kinds,
                    tuple(
                        DesiredObject(path, _with_namespace(obj, path, namespaces, cluster_kinds))
                        for obj in declared
                    ),
                )
            finished[path] = known
            objects.extend(known.objects)
        self.r._finished = finished
        return objects

    # -- configuration --

    def _config_namespaces(self) -> dict[str, str]:
        entry = self.tree.entries.get(CONFIG_FILE)
        if entry is None or not entry.is_file:
            return {}
        namespaces, error = self.r._config(entry.sha)
        if error is not None:
            self.errors.append(error)
        return namespaces

    # -- plain files --

    def _plain_files(self, owned: set[str]) -> None:
        tree = self.tree
        inside: dict[str, bool] = {}
        # Most files of a commit are the last commit's: their parses are at hand by path.
        last = self.r._last_parses
        parses: dict[str, _Parse] = {}
        unchanged = 0
        for path, directory, entry in tree.manifests:
            if owned and (path in owned or _inside(directory, owned, inside)):
                continue
            sha = entry.sha
            if entry.mode == _MODE_LINK:
                target, problem = self._resolve(path)
                if problem is not None:
                    self.errors.append(ManifestError(path, problem))
                    continue
                assert target is not None
                target_entry = tree.entries[target]
                if not target_entry.is_file:
                    self.errors.append(
                        ManifestError(path, f"symlink to a directory ({target}): not followed")
                    )
                    continue
                sha = target_entry.sha
            known = last.get(path)
            if known is None or known.sha != sha:
                parsed = self.r._parse(sha, path)
                known = _Parse(sha, parsed, _namespacing(parsed.objects))
            else:
                unchanged += 1
            parses[path] = known
            if known.parsed.errors:
                self.errors.extend(ManifestError(path, m) for m in known.parsed.errors)
            self.units.append((path, known.parsed.objects))
            self.namespacing += known.namespacing
        self.r._last_parses = parses
        self.r.stats.cache_hits += unchanged

    def _resolve(self, path: str) -> tuple[str | None, str | None]:
        """Follow symlinks inside the tree: ``(real path, None)`` or ``(None, problem)``."""
        hops = [0]
        return self._realpath(path, hops)

    def _realpath(self, path: str, hops: list[int]) -> tuple[str | None, str | None]:
        resolved = ROOT
        for name in path.split("/"):
            candidate = _join(resolved, name)
            entry = self.tree.entries.get(candidate)
            while entry is not None and entry.is_link:
                hops[0] += 1
                if hops[0] > _MAX_SYMLINK_HOPS:
                    return None, "symlink loop: not followed"
                target = self.r._small_blob(entry.sha).decode("utf-8", errors="surrogateescape")
                joined = _normalize(_parent(candidate), target)
                if joined is None or not target:
                    return None, f"symlink pointing outside the repository ({target}): not followed"
                real, problem = self._realpath(joined, hops)
                if problem is not None:
                    return None, problem
                assert real is not None
                candidate = real
                entry = self.tree.entries.get(candidate)
            if entry is None:
                return None, f"symlink to a missing path ({candidate}): not followed"
            resolved = candidate
        return resolved, None

    # -- kustomize --

    def _kustomizations(self) -> dict[str, _Kustomization]:
        return {
            directory: self._read_kustomization(directory, file)
            for directory, file in self.tree.kustomizations.items()
        }

    def _read_kustomization(self, directory: str, file: str) -> _Kustomization:
        entry = self.tree.entries[file]
        sha = entry.sha
        if entry.is_link:
            target, problem = self._resolve(file)
            if problem is not None or target is None or not self.tree.entries[target].is_file:
                return _Kustomization(
                    directory, file, problems=[f"{file}: {problem or 'not a file'}"]
                )
            sha = self.tree.entries[target].sha
        k, error = self.r._kustomization(directory, file, sha)
        if error is not None:
            self.errors.append(error)
        return k

    def _render_kustomization(
        self, root: _Kustomization, kustomizations: Mapping[str, _Kustomization]
    ) -> None:
        # The closure: the root directory plus whatever it, and every kustomization it builds
        # in, reaches outside the root.
        problems = list(root.problems)
        deps: dict[str, str] = {root.directory: self.tree.entries[root.directory].sha}
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
                if _under(path, root.directory):
                    continue
                entry = self.tree.entries.get(path)
                deps[path] = entry.sha if entry is not None else "missing"
        if problems:
            self.errors.append(
                ManifestError(root.directory, f"kustomize directory not rendered: {problems[0]}")
            )
            return
        command = render.kustomize_command(root.directory, self.r._renderers)
        if command is None:
            self.errors.append(ManifestError(root.directory, render.KUSTOMIZE_MISSING))
            return
        self._render(
            ("kustomize", root.directory, tuple(sorted(deps.items()))),
            root.directory,
            list(deps),
            lambda workdir: render.render_kustomize(
                workdir, renderers=self.r._renderers, timeout=self.r._render_timeout
            ),
        )

    # -- helm --

    def _render_chart(self, directory: str, namespace: str) -> None:
        if not self.r._renderers.get("helm"):
            self.errors.append(ManifestError(directory, render.HELM_MISSING))
            return
        release = _release_name(directory)
        sha = self.tree.entries[directory].sha
        self._render(
            ("helm", directory, sha, release, namespace),
            directory,
            [directory],
            lambda workdir: render.render_helm(
                workdir,
                release,
                namespace=namespace,
                renderers=self.r._renderers,
                timeout=self.r._render_timeout,
            ),
        )

    # -- rendering from a temporary copy --

    def _render(
        self,
        key: tuple[object, ...],
        directory: str,
        paths: list[str],
        run: Callable[[str], render.RenderResult],
    ) -> None:
        # Symlinks inside the copied paths are copied as their targets' content, so the targets
        # are part of what the render sees, and of the key.
        link_targets: dict[str, str] = {}
        link_errors: list[ManifestError] = []
        for link in self.tree.links:
            if not any(_under(link, p) for p in paths):
                continue
            target, problem = self._resolve(link)
            if problem is not None or target is None:
                link_errors.append(ManifestError(link, problem or "not followed"))
            elif self.tree.entries[target].is_file:
                link_targets[link] = self.tree.entries[target].sha
            else:
                link_errors.append(
                    ManifestError(link, f"symlink to a directory ({target}): not followed")
                )
        full_key = (*key, tuple(sorted(link_targets.items())))
        rendered = self.r._cached_render(full_key)
        if rendered is None:
            rendered = self._render_now(directory, paths, link_targets, run)
            # A timeout says nothing about the content (a busy machine); try again next time.
            if not any(render.TIMED_OUT in e.message for e in rendered.errors):
                self.r._store_render(full_key, rendered)
        self.errors.extend(link_errors)
        self.errors.extend(rendered.errors)
        self.units.append((directory, rendered.objects))
        self.namespacing += _namespacing(rendered.objects)

    def _render_now(
        self,
        directory: str,
        paths: list[str],
        link_targets: Mapping[str, str],
        run: Callable[[str], render.RenderResult],
    ) -> _Rendered:
        self.r.stats.renders += 1
        with tempfile.TemporaryDirectory(prefix="timetravel-render-") as workdir:
            problem = self._materialize(workdir, paths, link_targets)
            if problem is not None:
                return _Rendered((), (ManifestError(directory, problem),))
            target = workdir if directory == ROOT else os.path.join(workdir, *directory.split("/"))
            objects, error = run(target)
        errors: tuple[ManifestError, ...] = ()
        if error is not None:
            # Messages name files in the temporary copy; show them as repository paths.
            message = error.replace(workdir + os.sep, "").replace(workdir, ROOT)
            if len(message) > _MAX_MESSAGE:
                message = message[: _MAX_MESSAGE - 1] + "…"
            errors = (ManifestError(directory, message),)
        return _Rendered(tuple(objects), errors)

    def _materialize(
        self, workdir: str, paths: list[str], link_targets: Mapping[str, str]
    ) -> str | None:
        total = 0
        files: dict[str, str] = {}
        for path in paths:
            entry = self.tree.entries.get(path)
            if entry is None:
                continue  # a reference to nothing: the renderer reports it
            for file in [path] if not entry.is_tree else self.tree.walk(path):
                file_entry = self.tree.entries[file]
                if file_entry.is_file:
                    files[file] = file_entry.sha
                elif file in link_targets:
                    files[file] = link_targets[file]
        for file, sha in sorted(files.items()):
            parts = file.split("/")
            if any(p in ("", ".", "..", ".git") for p in parts):
                continue  # git refuses such names; a crafted tree must not escape workdir
            total += self.r._blob_size(sha)
            if total > _MAX_MATERIALIZED_BYTES:
                return "not rendered: its files exceed 256 MiB"
            destination = os.path.join(workdir, *parts)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with open(destination, "wb") as handle:
                handle.write(self.r._object_bytes(sha))
        for path in paths:  # an empty directory still has to exist to be rendered
            if path in self.tree.entries and self.tree.entries[path].is_tree:
                os.makedirs(
                    workdir if path == ROOT else os.path.join(workdir, *path.split("/")),
                    exist_ok=True,
                )
        return None


# --- kustomizations ----------------------------------------------------------------------------


def _parse_kustomization(directory: str, file: str, doc: Mapping[str, Any]) -> _Kustomization:
    """What a kustomization file builds in (``resources``/``bases``/``components``) and every
    path it may load from outside its directory."""
    k = _Kustomization(directory, file)
    for name in _REFERENCE_FIELDS:
        entries = doc.get(name)
        for ref in entries if isinstance(entries, list) else ():
            if not isinstance(ref, str) or _is_remote(ref):
                continue
            resolved = _normalize(directory, ref)
            if resolved is None:
                k.problems.append(f"{name} entry {ref!r} is outside the repository")
            else:
                k.references.append(resolved)
    # Any string that reads as a path out of this directory (patches, generators'
    # files/envs, replacements, ...) is something kustomize may load: it is copied for the
    # render and is part of the render's cache key.
    for text in _strings(doc):
        for candidate in (text, text.rpartition("=")[2]):
            if ".." not in candidate or "\n" in candidate or _is_remote(candidate):
                continue
            resolved = _normalize(directory, candidate)
            if resolved is not None and not _under(resolved, directory):
                k.escaping.append(resolved)
    return k


# --- namespaces ---------------------------------------------------------------------------------


def _config_prefix(prefix: str) -> str:
    cleaned = posixpath.normpath(prefix.strip().strip("/")) if prefix.strip("/ ") else ROOT
    return ROOT if cleaned in ("", ".") else cleaned


def _config_namespaces(data: bytes) -> tuple[dict[str, str], ManifestError | None]:
    """``[namespaces]`` of timetravel.toml as prefixes, or nothing and why."""
    try:
        config = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, ManifestError(CONFIG_FILE, f"not read: {exc}")
    table = config.get("namespaces", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) and v for v in table.values()):
        return {}, ManifestError(
            CONFIG_FILE, "[namespaces] must map directories to namespace names"
        )
    return {_config_prefix(prefix): namespace for prefix, namespace in table.items()}, None


class _Namespaces:
    """Default namespace by longest directory prefix; on equal prefixes the explicit argument
    beats timetravel.toml, which beats an Argo CD Application."""

    def __init__(self, *layers: Mapping[str, str]) -> None:
        self._by_prefix: dict[str, str] = {}
        for layer in layers:
            self._by_prefix.update(layer)
        self.key = frozenset(self._by_prefix.items())
        self._found: dict[str, str] = {}  # path -> namespace, for paths looked up before

    def lookup(self, path: str) -> str:
        if (found := self._found.get(path)) is None:
            found = self._found[path] = self._longest_prefix(path)
        return found

    def _longest_prefix(self, path: str) -> str:
        if path in self._by_prefix:
            return self._by_prefix[path]
        for ancestor in _ancestors(path):
            if ancestor in self._by_prefix:
                return self._by_prefix[ancestor]
        return DEFAULT_NAMESPACE


def _with_namespace(
    obj: dict[str, Any], path: str, namespaces: _Namespaces, cluster_kinds: frozenset[str]
) -> dict[str, Any]:
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


_unit_path = operator.itemgetter(0)  # of (path, objects)


def _inside(directory: str, owned: set[str], known: dict[str, bool]) -> bool:
    """Whether ``directory`` is one of ``owned`` or below one; ``known`` remembers answers."""
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
        current = _parent(current)
    for visited in chain:
        known[visited] = answer
    return answer


def _namespacing(objects: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The objects that decide other objects' namespaces (Argo CD Applications, CRDs)."""
    return tuple(obj for obj in objects if obj.get("kind") in _NAMESPACING_KINDS)


def _cluster_scoped_crd_kinds(objects: Iterable[dict[str, Any]]) -> set[str]:
    """Kinds that a CustomResourceDefinition in the same commit declares cluster-scoped."""
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


def _applications(objects: Iterable[dict[str, Any]], remote_urls: set[str]) -> dict[str, str]:
    """``{source path: destination namespace}`` from Argo CD Applications that deploy from this
    repository (any repository, when this clone has no network remote to compare with)."""
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
            if remote_urls and isinstance(url, str) and _normalize_url(url) not in remote_urls:
                continue  # deploys a directory of another repository
            found.setdefault(_config_prefix(source["path"]), namespace)
    return found


def _remote_urls(repo: git.Repo) -> set[str]:
    urls: set[str] = set()
    try:
        for remote in repo.remotes:
            urls.update(remote.urls)
    except (git.GitCommandError, ValueError):
        return set()
    # A clone of a local path or bundle cannot be compared with an Application's repoURL.
    network = {u for u in urls if ("://" in u and not u.startswith("file://")) or "@" in u}
    return {_normalize_url(u) for u in network}


def _normalize_url(url: str) -> str:
    """``git@github.com:org/repo.git`` and ``https://github.com/org/repo`` compare equal."""
    text = url.strip().lower()
    scp_like = "://" not in text
    text = re.sub(r"^[a-z0-9+.-]+://", "", text)
    text = re.sub(r"^[^@/]+@", "", text)
    text = re.sub(r":\d+/", "/", text, count=1)
    if scp_like:
        text = text.replace(":", "/", 1)
    return text.removesuffix("/").removesuffix(".git")


def _release_name(directory: str) -> str:
    # Helm release names are DNS labels (at most 53 characters).
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

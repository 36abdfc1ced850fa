"""Desired state: the Kubernetes objects a git commit declares.

``DesiredReader.read_commit(sha)`` turns one commit's tree into a :class:`DesiredSet`, by the
domain's rules: the tree's index (:mod:`timetravel.domain.repotree`), which directories are
rendered and what each render reads (:mod:`timetravel.domain.kustomize`), default namespaces
(:mod:`timetravel.domain.namespaces`, :mod:`timetravel.domain.argocd`), keys and order
(:mod:`timetravel.domain.desired`). Here they meet git, the renderers and the caches:

- A manifest file is parsed once per blob: results are cached by blob id on the reader (LRU)
  and optionally in a caller's ``blob_cache`` (the store can back it with SQLite).
- A kustomization or chart is rendered (:mod:`timetravel.sources.render`) from a temporary copy
  of exactly the files it can reach, cached by the ids of the trees and blobs copied, which
  are all the render can see: an unchanged kustomization is rendered once for a whole history.
- Reading the commits of a history one after the other costs little more than what changed: a
  commit's tree is put together from the last commit's directories that did not change (tree
  objects through git's long-lived ``cat-file`` process), and a file or rendered directory whose
  objects and namespace defaults did not change yields the very same ``DesiredObject``s again.
- Nothing is read outside the commit's tree: symlinks are resolved inside the tree and reported
  when they point outside it, dangle or loop. Every problem becomes a :class:`ManifestError`;
  ``read_commit`` raises only for a commit that does not exist.

Objects in a ``DesiredSet`` are shared with the caches: treat them as read-only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import git

from timetravel.domain.argocd import application_namespaces, comparable_remote_urls
from timetravel.domain.desired import (
    DesiredSet,
    ManifestError,
    NamespacedUnit,
    Unit,
    namespace_units,
)
from timetravel.domain.kustomize import (
    Kustomization,
    chart_roots,
    is_render_input,
    kustomize_roots,
    owned_directories,
    parse_kustomization,
    release_name,
    render_inputs,
)
from timetravel.domain.manifests import (
    MAX_MANIFEST_BYTES,
    ParsedFile,
    load_yaml_mapping,
    parse_manifest_file,
    too_large,
)
from timetravel.domain.namespaces import (
    CONFIG_FILE,
    NamespaceDefaults,
    cluster_scoped_crd_kinds,
    config_namespaces,
    namespacing,
)
from timetravel.domain.repopaths import ROOT, as_directory, real_path, under
from timetravel.domain.repotree import Tree, build_tree, tree_entries
from timetravel.sources import render

# ROOT, DesiredSet and ManifestError are the domain's, re-exported: callers read them with the
# reader.
__all__ = [
    "ROOT",
    "BlobCache",
    "CommitInfo",
    "DesiredReader",
    "DesiredSet",
    "ManifestError",
    "ReaderStats",
    "blob_cache_key",
    "first_parent_history",
]

# --- public types -------------------------------------------------------------------------------


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


# A kustomization as read from its file, and the error that reading it reported.
_ReadKustomization = tuple[Kustomization, ManifestError | None]


@dataclass(frozen=True, slots=True)
class _Parse:
    """A file's parse, and which of its objects decide other objects' namespaces."""

    sha: str  # the blob parsed
    parsed: ParsedFile
    namespacing: tuple[dict[str, Any], ...]


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
            as_directory(prefix): namespace
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
        self._trees: dict[tuple[str, str], Tree] = {}  # the last commit's directories
        self._kustomization_files: dict[tuple[str, str, str], _ReadKustomization] = {}
        self._config_files: dict[str, tuple[dict[str, str], ManifestError | None]] = {}
        self._namespace_defaults: dict[frozenset[tuple[str, str]], NamespaceDefaults] = {}
        self._last_parses: dict[str, _Parse] = {}  # the last commit's files, by path
        self._finished: dict[str, NamespacedUnit] = {}  # the last commit's units, by path
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

    def _tree(self, root_sha: str) -> Tree:
        """The whole tree of a commit, reusing each directory of the last one read that is
        unchanged (same path, same tree id): a commit usually changes a few files."""
        root = build_tree(root_sha, lambda sha: tree_entries(self._object_bytes(sha)), self._trees)
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
                    Kustomization(directory, file),
                    ManifestError(file, f"kustomization not read: {error}"),
                )
            else:
                known = (parse_kustomization(directory, file, doc), None)
            self._kustomization_files[key] = known
        return known

    def _config(self, sha: str) -> tuple[dict[str, str], ManifestError | None]:
        """``[namespaces]`` of a timetravel.toml blob, and the error to report about it."""
        if (known := self._config_files.get(sha)) is None:
            namespaces, error = config_namespaces(self._small_blob(sha))
            known = (namespaces, None if error is None else ManifestError(CONFIG_FILE, error))
            self._config_files[sha] = known
        return known

    def _namespaces(self, apps: Mapping[str, str], config: Mapping[str, str]) -> NamespaceDefaults:
        """Namespace defaults for these layers, kept with the lookups already made while
        commits keep the same defaults (they seldom change)."""
        namespaces = NamespaceDefaults(apps, config, self._overrides)
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

    def __init__(self, reader: DesiredReader, tree: Tree) -> None:
        self.r = reader
        self.tree = tree
        self.errors: list[ManifestError] = []
        # (path, objects) of each file read and each directory rendered, in the order read.
        self.units: list[Unit] = []
        # Of those objects, the ones that decide other objects' namespaces, in the same order.
        self.namespacing: list[dict[str, Any]] = []

    def run(self) -> DesiredSet:
        config_namespaces = self._config_namespaces()
        kustomizations = self._kustomizations()
        charts = set(self.tree.charts)
        self._plain_files(owned_directories(kustomizations, charts))
        apps = self._applications()
        namespaces = self.r._namespaces(apps, config_namespaces)
        # Charts first: an app-of-apps chart yields the Applications that say which referenced
        # kustomizations are deployed on their own as well.
        for directory in chart_roots(charts, kustomizations):
            self._render_chart(directory, namespaces.lookup(directory))
        apps = {**self._applications(), **apps}
        for directory in kustomize_roots(kustomizations, charts, apps):
            self._render_kustomization(kustomizations[directory], kustomizations)
        # Applications that came out of any render count for namespaces too; those written in
        # plain files win on equal paths, being what a person wrote down.
        apps = {**self._applications(), **apps}
        namespaces = self.r._namespaces(apps, config_namespaces)
        cluster_kinds = frozenset(
            cluster_scoped_crd_kinds(self._declared("CustomResourceDefinition"))
        )
        objects, self.r._finished = namespace_units(
            self.units, namespaces, cluster_kinds, self.r._finished
        )
        self.errors.sort(key=lambda e: (e.path, e.message))
        return DesiredSet(objects=tuple(objects), errors=tuple(self.errors))

    def _declared(self, kind: str) -> list[dict[str, Any]]:
        """The objects of ``kind`` (one of ``NAMESPACING_KINDS``) read or rendered so far."""
        return [obj for obj in self.namespacing if obj.get("kind") == kind]

    def _applications(self) -> dict[str, str]:
        """The directories that Applications read or rendered so far deploy, with namespaces."""
        return application_namespaces(self._declared("Application"), self.r._remote_urls)

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
        inside: dict[str, bool] = {}  # directory -> whether a render owns it
        # Most files of a commit are the last commit's: their parses are at hand by path.
        last = self.r._last_parses
        parses: dict[str, _Parse] = {}
        unchanged = 0
        for path, directory, entry in tree.manifests:
            if is_render_input(path, directory, owned, inside):
                continue
            sha = entry.sha
            if entry.is_link:
                followed, problem = self._follow(path)
                if followed is None:
                    self.errors.append(ManifestError(path, problem))
                    continue
                sha = followed
            known = last.get(path)
            if known is None or known.sha != sha:
                parsed = self.r._parse(sha, path)
                known = _Parse(sha, parsed, namespacing(parsed.objects))
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
        return real_path(path, self.tree.entries, self._link_target)

    def _follow(self, link: str) -> tuple[str | None, str]:
        """The blob a symlink leads to inside the tree: ``(blob id, "")``, or ``(None, why
        not)``."""
        target, problem = self._resolve(link)
        if target is None:
            return None, problem or "not followed"
        if not self.tree.entries[target].is_file:
            return None, f"symlink to a directory ({target}): not followed"
        return self.tree.entries[target].sha, ""

    def _link_target(self, path: str) -> str | None:
        entry = self.tree.entries[path]
        if not entry.is_link:
            return None
        return self.r._small_blob(entry.sha).decode("utf-8", errors="surrogateescape")

    # -- kustomize --

    def _kustomizations(self) -> dict[str, Kustomization]:
        return {
            directory: self._read_kustomization(directory, file)
            for directory, file in self.tree.kustomizations.items()
        }

    def _read_kustomization(self, directory: str, file: str) -> Kustomization:
        entry = self.tree.entries[file]
        sha = entry.sha
        if entry.is_link:
            target, problem = self._resolve(file)
            if problem is not None or target is None or not self.tree.entries[target].is_file:
                return Kustomization(
                    directory, file, problems=(f"{file}: {problem or 'not a file'}",)
                )
            sha = self.tree.entries[target].sha
        k, error = self.r._kustomization(directory, file, sha)
        if error is not None:
            self.errors.append(error)
        return k

    def _render_kustomization(
        self, root: Kustomization, kustomizations: Mapping[str, Kustomization]
    ) -> None:
        inputs = render_inputs(root, kustomizations)
        problems = inputs.problems
        deps: dict[str, str] = {}  # path -> the id of what the render reads there
        for path in inputs.paths:
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
        release = release_name(directory)
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
            if not any(under(link, p) for p in paths):
                continue
            followed, problem = self._follow(link)
            if followed is None:
                link_errors.append(ManifestError(link, problem))
            else:
                link_targets[link] = followed
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
        self.namespacing += namespacing(rendered.objects)

    def _render_now(
        self,
        directory: str,
        paths: list[str],
        link_targets: Mapping[str, str],
        run: Callable[[str], render.RenderResult],
    ) -> _Rendered:
        self.r.stats.renders += 1
        files, directories = self.tree.contents(paths, link_targets)
        objects, error = render.render_copy(
            directory,
            files,
            directories,
            read=self.r._object_bytes,
            size=self.r._blob_size,
            run=run,
        )
        errors = () if error is None else (ManifestError(directory, error),)
        return _Rendered(tuple(objects), errors)


def _remote_urls(repo: git.Repo) -> set[str]:
    urls: set[str] = set()
    try:
        for remote in repo.remotes:
            urls.update(remote.urls)
    except (git.GitCommandError, ValueError):
        return set()
    return comparable_remote_urls(urls)

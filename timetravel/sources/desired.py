"""Desired state: the Kubernetes objects a git commit declares.

``DesiredReader.read_commit(sha)`` turns one commit's tree into a :class:`DesiredSet`, by the
domain's rules: the tree's index (:mod:`timetravel.domain.repotree`), which directories are
rendered and what each render reads (:mod:`timetravel.domain.kustomize`), default namespaces
(:mod:`timetravel.domain.namespaces`, :mod:`timetravel.domain.argocd`), keys and order
(:mod:`timetravel.domain.desired`). Here they meet git, the renderers and the caches:

- A manifest file is parsed once per blob: results are cached by blob id on the reader (LRU)
  and optionally in a caller's ``blob_cache`` (the store can back it with SQLite).
- A kustomization or chart is rendered (:mod:`timetravel.sources.render`) from a temporary copy
  of exactly the files it can reach. A kustomization's render is cached by the ids of what its
  build reads (:func:`~timetravel.domain.kustomize.render_reads`), a chart's by its tree: an
  unchanged kustomization is rendered once for a whole history, whatever else changes beside
  it. :meth:`DesiredReader.prefetch` runs the next commits' renders ahead, one per core.
- Tool configuration is left out and listed as skipped
  (:mod:`timetravel.domain.apigroups`); an object declared differently in several places is
  kept once, by the rule of :mod:`timetravel.domain.desired`, and the conflict listed. Both
  depend on whose state is read: the reader's ``cluster`` and ``folder``.
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

import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import git

from timetravel.domain.apigroups import tool_reason
from timetravel.domain.argocd import (
    application_namespaces,
    application_paths,
    comparable_remote_urls,
)
from timetravel.domain.desired import (
    DesiredSet,
    ManifestError,
    NamespacedUnit,
    Preference,
    SkippedFile,
    Unit,
    namespace_units,
    resolve_conflicts,
    within,
)
from timetravel.domain.kustomize import (
    KUSTOMIZATION_FILES,
    Kustomization,
    chart_roots,
    is_render_input,
    kustomize_roots,
    owned_directories,
    parse_kustomization,
    release_name,
    render_inputs,
    render_reads,
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
    config_paths,
    namespacing,
)
from timetravel.domain.repopaths import ROOT, as_directory, join, real_path, under
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
    prefetched: int = 0  # of the renders, those run ahead by prefetch, in parallel


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


# A render prefetch reads its files into memory before a thread copies them; larger ones wait.
_PREFETCH_MAX_BYTES = 64 * 1024 * 1024

# A kustomization as read from its file, and the error that reading it reported.
_ReadKustomization = tuple[Kustomization, ManifestError | None]


@dataclass(frozen=True, slots=True)
class _Parse:
    """A file's parse, and which of its objects decide other objects' namespaces."""

    sha: str  # the blob parsed
    parsed: ParsedFile
    namespacing: tuple[dict[str, Any], ...]
    objects: tuple[dict[str, Any], ...]  # the cluster objects of ``parsed``
    skipped: str | None  # why some of ``parsed``'s objects are not desired state


@dataclass(frozen=True, slots=True)
class _Rendered:
    objects: tuple[dict[str, Any], ...]
    errors: tuple[ManifestError, ...]
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class _Config:
    """What one version of timetravel.toml says, and what could not be read of it."""

    namespaces: dict[str, str]
    paths: tuple[str, ...]
    paths_for: str
    errors: tuple[ManifestError, ...]


def _cluster_objects(
    objects: tuple[dict[str, Any], ...], served: frozenset[str]
) -> tuple[tuple[dict[str, Any], ...], str | None]:
    """The cluster objects of ``objects`` (the very tuple when all are), and why the others
    are not desired state."""
    reasons = [r for obj in objects if (r := tool_reason(obj, served)) is not None]
    if not reasons:
        return objects, None
    kept = tuple(obj for obj in objects if tool_reason(obj, served) is None)
    more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return kept, reasons[0] + more


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
        cluster: str | None = None,
        folder: str = "",
        served_groups: frozenset[str] = frozenset(),
        render_workers: int | None = None,
    ) -> None:
        """``cluster`` and ``folder`` say whose desired state is read (the cluster's choice
        among conflicting declarations, ``[desired]`` of timetravel.toml; the folder of the
        repository it follows); ``served_groups`` are API groups the recorded cluster serves
        (:mod:`timetravel.domain.apigroups`); ``render_workers`` renders run at once by
        :meth:`prefetch` (default: one per core)."""
        self._repo = repo
        self._cluster = cluster
        self._folder = folder
        self._served = served_groups
        self._workers = render_workers or os.cpu_count() or 1
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
        self._prefetched: dict[str, Tree] = {}  # trees of commits prefetch looked at, by id
        self._kustomization_files: dict[tuple[str, str, str], _ReadKustomization] = {}
        self._config_files: dict[str, _Config] = {}
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

    def prefetch(self, commit_shas: Sequence[str]) -> int:
        """Render the kustomizations that reading ``commit_shas`` will need and the cache does
        not hold, ``render_workers`` at a time; returns how many ran.

        Best effort, for a backfill: ``read_commit`` afterwards finds them in the cache, and
        renders itself whatever this did not foresee (a root deployed only through an
        Application, a chart). git's object reader is one process, so blobs are read here and
        only the copies and the tools run in the pool's threads.
        """
        jobs: dict[tuple[object, ...], _Job] = {}
        known = self._trees
        for sha in commit_shas:
            root_sha = self._repo.commit(sha).tree.hexsha
            if root_sha in self._sets:
                continue
            tree = self._prefetched.get(root_sha) or build_tree(
                root_sha, lambda s: tree_entries(self._object_bytes(s)), known
            )
            self._prefetched[root_sha] = tree
            known = {**tree.subtrees, (ROOT, root_sha): tree}
            for job in _CommitRead(self, tree).kustomize_jobs():
                jobs.setdefault(job.key, job)
        work: list[tuple[_Job, dict[str, bytes]]] = []
        for job in jobs.values():
            files, _ = job.contents()
            shas = set(files.values())
            if sum(self._blob_size(sha) for sha in shas) > _PREFETCH_MAX_BYTES:
                continue  # rendered, and refused by its size limit, when read
            work.append((job, {sha: self._object_bytes(sha) for sha in shas}))
        if not work:
            return 0
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            running = [
                (job, pool.submit(job.copy_and_run, blobs.__getitem__, _sizes(blobs)))
                for job, blobs in work
            ]
            for job, future in running:
                job.result(future.result(), self)
        self.stats.renders += len(running)
        self.stats.prefetched += len(running)
        return len(running)

    # -- trees --

    def _tree(self, root_sha: str) -> Tree:
        """The whole tree of a commit, reusing each directory of the last one read that is
        unchanged (same path, same tree id): a commit usually changes a few files."""
        root = self._prefetched.pop(root_sha, None) or build_tree(
            root_sha, lambda sha: tree_entries(self._object_bytes(sha)), self._trees
        )
        if len(self._prefetched) > 4096:
            self._prefetched.clear()
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

    def _config(self, sha: str) -> _Config:
        """``[namespaces]`` and ``[desired]`` of a timetravel.toml blob, and the errors to
        report about it."""
        if (known := self._config_files.get(sha)) is None:
            data = self._small_blob(sha)
            namespaces, error = config_namespaces(data)
            paths, paths_for, paths_error = config_paths(data, self._cluster)
            errors = tuple(
                ManifestError(CONFIG_FILE, e)
                for e in dict.fromkeys((error, paths_error))
                if e is not None
            )
            known = _Config(namespaces, paths, paths_for, errors)
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
        self.skipped: list[SkippedFile] = []
        # (path, objects) of each file read and each directory rendered, in the order read.
        self.units: list[Unit] = []
        # Of those objects, the ones that decide other objects' namespaces, in the same order.
        self.namespacing: list[dict[str, Any]] = []

    def run(self) -> DesiredSet:
        config = self._read_config()
        config_namespaces = config.namespaces
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
        self.skipped.sort(key=lambda s: s.path)
        desired = within(
            DesiredSet(tuple(objects), tuple(self.errors), tuple(self.skipped)), self.r._folder
        )
        preference = Preference(
            config.paths,
            config.paths_for,
            application_paths(self.namespacing, self.r._remote_urls, self.r._cluster),
        )
        chosen, conflicts = resolve_conflicts(desired.objects, preference)
        return DesiredSet(tuple(chosen), desired.errors, desired.skipped, tuple(conflicts))

    def _declared(self, kind: str) -> list[dict[str, Any]]:
        """The objects of ``kind`` (one of ``NAMESPACING_KINDS``) read or rendered so far."""
        return [obj for obj in self.namespacing if obj.get("kind") == kind]

    def _applications(self) -> dict[str, str]:
        """The directories that Applications read or rendered so far deploy, with namespaces."""
        return application_namespaces(self._declared("Application"), self.r._remote_urls)

    # -- configuration --

    def _read_config(self) -> _Config:
        entry = self.tree.entries.get(CONFIG_FILE)
        if entry is None or not entry.is_file:
            return _Config({}, (), "", ())
        config = self.r._config(entry.sha)
        self.errors.extend(config.errors)
        return config

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
                objects, skipped = _cluster_objects(parsed.objects, self.r._served)
                known = _Parse(sha, parsed, namespacing(objects), objects, skipped)
            else:
                unchanged += 1
            parses[path] = known
            if known.parsed.errors:
                self.errors.extend(ManifestError(path, m) for m in known.parsed.errors)
            if known.skipped is not None:
                self.skipped.append(SkippedFile(path, known.skipped))
            self.units.append((path, known.objects))
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
        job = self._kustomize_job(root, kustomizations)
        if isinstance(job, ManifestError):
            self.errors.append(job)
        else:
            self._render(job)

    def _kustomize_job(
        self, root: Kustomization, kustomizations: Mapping[str, Kustomization]
    ) -> _Job | ManifestError:
        """How to render ``root``, keyed by everything its output depends on; or why it
        cannot be rendered."""
        inputs = render_inputs(root, kustomizations)
        if inputs.problems:
            return ManifestError(
                root.directory, f"kustomize directory not rendered: {inputs.problems[0]}"
            )
        if render.kustomize_command(root.directory, self.r._renderers) is None:
            return ManifestError(root.directory, render.KUSTOMIZE_MISSING)
        # The key holds what the build reads (render_reads), not the whole directory copied:
        # a README or a test root beside it does not make it render again.
        files, directories = render_reads(root, kustomizations)
        entries = self.tree.entries
        deps: dict[str, str] = {}
        for path in files:
            entry = entries.get(path)
            deps[path] = entry.sha if entry is not None else "missing"
        for directory in directories:
            for name in KUSTOMIZATION_FILES:
                if (entry := entries.get(join(directory, name))) is not None:
                    deps[join(directory, name)] = entry.sha
        renderers, timeout = self.r._renderers, self.r._render_timeout
        return self._job(
            ("kustomize", root.directory, tuple(sorted(deps.items()))),
            root.directory,
            list(inputs.paths),
            lambda workdir: render.render_kustomize(workdir, renderers=renderers, timeout=timeout),
        )

    def kustomize_jobs(self) -> list[_Job]:
        """The kustomize renders this commit needs that are not in the cache yet, as far as
        the tree alone tells (roots deployed only through an Application are not known
        before the commit's manifests are read): for :meth:`DesiredReader.prefetch`."""
        kustomizations = self._kustomizations()
        jobs = []
        for directory in kustomize_roots(kustomizations, set(self.tree.charts), ()):
            job = self._kustomize_job(kustomizations[directory], kustomizations)
            if isinstance(job, _Job) and job.key not in self.r._renders:
                jobs.append(job)
        return jobs

    # -- helm --

    def _render_chart(self, directory: str, namespace: str) -> None:
        if not self.r._renderers.get("helm"):
            self.errors.append(ManifestError(directory, render.HELM_MISSING))
            return
        release = release_name(directory)
        sha = self.tree.entries[directory].sha
        renderers, timeout = self.r._renderers, self.r._render_timeout
        self._render(
            self._job(
                ("helm", directory, sha, release, namespace),
                directory,
                [directory],
                lambda workdir: render.render_helm(
                    workdir,
                    release,
                    namespace=namespace,
                    renderers=renderers,
                    timeout=timeout,
                ),
            )
        )

    # -- rendering from a temporary copy --

    def _job(
        self,
        key: tuple[object, ...],
        directory: str,
        paths: list[str],
        run: Callable[[str], render.RenderResult],
    ) -> _Job:
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
        return _Job(full_key, directory, self.tree, paths, link_targets, run, tuple(link_errors))

    def _render(self, job: _Job) -> None:
        rendered = self.r._cached_render(job.key)
        if rendered is None:
            self.r.stats.renders += 1
            rendered = job.result(job.copy_and_run(self.r._object_bytes, self.r._blob_size), self.r)
        self.errors.extend(job.link_errors)
        self.errors.extend(rendered.errors)
        if rendered.skipped is not None:
            self.skipped.append(SkippedFile(job.directory, rendered.skipped))
        self.units.append((job.directory, rendered.objects))
        self.namespacing += namespacing(rendered.objects)


@dataclass(frozen=True, slots=True)
class _Job:
    """One render: its cache key, the copy it runs in, and how it runs."""

    key: tuple[object, ...]
    directory: str
    tree: Tree
    paths: list[str]  # copied for the render, with everything under them
    link_targets: dict[str, str]  # symlink -> the blob copied in its place
    run: Callable[[str], render.RenderResult]
    link_errors: tuple[ManifestError, ...]

    def contents(self) -> tuple[dict[str, str], list[str]]:
        """``({repository path: blob id}, [directory])`` of the copy."""
        return self.tree.contents(self.paths, self.link_targets)

    def copy_and_run(
        self, read: Callable[[str], bytes], size: Callable[[str], int]
    ) -> render.RenderResult:
        files, directories = self.contents()
        return render.render_copy(
            self.directory, files, directories, read=read, size=size, run=self.run
        )

    def result(self, done: render.RenderResult, reader: DesiredReader) -> _Rendered:
        """What the render gave, cached on ``reader`` unless it timed out."""
        objects, error = done
        kept, skipped = _cluster_objects(tuple(objects), reader._served)
        errors = () if error is None else (ManifestError(self.directory, error),)
        rendered = _Rendered(kept, errors, skipped)
        # A timeout says nothing about the content (a busy machine); try again next time.
        if error is None or render.TIMED_OUT not in error:
            reader._store_render(self.key, rendered)
        return rendered


def _sizes(blobs: Mapping[str, bytes]) -> Callable[[str], int]:
    return lambda sha: len(blobs[sha])


def _remote_urls(repo: git.Repo) -> set[str]:
    urls: set[str] = set()
    try:
        for remote in repo.remotes:
            urls.update(remote.urls)
    except (git.GitCommandError, ValueError):
        return set()
    return comparable_remote_urls(urls)

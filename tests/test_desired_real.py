"""Desired state over the two real GitOps histories in ../shared/testdata/gitops-real (podinfo,
microservices-demo), checked at a dozen moments against a computation that shares nothing
with the reader: the commit's files listed by ``git ls-tree`` and read by ``git show`` with
PyYAML, its kustomize roots built by ``kubectl kustomize`` in a ``git archive`` of the whole
commit. Conflicting declarations and skipped tool configuration are accounted for: every
declaration is either in the set, or lost to the declaration the rule chose, with the conflict
reported; every file of tool configuration is listed as skipped."""

from __future__ import annotations

import io
import json
import posixpath
import shutil
import subprocess
import tarfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from timetravel.domain.desired import DesiredSet
from timetravel.sources.desired import DesiredReader, first_parent_history

from .conftest import SHARED

REAL = SHARED / "testdata/gitops-real"
HISTORIES = {"podinfo": "master", "microservices-demo": "main"}
MOMENTS = 6  # a history; the last is the tip

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (its built-in kustomize) is not installed"
)
KUBECTL_ONLY: dict[str, str | None] = {
    "kubectl": shutil.which("kubectl"),
    "kustomize": None,
    "helm": None,
}

# --- the independent computation ----------------------------------------------------------------

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Tools' configuration seen in these histories (skaffold.yaml), and kustomize's own files.
TOOL_PREFIXES = ("skaffold/", "kind.x-k8s.io/", "config.kubernetes.io/")
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "ClusterIssuer",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "APIService",
    "IngressClass",
    "PodSecurityPolicy",
}
ASIDE = {"test", "tests", "testdata", "e2e", "example", "examples", "samples", ".github", "hack"}


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that, as Kubernetes, refuses duplicate keys and keeps
    timestamps as text."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        keys = [
            self.construct_object(k, deep=True)
            for k, _ in node.value
            if k.tag != "tag:yaml.org,2002:merge"
        ]
        if len(keys) != len(set(map(str, keys))):
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", node.start_mark)
        mapping = super().construct_mapping(node, deep=deep)
        return {str(k): v for k, v in mapping.items()}


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def objects_of(docs: list[Any]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if not isinstance(doc.get("apiVersion"), str) or not isinstance(doc.get("kind"), str):
            continue
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            yield from (i for i in doc["items"] if isinstance(i, dict))
        else:
            yield doc


def load(path: str, data: bytes) -> list[Any] | None:
    """The documents of a file, or None when it is not readable YAML/JSON."""
    text = data.decode("utf-8", errors="strict")
    if "apiVersion" not in text or "kind" not in text:
        return []
    try:
        if path.endswith(".json"):
            return [json.loads(text)]
        return list(yaml.load_all(text, Loader=StrictLoader))
    except (yaml.YAMLError, ValueError):
        return None


def under_any(path: str, directories: set[str]) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:i]) in directories for i in range(1, len(parts) + 1))


class Expected:
    """What one commit declares, computed from git and kubectl alone."""

    def __init__(self, repo: git.Repo, sha: str, checkout: Path) -> None:
        self.declarations: list[tuple[str, dict[str, Any]]] = []  # (path, object)
        self.error_paths: set[str] = set()
        self.skipped: set[str] = set()
        listing = repo.git.ls_tree("-r", "--full-tree", sha).splitlines()
        blobs = {line.split("\t", 1)[1]: line.split()[2] for line in listing}
        assert not any(line.startswith("120000") for line in listing), "no symlinks expected"
        directory_files: dict[str, set[str]] = defaultdict(set)
        for path in blobs:
            directory_files[posixpath.dirname(path) or "."].add(posixpath.basename(path))
        kustomizations: dict[str, dict[str, Any]] = {}
        for directory, names in directory_files.items():
            for name in KUSTOMIZATION_NAMES:
                if name in names:
                    file = name if directory == "." else f"{directory}/{name}"
                    doc = yaml.safe_load(repo.git.show(f"{sha}:{file}"))
                    kustomizations[directory] = doc if isinstance(doc, dict) else {}
                    break
        charts = {d for d, names in directory_files.items() if "Chart.yaml" in names}
        referenced = set()
        for directory, doc in kustomizations.items():
            for field in ("resources", "bases", "components"):
                for ref in doc.get(field) or []:
                    if isinstance(ref, str):
                        target = posixpath.normpath(posixpath.join(directory, ref))
                        if target in kustomizations and target != directory:
                            referenced.add(target)
        owned = set(kustomizations) | charts
        self.roots = sorted(
            d
            for d, doc in kustomizations.items()
            if doc.get("kind") != "Component"
            and d not in referenced
            and not under_any(posixpath.dirname(d), charts)
        )
        chart_roots = [
            d
            for d in sorted(charts)
            if d not in kustomizations and not under_any(posixpath.dirname(d), owned)
        ]
        self.error_paths.update(chart_roots)  # helm is not used here: one error each
        for path in sorted(blobs):
            if not path.lower().endswith((".yaml", ".yml", ".json")):
                continue
            if under_any(posixpath.dirname(path), owned):
                continue
            docs = load(path, repo.odb.stream(bytes.fromhex(blobs[path])).read())
            if docs is None:
                self.error_paths.add(path)
                continue
            objects = [
                o
                for o in objects_of(docs)
                if not o["apiVersion"].startswith("kustomize.config.k8s.io/")
            ]
            strays = [d for d in docs if d is not None and not list(objects_of([d]))]
            if objects and strays:
                self.error_paths.add(path)  # a manifest that lost a document's kind
            for obj in objects:
                if obj["apiVersion"].startswith(TOOL_PREFIXES):
                    self.skipped.add(path)
                else:
                    self.declarations.append((path, obj))
        for root in self.roots:
            done = subprocess.run(
                ["kubectl", "kustomize", str(checkout / root)],
                capture_output=True,
                check=False,
            )
            if done.returncode != 0:
                self.error_paths.add(root)
                continue
            for obj in objects_of(list(yaml.load_all(done.stdout, Loader=StrictLoader))):
                self.declarations.append((root, obj))
        crd_cluster_kinds = {
            o["spec"]["names"]["kind"]
            for _, o in self.declarations
            if o["kind"] == "CustomResourceDefinition"
            and o.get("spec", {}).get("scope") == "Cluster"
        }
        for _, obj in self.declarations:
            if obj["kind"] not in CLUSTER_SCOPED | crd_cluster_kinds:
                obj.setdefault("metadata", {}).setdefault("namespace", "default")

    def by_key(self) -> dict[tuple[str, str, str, str], list[tuple[str, dict[str, Any]]]]:
        found: dict[tuple[str, str, str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for path, obj in self.declarations:
            meta = obj.get("metadata") or {}
            if not meta.get("name"):
                continue
            group = obj["apiVersion"].rpartition("/")[0]
            found[(group, obj["kind"], meta.get("namespace", ""), meta["name"])].append((path, obj))
        return found


def chosen_path(paths: list[str]) -> str:
    """The rule, for repositories with neither timetravel.toml nor Argo CD Applications."""
    main = [p for p in paths if ASIDE.isdisjoint(p.split("/"))]
    return max(main) if main and len(main) < len(paths) else max(paths)


# --- the histories ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(HISTORIES))
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    name = request.param
    bundle = REAL / f"{name}.bundle"
    if not bundle.exists():
        pytest.skip(f"{bundle} is not there: the shared test data lies beside the checkout in CI")
    clone = tmp_path_factory.mktemp(name)
    repo = git.Repo.clone_from(str(bundle), clone / "repo", branch=HISTORIES[name])
    commits = first_parent_history(repo, HISTORIES[name])
    step = len(commits) / MOMENTS
    moments = [commits[round(step * (i + 1)) - 1].sha for i in range(MOMENTS)]
    reader = DesiredReader(repo, renderers=KUBECTL_ONLY, render_workers=2)
    reader.prefetch(moments)  # renders ahead, in parallel, as a backfill does
    read = {sha: reader.read_commit(sha) for sha in moments}
    assert reader.stats.renders == reader.stats.prefetched  # every render was foreseen
    return name, repo, moments, read, clone


def test_desired_objects_at_a_dozen_moments_equal_an_independent_computation(history) -> None:
    name, repo, moments, read, tmp = history
    compared = 0
    conflicts = 0
    for sha in moments:
        checkout = tmp / sha
        checkout.mkdir()
        archive = subprocess.run(
            ["git", "-C", repo.working_tree_dir, "archive", sha], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(checkout, filter="data")
        expected = Expected(repo, sha, checkout)
        desired: DesiredSet = read[sha]
        got: dict[tuple[str, str, str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for item in desired.objects:
            meta = item.obj.get("metadata") or {}
            if meta.get("name"):
                group = item.obj["apiVersion"].rpartition("/")[0]
                got[(group, item.obj["kind"], meta.get("namespace", ""), meta["name"])].append(
                    (item.path, item.obj)
                )
        reported = {c.key: c for c in desired.conflicts}
        want = expected.by_key()
        assert set(got) == set(want), (name, sha)
        for key, declarations in want.items():
            objs = [obj for _, obj in declarations]
            if all(obj == objs[0] for obj in objs):
                # Declared once, or the same everywhere: every declaration stays.
                assert sorted(p for p, _ in got[key]) == sorted(p for p, _ in declarations), key
                assert all(obj == objs[0] for _, obj in got[key]), key
                assert key not in reported, key
            else:
                paths = [p for p, _ in declarations]
                chosen = chosen_path(paths)
                [(path, obj)] = got[key]
                assert path == chosen, (key, paths)
                assert obj in [o for p, o in declarations if p == chosen], key
                assert reported[key].paths == tuple(sorted(set(paths))), key
                assert reported[key].chosen == chosen
                conflicts += 1
            compared += len(declarations)
        assert set(reported) <= set(want)
        assert {s.path for s in desired.skipped} == expected.skipped, (name, sha)
        assert {e.path for e in desired.errors} == expected.error_paths, (name, sha)
        # No Component or included kustomization built alone (they failed, before).
        assert not any("kustomize/components" in e.path for e in desired.errors)
    assert compared > 300
    if name == "microservices-demo":
        assert conflicts > 0  # the release bundle beside the manifests and kustomize roots

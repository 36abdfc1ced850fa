"""DesiredReader over real git repositories: small ones built here, and the real
argocd-example-apps history in testdata."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from timetravel.domain.desired import DesiredSet, ManifestError
from timetravel.domain.manifests import ParsedFile
from timetravel.sources import render
from timetravel.sources.desired import DesiredReader, first_parent_history

from .conftest import SHARED

BUNDLE = SHARED / "testdata/gitops/argocd-example-apps.bundle"
HAS_KUBECTL = shutil.which("kubectl") is not None
needs_kubectl = pytest.mark.skipif(not HAS_KUBECTL, reason="kubectl (built-in kustomize) absent")
NO_TOOLS: dict[str, str | None] = {"kubectl": None, "kustomize": None, "helm": None}
# Helm is forced absent so the helm expectations hold on machines that have it.
KUBECTL_ONLY: dict[str, str | None] = {**NO_TOOLS, "kubectl": shutil.which("kubectl")}

ME = git.Actor("Test Author", "author@example.com")


def deployment(name: str, replicas: int = 1, namespace: str | None = None) -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}{ns}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: {name}
        image: nginx:1.27
"""


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


class GitRepo:
    """A real repository in tmp_path, with commits at chosen times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.repo = git.Repo.init(path, initial_branch="main")
        # A merge commit is made by git itself, which needs an identity: with an empty HOME
        # (a newcomer's machine, CI) there is no global one.
        with self.repo.config_writer() as config:
            config.set_value("user", "name", "Test Committer")
            config.set_value("user", "email", "committer@example.com")
        self._clock = 1_700_000_000

    def write(self, files: dict[str, str | bytes]) -> None:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        self.repo.index.add(list(files))

    def link(self, name: str, target: str) -> None:
        os.symlink(target, self.path / name)
        self.repo.index.add([name])

    def remove(self, *names: str) -> None:
        self.repo.index.remove(list(names), working_tree=True)

    def commit(self, message: str = "change") -> str:
        self._clock += 3600
        when = f"{self._clock} +0200"
        return self.repo.index.commit(
            message, author=ME, committer=ME, author_date=when, commit_date=when
        ).hexsha


@pytest.fixture
def gitrepo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def by_path(desired: DesiredSet) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {}
    for d in desired.objects:
        result.setdefault(d.path, []).append(d.obj)
    return result


def names(desired: DesiredSet, kind: str | None = None) -> list[str]:
    return sorted(
        d.obj["metadata"]["name"] for d in desired.objects if kind is None or d.obj["kind"] == kind
    )


def namespace_of(desired: DesiredSet, name: str) -> str | None:
    [obj] = [d.obj for d in desired.objects if d.obj["metadata"]["name"] == name]
    namespace: str | None = obj["metadata"].get("namespace")
    return namespace


# --- plain manifests across commits ---------------------------------------------------------------


def test_plain_manifests_across_commits(gitrepo: GitRepo) -> None:
    gitrepo.write({"app/web.yaml": deployment("web"), "app/cm.yaml": configmap("settings")})
    first = gitrepo.commit("add web")
    gitrepo.write({"app/web.yaml": deployment("web", replicas=3)})
    second = gitrepo.commit("scale web")
    gitrepo.remove("app/cm.yaml")
    third = gitrepo.commit("drop settings")

    reader = DesiredReader(gitrepo.repo, renderers=NO_TOOLS)
    one, two, three = (reader.read_commit(sha) for sha in (first, second, third))

    assert one.errors == two.errors == three.errors == ()
    assert [(d.path, d.obj["kind"]) for d in one.objects] == [
        ("app/cm.yaml", "ConfigMap"),
        ("app/web.yaml", "Deployment"),
    ]
    assert by_path(one)["app/web.yaml"][0]["spec"]["replicas"] == 1
    assert by_path(two)["app/web.yaml"][0]["spec"]["replicas"] == 3
    assert list(by_path(three)) == ["app/web.yaml"]
    # No namespace in the file, no configuration: the namespace kubectl would use.
    assert by_path(three)["app/web.yaml"][0]["metadata"]["namespace"] == "default"


def test_each_blob_is_parsed_once(gitrepo: GitRepo) -> None:
    gitrepo.write({"a.yaml": deployment("a"), "b.yaml": configmap("b"), "c.yaml": configmap("c")})
    shas = [gitrepo.commit()]
    for replicas in (2, 3, 4):
        gitrepo.write({"a.yaml": deployment("a", replicas)})
        shas.append(gitrepo.commit())
    # The same content under a new name is the same blob: not parsed again either.
    gitrepo.write({"copy-of-b.yaml": configmap("b")})
    shas.append(gitrepo.commit())

    reader = DesiredReader(gitrepo.repo, renderers=NO_TOOLS)
    for sha in shas:
        reader.read_commit(sha)
    # 4 versions of a.yaml + b.yaml + c.yaml, over 5 commits of 3-4 files each.
    assert reader.stats.blobs_parsed == 6
    assert reader.stats.cache_hits == 3 * 2 + 2 + 1 + 1
    before = (reader.stats.blobs_parsed, reader.stats.cache_hits)
    reader.read_commit(shas[2])
    assert reader.stats.blobs_parsed == before[0]

    # A second reader (another process, later) given the same persistent cache parses nothing.
    store: dict[str, str] = {}

    class JsonBlobCache:
        def get(self, sha: str) -> ParsedFile | None:
            text = store.get(sha)
            return None if text is None else ParsedFile.from_json(text)

        def put(self, sha: str, parsed: ParsedFile) -> None:
            store[sha] = parsed.to_json()

    warm = DesiredReader(gitrepo.repo, renderers=NO_TOOLS, blob_cache=JsonBlobCache())
    expected = [warm.read_commit(sha) for sha in shas]
    assert warm.stats.blobs_parsed == 6
    cold = DesiredReader(gitrepo.repo, renderers=NO_TOOLS, blob_cache=JsonBlobCache())
    assert [cold.read_commit(sha) for sha in shas] == expected
    assert cold.stats.blobs_parsed == 0


def test_broken_files_are_errors_and_the_rest_is_read(gitrepo: GitRepo) -> None:
    gitrepo.write(
        {
            "ok.yaml": configmap("ok"),
            "dup.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
            "latin1.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n",
            "blob.yaml": b"\x00\x01apiVersion kind",
            "huge.yaml": configmap("huge") + "# " + "x" * (5 * 1024 * 1024) + "\n",
            "README.md": "apiVersion: v1\nkind: not a manifest file name\n",
            "ci.yml": "on: [push]\njobs: {}\n",
        }
    )
    sha = gitrepo.commit()
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(sha)
    assert names(desired) == ["ok"]
    assert [(e.path, e.message.split(" (")[0]) for e in desired.errors] == [
        ("blob.yaml", "binary file"),
        ("dup.yaml", "duplicate key 'name' at line 5, column 3"),
        ("huge.yaml", "file is 5 MiB, over the 4 MiB limit for a manifest; not parsed"),
        ("latin1.yaml", "not valid UTF-8 text"),
    ]


# --- namespaces -----------------------------------------------------------------------------------


def test_namespaces_from_timetravel_toml(gitrepo: GitRepo) -> None:
    gitrepo.write(
        {
            "timetravel.toml": '[namespaces]\n"guestbook" = "web"\n"guestbook/admin/" = "admin"\n',
            "guestbook/ui.yaml": deployment("ui"),
            "guestbook/admin/panel.yaml": deployment("panel"),
            "guestbook/pinned.yaml": deployment("pinned", namespace="elsewhere"),
            "guestbook2/other.yaml": deployment("other"),
            "guestbook/rbac.yaml": (
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                "metadata: {name: reader}\nrules: []\n---\n"
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"
            ),
            "guestbook/crd.yaml": (
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                "metadata: {name: tenants.example.com}\n"
                "spec: {group: example.com, scope: Cluster, names: {kind: Tenant, plural: tenants}}\n"
                "---\napiVersion: example.com/v1\nkind: Tenant\nmetadata: {name: acme}\n"
            ),
        }
    )
    sha = gitrepo.commit()
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(sha)
    assert desired.errors == ()
    assert namespace_of(desired, "ui") == "web"
    assert namespace_of(desired, "panel") == "admin"  # the longest prefix wins
    assert namespace_of(desired, "pinned") == "elsewhere"  # the file's own namespace stays
    assert namespace_of(desired, "other") == "default"  # a prefix is a directory, not a string
    assert namespace_of(desired, "reader") is None  # cluster-scoped kinds get none
    assert namespace_of(desired, "web") is None
    assert namespace_of(desired, "tenants.example.com") is None
    assert namespace_of(desired, "acme") is None  # cluster-scoped by its CRD in this commit

    # The constructor argument beats the file.
    overridden = DesiredReader(
        gitrepo.repo, renderers=NO_TOOLS, namespace_defaults={"guestbook": "staging"}
    ).read_commit(sha)
    assert namespace_of(overridden, "ui") == "staging"
    assert namespace_of(overridden, "panel") == "admin"


def test_invalid_timetravel_toml_is_an_error(gitrepo: GitRepo) -> None:
    gitrepo.write({"timetravel.toml": "[namespaces\n", "a.yaml": configmap("a")})
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(gitrepo.commit())
    assert [e.path for e in desired.errors] == ["timetravel.toml"]
    assert namespace_of(desired, "a") == "default"


def application(name: str, path: str, namespace: str, repo_url: str) -> str:
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {repo_url}
    path: {path}
    targetRevision: HEAD
  destination:
    server: https://kubernetes.default.svc
    namespace: {namespace}
"""


def test_namespaces_from_argocd_applications(gitrepo: GitRepo) -> None:
    gitrepo.write(
        {
            "apps/guestbook.yaml": application(
                "guestbook", "./guestbook/", "guestbook-prod", "https://example.com/ops.git"
            ),
            "guestbook/ui.yaml": deployment("ui"),
            "other/x.yaml": deployment("x"),
        }
    )
    sha = gitrepo.commit()
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(sha)
    assert namespace_of(desired, "ui") == "guestbook-prod"
    assert namespace_of(desired, "x") == "default"
    assert namespace_of(desired, "guestbook") == "argocd"

    # timetravel.toml is more specific than what an Application implies.
    gitrepo.write({"timetravel.toml": '[namespaces]\n"guestbook" = "web"\n'})
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(gitrepo.commit())
    assert namespace_of(desired, "ui") == "web"


def test_applications_of_other_repositories_are_ignored(gitrepo: GitRepo) -> None:
    gitrepo.repo.create_remote("origin", "https://github.com/acme/gitops.git")
    gitrepo.write(
        {
            # The same repository, spelled as ssh.
            "apps/a.yaml": application("a", "team-a", "ns-a", "git@github.com:acme/gitops.git"),
            # Another repository that happens to have a directory of the same name.
            "apps/b.yaml": application("b", "team-b", "ns-b", "https://github.com/other/b"),
            "team-a/app.yaml": deployment("a-app"),
            "team-b/app.yaml": deployment("b-app"),
        }
    )
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(gitrepo.commit())
    assert namespace_of(desired, "a-app") == "ns-a"
    assert namespace_of(desired, "b-app") == "default"


# --- symlinks -------------------------------------------------------------------------------------


def test_symlinks_outside_the_repository_or_looping_are_errors(
    gitrepo: GitRepo, tmp_path: Path
) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text(configmap("leaked"))
    gitrepo.write({"real/cm.yaml": configmap("real"), "deep/dir/keep.txt": "x"})
    gitrepo.link("absolute.yaml", str(secret))
    gitrepo.link("relative.yaml", "../outside.yaml")
    gitrepo.link("deep/dir/escape.yaml", "../../../outside.yaml")
    gitrepo.link("loop-a.yaml", "loop-b.yaml")
    gitrepo.link("loop-b.yaml", "loop-a.yaml")
    gitrepo.link("dangling.yaml", "nowhere/cm.yaml")
    gitrepo.link("alias.yaml", "real/cm.yaml")  # inside the repository: followed
    gitrepo.link("realdir", "real")
    gitrepo.link("through-dir.yaml", "realdir/cm.yaml")
    sha = gitrepo.commit()

    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(sha)
    assert "leaked" not in names(desired)
    assert by_path(desired)["alias.yaml"][0]["metadata"]["name"] == "real"
    assert by_path(desired)["through-dir.yaml"][0]["metadata"]["name"] == "real"
    assert by_path(desired)["real/cm.yaml"][0]["metadata"]["name"] == "real"
    errors = {e.path: e.message for e in desired.errors}
    assert errors == {
        "absolute.yaml": f"symlink pointing outside the repository ({secret}): not followed",
        "relative.yaml": "symlink pointing outside the repository (../outside.yaml): not followed",
        "deep/dir/escape.yaml": (
            "symlink pointing outside the repository (../../../outside.yaml): not followed"
        ),
        "loop-a.yaml": "symlink loop: not followed",
        "loop-b.yaml": "symlink loop: not followed",
        "dangling.yaml": "symlink to a missing path (nowhere): not followed",
    }


# --- kustomize and helm in small repositories -------------------------------------------------------

BASE_KUSTOMIZATION = "resources:\n- deployment.yaml\n"
OVERLAY_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: prod-
namespace: shop
labels:
- pairs: {env: prod}
  includeSelectors: false
resources:
- ../../base
patches:
- path: replicas.yaml
"""
REPLICAS_PATCH = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n"
)


def kustomize_repo(gitrepo: GitRepo) -> str:
    gitrepo.write(
        {
            "shop/base/kustomization.yaml": BASE_KUSTOMIZATION,
            "shop/base/deployment.yaml": deployment("web"),
            "shop/overlays/prod/kustomization.yaml": OVERLAY_KUSTOMIZATION,
            "shop/overlays/prod/replicas.yaml": REPLICAS_PATCH,
            "plain/cm.yaml": configmap("plain"),
        }
    )
    return gitrepo.commit()


@needs_kubectl
def test_kustomize_overlay_is_rendered_once_and_cached(gitrepo: GitRepo) -> None:
    first = kustomize_repo(gitrepo)
    reader = DesiredReader(gitrepo.repo, renderers=KUBECTL_ONLY)
    desired = reader.read_commit(first)
    assert desired.errors == ()
    rendered = by_path(desired)
    # The overlay is the root; the base it builds in is not rendered (or parsed) on its own,
    # and the patch file is not mistaken for a Deployment.
    assert sorted(rendered) == ["plain/cm.yaml", "shop/overlays/prod"]
    [web] = rendered["shop/overlays/prod"]
    assert web["metadata"]["name"] == "prod-web"
    assert web["metadata"]["namespace"] == "shop"
    assert web["metadata"]["labels"] == {"env": "prod"}
    assert web["spec"]["replicas"] == 5
    assert reader.stats.renders == 1

    gitrepo.write({"plain/cm.yaml": configmap("plain-v2")})
    unrelated = gitrepo.commit()
    assert names(reader.read_commit(unrelated), "Deployment") == ["prod-web"]
    assert reader.stats.renders == 1  # nothing the overlay reaches changed

    gitrepo.write({"shop/base/deployment.yaml": deployment("web").replace("1.27", "1.28")})
    base_change = gitrepo.commit()
    [web] = by_path(reader.read_commit(base_change))["shop/overlays/prod"]
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert reader.stats.renders == 2  # the base is outside the overlay, yet part of its key


@needs_kubectl
def test_a_base_deployed_by_an_application_is_rendered_on_its_own_too(gitrepo: GitRepo) -> None:
    kustomize_repo(gitrepo)
    gitrepo.write(
        {"apps/base.yaml": application("base", "shop/base", "base-ns", "https://e.com/r.git")}
    )
    desired = DesiredReader(gitrepo.repo, renderers=KUBECTL_ONLY).read_commit(gitrepo.commit())
    assert desired.errors == ()
    rendered = by_path(desired)
    assert [o["metadata"]["name"] for o in rendered["shop/base"]] == ["web"]
    assert rendered["shop/base"][0]["metadata"]["namespace"] == "base-ns"
    assert [o["metadata"]["name"] for o in rendered["shop/overlays/prod"]] == ["prod-web"]


@needs_kubectl
def test_symlink_out_of_a_kustomization_is_not_copied(gitrepo: GitRepo, tmp_path: Path) -> None:
    outside = tmp_path / "stolen.yaml"
    outside.write_text(configmap("stolen"))
    gitrepo.write({"app/kustomization.yaml": "resources:\n- cm.yaml\n- stolen.yaml\n"})
    gitrepo.write({"app/cm.yaml": configmap("cm")})
    gitrepo.link("app/stolen.yaml", str(outside))
    reader = DesiredReader(gitrepo.repo, renderers=KUBECTL_ONLY)
    desired = reader.read_commit(gitrepo.commit())
    assert desired.objects == ()
    errors = {e.path: e.message for e in desired.errors}
    assert errors["app/stolen.yaml"] == (
        f"symlink pointing outside the repository ({outside}): not followed"
    )
    assert errors["app"].startswith("kustomize build failed:")
    assert "stolen.yaml" in errors["app"]
    assert "timetravel-render" not in errors["app"]  # the temporary copy is not shown


def test_kustomize_without_a_renderer_is_one_error_per_root(gitrepo: GitRepo) -> None:
    sha = kustomize_repo(gitrepo)
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(sha)
    assert list(by_path(desired)) == ["plain/cm.yaml"]
    assert desired.errors == (ManifestError("shop/overlays/prod", render.KUSTOMIZE_MISSING),)


def test_kustomization_reaching_outside_the_repository_is_not_rendered(gitrepo: GitRepo) -> None:
    gitrepo.write(
        {
            "app/kustomization.yaml": "resources:\n- ../../elsewhere\n- cm.yaml\n",
            "app/cm.yaml": configmap("cm"),
        }
    )
    sha = gitrepo.commit()
    reader = DesiredReader(gitrepo.repo, renderers=KUBECTL_ONLY)
    desired = reader.read_commit(sha)
    assert desired.objects == ()
    assert desired.errors == (
        ManifestError(
            "app",
            "kustomize directory not rendered: "
            "resources entry '../../elsewhere' is outside the repository",
        ),
    )
    assert reader.stats.renders == 0


def test_helm_chart_without_helm_is_one_error(gitrepo: GitRepo) -> None:
    gitrepo.write(
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            "chart/values.yaml": "replicas: 2\n",
            "chart/templates/deployment.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
                "  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n"
            ),
            # Parses as YAML, but it is still a template: never read on its own.
            "chart/templates/cm.yaml": configmap("looks-plain"),
            "chart/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
            "plain.yaml": configmap("plain"),
        }
    )
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(gitrepo.commit())
    assert names(desired) == ["plain"]
    assert desired.errors == (ManifestError("chart", render.HELM_MISSING),)


# --- history --------------------------------------------------------------------------------------


def test_first_parent_history_follows_the_branch(gitrepo: GitRepo) -> None:
    gitrepo.write({"a.yaml": configmap("a")})
    root = gitrepo.commit("root")
    main = gitrepo.repo.active_branch
    feature = gitrepo.repo.create_head("feature")
    feature.checkout()
    gitrepo.write({"b.yaml": configmap("b")})
    side = gitrepo.commit("side work")
    main.checkout()
    gitrepo.write({"c.yaml": configmap("c")})
    mainline = gitrepo.commit("mainline")
    gitrepo.repo.git.merge("feature", "--no-ff", "-m", "merge feature")
    merge = gitrepo.repo.head.commit.hexsha

    history = first_parent_history(gitrepo.repo, "main")
    assert [c.sha for c in history] == [root, mainline, merge]
    assert side not in {c.sha for c in history}
    assert history[-1].parents == (mainline, side)
    assert history[0].summary == "root"
    assert history[0].author == "Test Author <author@example.com>"
    assert history[0].committed_at == datetime(2023, 11, 14, 23, 13, 20, tzinfo=UTC)
    assert history[0].committed_at.utcoffset() is not None


# --- the real argocd-example-apps history -------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> git.Repo:
    if not BUNDLE.exists():
        pytest.skip(f"{BUNDLE} is not there: the shared test data lies beside the checkout in CI")
    return git.Repo.clone_from(str(BUNDLE), tmp_path_factory.mktemp("aea"), branch="master")


@pytest.fixture(scope="module")
def bundle_read(bundle: git.Repo) -> tuple[DesiredReader, dict[str, DesiredSet]]:
    """Every commit of the bundle read once by one reader (kubectl if present, never helm)."""
    reader = DesiredReader(bundle, renderers=KUBECTL_ONLY)
    results = {c.hexsha: reader.read_commit(c.hexsha) for c in bundle.iter_commits("master")}
    return reader, results


def summary(repo: git.Repo, text: str) -> str:
    [commit] = [c for c in repo.iter_commits("master") if text in str(c.summary)]
    return commit.hexsha


def test_bundle_every_commit_is_read(
    bundle: git.Repo, bundle_read: tuple[DesiredReader, dict[str, DesiredSet]]
) -> None:
    reader, results = bundle_read
    history = first_parent_history(bundle, "master")
    assert len(results) == 53  # every commit, the merged side branch's included
    assert len(history) == 52  # one of them arrived by a merge: not on the first-parent line
    assert {c.sha for c in history} <= set(results)
    assert history[0].summary == "Add the guestbook example app (v0.1)"
    assert history[0].parents == ()
    assert all(c.committed_at.tzinfo is UTC for c in history)
    assert all(isinstance(results[c.sha], DesiredSet) for c in history)
    assert reader.stats.commits_read == 53
    # The first commit held only a ksonnet app (jsonnet); from the second on, every commit
    # declares something.
    assert results[history[0].sha] == DesiredSet()
    assert all(results[c.sha].objects for c in history[1:])


def manifest_blob_count(repo: git.Repo) -> tuple[int, int]:
    """(file versions, distinct blobs) of YAML/JSON files over all commits."""
    versions = 0
    blobs: set[str] = set()
    for commit in repo.iter_commits("master"):
        for item in commit.tree.traverse():
            if isinstance(item, git.Blob) and str(item.path).endswith((".yaml", ".yml", ".json")):
                versions += 1
                blobs.add(item.hexsha)
    return versions, len(blobs)


def test_bundle_parses_each_blob_once(
    bundle: git.Repo, bundle_read: tuple[DesiredReader, dict[str, DesiredSet]]
) -> None:
    reader, _ = bundle_read
    versions, distinct = manifest_blob_count(bundle)
    # Some files are never parsed (templates, kustomize inputs), so parses are at most the
    # number of distinct blobs, and far fewer than one per file per commit.
    assert 0 < reader.stats.blobs_parsed <= distinct
    assert reader.stats.blobs_parsed * 5 < versions
    assert reader.stats.cache_hits > reader.stats.blobs_parsed
    before = reader.stats.blobs_parsed
    reader.read_commit(bundle.head.commit.hexsha)
    assert reader.stats.blobs_parsed == before


def test_bundle_guestbook_matches_git_show(
    bundle: git.Repo, bundle_read: tuple[DesiredReader, dict[str, DesiredSet]]
) -> None:
    _, results = bundle_read
    path = "guestbook/guestbook-ui-deployment.yaml"
    versions: dict[str, str] = {}  # blob -> a commit that has it
    for commit in first_parent_history(bundle, "master"):
        try:
            blob = bundle.commit(commit.sha).tree[path]
        except KeyError:
            continue
        versions.setdefault(blob.hexsha, commit.sha)
    assert len(versions) >= 3  # the file changed over time: each version is checked
    for sha in versions.values():
        expected = yaml.safe_load(bundle.git.show(f"{sha}:{path}"))
        expected["metadata"].setdefault("namespace", "default")
        assert by_path(results[sha])[path] == [expected], sha


def test_bundle_helm_charts_are_errors_and_the_rest_is_read(
    bundle: git.Repo, bundle_read: tuple[DesiredReader, dict[str, DesiredSet]]
) -> None:
    _, results = bundle_read
    head = results[bundle.head.commit.hexsha]
    assert ManifestError("helm-guestbook", render.HELM_MISSING) in head.errors
    assert ManifestError("blue-green", render.HELM_MISSING) in head.errors
    # No template was read as YAML, and nothing was taken from a chart directory.
    assert not any("templates" in e.path for e in head.errors)
    assert not any(d.path.startswith(("helm-guestbook", "blue-green/")) for d in head.objects)
    paths = by_path(head)
    assert [o["kind"] for o in paths["guestbook/guestbook-ui-deployment.yaml"]] == ["Deployment"]
    assert {o["kind"] for o in paths["sync-waves/manifests.yaml"]} >= {"Job", "Service"}
    for desired in results.values():
        assert not any("/templates/" in d.path for d in desired.objects)


@needs_kubectl
def test_bundle_kustomize_guestbook_is_rendered(
    bundle: git.Repo, bundle_read: tuple[DesiredReader, dict[str, DesiredSet]]
) -> None:
    reader, results = bundle_read
    # Here kustomize-guestbook is a root kustomization of its own.
    moved = results[summary(bundle, "Moves kustomize2-guestbook to kustomize-guestbook")]
    rendered = by_path(moved)["kustomize-guestbook"]
    [deployment] = [o for o in rendered if o["kind"] == "Deployment"]
    assert deployment["metadata"]["name"] == "kustomize-guestbook-ui"  # namePrefix: kustomize-
    assert deployment["metadata"]["namespace"] == "default"
    assert {o["kind"] for o in rendered} == {"Deployment", "Service"}
    # Later pre-post-sync builds it in as a base (bases: [../kustomize-guestbook]): it is
    # rendered there, with both prefixes, and its files are never parsed one by one.
    head = by_path(results[bundle.head.commit.hexsha])
    assert "kustomize-guestbook" not in head
    assert [o["metadata"]["name"] for o in head["pre-post-sync"] if o["kind"] == "Deployment"] == [
        "pre-post-sync-kustomize-guestbook-ui"
    ]
    assert len([o for o in head["sock-shop"] if o["kind"] == "Deployment"]) == 14
    for desired in (moved, results[bundle.head.commit.hexsha]):
        assert not any(
            d.path.startswith(("kustomize-guestbook/", "sock-shop/")) for d in desired.objects
        )

    # Renders: per distinct content, not per commit.
    requested = reader.stats.renders + reader.stats.render_cache_hits
    assert requested > 100
    assert reader.stats.renders * 3 < requested


def test_bundle_without_any_tool(bundle: git.Repo) -> None:
    reader = DesiredReader(bundle, renderers=NO_TOOLS)
    head = reader.read_commit(bundle.head.commit.hexsha)
    assert ManifestError("sock-shop", render.KUSTOMIZE_MISSING) in head.errors
    assert ManifestError("pre-post-sync", render.KUSTOMIZE_MISSING) in head.errors
    assert not any(d.path.startswith(("sock-shop", "pre-post-sync")) for d in head.objects)
    assert "guestbook/guestbook-ui-svc.yaml" in by_path(head)
    assert reader.stats.renders == 0


# --- the renderers on their own -------------------------------------------------------------------


def test_available_renderers_and_missing_tools(tmp_path: Path) -> None:
    found = render.available_renderers()
    assert set(found) == {"kubectl", "kustomize", "helm"}
    assert found["kubectl"] == shutil.which("kubectl")
    assert render.render_kustomize(tmp_path, renderers=NO_TOOLS) == ((), render.KUSTOMIZE_MISSING)
    assert render.render_helm(tmp_path, "web", renderers=NO_TOOLS) == ((), render.HELM_MISSING)
    # kubectl's built-in kustomize is preferred over a separate kustomize binary.
    both = {"kubectl": "/bin/kubectl", "kustomize": "/bin/kustomize"}
    assert render.kustomize_command("d", both) == ["/bin/kubectl", "kustomize", "d"]
    assert render.kustomize_command("d", {"kustomize": "/bin/kustomize"}) == [
        "/bin/kustomize",
        "build",
        "d",
    ]


@needs_kubectl
def test_render_kustomize_directly(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("namePrefix: x-\nresources:\n- cm.yaml\n")
    (tmp_path / "cm.yaml").write_text(configmap("c"))
    objects, error = render.render_kustomize(tmp_path, renderers=KUBECTL_ONLY)
    assert error is None
    assert [o["metadata"]["name"] for o in objects] == ["x-c"]

    (tmp_path / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    objects, error = render.render_kustomize(tmp_path, renderers=KUBECTL_ONLY)
    assert objects == ()
    assert error is not None
    assert error.startswith("kustomize build failed: ")
    assert "missing.yaml" in error
    assert "\n" not in error

    # Far too short to finish: the tool is stopped and the timeout is the error.
    objects, error = render.render_kustomize(tmp_path, renderers=KUBECTL_ONLY, timeout=0.001)
    assert (objects, error) == ((), "kustomize build timed out after 0.001 s")


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm absent")
def test_helm_chart_is_rendered_when_helm_is_installed(gitrepo: GitRepo) -> None:
    gitrepo.write(
        {
            "timetravel.toml": '[namespaces]\n"web" = "frontend"\n',
            "web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            "web/values.yaml": "replicas: 2\n",
            "web/templates/cm.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
                "  namespace: {{ .Release.Namespace }}\ndata:\n"
                "  replicas: {{ .Values.replicas | quote }}\n"
            ),
        }
    )
    reader = DesiredReader(gitrepo.repo)
    desired = reader.read_commit(gitrepo.commit())
    assert desired.errors == ()
    [cm] = by_path(desired)["web"]
    assert cm["metadata"] == {"name": "web-cm", "namespace": "frontend"}
    assert cm["data"] == {"replicas": "2"}

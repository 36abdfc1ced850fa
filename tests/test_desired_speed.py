"""The shortcuts that make reading a history fast (directories, parses, namespaced objects and
stored entries reused from the previous commit) give exactly what a from-scratch read gives."""

from __future__ import annotations

import random
from pathlib import Path

import git
import orjson
import pytest

from timetravel.domain.desired import DesiredSet
from timetravel.domain.normalize import normalize
from timetravel.domain.repopaths import ROOT
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.sources.desired import DesiredReader, first_parent_history
from timetravel.store import codec
from timetravel.store.db import open_database, redaction_key
from timetravel.store.gitstore import GitStore, _desired_body, desired_item

from .test_desired_reader import (
    BUNDLE,
    KUBECTL_ONLY,
    NO_TOOLS,
    GitRepo,
    application,
    configmap,
    deployment,
)

CRD = (
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
    "metadata: {name: tenants.example.com}\n"
    "spec: {group: example.com, scope: Cluster, names: {kind: Tenant, plural: tenants}}\n"
)
TENANT = "apiVersion: example.com/v1\nkind: Tenant\nmetadata: {name: acme}\n"
SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2}\n"


@pytest.fixture
def gitrepo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def history(gitrepo: GitRepo) -> list[str]:
    """Commits that move files in every way that changes what other files mean."""
    commits = []

    def commit(message: str) -> None:
        commits.append(gitrepo.commit(message))

    gitrepo.write(
        {
            "timetravel.toml": '[namespaces]\n"team-a" = "a"\n',
            "team-a/web.yaml": deployment("web"),
            "team-a/sub/cm.yaml": configmap("a-settings"),
            "team-b/api.yaml": deployment("api") + "---\n" + configmap("api-settings"),
            "team-b/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n",
            "shop/base/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "shop/base/deployment.yaml": deployment("shop"),
            "shop/overlay/kustomization.yaml": "namePrefix: prod-\nresources:\n- ../base\n",
            "tenants/acme.yaml": TENANT,
            "secrets/creds.yaml": SECRET,
            "no-kind.yaml": "just: config\n",
        }
    )
    gitrepo.link("alias.yaml", "team-a/web.yaml")
    commit("initial")
    gitrepo.write({"team-a/web.yaml": deployment("web", replicas=3)})  # and so the link's target
    commit("scale web")
    gitrepo.remove("team-b/api.yaml")
    gitrepo.write({"team-c/api.yaml": deployment("api") + "---\n" + configmap("api-settings")})
    commit("rename api to another namespace's directory")
    gitrepo.write({"timetravel.toml": '[namespaces]\n"team-a" = "a2"\n"team-c" = "c"\n'})
    commit("namespace defaults change")
    gitrepo.write({"apps/c.yaml": application("c", "team-c", "from-app", "https://e.com/r.git")})
    commit("an Application for team-c")
    gitrepo.write({"apps/c.yaml": application("c", "team-a/sub", "sub-app", "https://e.com/r.git")})
    commit("the Application moves")
    gitrepo.write({"crds/tenant.yaml": CRD})
    commit("Tenant becomes cluster-scoped")
    gitrepo.write(
        {"shop/overlay/kustomization.yaml": "namePrefix: stage-\nresources:\n- ../base\n"}
    )
    commit("kustomization changes")
    gitrepo.write({"shop/base/deployment.yaml": deployment("shop", replicas=4)})
    commit("the base changes")
    gitrepo.write({"team-c/kustomization.yaml": "resources:\n- api.yaml\n"})
    commit("team-c becomes a kustomization")
    gitrepo.write({"team-a/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n"})
    commit("team-a/sub becomes a chart")
    gitrepo.remove("team-c/kustomization.yaml", "team-a/sub/Chart.yaml", "crds/tenant.yaml")
    commit("back to plain files")
    gitrepo.remove("team-a/web.yaml")
    gitrepo.write({"team-a/web2.yaml": deployment("web", replicas=3)})
    gitrepo.remove("alias.yaml")
    gitrepo.link("alias.yaml", "team-a/web2.yaml")
    commit("rename the link's target, and the link")
    gitrepo.remove(
        "team-a/sub/cm.yaml", "shop/base/deployment.yaml", "shop/base/kustomization.yaml"
    )
    commit("delete a directory and a base")
    gitrepo.write({"team-b/broken.yaml": configmap("fixed"), "team-a/web2.yaml": deployment("w")})
    commit("fix a file")
    gitrepo.write({"team-a/sub/cm.yaml": configmap("a-settings")})
    commit("a directory comes back as it was")
    return commits


def from_scratch(repo: git.Repo, sha: str, renderers: dict[str, str | None] | None) -> DesiredSet:
    return DesiredReader(repo, renderers=renderers).read_commit(sha)


@pytest.mark.parametrize("renderers", [NO_TOOLS, KUBECTL_ONLY], ids=["no-tools", "kubectl"])
def test_reading_a_history_in_any_order_equals_reading_each_commit_afresh(
    gitrepo: GitRepo, renderers: dict[str, str | None]
) -> None:
    if renderers is KUBECTL_ONLY and not renderers["kubectl"]:
        pytest.skip("kubectl absent")
    commits = history(gitrepo)
    expected = {sha: from_scratch(gitrepo.repo, sha, renderers) for sha in commits}
    assert any(desired.errors for desired in expected.values())
    in_order = DesiredReader(gitrepo.repo, renderers=renderers)
    assert [in_order.read_commit(sha) for sha in commits] == [expected[sha] for sha in commits]
    shuffled = commits * 2
    random.Random(4).shuffle(shuffled)
    reader = DesiredReader(gitrepo.repo, renderers=renderers)
    for sha in shuffled:
        assert reader.read_commit(sha) == expected[sha], sha


def ls_tree(repo: git.Repo, sha: str) -> list[tuple[str, int, str]]:
    """``(path, mode, object id)`` of every path of a commit, as ``git ls-tree`` lists them."""
    listing = repo.git.ls_tree("-r", "-t", "-z", "--full-tree", sha, stdout_as_string=False)
    rows = []
    for record in listing.split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            mode, _, object_id = meta.split(b" ")
            rows.append((path.decode("utf-8", "surrogateescape"), int(mode, 8), object_id.decode()))
    return rows


def tree_of(reader: DesiredReader, repo: git.Repo, sha: str) -> list[tuple[str, int, str]]:
    tree = reader._tree(repo.commit(sha).tree.hexsha)
    return [(path, e.mode, e.sha) for path, e in tree.entries.items() if path != ROOT]


def test_trees_built_from_changed_directories_equal_ls_tree(gitrepo: GitRepo) -> None:
    commits = history(gitrepo)
    (gitrepo.path / "bin").mkdir()
    (gitrepo.path / "bin" / "run.sh").write_text("#!/bin/sh\n")
    (gitrepo.path / "bin" / "run.sh").chmod(0o755)
    (gitrepo.path / "caf\xe9.yaml").write_text(configmap("cafe"))
    gitrepo.repo.index.add(["bin/run.sh", "caf\xe9.yaml"])
    gitrepo.repo.git.update_index("--add", "--cacheinfo", f"160000,{commits[0]},vendor/lib")
    commits.append(gitrepo.commit("an executable, a submodule, a non-ASCII name"))
    reader = DesiredReader(gitrepo.repo, renderers=NO_TOOLS)
    for sha in [*commits, *reversed(commits)]:
        assert tree_of(reader, gitrepo.repo, sha) == ls_tree(gitrepo.repo, sha), sha


def test_bundle_history_read_in_order_equals_each_commit_afresh(tmp_path: Path) -> None:
    bundle = git.Repo.clone_from(str(BUNDLE), tmp_path / "aea", branch="master")
    reader = DesiredReader(bundle, renderers=NO_TOOLS)
    for info in first_parent_history(bundle, "master"):
        assert reader.read_commit(info.sha) == from_scratch(bundle, info.sha, NO_TOOLS)
        assert tree_of(reader, bundle, info.sha) == ls_tree(bundle, info.sha)


def test_stored_sets_equal_each_commit_encoded_afresh(gitrepo: GitRepo, db_path: Path) -> None:
    commits = history(gitrepo)
    source = GitSource(db_path, gitrepo.path, "main", clock=MonotonicClock(), progress=False)
    source.sync()
    db = open_database(db_path)
    store = GitStore(db)
    key = redaction_key(db)
    [repo] = store.repos()
    for sha in commits:
        desired = from_scratch(gitrepo.repo, sha, None)  # the tools GitSource finds
        stored = store.desired_set(repo.id, sha)
        assert stored is not None
        expected = [
            {"path": item.path, "obj": normalize(item.obj, key)}
            for item in desired.objects
            if isinstance(item.obj.get("metadata"), dict) and item.obj["metadata"].get("name")
        ]
        assert stored.objects == expected
        assert "hunter2" not in orjson.dumps(stored.objects).decode()


def test_a_set_joined_from_encoded_entries_is_the_set_encoded_whole() -> None:
    objects = [
        {"path": "caf\xe9/a.yaml", "obj": {"kind": "ConfigMap", "data": {"z": "1", "a": "\u2603"}}},
        {"path": "b.yaml", "obj": {"metadata": {"name": "b", "labels": {}}, "spec": [1, 2.5]}},
    ]
    errors = [{"path": "c.yaml", "message": 'not "valid"\n'}]
    for objs, errs in ((objects, errors), ([], []), (objects[:1], [])):
        entries = [desired_item(o["path"], o["obj"]) for o in objs]
        assert _desired_body(entries, errs) == codec.dumps({"objects": objs, "errors": errs})

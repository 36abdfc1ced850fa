"""The rules of issue 21 on small repositories made here: one declaration per object (and the
conflict reported), kustomize Components are not roots, tool configuration is not desired
state, a render runs again only when what it reads changed, renders run ahead in parallel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from timetravel.domain.apigroups import tool_reason
from timetravel.domain.desired import DesiredObject, Preference, choose, resolve_conflicts
from timetravel.domain.kustomize import kustomize_roots, parse_kustomization, render_reads
from timetravel.domain.namespaces import config_paths
from timetravel.domain.times import to_stored
from timetravel.export.json_export import render_json
from timetravel.query.desired import DesiredState
from timetravel.query.moment import build_snapshot
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.events import import_events
from timetravel.recorder.git import GitSource
from timetravel.sources import render
from timetravel.sources.desired import DesiredReader
from timetravel.store.db import open_database

from .test_desired_reader import (
    KUBECTL_ONLY,
    NO_TOOLS,
    GitRepo,
    application,
    by_path,
    configmap,
    deployment,
    names,
    needs_kubectl,
)


@pytest.fixture
def gitrepo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def kustomization(*resources: str, kind: str = "Kustomization", **fields: object) -> str:
    doc: dict[str, object] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1"
        if kind == "Kustomization"
        else "kustomize.config.k8s.io/v1alpha1",
        "kind": kind,
    }
    if resources:
        doc["resources"] = list(resources)
    doc.update(fields)
    return json.dumps(doc)


# --- 1. conflicting declarations ---------------------------------------------------------------


def three_declarations(gitrepo: GitRepo) -> str:
    """A release bundle, per-service manifests and a test copy declare Deployment web
    differently (replicas 1, 2, 3); ConfigMap shared identically."""
    gitrepo.write(
        {
            "kubernetes-manifests/web.yaml": deployment("web", replicas=2),
            "release/all.yaml": deployment("web", replicas=3) + "---\n" + configmap("shared"),
            "tests/web.yaml": deployment("web", replicas=1),
            "kubernetes-manifests/shared.yaml": configmap("shared"),
        }
    )
    return gitrepo.commit()


def web(desired) -> DesiredObject:
    [found] = [d for d in desired.objects if d.obj["metadata"]["name"] == "web"]
    return found


def test_a_conflict_is_reported_and_a_stated_order_chooses(gitrepo: GitRepo) -> None:
    sha = three_declarations(gitrepo)
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(sha)
    # One object each: before, every declaration was in the set and the last path won
    # silently (tests/web.yaml, sorting last).
    assert names(desired) == ["shared", "shared", "web"]  # the same ConfigMap twice: no conflict
    assert web(desired).path == "release/all.yaml"
    [conflict] = desired.conflicts
    assert conflict.paths == ("kubernetes-manifests/web.yaml", "release/all.yaml", "tests/web.yaml")
    assert conflict.chosen == "release/all.yaml"
    assert "test or example folders" in conflict.reason
    assert conflict.note == "declared by 3 files; showing release/all.yaml"
    assert conflict.message.startswith(
        "Deployment.apps default/web is declared differently in 3 places"
    )


def test_timetravel_toml_names_the_path_a_cluster_follows(gitrepo: GitRepo) -> None:
    three_declarations(gitrepo)
    gitrepo.write(
        {
            "timetravel.toml": (
                '[desired]\npath = "release"\n'
                '[desired.clusters]\nprod = ["kubernetes-manifests", "release"]\n'
            )
        }
    )
    sha = gitrepo.commit()
    prod = DesiredReader(gitrepo.repo, renderers=NO_TOOLS, cluster="prod").read_commit(sha)
    assert web(prod).path == "kubernetes-manifests/web.yaml"
    assert web(prod).obj["spec"]["replicas"] == 2
    assert prod.conflicts[0].reason == "timetravel.toml names kubernetes-manifests for cluster prod"
    staging = DesiredReader(gitrepo.repo, renderers=NO_TOOLS, cluster="staging").read_commit(sha)
    assert web(staging).path == "release/all.yaml"
    assert staging.conflicts[0].reason == "timetravel.toml names release for every cluster"


def test_an_argocd_application_source_path_chooses(gitrepo: GitRepo) -> None:
    three_declarations(gitrepo)
    gitrepo.write(
        {
            "argocd/web.yaml": application(
                "deploy-web", "kubernetes-manifests", "default", "https://example.com/r.git"
            )
        }
    )
    desired = DesiredReader(gitrepo.repo, renderers=NO_TOOLS).read_commit(gitrepo.commit())
    assert web(desired).path == "kubernetes-manifests/web.yaml"
    assert desired.conflicts[0].reason == "an Argo CD Application deploys kubernetes-manifests"


def test_choose_prefers_the_nearest_declaration_under_a_path() -> None:
    paths = ["kustomize", "kustomize/tests/a", "release/x.yaml"]
    assert choose(paths, Preference(("kustomize",))) == (
        "kustomize",
        "timetravel.toml names kustomize for every cluster",
    )
    assert choose(paths, Preference(("nowhere",)))[0] == "release/x.yaml"
    same = [
        DesiredObject(
            "a.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
        ),
        DesiredObject(
            "b.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
        ),
    ]
    kept, conflicts = resolve_conflicts(same, Preference())
    assert kept == same and conflicts == []


def test_config_paths() -> None:
    toml = b'[desired]\npath = "a"\n[desired.clusters]\nprod = ["b", "c/"]\n'
    assert config_paths(toml, "prod") == (("b", "c"), "prod", None)
    assert config_paths(toml, "dev") == (("a",), "", None)
    assert config_paths(b"[desired]\npath = 3\n", None)[2] is not None
    assert config_paths(b"", None) == ((), "", None)


def test_a_conflict_reaches_export_errors_and_the_screen_data(
    gitrepo: GitRepo, tmp_path: Path
) -> None:
    three_declarations(gitrepo)
    gitrepo.write({"skaffold.yaml": "apiVersion: skaffold/v4beta6\nkind: Config\n"})
    gitrepo.commit()
    db_path = tmp_path / "tt.db"
    GitSource(db_path, gitrepo.path, clock=MonotonicClock(), progress=False).sync()
    db = open_database(db_path)
    now = datetime.now(UTC)
    _, merged = DesiredState(db).merged_at(to_stored(now))
    [declared] = [d for k, d in merged.items() if k[3] == "web"]
    assert declared.conflict_note == "declared by 3 files; showing release/all.yaml"
    assert next(d for k, d in merged.items() if k[3] == "shared").conflict_note is None
    snapshot = build_snapshot(db, now)
    errors = json.loads(render_json(snapshot))["errors"]
    [conflict] = [e for e in errors if e.get("kind") == "conflict"]
    assert conflict["path"] == "release/all.yaml"
    assert conflict["declared_by"] == [
        "kubernetes-manifests/web.yaml",
        "release/all.yaml",
        "tests/web.yaml",
    ]
    assert conflict["object"] == {
        "group": "apps",
        "kind": "Deployment",
        "namespace": "default",
        "name": "web",
    }
    [skipped] = [e for e in errors if e.get("kind") == "skipped"]
    assert skipped["path"] == "skaffold.yaml"
    assert "skaffold configuration" in skipped["message"]
    # The resource says which files declare it; the screen's detail says which is shown.
    [web] = [r for r in snapshot.resources if r.key.name == "web"]
    assert web.source is not None and web.source["declared_by"] == conflict["declared_by"]
    from timetravel.query.screen import ScreenData

    detail = ScreenData(db_path).detail(web.key, now)
    assert detail.conflict == "declared by 3 files; showing release/all.yaml"


# --- 2. kustomize Components are not roots ------------------------------------------------------


def test_components_are_never_roots() -> None:
    kustomizations = {
        "app": parse_kustomization("app", "app/kustomization.yaml", {"resources": ["../base"]}),
        "base": parse_kustomization("base", "base/kustomization.yaml", {"resources": ["d.yaml"]}),
        "components/extra": parse_kustomization(
            "components/extra", "components/extra/kustomization.yaml", {"kind": "Component"}
        ),
    }
    assert kustomizations["components/extra"].component
    assert kustomize_roots(kustomizations, (), ()) == ["app"]
    # Not even when an Application names it: built alone it fails on its patches.
    assert kustomize_roots(kustomizations, (), ("components/extra",)) == ["app"]


@needs_kubectl
def test_an_unreferenced_component_gives_no_error(gitrepo: GitRepo) -> None:
    patch = {
        "patch": "- op: add\n  path: /spec/replicas\n  value: 4\n",
        "target": {"kind": "Deployment"},
    }
    gitrepo.write(
        {
            "kustomize/base/kustomization.yaml": kustomization("web.yaml"),
            "kustomize/base/web.yaml": deployment("web"),
            "kustomize/kustomization.yaml": kustomization("base"),
            "kustomize/components/scale/kustomization.yaml": kustomization(
                kind="Component", patches=[patch]
            ),
            "kustomize/components/unused/kustomization.yaml": kustomization(
                kind="Component", patches=[patch]
            ),
            "kustomize/tests/scaled/kustomization.yaml": kustomization(
                "../../base", components=["../../components/scale"]
            ),
        }
    )
    reader = DesiredReader(gitrepo.repo, renderers=KUBECTL_ONLY)
    desired = reader.read_commit(gitrepo.commit())
    # Before: both Components were built alone, each a "kustomize build failed" error.
    assert desired.errors == ()
    assert reader.stats.renders == 2  # kustomize and kustomize/tests/scaled
    [conflict] = desired.conflicts
    assert conflict.paths == ("kustomize", "kustomize/tests/scaled")
    assert web(desired).path == "kustomize"
    scaled = DesiredReader(
        gitrepo.repo, renderers=KUBECTL_ONLY, folder="kustomize/tests"
    ).read_commit(gitrepo.repo.head.commit.hexsha)
    assert web(scaled).obj["spec"]["replicas"] == 4


# --- 3. tool configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind", "tool"),
    [
        ("skaffold/v4beta11", "Config", "skaffold configuration"),
        ("tilt/v1", "X", "no cluster serves API group 'tilt' (a custom group has a dot)"),
        ("kind.x-k8s.io/v1alpha4", "Cluster", "kind configuration"),
        ("kustomize.config.k8s.io/v1beta1", "Kustomization", "kustomize configuration"),
        ("config.kubernetes.io/v1", "ResourceList", "kustomize/kpt function configuration"),
        ("fn.kpt.dev/v1alpha1", "ApplySetters", "kpt configuration"),
        ("kubeadm.k8s.io/v1beta3", "ClusterConfiguration", "kubeadm configuration"),
        ("v1", "Config", "kubeconfig file"),
        ("builtin", "PatchTransformer", "the core API has only v1"),
    ],
)
def test_tool_groups_are_not_cluster_objects(api_version: str, kind: str, tool: str) -> None:
    reason = tool_reason({"apiVersion": api_version, "kind": kind})
    assert reason is not None and tool in reason


@pytest.mark.parametrize(
    "api_version",
    [
        "v1",
        "apps/v1",
        "batch/v1",
        "networking.k8s.io/v1",
        "networking.istio.io/v1beta1",
        "argoproj.io/v1alpha1",
        "cert-manager.io/v1",
    ],
)
def test_cluster_groups_are_cluster_objects(api_version: str) -> None:
    assert tool_reason({"apiVersion": api_version, "kind": "Thing"}) is None


def test_a_group_the_cluster_serves_is_a_cluster_object() -> None:
    obj = {"apiVersion": "kind.x-k8s.io/v1alpha4", "kind": "Cluster"}
    assert tool_reason(obj, frozenset({"kind.x-k8s.io"})) is None


def test_tool_configuration_is_skipped_with_a_reason(gitrepo: GitRepo) -> None:
    gitrepo.write(
        {
            "skaffold.yaml": "apiVersion: skaffold/v3\nkind: Config\nmetadata:\n  name: app\n",
            "kind-cluster.yaml": "apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\nmetadata: {name: dev}\n",
            ".github/workflows/ci.yaml": "on: push\njobs: {}\n",
            "app/cm.yaml": configmap("app"),
        }
    )
    reader = DesiredReader(gitrepo.repo, renderers=NO_TOOLS)
    desired = reader.read_commit(gitrepo.commit())
    # Before: skaffold's Config and kind's Cluster were desired objects, "missing" forever.
    assert [(d.path, d.obj["kind"]) for d in desired.objects] == [("app/cm.yaml", "ConfigMap")]
    assert {s.path: s.reason for s in desired.skipped} == {
        "kind-cluster.yaml": "kind.x-k8s.io/v1alpha4 Cluster: kind configuration, "
        "not a cluster object",
        "skaffold.yaml": "skaffold/v3 Config: skaffold configuration, not a cluster object",
    }
    served = DesiredReader(
        gitrepo.repo, renderers=NO_TOOLS, served_groups=frozenset({"kind.x-k8s.io"})
    )
    assert names(served.read_commit(gitrepo.repo.head.commit.hexsha), "Cluster") == ["dev"]


# --- 5. renders: only when what they read changed, ahead and in parallel -------------------------


def test_render_reads_names_what_the_build_reads() -> None:
    root = parse_kustomization(
        "k",
        "k/kustomization.yaml",
        {
            "resources": ["base", "svc.yaml"],
            "components": ["../c"],
            "configMapGenerator": [{"name": "x", "files": ["conf=files/app.conf"]}],
            "patches": [{"path": "patch.yaml"}, {"patch": "a: b\nc: d\n"}],
        },
    )
    base = parse_kustomization("k/base", "k/base/kustomization.yaml", {"resources": ["d.yaml"]})
    component = parse_kustomization("c", "c/kustomization.yaml", {"kind": "Component"})
    files, directories = render_reads(root, {"k": root, "k/base": base, "c": component})
    assert set(directories) == {"k", "k/base", "c"}
    assert {"k/svc.yaml", "k/files/app.conf", "k/patch.yaml", "k/base/d.yaml"} <= set(files)
    assert "k/README.md" not in files


@needs_kubectl
def test_a_root_renders_again_only_when_what_it_reads_changed(gitrepo: GitRepo) -> None:
    gitrepo.write(
        {
            "kustomize/kustomization.yaml": kustomization("base"),
            "kustomize/base/kustomization.yaml": kustomization("web.yaml"),
            "kustomize/base/web.yaml": deployment("web"),
            "kustomize/README.md": "how to use",
        }
    )
    reader = DesiredReader(gitrepo.repo, renderers=KUBECTL_ONLY)
    reader.read_commit(gitrepo.commit())
    assert reader.stats.renders == 1
    gitrepo.write(
        {
            "kustomize/README.md": "how to use, again",
            "kustomize/components/x/kustomization.yaml": kustomization(kind="Component"),
            "kustomize/base/notes.yaml": configmap("not-named-by-the-base"),
        }
    )
    reader.read_commit(gitrepo.commit())
    # Before: the root directory's tree id was in the key, so each of these rendered again.
    assert reader.stats.renders == 1
    gitrepo.write({"kustomize/base/web.yaml": deployment("web", replicas=3)})
    desired = reader.read_commit(gitrepo.commit())
    assert reader.stats.renders == 2
    assert web(desired).obj["spec"]["replicas"] == 3


@needs_kubectl
def test_prefetch_renders_ahead_and_reads_give_the_same_sets(gitrepo: GitRepo) -> None:
    shas = []
    for replicas in range(1, 6):
        gitrepo.write(
            {
                "a/kustomization.yaml": kustomization("web.yaml"),
                "a/web.yaml": deployment("web", replicas=replicas),
                "b/kustomization.yaml": kustomization("api.yaml"),
                "b/api.yaml": deployment("api", replicas=replicas),
            }
        )
        shas.append(gitrepo.commit())
    ahead = DesiredReader(gitrepo.repo, renderers=KUBECTL_ONLY, render_workers=4)
    assert ahead.prefetch(shas) == 10
    assert ahead.stats.prefetched == 10
    sequential = DesiredReader(gitrepo.repo, renderers=KUBECTL_ONLY)
    for sha in shas:
        assert ahead.read_commit(sha) == sequential.read_commit(sha)
    assert ahead.stats.renders == 10  # every read found its renders done
    assert ahead.prefetch(shas) == 0
    assert by_path(ahead.read_commit(shas[-1]))["a"][0]["spec"]["replicas"] == 5


def test_renders_run_go_tools_without_their_garbage_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    env = render._tool_env()
    assert (env["GOGC"], env["GOMEMLIMIT"]) == ("off", "256MiB")
    monkeypatch.setenv("GOGC", "100")
    assert render._tool_env()["GOGC"] == "100"  # the caller's own setting is kept


def test_the_recorder_records_the_choice_of_the_cluster_it_records(
    gitrepo: GitRepo, tmp_path: Path
) -> None:
    three_declarations(gitrepo)
    gitrepo.write({"timetravel.toml": '[desired.clusters]\nprod = "kubernetes-manifests"\n'})
    gitrepo.commit()
    db_path = tmp_path / "tt.db"
    source = GitSource(db_path, gitrepo.path, clock=MonotonicClock(), progress=False)
    source.follows_cluster = "prod"  # as `record --context prod` sets it
    source.sync()
    _, merged = DesiredState(open_database(db_path)).merged_at(to_stored(datetime.now(UTC)))
    [declared] = [d for k, d in merged.items() if k[3] == "web"]
    assert declared.path == "kubernetes-manifests/web.yaml"
    assert declared.obj["spec"]["replicas"] == 2


def test_a_group_the_recorded_cluster_serves_is_desired(
    gitrepo: GitRepo, tmp_path: Path, any_db: Path | str
) -> None:
    kind_cluster = {
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "kind": "Cluster",
        "metadata": {"name": "dev", "namespace": "default", "uid": "u1", "resourceVersion": "1"},
    }
    gitrepo.write({"kind.yaml": json.dumps(kind_cluster)})
    gitrepo.commit()
    source = GitSource(any_db, gitrepo.path, clock=MonotonicClock(), progress=False)
    source.sync()
    db = open_database(any_db)
    _, merged = DesiredState(db).merged_at(to_stored(datetime.now(UTC)))
    assert not merged  # a kind cluster config: the tool's, as far as anyone knows
    # Once the cluster was seen serving kind.x-k8s.io, such objects are its own.
    line = {"type": "ADDED", "object": kind_cluster, "observed_at": "2026-11-16T09:00:10Z"}
    import_events(db, [json.dumps(line)], cluster="prod")
    gitrepo.write({"kind.yaml": json.dumps({**kind_cluster, "nodes": []})})
    gitrepo.commit()
    GitSource(any_db, gitrepo.path, clock=MonotonicClock(), progress=False).sync()
    _, merged = DesiredState(open_database(any_db)).merged_at(to_stored(datetime.now(UTC)))
    assert [k[1] for k in merged] == ["Cluster"]

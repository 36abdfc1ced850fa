"""The pure rules of reading desired state from a GitOps repository, without git: repository
paths and symlinks, the tree index, kustomize and chart roots, namespace defaults, Argo CD
Applications, and the order and identity of declared objects."""

from __future__ import annotations

from typing import Any

import pytest

from timetravel.domain.argocd import (
    application_namespaces,
    comparable_remote_urls,
    normalize_url,
)
from timetravel.domain.desired import DesiredObject, namespace_units
from timetravel.domain.kustomize import (
    Kustomization,
    chart_roots,
    is_remote,
    is_render_input,
    kustomization_file,
    kustomize_roots,
    owned_directories,
    parse_kustomization,
    release_name,
    render_inputs,
)
from timetravel.domain.namespaces import (
    NamespaceDefaults,
    cluster_scoped_crd_kinds,
    config_namespaces,
    namespacing,
    with_namespace,
)
from timetravel.domain.repopaths import (
    ROOT,
    ancestors,
    as_directory,
    inside,
    join,
    parent,
    real_path,
    resolve,
    under,
)
from timetravel.domain.repotree import (
    MODE_LINK,
    MODE_SUBMODULE,
    MODE_TREE,
    Listing,
    Tree,
    build_tree,
    canonical_mode,
    tree_entries,
)

# --- repository paths ---------------------------------------------------------------------------


def test_join_parent_and_ancestors() -> None:
    assert join(ROOT, "a.yaml") == "a.yaml"
    assert join("apps/web", "a.yaml") == "apps/web/a.yaml"
    assert parent("a.yaml") == ROOT
    assert parent("apps/web/a.yaml") == "apps/web"
    assert list(ancestors("apps/web/a.yaml")) == ["apps/web", "apps", ROOT]
    assert list(ancestors(ROOT)) == []


def test_under_is_by_directory_not_by_string_prefix() -> None:
    assert under("apps/web/a.yaml", "apps/web")
    assert under("apps/web", "apps/web")
    assert under("anything", ROOT)
    assert not under("apps/website/a.yaml", "apps/web")


@pytest.mark.parametrize(
    ("directory", "reference", "expected"),
    [
        ("overlays/prod", "../../base", "base"),
        ("overlays/prod", "./patch.yaml", "overlays/prod/patch.yaml"),
        (ROOT, "base", "base"),
        ("overlays/prod", "../../..", None),  # out of the repository
        ("overlays", "../../etc/passwd", None),
        ("overlays", "/etc/passwd", None),  # absolute
    ],
)
def test_resolve_keeps_references_inside_the_repository(
    directory: str, reference: str, expected: str | None
) -> None:
    assert resolve(directory, reference) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("apps/web/", "apps/web"), ("/apps", "apps"), ("", ROOT), (" / ", ROOT), ("./a/../b", "b")],
)
def test_as_directory_cleans_configured_prefixes(text: str, expected: str) -> None:
    assert as_directory(text) == expected


def test_inside_answers_for_owned_directories_and_remembers() -> None:
    known: dict[str, bool] = {}
    owned = {"apps/shop"}
    assert inside("apps/shop/base", owned, known)
    assert not inside("apps/other", owned, known)
    assert known == {"apps/shop/base": True, "apps/other": False, "apps": False, ROOT: False}
    # A remembered answer is trusted as it is.
    assert inside("apps/other", set(), {"apps/other": True})


LINKS = {
    "current": "v2",  # a directory symlink, relative to its own directory
    "v2/app.yaml": "../shared/app.yaml",
    "loop-a": "loop-b",
    "loop-b": "loop-a",
    "escape": "../../etc/passwd",
    "absolute": "/etc/passwd",
    "dangling": "nowhere.yaml",
    "empty": "",
}
PATHS = {ROOT, "v2", "shared", "shared/app.yaml", *LINKS}


def link_target(path: str) -> str | None:
    return LINKS.get(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("shared/app.yaml", ("shared/app.yaml", None)),
        ("current/app.yaml", ("shared/app.yaml", None)),  # through two links
        ("loop-a", (None, "symlink loop: not followed")),
        (
            "escape",
            (None, "symlink pointing outside the repository (../../etc/passwd): not followed"),
        ),
        ("absolute", (None, "symlink pointing outside the repository (/etc/passwd): not followed")),
        ("empty", (None, "symlink pointing outside the repository (): not followed")),
        ("dangling", (None, "symlink to a missing path (nowhere.yaml): not followed")),
    ],
)
def test_real_path_follows_links_inside_the_tree_only(
    path: str, expected: tuple[str | None, str | None]
) -> None:
    assert real_path(path, PATHS, link_target) == expected


def test_real_path_reads_only_the_links_on_the_way() -> None:
    asked: list[str] = []

    def target(path: str) -> str | None:
        asked.append(path)
        return LINKS.get(path)

    real_path("current/app.yaml", PATHS, target)
    assert set(asked) == {"current", "v2", "v2/app.yaml", "shared", "shared/app.yaml"}


# --- the tree index -----------------------------------------------------------------------------


def raw_tree(*entries: tuple[bytes, bytes, str]) -> bytes:
    return b"".join(mode + b" " + name + b"\0" + bytes.fromhex(sha) for mode, name, sha in entries)


def test_tree_entries_decodes_a_raw_tree_object() -> None:
    data = raw_tree(
        (b"100644", b"a.yaml", "11" * 20),
        (b"40000", b"dir", "22" * 20),
        (b"120000", b"link", "33" * 20),
        (b"160000", b"sub", "44" * 20),
        (b"100755", b"caf\xc3\xa9.sh", "55" * 20),
        (b"100664", b"odd", "66" * 20),  # old git wrote group-writable modes
    )
    assert tree_entries(data) == [
        (0o100644, "a.yaml", "11" * 20),
        (MODE_TREE, "dir", "22" * 20),
        (MODE_LINK, "link", "33" * 20),
        (MODE_SUBMODULE, "sub", "44" * 20),
        (0o100755, "café.sh", "55" * 20),
        (0o100644, "odd", "66" * 20),
    ]
    assert canonical_mode(0o100775) == 0o100755


def test_tree_entries_keeps_names_that_are_not_utf8() -> None:
    [(_, name, _)] = tree_entries(raw_tree((b"100644", b"\xff.yaml", "11" * 20)))
    assert name.encode("utf-8", errors="surrogateescape") == b"\xff.yaml"


F = 0o100644
LISTINGS: dict[str, Listing] = {
    "root": [
        (F, "README.md", "r1"),
        (MODE_TREE, "app", "app1"),
        (MODE_TREE, "chart", "chart1"),
        (MODE_LINK, "link.yaml", "l1"),
        (MODE_SUBMODULE, "vendor.yaml", "s1"),
    ],
    "app1": [(F, "Kustomization", "k1"), (F, "kustomization.yml", "k2"), (F, "web.YAML", "w1")],
    "app2": [(F, "kustomization.yml", "k2"), (F, "web.yaml", "w2")],
    "chart1": [(F, "Chart.yaml", "c1"), (MODE_TREE, "templates", "t1")],
    "t1": [(F, "deploy.yaml", "d1")],
}


def test_tree_indexes_manifests_kustomizations_charts_and_links() -> None:
    tree = build_tree("root", LISTINGS.__getitem__, {})
    # kustomize reads kustomization.yaml, then .yml, then Kustomization.
    assert tree.kustomizations == {"app": "app/kustomization.yml"}
    assert tree.charts == ["chart"]
    assert tree.links == ["link.yaml"]
    assert [(path, directory) for path, directory, _ in tree.manifests] == [
        ("app/kustomization.yml", "app"),
        ("app/web.YAML", "app"),
        ("chart/Chart.yaml", "chart"),
        ("chart/templates/deploy.yaml", "chart/templates"),
        ("link.yaml", ROOT),
    ]  # a submodule is never a manifest
    assert sorted(tree.walk("chart")) == ["chart/Chart.yaml", "chart/templates/deploy.yaml"]
    assert tree.entries["chart/templates"].is_tree
    assert tree.entries["link.yaml"].is_link
    assert not tree.entries["vendor.yaml"].is_file


def test_build_tree_reads_only_directories_that_changed() -> None:
    first = build_tree("root", LISTINGS.__getitem__, {})
    known = {**first.subtrees, (ROOT, "root"): first}
    listings = {**LISTINGS, "root2": [(MODE_TREE, "app", "app2"), (MODE_TREE, "chart", "chart1")]}
    asked: list[str] = []

    def listing(sha: str) -> Listing:
        asked.append(sha)
        return listings[sha]

    second = build_tree("root2", listing, known)
    assert sorted(asked) == ["app2", "root2"]
    assert second.subtrees[("chart", "chart1")] is first.subtrees[("chart", "chart1")]
    assert second.kustomizations == {"app": "app/kustomization.yml"}


def test_contents_of_a_copy() -> None:
    tree = Tree(
        ROOT,
        "root",
        [(F, "a.yaml", "a1"), (MODE_LINK, "b.yaml", "b1"), (MODE_LINK, "c.yaml", "c1")],
        lambda path, sha: pytest.fail("no subdirectories"),
    )
    files, directories = tree.contents([ROOT, "missing"], {"b.yaml": "target"})
    assert files == {"a.yaml": "a1", "b.yaml": "target"}  # c.yaml: a link not followed
    assert directories == [ROOT]


# --- kustomize ----------------------------------------------------------------------------------


def test_kustomization_file_prefers_what_kustomize_reads() -> None:
    assert kustomization_file({"Kustomization": "d/K", "kustomization.yaml": "d/k"}) == "d/k"
    assert kustomization_file({"Kustomization": "d/K"}) == "d/K"
    assert kustomization_file({}) is None


@pytest.mark.parametrize(
    "reference",
    ["https://github.com/org/repo//base?ref=v1", "git@github.com:org/repo.git", "github.com/o/r"],
)
def test_remote_references(reference: str) -> None:
    assert is_remote(reference)
    assert not is_remote("../base")


def test_parse_kustomization_resolves_what_it_builds_in() -> None:
    doc: dict[str, Any] = {
        "resources": ["deployment.yaml", "../../base", "https://example.com/x.yaml", 7],
        "bases": ["../common"],
        "components": ["../../components/tls"],
        "patches": [{"path": "../../patches/replicas.yaml"}],
        "configMapGenerator": [{"name": "env", "files": ["app.conf=../../config/app.conf"]}],
        "images": [{"name": "web", "newTag": "1.2..3"}],  # no path out of the directory
        "commonAnnotations": {"note": "see ../README\nfor more"},  # not a path: two lines
    }
    k = parse_kustomization("overlays/prod", "overlays/prod/kustomization.yaml", doc)
    assert k.references == (
        "overlays/prod/deployment.yaml",
        "base",
        "overlays/common",
        "components/tls",
    )
    assert set(k.escaping) == {
        "base",
        "components/tls",
        "config/app.conf",
        "overlays/common",
        "patches/replicas.yaml",
    }
    assert k.problems == ()


def test_parse_kustomization_reports_references_out_of_the_repository() -> None:
    k = parse_kustomization("app", "app/kustomization.yaml", {"resources": ["../../outside"]})
    assert k.references == ()
    assert k.problems == ("resources entry '../../outside' is outside the repository",)
    assert parse_kustomization("app", "f", {"resources": "not-a-list"}).references == ()


def kustomization(directory: str, *refs: str, problems: tuple[str, ...] = ()) -> Kustomization:
    return Kustomization(directory, f"{directory}/kustomization.yaml", refs, (), problems)


SHOP = {
    "shop/base": kustomization("shop/base"),
    "shop/overlays/prod": kustomization("shop/overlays/prod", "shop/base", "shop/overlays/prod"),
    "shop/overlays/dev": kustomization("shop/overlays/dev", "shop/base"),
    "chart/kustomize": kustomization("chart/kustomize"),
}


def test_kustomize_roots_skip_what_another_builds_in_unless_deployed() -> None:
    assert kustomize_roots(SHOP, {"chart"}, deployed={}) == [
        "shop/overlays/dev",
        "shop/overlays/prod",  # naming itself does not make it referenced
    ]
    assert kustomize_roots(SHOP, set(), deployed={"shop/base": "shop"}) == [
        "chart/kustomize",
        "shop/base",
        "shop/overlays/dev",
        "shop/overlays/prod",
    ]


def test_chart_roots_skip_subcharts_and_charts_inside_kustomizations() -> None:
    charts = {"charts/app", "charts/app/charts/redis", "kust/chart", "kust2"}
    assert chart_roots(charts, {"kust", "kust2"}) == ["charts/app"]


def test_render_inputs_is_the_closure_outside_the_root() -> None:
    ks = {
        "overlays/prod": kustomization("overlays/prod", "base", "overlays/prod/local"),
        "base": kustomization("base", "components/tls", "overlays/prod", problems=("bad base",)),
        "components/tls": kustomization("components/tls", "base"),
    }
    inputs = render_inputs(ks["overlays/prod"], ks)
    assert inputs.paths == ("overlays/prod", "base", "components/tls")
    assert inputs.problems == ("bad base",)
    root = kustomization("app", problems=("root problem",))
    assert render_inputs(root, {"app": root}).problems == ("root problem",)
    assert render_inputs(root, {}).paths == ("app",)


def test_files_under_a_render_are_not_manifests() -> None:
    owned = owned_directories(["shop/base"], ["charts/app"])
    assert owned == {"shop/base", "charts/app"}
    known: dict[str, bool] = {}
    assert is_render_input("shop/base/deploy.yaml", "shop/base", owned, known)
    assert is_render_input("charts/app/templates/x.yaml", "charts/app/templates", owned, known)
    assert not is_render_input("shop/patches/x.yaml", "shop/patches", owned, known)
    assert not is_render_input("x.yaml", ROOT, set(), {})


@pytest.mark.parametrize(
    ("directory", "expected"),
    [("charts/My_App.v2", "my-app-v2"), (ROOT, "release"), ("a/" + "x" * 60, "x" * 53)],
)
def test_release_name_is_a_dns_label(directory: str, expected: str) -> None:
    assert release_name(directory) == expected


# --- namespaces ---------------------------------------------------------------------------------


def test_config_namespaces() -> None:
    assert config_namespaces(b'[namespaces]\n"apps/web/" = "web"\n"" = "base"\n') == (
        {"apps/web": "web", ROOT: "base"},
        None,
    )
    assert config_namespaces(b"title = 'no namespaces'") == ({}, None)
    assert config_namespaces(b"[namespaces]\napps = 3\n") == (
        {},
        "[namespaces] must map directories to namespace names",
    )
    namespaces, error = config_namespaces(b"[namespaces\n")
    assert namespaces == {} and error is not None and error.startswith("not read: ")
    assert config_namespaces(b"\xff")[1] is not None


def test_namespace_defaults_longest_prefix_then_last_layer() -> None:
    apps = {"apps/web": "from-app", "apps/admin": "admin"}
    config = {"apps/web": "from-config", ROOT: "everything"}
    explicit = {"apps/web": "explicit"}
    namespaces = NamespaceDefaults(apps, config, explicit)
    assert namespaces.lookup("apps/web/ui.yaml") == "explicit"
    assert namespaces.lookup("apps/admin/panel/x.yaml") == "admin"
    assert namespaces.lookup("apps/website.yaml") == "everything"
    assert NamespaceDefaults(apps).lookup("other.yaml") == "default"
    assert NamespaceDefaults(apps, config).key == NamespaceDefaults(apps, config).key


def test_with_namespace_fills_only_what_is_missing() -> None:
    namespaces = NamespaceDefaults({"apps": "apps-ns"})
    deployment = {"kind": "Deployment", "metadata": {"name": "web"}}
    placed = with_namespace(deployment, "apps/web.yaml", namespaces, frozenset())
    assert placed["metadata"] == {"name": "web", "namespace": "apps-ns"}
    assert deployment["metadata"] == {"name": "web"}  # the original is shared: not changed
    pinned = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "mine"}}
    assert with_namespace(pinned, "apps/web.yaml", namespaces, frozenset()) is pinned
    role = {"kind": "ClusterRole", "metadata": {"name": "r"}}
    assert with_namespace(role, "apps/r.yaml", namespaces, frozenset()) is role
    tenant = {"kind": "Tenant", "metadata": {"name": "t"}}
    assert with_namespace(tenant, "apps/t.yaml", namespaces, frozenset({"Tenant"})) is tenant
    bare = with_namespace({"kind": "ConfigMap"}, "x.yaml", namespaces, frozenset())
    assert bare["metadata"] == {"namespace": "default"}


def crd(kind: str, scope: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {"scope": scope, "names": {"kind": kind}},
    }


def test_cluster_scoped_kinds_and_namespacing_objects() -> None:
    objects = [crd("Tenant", "Cluster"), crd("Widget", "Namespaced"), {"kind": "Application"}]
    assert cluster_scoped_crd_kinds(objects) == {"Tenant"}
    assert cluster_scoped_crd_kinds([{"kind": "Tenant", "spec": {"scope": "Cluster"}}]) == set()
    assert namespacing([*objects, {"kind": "Deployment"}]) == tuple(objects)


# --- Argo CD ------------------------------------------------------------------------------------


def application(
    path: str, namespace: str | None, url: str = "https://github.com/org/gitops"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": {"repoURL": url, "path": path}}
    if namespace is not None:
        spec["destination"] = {"namespace": namespace}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "spec": spec}


def test_application_namespaces_from_this_repository() -> None:
    remotes = comparable_remote_urls(["git@github.com:org/gitops.git", "/srv/mirror.git"])
    assert remotes == {"github.com/org/gitops"}
    objects = [
        application("apps/web/", "web"),
        application("apps/web", "second"),  # the first Application of a path wins
        application("apps/other", "x", url="https://github.com/org/elsewhere"),
        application("apps/nodest", None),
        {**application("apps/fake", "fake"), "apiVersion": "example.com/v1"},
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "spec": {
                "destination": {"namespace": "multi"},
                "sources": [{"repoURL": "ssh://git@github.com:22/org/gitops", "path": "apps/m"}],
            },
        },
    ]
    assert application_namespaces(objects, remotes) == {"apps/web": "web", "apps/m": "multi"}
    # Without a network remote to compare with, every Application counts.
    assert application_namespaces(objects, set())["apps/other"] == "x"


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:Org/GitOps.git",
        "https://github.com/org/gitops",
        "https://user@github.com/org/gitops.git/",
        "ssh://git@github.com:22/org/gitops.git",
    ],
)
def test_normalize_url(url: str) -> None:
    assert normalize_url(url) == "github.com/org/gitops"


def test_local_remotes_are_not_comparable() -> None:
    assert comparable_remote_urls(["/srv/repo.git", "file:///srv/repo.git", "../repo"]) == set()


# --- keys and order -----------------------------------------------------------------------------


def test_namespace_units_orders_by_path_and_reuses_unchanged_units() -> None:
    web = ({"kind": "Deployment", "metadata": {"name": "web"}},)
    db = ({"kind": "StatefulSet", "metadata": {"name": "db"}}, {"kind": "Service"})
    namespaces = NamespaceDefaults({"b": "bee"})
    objects, units = namespace_units([("b/web.yaml", web), ("a", db)], namespaces, frozenset(), {})
    assert [(o.path, o.obj.get("kind"), o.obj["metadata"]["namespace"]) for o in objects] == [
        ("a", "StatefulSet", "default"),
        ("a", "Service", "default"),
        ("b/web.yaml", "Deployment", "bee"),
    ]
    again, _ = namespace_units([("a", db), ("b/web.yaml", web)], namespaces, frozenset(), units)
    assert all(x is y for x, y in zip(again, objects, strict=True))
    # Equal objects in a new tuple, or equal but new defaults, are placed again.
    copied, _ = namespace_units([("a", db[:1] + db[1:])], namespaces, frozenset(), units)
    assert copied[0] == objects[0] and copied[0] is not objects[0]
    fresh, _ = namespace_units([("a", db)], NamespaceDefaults({"b": "bee"}), frozenset(), units)
    assert fresh[0] == DesiredObject("a", objects[0].obj) and fresh[0] is not objects[0]
    kinds, _ = namespace_units([("a", db)], namespaces, frozenset({"StatefulSet"}), units)
    assert kinds[0].obj is db[0]

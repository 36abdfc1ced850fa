from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from timetravel.domain.diff import FieldDiff, changed_fields, diff_desired_actual, is_drifted
from timetravel.domain.managed_fields import Owner, field_owners
from timetravel.domain.paths import (
    Keyed,
    Named,
    Segment,
    SetValue,
    find_item,
    format_path,
    get,
    index,
    join,
    parse,
    sort_key,
)

DATA = Path(__file__).parent / "data" / "diff"
API = "spec.template.spec.containers[api]"
BOOKKEEPING = ("uid", "resourceVersion", "generation", "creationTimestamp", "selfLink")


# --- fixtures -------------------------------------------------------------------------------


def git_deployment() -> dict[str, Any]:
    """The manifest as declared in git."""
    obj: dict[str, Any] = json.loads((DATA / "deployment-git.json").read_text())
    return obj


def live_deployment() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The live object (bookkeeping stripped) and its managedFields: applied with
    `kubectl apply`, then env DEBUG=true added by `kubectl edit`."""
    obj: dict[str, Any] = json.loads((DATA / "deployment-live.json").read_text())
    managed: list[dict[str, Any]] = obj["metadata"].pop("managedFields")
    for key in BOOKKEEPING:
        obj["metadata"].pop(key, None)
    return obj, managed


def clean_live() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The live object before anyone edited it by hand."""
    live, managed = live_deployment()
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    env[:] = [e for e in env if e["name"] != "DEBUG"]
    return live, [m for m in managed if m["manager"] != "kubectl-edit"]


def update(manager: str, fields_v1: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1,
        "manager": manager,
        "operation": "Update",
        "time": "2024-05-21T09:00:00Z",
        **extra,
    }


def without_csa_replicas(managed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(managed)
    for m in out:
        if m["manager"] == "kubectl-client-side-apply":
            del m["fieldsV1"]["f:spec"]["f:replicas"]
    return out


def by_path(diffs: list[FieldDiff]) -> dict[str, FieldDiff]:
    return {d.path: d for d in diffs}


def drift(diffs: list[FieldDiff]) -> list[FieldDiff]:
    return [d for d in diffs if not d.noise]


# --- path notation --------------------------------------------------------------------------


def test_path_notation() -> None:
    containers = "spec.template.spec.containers"
    assert join(index(index(containers, "api") + ".env", "DEBUG"), "value") == (
        "spec.template.spec.containers[api].env[DEBUG].value"
    )
    assert index("spec.ports", 0) == "spec.ports[0]"
    assert join("metadata.annotations", "app.kubernetes.io/name") == (
        'metadata.annotations["app.kubernetes.io/name"]'
    )
    assert join("metadata.labels", "app.kubernetes.io/part-of") == (
        'metadata.labels["app.kubernetes.io/part-of"]'
    )
    assert join("", "spec") == "spec"
    assert join("data", "config.yaml") == 'data["config.yaml"]'
    # A name that reads as an index or holds brackets is spelled out.
    assert index("spec.ports", "8080") == 'spec.ports[name="8080"]'
    assert parse('spec.ports[name="8080"]') == ["spec", "ports", Named("8080")]


def test_parse_all_segment_kinds() -> None:
    assert parse("spec.template.spec.containers[api].env[DEBUG].value") == [
        "spec",
        "template",
        "spec",
        "containers",
        Named("api"),
        "env",
        Named("DEBUG"),
        "value",
    ]
    assert parse("spec.ports[0].port") == ["spec", "ports", 0, "port"]
    assert parse('metadata.annotations["a.b/c"]') == ["metadata", "annotations", "a.b/c"]
    assert parse("ports[containerPort=80,protocol=TCP]") == [
        "ports",
        Keyed((("containerPort", 80), ("protocol", "TCP"))),
    ]
    assert parse("metadata.finalizers[=kubernetes]") == [
        "metadata",
        "finalizers",
        SetValue("kubernetes"),
    ]
    assert parse("") == []


@pytest.mark.parametrize("bad", ["a..b", ".a", "a[", "a[]", 'a["x', "a[k=]", "a]b", "a[x=1"])
def test_parse_rejects_malformed_paths(bad: str) -> None:
    with pytest.raises(ValueError):
        parse(bad)


TEXT = st.sampled_from(
    ["api", "DEBUG", "app.kubernetes.io/name", "0", "-1", "", "a b", 'q"t', "[x]", "n,m", "true"]
)
SEGMENTS: st.SearchStrategy[Segment] = st.one_of(
    TEXT,
    st.integers(0, 12),
    TEXT.map(Named),
    TEXT.map(SetValue),
    st.dictionaries(
        st.sampled_from(["port", "protocol", "containerPort"]),
        st.one_of(TEXT, st.integers(0, 9000), st.none(), st.booleans()),
        min_size=2,
        max_size=3,
    ).map(lambda fields: Keyed(tuple(sorted(fields.items())))),
)


@given(st.lists(SEGMENTS, max_size=6))
@settings(max_examples=300, deadline=None)
def test_format_and_parse_are_inverses(segments: list[Segment]) -> None:
    assert parse(format_path(segments)) == segments


def test_get_follows_names_keys_and_indexes() -> None:
    live, _ = live_deployment()
    assert get(live, f"{API}.env[DEBUG].value") == "true"
    assert get(live, f"{API}.ports[0].containerPort") == 8080
    assert get(live, f"{API}.ports[containerPort=8080,protocol=TCP].name") == "http"
    assert get(live, 'metadata.labels["app.kubernetes.io/part-of"]') == "shop"
    assert get(live, f"{API}.env[MISSING].value") is None
    assert get(live, "spec.replicas.nothing") is None


def test_sort_key_orders_indexes_numerically() -> None:
    paths = ["a[10]", "a[2]", "a.b", "a[x]"]
    assert sorted(paths, key=sort_key) == ["a.b", "a[2]", "a[10]", "a[x]"]


# --- desired vs actual ----------------------------------------------------------------------


def test_defaulted_fields_are_noise_not_drift() -> None:
    live, managed = clean_live()
    diffs = diff_desired_actual(git_deployment(), live, owners=field_owners(managed))
    assert not is_drifted(diffs)
    reasons = {d.path: d.reason for d in diffs}
    for path in [
        "spec.strategy.type",
        "spec.strategy.rollingUpdate.maxSurge",
        "spec.progressDeadlineSeconds",
        "spec.revisionHistoryLimit",
        "spec.template.spec.dnsPolicy",
        "spec.template.spec.restartPolicy",
        "spec.template.spec.schedulerName",
        "spec.template.spec.securityContext",
        "spec.template.spec.terminationGracePeriodSeconds",
        "spec.template.spec.volumes[config].configMap.defaultMode",
        f"{API}.terminationMessagePath",
        f"{API}.imagePullPolicy",
        f"{API}.ports[http].protocol",
        f"{API}.readinessProbe.httpGet.scheme",
        "spec.template.spec.containers[log-shipper].resources",
        'metadata.annotations["deployment.kubernetes.io/revision"]',
        'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]',
    ]:
        assert reasons[path] == "default", path
    assert reasons["status"] == "status"
    # Without managedFields the documented defaults are still noise.
    assert not is_drifted(diff_desired_actual(git_deployment(), live))


class _Unread(list[dict[str, Any]]):
    """managedFields that fail the test when read."""

    def __iter__(self) -> Any:
        raise AssertionError("managedFields read, though no live-only field needed an owner")


def test_managed_fields_are_read_only_when_a_live_only_field_needs_an_owner() -> None:
    # A snapshot compares hundreds of declared objects; reading managedFields into owned
    # paths cost more than the rest of the diff, and most objects have no field to judge.
    live, managed = clean_live()
    assert not is_drifted(diff_desired_actual(git_deployment(), live, managed_fields=_Unread()))
    live, managed = live_deployment()
    with pytest.raises(AssertionError, match="managedFields read"):
        diff_desired_actual(git_deployment(), live, managed_fields=_Unread(managed))
    assert diff_desired_actual(git_deployment(), live, managed_fields=managed) == (
        diff_desired_actual(git_deployment(), live, owners=field_owners(managed))
    )
    # Owned by a controller, not a person: noise when read from managedFields as well.
    by_controller = [
        {**m, "manager": "kube-controller-manager"} if m["manager"] == "kubectl-edit" else m
        for m in managed
    ]
    assert [d.path for d in drift(diff_desired_actual(git_deployment(), live))] == [
        f"{API}.env[DEBUG]"
    ]
    assert not drift(diff_desired_actual(git_deployment(), live, managed_fields=by_controller))


def test_diffs_are_sorted_and_match_the_schema() -> None:
    live, managed = live_deployment()
    diffs = diff_desired_actual(git_deployment(), live, owners=field_owners(managed))
    assert [d.path for d in diffs] == sorted((d.path for d in diffs), key=sort_key)
    schema = json.loads((ROOT / "docs" / "snapshot.schema.json").read_text())
    field_diff = {"$ref": "#/$defs/field_diff", "$defs": schema["$defs"]}
    for d in diffs:
        jsonschema.validate(d.to_json(), field_diff)
        assert set(d.to_json()) == {"path", "desired", "actual"}


def test_env_var_added_by_kubectl_edit_is_drift() -> None:
    live, managed = live_deployment()
    diffs = diff_desired_actual(git_deployment(), live, owners=field_owners(managed))
    assert drift(diffs) == [
        FieldDiff(f"{API}.env[DEBUG]", None, {"name": "DEBUG", "value": "true"}, False, "added")
    ]
    assert drift(diffs)[0].to_json() == {
        "path": f"{API}.env[DEBUG]",
        "desired": None,
        "actual": {"name": "DEBUG", "value": "true"},
    }


def test_live_only_field_without_owner_information_is_drift() -> None:
    live, _ = live_deployment()
    assert [d.path for d in drift(diff_desired_actual(git_deployment(), live))] == [
        f"{API}.env[DEBUG]"
    ]


def test_is_manual_decides_who_is_a_person() -> None:
    live, managed = live_deployment()
    diffs = diff_desired_actual(
        git_deployment(), live, owners=field_owners(managed), is_manual=lambda m: m == "nobody"
    )
    assert not is_drifted(diffs)
    assert by_path(diffs)[f"{API}.env[DEBUG]"].reason == "controller"


def test_autoscaled_replicas_absent_from_git_are_not_drift() -> None:
    desired = git_deployment()
    del desired["spec"]["replicas"]
    live, managed = clean_live()
    live["spec"]["replicas"] = 7
    hpa = update(
        "kube-controller-manager",
        {"f:spec": {"f:replicas": {}}},
        subresource="scale",
    )
    diffs = diff_desired_actual(
        desired, live, owners=field_owners([*without_csa_replicas(managed), hpa])
    )
    assert by_path(diffs)["spec.replicas"] == FieldDiff(
        "spec.replicas", None, 7, True, "controller"
    )
    assert not is_drifted(diffs)


def test_replicas_declared_in_git_and_changed_by_kubectl_scale_are_drift() -> None:
    live, managed = clean_live()
    live["spec"]["replicas"] = 5
    scale = update("kubectl-scale", {"f:spec": {"f:replicas": {}}}, subresource="scale")
    diffs = diff_desired_actual(
        git_deployment(), live, owners=field_owners([*without_csa_replicas(managed), scale])
    )
    assert drift(diffs) == [FieldDiff("spec.replicas", 3, 5, False, "changed")]


def test_replicas_absent_from_git_scaled_by_hand_are_drift() -> None:
    desired = git_deployment()
    del desired["spec"]["replicas"]
    live, managed = clean_live()
    live["spec"]["replicas"] = 5
    scale = update("kubectl-scale", {"f:spec": {"f:replicas": {}}}, subresource="scale")
    owners = field_owners([*without_csa_replicas(managed), scale])
    diffs = diff_desired_actual(desired, live, owners=owners)
    assert drift(diffs) == [FieldDiff("spec.replicas", None, 5, False, "added")]


def test_default_replica_count_absent_from_git_is_noise() -> None:
    desired = git_deployment()
    del desired["spec"]["replicas"]
    live, _ = clean_live()
    live["spec"]["replicas"] = 1
    assert by_path(diff_desired_actual(desired, live))["spec.replicas"].reason == "default"


def test_quantities_and_int_or_string_compare_by_value() -> None:
    desired = git_deployment()
    api = desired["spec"]["template"]["spec"]["containers"][0]
    api["resources"] = {"limits": {"cpu": "0.5", "memory": "1Gi"}, "requests": {"cpu": 0.25}}
    api["ports"][0]["containerPort"] = "8080"
    api["readinessProbe"]["httpGet"]["port"] = 8080
    desired["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": "1", "maxUnavailable": 0}}
    live, _ = clean_live()
    live_api = live["spec"]["template"]["spec"]["containers"][0]
    live_api["resources"] = {
        "limits": {"cpu": "500m", "memory": "1073741824"},
        "requests": {"cpu": "250m"},
    }
    live_api["readinessProbe"]["httpGet"]["port"] = "8080"
    live["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 1, "maxUnavailable": "0"}
    assert drift(diff_desired_actual(desired, live)) == []


def test_a_different_quantity_is_drift() -> None:
    desired = git_deployment()
    desired["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "1"
    live, _ = clean_live()
    assert drift(diff_desired_actual(desired, live)) == [
        FieldDiff(f"{API}.resources.limits.cpu", "1", "500m", False, "changed")
    ]


def test_reordered_containers_and_env_are_not_drift() -> None:
    desired = git_deployment()
    pod = desired["spec"]["template"]["spec"]
    pod["containers"].reverse()
    pod["volumes"].reverse()
    pod["containers"][1]["env"].insert(0, {"name": "DEBUG", "value": "true"})
    live, _ = live_deployment()
    assert drift(diff_desired_actual(desired, live)) == []


def test_changed_image_is_drift_at_the_container_path() -> None:
    live, managed = clean_live()
    live["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "registry.example.com/shop/checkout:1.15.0"
    )
    diffs = diff_desired_actual(git_deployment(), live, owners=field_owners(managed))
    assert [d.to_json() for d in drift(diffs)] == [
        {
            "path": "spec.template.spec.containers[api].image",
            "desired": "registry.example.com/shop/checkout:1.14.2",
            "actual": "registry.example.com/shop/checkout:1.15.0",
        }
    ]


def test_annotation_and_label_keys_with_dots_and_slashes_are_quoted() -> None:
    live, managed = clean_live()
    live["metadata"]["annotations"]["example.com/on-call"] = "jane"
    live["metadata"]["labels"]["app.kubernetes.io/part-of"] = "shop-v2"
    annotate = update(
        "kubectl-annotate", {"f:metadata": {"f:annotations": {"f:example.com/on-call": {}}}}
    )
    diffs = diff_desired_actual(git_deployment(), live, owners=field_owners([*managed, annotate]))
    assert drift(diffs) == [
        FieldDiff('metadata.annotations["example.com/on-call"]', None, "jane", False, "added"),
        FieldDiff(
            'metadata.labels["app.kubernetes.io/part-of"]', "shop", "shop-v2", False, "changed"
        ),
    ]


def test_declared_fields_missing_live_are_drift() -> None:
    desired = git_deployment()
    desired["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "FEATURE_FLAGS", "value": "checkout-v2"}
    )
    desired["spec"]["template"]["spec"]["nodeSelector"] = {"pool": "general"}
    live, _ = clean_live()
    assert drift(diff_desired_actual(desired, live)) == [
        FieldDiff(
            f"{API}.env[FEATURE_FLAGS]",
            {"name": "FEATURE_FLAGS", "value": "checkout-v2"},
            None,
            False,
            "missing",
        ),
        FieldDiff("spec.template.spec.nodeSelector", {"pool": "general"}, None, False, "missing"),
    ]


def test_values_the_server_omits_match_absent_fields() -> None:
    desired = git_deployment()
    pod = desired["spec"]["template"]["spec"]
    pod["hostNetwork"] = False
    pod["tolerations"] = []
    pod["containers"][0]["args"] = []
    desired["metadata"]["annotations"] = {}
    desired["spec"]["minReadySeconds"] = 0
    live, _ = clean_live()
    assert drift(diff_desired_actual(desired, live)) == []


def test_booleans_and_ints_compare_exactly() -> None:
    desired = git_deployment()
    desired["spec"]["paused"] = True
    live, _ = clean_live()
    live["spec"]["paused"] = 1
    assert drift(diff_desired_actual(desired, live)) == [
        FieldDiff("spec.paused", True, 1, False, "changed")
    ]


def test_status_declared_in_git_is_compared() -> None:
    desired = git_deployment()
    desired["status"] = {"replicas": 4}
    live, _ = clean_live()
    diffs = by_path(diff_desired_actual(desired, live))
    assert diffs["status.replicas"] == FieldDiff("status.replicas", 4, 3, False, "changed")
    assert diffs["status.readyReplicas"].reason == "status"


SERVICE_GIT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "checkout", "namespace": "shop"},
    "spec": {
        "selector": {"app.kubernetes.io/name": "checkout"},
        "ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "metrics", "port": 9090},
        ],
    },
}
SERVICE_LIVE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
        "name": "checkout",
        "namespace": "shop",
    },
    "spec": {
        "clusterIP": "10.96.148.22",
        "clusterIPs": ["10.96.148.22"],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [
            {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090},
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
        ],
        "selector": {"app.kubernetes.io/name": "checkout"},
        "sessionAffinity": "None",
        "type": "ClusterIP",
    },
    "status": {"loadBalancer": {}},
}


def test_service_defaults_are_noise_and_named_ports_pair_by_name() -> None:
    diffs = diff_desired_actual(SERVICE_GIT, SERVICE_LIVE)
    assert drift(diffs) == []
    assert by_path(diffs)["spec.ports[metrics].targetPort"].reason == "default"
    assert by_path(diffs)["spec.clusterIP"].reason == "default"


def test_unnamed_service_ports_go_by_index() -> None:
    desired = copy.deepcopy(SERVICE_GIT)
    desired["spec"]["ports"] = [{"port": 80, "targetPort": 8080}]
    live = copy.deepcopy(SERVICE_LIVE)
    live["spec"]["ports"] = [{"port": 80, "protocol": "TCP", "targetPort": 8081}]
    live["spec"]["type"] = "NodePort"
    diffs = diff_desired_actual(desired, live)
    assert by_path(diffs)["spec.ports[0].protocol"].reason == "default"
    assert drift(diffs) == [
        FieldDiff("spec.ports[0].targetPort", 8080, 8081, False, "changed"),
        FieldDiff("spec.type", None, "NodePort", False, "added"),
    ]


# --- revision vs revision -------------------------------------------------------------------


def test_changed_fields_between_two_revisions() -> None:
    before, _ = clean_live()
    after, _ = live_deployment()
    after["spec"]["template"]["spec"]["containers"][0]["image"] = "checkout:1.15.0"
    after["spec"]["template"]["spec"]["containers"].reverse()
    after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    assert changed_fields(before, after) == [
        ('metadata.annotations["deployment.kubernetes.io/revision"]', "2", "3"),
        (f"{API}.env[DEBUG]", None, {"name": "DEBUG", "value": "true"}),
        (f"{API}.image", "registry.example.com/shop/checkout:1.14.2", "checkout:1.15.0"),
    ]


def test_changed_fields_of_created_and_deleted_objects() -> None:
    live, _ = clean_live()
    created = changed_fields(None, live)
    assert [path for path, _, _ in created] == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert all(before is None for _, before, _ in created)
    deleted = changed_fields(live, None)
    assert [(p, a) for p, _, a in deleted] == [(p, None) for p, _, _ in created]


def test_changed_fields_keep_lists_of_scalars_whole() -> None:
    before = {"spec": {"args": ["--port=8080", "--verbose"]}}
    after = {"spec": {"args": ["--port=8081", "--verbose"]}}
    assert changed_fields(before, after) == [
        ("spec.args", ["--port=8080", "--verbose"], ["--port=8081", "--verbose"])
    ]


def test_changed_fields_treat_null_as_absent_and_keep_bool_apart_from_int() -> None:
    assert changed_fields({"a": None, "b": 1}, {"b": 1, "c": None}) == []
    assert changed_fields({"a": True}, {"a": 1}) == [("a", True, 1)]
    assert changed_fields({"a": [True]}, {"a": [1]}) == [("a", [True], [1])]


def test_changed_fields_skip_equal_subtrees_yet_see_true_where_1_was() -> None:
    # Subtrees equal as JSON are skipped whole; ``==`` alone would take True for 1, and an
    # integer too large for JSON to encode is compared field by field.
    big = 2**70
    before = {"spec": {"a": {"b": {"on": True}}, "big": {"n": big}, "c": {"d": 1}, "e": [{"x": 1}]}}
    after = {
        "spec": {"a": {"b": {"on": 1}}, "big": {"n": big}, "c": {"d": 1.0}, "e": [{"x": True}]}
    }
    assert changed_fields(before, after) == [
        ("spec.a.b.on", True, 1),
        ("spec.e[0].x", 1, True),
    ]


def _step(node: Any, segment: Segment) -> Any:
    if isinstance(segment, str):
        return node[segment]
    position = find_item(node, segment)
    assert position is not None
    return node[position]


def _set(root: dict[str, Any], segments: list[Segment], value: Any) -> None:
    parent: Any = root
    for segment in segments[:-1]:
        parent = _step(parent, segment)
    last = segments[-1]
    if isinstance(last, str):
        if value is None:
            parent.pop(last, None)
        else:
            parent[last] = copy.deepcopy(value)
        return
    position = find_item(parent, last)
    if value is None:
        assert position is not None
        del parent[position]
    elif position is None:
        parent.append(copy.deepcopy(value))
    else:
        parent[position] = copy.deepcopy(value)


def apply_changes(
    before: dict[str, Any] | None, changes: list[tuple[str, Any, Any]]
) -> dict[str, Any]:
    """``before`` with each reported change applied; positional removals go last, highest
    index first, so that earlier removals do not shift later ones."""
    result = copy.deepcopy(before or {})
    removals: list[tuple[int, list[Segment]]] = []
    for path, _, after in changes:
        segments = parse(path)
        last = segments[-1]
        if after is None and isinstance(last, int):
            removals.append((last, segments))
        else:
            _set(result, segments, after)
    for _, segments in sorted(removals, key=lambda r: r[0], reverse=True):
        _set(result, segments, None)
    return result


def canonical(value: Any) -> Any:
    """``value`` up to what changed_fields promises to keep: null map values dropped, named
    lists in name order, booleans kept apart from numbers."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        names = [i.get("name") if isinstance(i, dict) else None for i in items]
        if items and all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
            items.sort(key=lambda i: str(i["name"]))
        return items
    if isinstance(value, bool):
        return ("bool", value)
    return value


KEYS = st.sampled_from(["image", "replicas", "app.kubernetes.io/name", "x/y", "0", "", 'q"', "[k]"])
NAMES = st.sampled_from(["api", "sidecar", "0", "a.b", "x y", "true", "n,m", ""])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "v", "1", "true"])
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    named = st.lists(
        st.tuples(NAMES, st.dictionaries(KEYS, children, max_size=3)),
        unique_by=lambda t: t[0],
        max_size=3,
    ).map(lambda items: [{**fields, "name": name} for name, fields in items])
    unnamed = st.lists(st.dictionaries(KEYS, children, max_size=3), max_size=3)
    return st.one_of(
        st.lists(SCALARS, max_size=3),
        st.dictionaries(KEYS, children, max_size=4),
        named,
        unnamed,
    )


VALUES = st.recursive(SCALARS, _containers, max_leaves=14)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=5)


@given(OBJECTS, OBJECTS)
@settings(max_examples=250, deadline=None)
def test_applying_changed_fields_to_before_yields_after(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    changes = changed_fields(before, after)
    assert canonical(apply_changes(before, changes)) == canonical(after)
    for path, old, new in changes:
        assert get(before, path) == old
        assert get(after, path) == new
        assert not (old is None and new is None)


def _edit(draw: st.DrawFn, node: Any) -> None:
    """One edit somewhere deep in ``node``: replace, add or remove a field or a list item."""
    while True:
        if isinstance(node, list) and node and all(isinstance(i, dict) for i in node):
            position = draw(st.integers(0, len(node) - 1))
            if draw(st.integers(0, 3)) == 0:
                del node[position]
                return
            node = node[position]
            continue
        if not isinstance(node, dict):
            return
        existing: bool = bool(node) and draw(st.booleans())
        key: str = draw(st.sampled_from(sorted(node))) if existing else draw(KEYS)
        child = node.get(key)
        if isinstance(child, dict | list) and child and draw(st.integers(0, 3)) > 0:
            node = child
            continue
        node[key] = draw(VALUES)
        return


@st.composite
def revisions(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two revisions of one object: the second a few deep edits away from the first."""
    before = draw(OBJECTS)
    after = copy.deepcopy(before)
    for _ in range(draw(st.integers(1, 3))):
        _edit(draw, after)
    return before, after


@given(revisions())
@settings(max_examples=250, deadline=None)
def test_applying_changed_fields_between_close_revisions_yields_after(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    before, after = pair
    assert canonical(apply_changes(before, changed_fields(before, after))) == canonical(after)


@given(OBJECTS)
@settings(max_examples=100, deadline=None)
def test_changed_fields_of_a_revision_with_itself_is_empty(obj: dict[str, Any]) -> None:
    assert changed_fields(obj, copy.deepcopy(obj)) == []
    created = changed_fields(None, obj)
    assert canonical(apply_changes(None, created)) == canonical(obj)


def test_owner_type_is_shared_with_diff() -> None:
    # diff_desired_actual takes the mapping field_owners returns, unchanged.
    owners: dict[str, Owner] = field_owners([])
    assert diff_desired_actual({"kind": "ConfigMap"}, {"kind": "ConfigMap"}, owners=owners) == []

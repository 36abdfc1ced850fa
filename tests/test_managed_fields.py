from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timetravel.domain.managed_fields import (
    ManagerTouch,
    Owner,
    advanced,
    field_owners,
    fields_v1_paths,
    is_manual_manager,
    manager_times,
    owner_of,
    resolve_paths,
    server_time,
    stored_entries,
    summarize,
    touched_by,
    touched_managers,
)

DATA = Path(__file__).parent / "data" / "diff"
API = "spec.template.spec.containers[api]"


def live_deployment() -> dict[str, Any]:
    """`kubectl get deploy checkout -o json --show-managed-fields`: applied with
    `kubectl apply`, then an env var added with `kubectl edit`."""
    obj: dict[str, Any] = json.loads((DATA / "deployment-live.json").read_text())
    return obj


def managed_fields() -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = live_deployment()["metadata"]["managedFields"]
    return fields


def entry(manager: str) -> dict[str, Any]:
    return next(e for e in managed_fields() if e["manager"] == manager and "subresource" not in e)


def test_fields_v1_paths_from_the_brief() -> None:
    trie: dict[str, Any] = {
        "f:spec": {
            "f:replicas": {},
            "f:template": {
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"api"}': {
                            ".": {},
                            "f:env": {'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}}},
                        }
                    }
                }
            },
        }
    }
    assert fields_v1_paths(trie) == {
        "spec.replicas",
        API,
        f"{API}.env[DEBUG]",
        f"{API}.env[DEBUG].name",
        f"{API}.env[DEBUG].value",
    }


def test_fields_v1_paths_of_a_client_side_apply_entry() -> None:
    paths = fields_v1_paths(entry("kubectl-client-side-apply")["fieldsV1"])
    assert {
        'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]',
        "metadata.annotations",
        'metadata.labels["app.kubernetes.io/part-of"]',
        "spec.selector",
        "spec.strategy.rollingUpdate.maxSurge",
        "spec.strategy.type",
        f"{API}.image",
        f"{API}.env[LOG_LEVEL].value",
        f"{API}.ports[containerPort=8080,protocol=TCP]",
        f"{API}.ports[containerPort=8080,protocol=TCP].protocol",
        f"{API}.volumeMounts[mountPath=/etc/checkout].readOnly",
        f"{API}.resources.limits.cpu",
        "spec.template.spec.containers[log-shipper].args",
        "spec.template.spec.volumes[config].configMap.defaultMode",
        "spec.template.spec.volumes[varlog].emptyDir",
        "spec.template.spec.dnsPolicy",
    } <= paths
    # "." marks the node itself; a node holding only children is not a path of its own.
    assert "spec.strategy" not in paths
    assert "spec.strategy.rollingUpdate" in paths
    assert not any(p.startswith("status") for p in paths)


def test_fields_v1_paths_of_the_status_entry_key_conditions_by_type() -> None:
    status = next(e for e in managed_fields() if e.get("subresource") == "status")
    paths = fields_v1_paths(status["fieldsV1"])
    assert "status.conditions[type=Available].status" in paths
    assert "status.conditions[type=Progressing]" in paths
    assert "status.readyReplicas" in paths


def test_fields_v1_set_values_and_indexes() -> None:
    trie: dict[str, Any] = {
        "f:metadata": {"f:finalizers": {".": {}, 'v:"foregroundDeletion"': {}}},
        "f:spec": {"f:args": {"i:0": {}, "i:1": {}}, "f:weights": {"v:3": {}}},
    }
    assert fields_v1_paths(trie) == {
        "metadata.finalizers",
        "metadata.finalizers[=foregroundDeletion]",
        "spec.args[0]",
        "spec.args[1]",
        "spec.weights[=3]",
    }


def test_field_owners_name_each_manager() -> None:
    owners = field_owners(managed_fields())
    assert owners[f"{API}.env[DEBUG].value"] == Owner(
        "kubectl-edit", "Update", "2024-05-20T14:01:58Z", None
    )
    assert owners["spec.strategy.type"].manager == "kubectl-client-side-apply"
    assert owners['metadata.annotations["deployment.kubernetes.io/revision"]'].manager == (
        "kube-controller-manager"
    )
    status_owner = owners["status.replicas"]
    assert (status_owner.manager, status_owner.subresource) == ("kube-controller-manager", "status")


def test_field_owners_give_a_shared_field_to_the_latest_writer() -> None:
    fields: dict[str, Any] = {"f:spec": {"f:replicas": {}}}
    owners = field_owners(
        [
            {
                "manager": "b-late",
                "operation": "Apply",
                "time": "2024-05-20T10:00:00Z",
                "fieldsV1": fields,
            },
            {
                "manager": "a-early",
                "operation": "Apply",
                "time": "2024-05-19T10:00:00Z",
                "fieldsV1": fields,
            },
        ]
    )
    assert owners["spec.replicas"].manager == "b-late"


def test_owner_of_exact_descendant_and_ancestor() -> None:
    owners = field_owners(managed_fields())
    # The env item itself ("." marker) belongs to the person who added it.
    assert owner_of(f"{API}.env[DEBUG]", owners) == owners[f"{API}.env[DEBUG].value"]
    # spec.strategy is not owned itself; fields inside it are.
    strategy = owner_of("spec.strategy", owners)
    assert strategy is not None and strategy.manager == "kubectl-client-side-apply"
    # A label selector is atomic: its inner keys belong to whoever owns the selector.
    selector = owner_of('spec.selector.matchLabels["app.kubernetes.io/name"]', owners)
    assert selector is not None and selector.manager == "kubectl-client-side-apply"
    assert owner_of("spec.paused", owners) is None


def test_owner_of_prefers_the_latest_writer_inside_an_item() -> None:
    owners = {
        "spec.x[a].one": Owner("old", "Update", "2024-01-01T00:00:00Z"),
        "spec.x[a].two": Owner("new", "Update", "2024-02-01T00:00:00Z"),
        "spec.xy": Owner("unrelated", "Update", "2024-03-01T00:00:00Z"),
    }
    found = owner_of("spec.x[a]", owners)
    assert found is not None and found.manager == "new"
    assert owner_of("spec.x", owners) == found


def test_resolve_paths_rewrites_keyed_items_to_the_object_notation() -> None:
    live = live_deployment()
    owners = resolve_paths(field_owners(managed_fields()), live)
    assert owners[f"{API}.ports[http].protocol"].manager == "kubectl-client-side-apply"
    assert f"{API}.volumeMounts[config].readOnly" in owners
    # Conditions have no name: they are addressed by position in a diff.
    assert owners["status.conditions[1].status"].subresource == "status"
    assert "status.conditions[type=Progressing].status" not in owners


def test_resolve_paths_keeps_paths_the_object_does_not_hold() -> None:
    owners = {"spec.ports[port=80,protocol=TCP].name": Owner("m", "Update")}
    assert resolve_paths(owners, {"spec": {"ports": []}}) == owners
    set_owned = {"metadata.finalizers[=kubernetes.io/pvc-protection]": Owner("m", "Update")}
    live = {"metadata": {"finalizers": ["kubernetes.io/pvc-protection"]}}
    assert set(resolve_paths(set_owned, live)) == {"metadata.finalizers"}


def edited(
    fields: list[dict[str, Any]], manager: str, time: str, fields_v1: dict[str, Any]
) -> list[dict[str, Any]]:
    out = copy.deepcopy(fields)
    for e in out:
        if e["manager"] == manager and "subresource" not in e:
            e["time"] = time
            e["fieldsV1"] = fields_v1
    return out


DEBUG_ONLY: dict[str, Any] = {
    "f:spec": {
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"api"}': {
                        "f:env": {'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}}}
                    }
                }
            }
        }
    }
}


def test_touched_by_reports_a_time_advance_without_new_fields() -> None:
    previous = managed_fields()
    # `kubectl edit` again, changing the value of DEBUG it already owns.
    current = edited(previous, "kubectl-edit", "2024-05-21T08:30:00Z", DEBUG_ONLY)
    assert touched_by(previous, current) == [
        ManagerTouch("kubectl-edit", "Update", None, "2024-05-21T08:30:00Z", ())
    ]


def test_touched_by_reports_grown_fields() -> None:
    previous = managed_fields()
    grown = copy.deepcopy(DEBUG_ONLY)
    grown["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"api"}']["f:image"] = {}
    # Same second as before: only the grown field set shows the write.
    current = edited(previous, "kubectl-edit", "2024-05-20T14:01:58Z", grown)
    assert touched_by(previous, current) == [
        ManagerTouch("kubectl-edit", "Update", None, "2024-05-20T14:01:58Z", (f"{API}.image",))
    ]


def test_touched_by_reports_a_new_manager_with_all_its_paths() -> None:
    current = managed_fields()
    previous = [e for e in current if e["manager"] != "kubectl-edit"]
    touches = touched_by(previous, current)
    assert [t.manager for t in touches] == ["kubectl-edit"]
    assert touches[0].paths == (
        f"{API}.env[DEBUG]",
        f"{API}.env[DEBUG].name",
        f"{API}.env[DEBUG].value",
    )


def test_touched_by_a_new_object_is_every_entry_oldest_first() -> None:
    touches = touched_by(None, managed_fields())
    assert [(t.manager, t.subresource) for t in touches] == [
        ("kubectl-client-side-apply", None),
        ("kube-controller-manager", None),
        ("kubectl-edit", None),
        ("kube-controller-manager", "status"),
    ]


def test_touched_by_nothing_when_nothing_moved() -> None:
    assert touched_by(managed_fields(), managed_fields()) == []


def test_advanced_names_the_same_writers_as_touched_by_without_paths() -> None:
    base = managed_fields()
    grown = copy.deepcopy(DEBUG_ONLY)
    grown["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"api"}']["f:image"] = {}
    cases = [
        (None, base),
        (base, base),
        (base, edited(base, "kubectl-edit", "2024-05-21T08:30:00Z", DEBUG_ONLY)),
        (base, edited(base, "kubectl-edit", "2024-05-20T14:01:58Z", grown)),
        ([e for e in base if e["manager"] != "kubectl-edit"], base),
    ]
    for previous, current in cases:
        cheap = advanced(previous, current)
        full = touched_by(previous, current)
        assert [(t.manager, t.subresource, t.time) for t in cheap] == [
            (t.manager, t.subresource, t.time) for t in full
        ]
        assert all(t.paths == () for t in cheap)


def test_scale_subresource_is_its_own_entry() -> None:
    previous = managed_fields()
    scale = {
        "apiVersion": "autoscaling/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
        "manager": "kubectl-scale",
        "operation": "Update",
        "subresource": "scale",
        "time": "2024-05-21T09:00:00Z",
    }
    touches = touched_by(previous, [*previous, scale])
    assert touches == [
        ManagerTouch("kubectl-scale", "Update", "scale", "2024-05-21T09:00:00Z", ("spec.replicas",))
    ]


def test_summarize_is_compact_json_and_feeds_touched_by_and_owners() -> None:
    previous = managed_fields()
    current = edited(previous, "kubectl-edit", "2024-05-21T08:30:00Z", DEBUG_ONLY)
    summary = summarize(current)
    assert json.loads(json.dumps(summary)) == summary
    edit = next(s for s in summary if s["manager"] == "kubectl-edit")
    assert edit == {
        "manager": "kubectl-edit",
        "operation": "Update",
        "subresource": None,
        "apiVersion": "apps/v1",
        "time": "2024-05-21T08:30:00Z",
        "paths": [f"{API}.env[DEBUG]", f"{API}.env[DEBUG].name", f"{API}.env[DEBUG].value"],
    }
    assert touched_by(summarize(previous), summary) == touched_by(previous, current)
    assert field_owners(summary) == field_owners(current)


@pytest.mark.parametrize(
    ("manager", "manual"),
    [
        ("kubectl-edit", True),
        ("kubectl-patch", True),
        ("kubectl-scale", True),
        ("kubectl-client-side-apply", True),
        ("kubectl", True),
        ("kube-controller-manager", False),
        ("argocd-controller", False),
        ("helm", False),
        ("kustomize-controller", False),
    ],
)
def test_is_manual_manager(manager: str, manual: bool) -> None:
    assert is_manual_manager(manager) is manual


# -- the form kept with each revision ---------------------------------------------------


def with_managed(entries: Any) -> dict[str, Any]:
    return {"metadata": {"managedFields": entries}}


def test_stored_entries_keep_each_entry_in_order_with_fields_v1_as_is() -> None:
    live = live_deployment()
    stored = stored_entries(live)
    assert [(e["manager"], e["subresource"]) for e in stored] == [
        ("kubectl-client-side-apply", None),
        ("kubectl-edit", None),
        ("kube-controller-manager", None),
        ("kube-controller-manager", "status"),
    ]
    assert stored[1] == {
        "manager": "kubectl-edit",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "subresource": None,
        "time": "2024-05-20T14:01:58Z",
        "fieldsV1": entry("kubectl-edit")["fieldsV1"],
    }
    # fieldsType is always FieldsV1: not kept.
    assert all("fieldsType" not in e for e in stored)


def test_stored_entries_of_incomplete_and_odd_managed_fields() -> None:
    assert stored_entries({}) == []
    assert stored_entries({"metadata": {}}) == []
    assert stored_entries(with_managed(None)) == []
    assert stored_entries(with_managed(["not an entry", 3, None])) == []
    assert stored_entries(with_managed([{}])) == [
        {
            "manager": "",
            "operation": None,
            "apiVersion": None,
            "subresource": None,
            "time": None,
            "fieldsV1": {},
        }
    ]
    odd = stored_entries(with_managed([{"manager": None, "fieldsV1": None, "extra": 1}, "x"]))
    assert [(e["manager"], e["fieldsV1"]) for e in odd] == [("", {})]


def test_manager_times_key_entries_by_manager_operation_and_subresource() -> None:
    assert manager_times(stored_entries(live_deployment())) == {
        "kubectl-client-side-apply/Update": "2024-05-14T09:12:31Z",
        "kubectl-edit/Update": "2024-05-20T14:01:58Z",
        "kube-controller-manager/Update": "2024-05-20T14:01:58Z",
        "kube-controller-manager/Update/status": "2024-05-20T14:02:11Z",
    }
    entries = stored_entries(
        with_managed(
            [
                {"manager": "helm", "time": None},
                {"manager": "a", "operation": "Apply", "time": "2024-05-01T00:00:00Z"},
                {"manager": "a", "operation": "Apply", "time": "2024-05-02T00:00:00Z"},
            ]
        )
    )
    # No operation and no time still make a key; of two entries under one key, the last.
    assert manager_times(entries) == {"helm/": "", "a/Apply": "2024-05-02T00:00:00Z"}


def live_times(**changed: str) -> dict[str, str]:
    """The manager times of the live Deployment, with some entries' times changed."""
    current = copy.deepcopy(managed_fields())
    for e in current:
        ident = e["manager"] + ("/status" if e.get("subresource") else "")
        e["time"] = changed.get(ident, e["time"])
    return manager_times(stored_entries(with_managed(current)))


def test_touched_managers_of_a_new_object_are_all_its_managers_once() -> None:
    assert touched_managers(None, live_times()) == [
        "kube-controller-manager",
        "kubectl-client-side-apply",
        "kubectl-edit",
    ]
    assert touched_managers(None, {}) == []


def test_touched_managers_name_the_entries_whose_time_moved() -> None:
    before = live_times()
    assert touched_managers(before, before) == []
    assert touched_managers(before, live_times(**{"kubectl-edit": "2024-05-21T08:30:00Z"})) == [
        "kubectl-edit"
    ]
    # The status entry is an entry of its own; a time that went back counts as well.
    later_status = live_times(**{"kube-controller-manager/status": "2024-05-20T14:05:00Z"})
    assert touched_managers(before, later_status) == ["kube-controller-manager"]
    earlier = live_times(**{"kubectl-client-side-apply": "2024-05-01T00:00:00Z"})
    assert touched_managers(before, earlier) == ["kubectl-client-side-apply"]


def test_touched_managers_name_a_new_entry_not_a_removed_one() -> None:
    fields = managed_fields()
    scale = {
        "manager": "kubectl-scale",
        "operation": "Update",
        "subresource": "scale",
        "time": "2024-05-20T14:01:58Z",  # a time other entries hold: still a new entry
    }
    before = manager_times(stored_entries(with_managed(fields)))
    grown = manager_times(stored_entries(with_managed([*fields, scale])))
    assert touched_managers(before, grown) == ["kubectl-scale"]
    assert touched_managers(grown, before) == []


def test_touched_managers_miss_fields_changed_within_the_same_second() -> None:
    previous = managed_fields()
    grown = copy.deepcopy(DEBUG_ONLY)
    grown["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"api"}']["f:image"] = {}
    current = edited(previous, "kubectl-edit", "2024-05-20T14:01:58Z", grown)
    before = manager_times(stored_entries(with_managed(previous)))
    after = manager_times(stored_entries(with_managed(current)))
    assert touched_managers(before, after) == []
    assert [t.manager for t in touched_by(previous, current)] == ["kubectl-edit"]


def test_touched_managers_name_a_manager_by_what_precedes_a_slash() -> None:
    times = manager_times(stored_entries(with_managed([{"manager": "team/tool", "time": "t"}])))
    assert touched_managers(None, times) == ["team"]


def test_server_time_is_the_latest_entry_time() -> None:
    assert server_time(live_times()) == "2024-05-20T14:02:11Z"
    assert server_time({"a/Apply": "", "b/Update": "2024-01-01T00:00:00Z"}) == (
        "2024-01-01T00:00:00Z"
    )
    assert server_time({"a/Apply": ""}) is None
    assert server_time({}) is None


# Entries of a generated object: a few managers, operations and subresources, so that keys
# repeat; times of one RFC 3339 form, or none.
MANAGERS = ("argocd-controller", "kubectl-edit", "kube-controller-manager", "helm")
TIMES = [f"2026-11-19T20:00:0{i}Z" for i in range(6)]
fields_v1 = st.dictionaries(
    st.sampled_from(["f:spec", "f:status", "f:metadata"]),
    st.dictionaries(st.sampled_from(["f:replicas", "f:image", "."]), st.just({}), max_size=2),
    max_size=2,
)
identity = st.tuples(
    st.sampled_from(MANAGERS),
    st.sampled_from(["Apply", "Update"]),
    st.sampled_from([None, "status", "scale"]),
)


def raw_entry(ident: tuple[str, str, str | None], time: str | None, fields: Any) -> Any:
    manager, operation, subresource = ident
    out: dict[str, Any] = {
        "manager": manager,
        "operation": operation,
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if time is not None:
        out["time"] = time
    if subresource is not None:
        out["subresource"] = subresource
    return out


raw_entries = st.lists(
    st.one_of(
        st.builds(raw_entry, identity, st.sampled_from([None, *TIMES]), fields_v1),
        st.just("not an entry"),
        st.fixed_dictionaries({}, optional={"manager": st.sampled_from(MANAGERS)}),
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(raw_entries)
def test_stored_entries_survive_being_stored_and_read_back(entries: list[Any]) -> None:
    stored = stored_entries(with_managed(entries))
    assert len(stored) == sum(isinstance(e, dict) for e in entries)
    assert all(
        set(e) == {"manager", "operation", "apiVersion", "subresource", "time", "fieldsV1"}
        for e in stored
    )
    # A writer that reads the object's latest revision back (after a restart) compares
    # against the times it finds there: they must be the ones it computed when it wrote.
    read_back = json.loads(json.dumps(stored))
    assert stored_entries(with_managed(read_back)) == stored
    assert manager_times(read_back) == manager_times(stored)
    times = manager_times(stored)
    assert set(times.values()) <= {"", *TIMES}
    latest = server_time(times)
    assert (latest is None) == all(t == "" for t in times.values())
    assert latest is None or (latest in times.values() and all(t <= latest for t in times.values()))
    assert touched_managers(None, times) == sorted({e["manager"] for e in stored})
    assert touched_managers(times, times) == []


unique_entries = st.dictionaries(identity, st.tuples(st.sampled_from(TIMES), fields_v1))


@settings(max_examples=300, deadline=None)
@given(unique_entries, st.data())
def test_touched_managers_are_the_writers_advanced_finds(
    before: dict[tuple[str, str, str | None], tuple[str, Any]], data: st.DataObject
) -> None:
    """With one entry per key and FieldsV1 unchanged, the stored managers of a revision
    are the managers of the entries attribution (``advanced``) finds: causes answers from
    them alone when it can. Changing only FieldsV1, or dropping entries, names nobody."""
    after: dict[tuple[str, str, str | None], tuple[str, Any]] = {}
    for ident, (time, fields) in before.items():
        action = data.draw(st.sampled_from(["keep", "drop", "retime"]))
        if action == "retime":
            after[ident] = (data.draw(st.sampled_from(TIMES)), fields)
        elif action == "keep":
            after[ident] = (time, fields)
    for ident, value in data.draw(unique_entries).items():
        if ident not in before:  # a new entry; one under an old key would change FieldsV1
            after[ident] = value
    old = [raw_entry(i, t, f) for i, (t, f) in before.items()]
    new = [raw_entry(i, t, f) for i, (t, f) in after.items()]
    touched = touched_managers(
        manager_times(stored_entries(with_managed(old))),
        manager_times(stored_entries(with_managed(new))),
    )
    assert touched == sorted(set(touched))
    assert touched == sorted({t.manager for t in advanced(old, new)})
    refielded = [raw_entry(i, t, {"f:other": {}}) for i, (t, _) in before.items()]
    times = manager_times(stored_entries(with_managed(old)))
    assert touched_managers(times, manager_times(stored_entries(with_managed(refielded)))) == []
    kept = [e for e in old if data.draw(st.booleans())]
    assert touched_managers(times, manager_times(stored_entries(with_managed(kept)))) == []

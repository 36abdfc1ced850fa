from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.managed_fields import (
    ManagerTouch,
    Owner,
    advanced,
    field_owners,
    fields_v1_paths,
    is_manual_manager,
    owner_of,
    resolve_paths,
    summarize,
    touched_by,
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

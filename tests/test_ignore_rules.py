"""Ignore rules: which expected difference each one covers, from every place rules come."""

from __future__ import annotations

import pytest

from timetravel.domain.diff import diff_desired_actual
from timetravel.domain.ignore import (
    IgnoreRule,
    ignores_extraneous,
    ignoring,
    jq_path,
    object_rules,
    rules_from_application,
    rules_from_config,
    tracked_by,
)

CONTAINERS = "spec.template.spec.containers"


def deployment(replicas: int, image: str, sidecar: str = "envoy:1", **annotations: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api",
            "namespace": "payments",
            "annotations": annotations,
            "labels": {"app.kubernetes.io/instance": "payments"},
        },
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "api", "image": image},
                        {"name": "proxy", "image": sidecar},
                    ]
                }
            },
        },
    }


@pytest.mark.parametrize(
    ("expression", "path"),
    [
        (".spec.replicas", "spec.replicas"),
        ('.metadata.annotations."example.com/x"', 'metadata.annotations["example.com/x"]'),
        (
            '.spec.template.spec.containers[] | select(.name == "proxy").image',
            f"{CONTAINERS}[proxy].image",
        ),
        (".spec.template.spec.containers[].image", f"{CONTAINERS}[*].image"),
        (".spec.template.spec.containers[0]", None),  # not a form read here: reported
        ("del(.spec)", None),
    ],
)
def test_common_jq_forms(expression: str, path: str | None) -> None:
    assert jq_path(expression) == path


def diffs(desired: dict, actual: dict) -> list[str]:
    return [d.path for d in diff_desired_actual(desired, actual) if not d.noise]


def test_an_application_ignores_replicas_by_pointer_and_a_sidecar_image_by_jq() -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "payments", "namespace": "argocd"},
        "spec": {
            "ignoreDifferences": [
                {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
                {
                    "group": "apps",
                    "kind": "Deployment",
                    "name": "api",
                    "jqPathExpressions": [
                        '.spec.template.spec.containers[] | select(.name == "proxy").image',
                        "reduce .",
                    ],
                },
            ]
        },
    }
    found = rules_from_application(app)
    assert found.problems == [
        "Application argocd/payments: ignoreDifferences 2: jq path 'reduce .' not understood"
    ]
    live = deployment(6, "api:2.4.0", sidecar="envoy:2")
    paths = diffs(deployment(3, "api:2.3.0"), live)
    assert paths == ["spec.replicas", f"{CONTAINERS}[api].image", f"{CONTAINERS}[proxy].image"]
    covered = ignoring(
        [r for r in found.rules if r.applies_to("apps", "Deployment", "payments", "api")],
        paths,
        live,
    )
    assert set(covered) == {"spec.replicas", f"{CONTAINERS}[proxy].image"}  # the api image is drift
    assert covered["spec.replicas"].source == "Application argocd/payments"
    assert tracked_by(live) == "payments"


def test_a_pointer_into_a_named_list_is_read_against_the_live_object() -> None:
    live = deployment(3, "api:2.4.0", sidecar="envoy:2")
    rule = IgnoreRule("x", paths=("/spec/template/spec/containers/1/image",))
    assert set(
        ignoring([rule], [f"{CONTAINERS}[proxy].image", f"{CONTAINERS}[api].image"], live)
    ) == {f"{CONTAINERS}[proxy].image"}


def test_fields_a_manager_owns() -> None:
    live = deployment(6, "api:2.3.0")
    managed = [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        },
        {
            "manager": "argocd-controller",
            "operation": "Apply",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:template": {}}},
        },
    ]
    rule = IgnoreRule("timetravel.toml", managers=("kube-controller-manager",))
    assert set(ignoring([rule], ["spec.replicas", f"{CONTAINERS}[api].image"], live, managed)) == {
        "spec.replicas"
    }


def test_config_rules_and_their_problems() -> None:
    found = rules_from_config(
        {
            "ignore": [
                {"kind": "Deployment", "namespace": "pay*", "paths": ["spec.replicas"]},
                {"kind": "ConfigMap"},
                "x",
            ]
        }
    )
    assert found.problems == [
        "timetravel.toml: [drift] ignore entry 2 names no paths or managers",
        "timetravel.toml: [drift] ignore entry 3 is not a table",
    ]
    (rule,) = found.rules
    assert rule.applies_to("apps", "Deployment", "payments", "api")
    assert not rule.applies_to("apps", "Deployment", "checkout", "api")
    assert rules_from_config({"ignore": "spec"}).problems == [
        "timetravel.toml: [drift] ignore must be a list of tables"
    ]


def test_annotations_flux_and_argo() -> None:
    flux = deployment(3, "a:1", **{"kustomize.toolkit.fluxcd.io/ssa": "Ignore"})
    (rule,) = object_rules(flux)
    assert set(ignoring([rule], ["spec.replicas", "metadata.labels.x"], flux)) == {
        "spec.replicas",
        "metadata.labels.x",
    }
    assert object_rules(deployment(3, "a:1")) == []
    assert ignores_extraneous(
        deployment(
            3,
            "a:1",
            **{"argocd.argoproj.io/compare-options": "ServerSideDiff=true, IgnoreExtraneous"},
        )
    )
    assert not ignores_extraneous(deployment(3, "a:1"))


def test_a_path_covers_what_is_inside_it_not_its_siblings() -> None:
    rule = IgnoreRule("x", paths=("metadata.annotations",))
    live = deployment(3, "a:1")
    assert set(
        ignoring(
            [rule], ["metadata.annotations.a", "metadata.annotationsX", "metadata.labels.a"], live
        )
    ) == {"metadata.annotations.a"}


def test_the_config_file_s_drift_section(tmp_path) -> None:
    from timetravel.config import load_drift_rules

    path = tmp_path / "timetravel.toml"
    path.write_text(
        '[[drift.ignore]]\nkind = "Deployment"\npaths = ["/spec/replicas"]\n\n[[drift.ignore]]\nkind = "x"\n'
    )
    found = load_drift_rules(path)
    assert [r.paths for r in found.rules] == [("/spec/replicas",)]
    assert found.problems == ["timetravel.toml: [drift] ignore entry 2 names no paths or managers"]
    assert load_drift_rules(tmp_path / "absent.toml").rules == []

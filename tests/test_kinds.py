"""Kind names as kubectl users type them (``timetravel.domain.kinds``)."""

from __future__ import annotations

import pytest

from timetravel.domain.kinds import (
    ALL_KINDS,
    KindName,
    matches,
    name_prefix,
    namespaced,
    resolve_kind,
    resolve_kinds,
    resource_text,
)

DEPLOYMENT = KindName("Deployment", "apps")


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("deploy", DEPLOYMENT),
        ("deployment", DEPLOYMENT),
        ("deployments", DEPLOYMENT),
        ("Deployment", DEPLOYMENT),
        ("DEPLOYMENTS", DEPLOYMENT),
        ("deployments.apps", DEPLOYMENT),
        ("deployments.", DEPLOYMENT),  # k9s's $RESOURCE_NAME.$RESOURCE_GROUP, core group
        ("cm", KindName("ConfigMap", "")),
        ("po", KindName("Pod", "")),
        ("svc", KindName("Service", "")),
        ("ns", KindName("Namespace", "")),
        ("hpa", KindName("HorizontalPodAutoscaler", "autoscaling")),
        ("ing", KindName("Ingress", "networking.k8s.io")),
        ("cj", KindName("CronJob", "batch")),
        ("sts", KindName("StatefulSet", "apps")),
        ("applications", KindName("Application", "argoproj.io")),
        ("widgets.example.com", KindName("widget", "example.com")),
        ("Widget", KindName("Widget", None)),
    ],
)
def test_resolve_kind(typed: str, kind: KindName) -> None:
    assert resolve_kind(typed) == kind


def test_a_crd_by_its_kind_matches_any_group_and_its_plural() -> None:
    typed = resolve_kind("widgets")
    assert matches(typed, "Widget", "example.com")
    assert matches(resolve_kind("Widget"), "Widget", "other.io")
    assert not matches(typed, "Gadget", "example.com")
    assert matches(resolve_kind("policies"), "Policy", "kyverno.io")
    # A group named is a group required.
    assert not matches(resolve_kind("widgets.example.com"), "Widget", "other.io")
    assert not matches(DEPLOYMENT, "Deployment", "extensions")


def test_resolve_kinds_takes_commas_and_all() -> None:
    assert resolve_kinds("deploy,svc") == (DEPLOYMENT, KindName("Service", ""))
    assert resolve_kinds("deploy,deployments") == (DEPLOYMENT,)
    every = resolve_kinds("all")
    assert every == ALL_KINDS
    assert {k.kind for k in every} >= {"Pod", "Service", "Deployment", "ReplicaSet", "Job"}
    assert "ConfigMap" not in {k.kind for k in every}  # kubectl's "all" leaves them out
    with pytest.raises(ValueError):
        resolve_kinds("deploy,,svc")


def test_names_kubectl_prints() -> None:
    assert resource_text("Deployment", "apps") == "deployments.apps"
    assert resource_text("Service", "") == "services"
    assert (
        resource_text("NetworkPolicy", "networking.k8s.io") == "networkpolicies.networking.k8s.io"
    )
    assert resource_text("Widget", "example.com") == "widgets.example.com"
    assert resource_text("Ingress", "networking.k8s.io") == "ingresses.networking.k8s.io"
    assert name_prefix("Deployment", "apps") == "deployment.apps"
    assert name_prefix("ConfigMap", "") == "configmap"


def test_namespaced() -> None:
    assert namespaced("Deployment", "apps") is True
    assert namespaced("Namespace", "") is False
    assert namespaced("ClusterRole", "rbac.authorization.k8s.io") is False
    assert namespaced("Widget", "example.com") is None  # unknown: the stored object tells

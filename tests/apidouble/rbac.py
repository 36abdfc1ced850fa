"""RBAC for the API double: PolicyRules (as in a ClusterRole) decide, as kube-apiserver's RBAC
authorizer does, and a refused request gets the server's 403 Forbidden Status.

What is modelled (k8s.io/kubernetes pkg/apis/rbac/v1 evaluation helpers, apiserver
RequestInfoFactory and responsewriters.Forbidden):

- a resource request matches a rule when its verb, API group, resource (``resource`` or
  ``resource/subresource``; ``*`` and ``*/subresource`` too) and, when the rule lists
  resourceNames, its object name match;
- a non-resource request (discovery, /version, /healthz, ...) matches a rule's
  nonResourceURLs exactly, or by prefix when the rule URL ends in ``*``; its verb is the
  lower-cased HTTP method, so ``get`` there authorizes no resource at all;
- list, watch and deletecollection with ``fieldSelector=metadata.name=x`` carry the name x;
  a request on a Namespace object (``/api/v1/namespaces/x``) is in the namespace x.

Not modelled: the default bindings every authenticated user has (system:discovery,
system:basic-user, system:public-info-viewer), namespaced Roles and RoleBindings, aggregation
rules, escalate/bind/impersonate checks: the rules given are exactly what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

Rule = Mapping[str, Any]
DEFAULT_USER = "system:serviceaccount:timetravel:timetravel-recorder"
_RULE_KEYS = {"apiGroups", "resources", "resourceNames", "nonResourceURLs", "verbs"}


@dataclass(frozen=True, slots=True)
class Attributes:
    """What the authorizer sees of a request (authorizer.Attributes)."""

    verb: str
    path: str  # the URL path as sent, for non-resource URLs
    resource_request: bool
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def validate(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """The rules as plain dicts; ValueError where the API server would refuse the ClusterRole."""
    out: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(rule, Mapping):
            raise ValueError(f"{where}: not a PolicyRule mapping")
        unknown = set(rule) - _RULE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        for key, values in rule.items():
            if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"{where}.{key}: must be a list of strings")
        plain = {k: list(v) for k, v in rule.items()}
        if not plain.get("verbs"):
            raise ValueError(
                f"{where}.verbs: Required value: verbs must contain at least one value"
            )
        if plain.get("nonResourceURLs"):
            if plain.get("apiGroups") or plain.get("resources"):
                raise ValueError(
                    f"{where}.nonResourceURLs: Invalid value: rules cannot apply to both "
                    "regular resources and non-resource URLs"
                )
        else:
            for key in ("apiGroups", "resources"):
                if not plain.get(key):
                    raise ValueError(
                        f"{where}.{key}: Required value: resource rules must supply at least one "
                        f"{key[:-1] if key == 'resources' else 'api group'}"
                    )
        out.append(plain)
    return out


def allows(rules: Iterable[Rule], attrs: Attributes) -> bool:
    """True when one rule allows the request (RBAC only ever allows; no rule denies)."""
    return any(_rule_allows(rule, attrs) for rule in rules)


def _rule_allows(rule: Rule, a: Attributes) -> bool:
    verbs = rule.get("verbs") or ()
    if "*" not in verbs and a.verb not in verbs:
        return False
    if not a.resource_request:
        return any(_url_matches(url, a.path) for url in rule.get("nonResourceURLs") or ())
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and a.group not in groups:
        return False
    if not _resource_matches(rule.get("resources") or (), a.resource, a.subresource):
        return False
    names = rule.get("resourceNames") or ()
    return not names or a.name in names


def _url_matches(rule_url: str, path: str) -> bool:
    if rule_url in ("*", path):
        return True
    return rule_url.endswith("*") and path.startswith(rule_url.rstrip("*"))


def _resource_matches(resources: Iterable[str], resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in resources:
        if r in ("*", combined):
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def _q(text: str) -> str:  # Go's %q, for the strings a request can carry
    return orjson.dumps(text).decode()


def forbidden_message(attrs: Attributes, user: str) -> str:
    """The Status message kube-apiserver writes for a request no rule allows."""
    if not attrs.resource_request:
        return f"forbidden: User {_q(user)} cannot {attrs.verb} path {_q(attrs.path)}"
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    why = f"User {_q(user)} cannot {attrs.verb} resource {_q(resource)} in API group {_q(attrs.group)}"
    why += (
        f" in the namespace {_q(attrs.namespace)}" if attrs.namespace else " at the cluster scope"
    )
    # apierrors.NewForbidden names the GroupResource (not the subresource) and the object
    what = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    if attrs.name:
        what += f" {_q(attrs.name)}"
    return f"{what} is forbidden: {why}"


def forbidden_details(attrs: Attributes) -> dict[str, str]:
    if not attrs.resource_request:
        return {}
    details = {"name": attrs.name, "group": attrs.group, "kind": attrs.resource}
    return {k: v for k, v in details.items() if v}  # omitempty

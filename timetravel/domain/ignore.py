"""Differences that are expected: ignore rules, and which difference each one covers.

Rules come from three places, each named on every difference it covers (an ignored
difference is shown, dimmed, with its rule; never dropped):

- ``[drift] ignore`` in timetravel.toml: a list of tables with ``kind``, ``namespace``,
  ``name`` (globs, default ``*``), and ``paths`` (dotted paths as the diff shows them, or
  JSON pointers; a path covers what is inside it; ``[*]`` matches any list item) and/or
  ``managers`` (a difference in a field those field managers own);
- an Argo CD Application's ``spec.ignoreDifferences`` (``group``, ``kind``, ``name``,
  ``namespace``; ``jsonPointers``, ``jqPathExpressions`` in their common forms,
  ``managedFieldsManagers``), for the objects the Application tracks;
- annotations on the live object: Argo CD's ``argocd.argoproj.io/compare-options:
  IgnoreExtraneous`` (an object git does not declare is expected) and Flux's
  ``kustomize.toolkit.fluxcd.io/ssa: Ignore`` (Flux leaves the object as it is, so every
  difference is expected).

A jq expression in a form not understood here is reported (``problems``), not guessed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from timetravel.domain.managed_fields import Owner, field_owners, owner_of, resolve_paths
from timetravel.domain.paths import format_path, item_segment

ARGO_COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"
ARGO_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ARGO_INSTANCE_LABEL = "app.kubernetes.io/instance"
FLUX_SSA = "kustomize.toolkit.fluxcd.io/ssa"

_JQ_SELECT = re.compile(
    r"^(?P<list>(?:\.[A-Za-z0-9_-]+)+)\[\]\s*\|\s*select\(\s*\.name\s*==\s*\"(?P<name>[^\"]+)\"\s*\)"
    r"(?P<rest>(?:\.[A-Za-z0-9_-]+)*)$"
)
_JQ_ALL = re.compile(r"^(?P<list>(?:\.[A-Za-z0-9_-]+)+)\[\](?P<rest>(?:\.[A-Za-z0-9_-]+)*)$")
_JQ_PLAIN = re.compile(r"^(?:\.(?:[A-Za-z0-9_-]+|\"[^\"]+\"))+$")


@dataclass(frozen=True)
class IgnoreRule:
    source: str  # where it was written: "timetravel.toml", "Application argocd/payments"
    group: str | None = None  # None: any
    kind: str = "*"
    namespace: str = "*"
    name: str = "*"
    paths: tuple[str, ...] = ()  # dotted (diff notation, [*] any item) or JSON pointers
    managers: tuple[str, ...] = ()
    whole_object: bool = False  # every difference (Flux's ssa: Ignore)

    def describe(self) -> str:
        what = ", ".join([*self.paths, *(f"fields of {m}" for m in self.managers)])
        return f"{self.source}: {what or 'the whole object'}"

    def applies_to(self, group: str, kind: str, namespace: str, name: str) -> bool:
        return (
            (self.group is None or self.group == group)
            and fnmatch.fnmatchcase(kind, self.kind)
            and fnmatch.fnmatchcase(namespace, self.namespace)
            and fnmatch.fnmatchcase(name, self.name)
        )


@dataclass
class RuleSet:
    rules: list[IgnoreRule] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # rules that could not be read


def _glob(value: Any, default: str = "*") -> str:
    return str(value) if isinstance(value, str) and value else default


def rules_from_config(section: Any, source: str = "timetravel.toml") -> RuleSet:
    """``[drift] ignore`` entries (a list of tables)."""
    out = RuleSet()
    entries = section.get("ignore") if isinstance(section, Mapping) else None
    if entries is None:
        return out
    if not isinstance(entries, list):
        out.problems.append(f"{source}: [drift] ignore must be a list of tables")
        return out
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, Mapping):
            out.problems.append(f"{source}: [drift] ignore entry {number} is not a table")
            continue
        paths = entry.get("paths", [])
        managers = entry.get("managers", [])
        if not isinstance(paths, list) or not isinstance(managers, list):
            out.problems.append(
                f"{source}: [drift] ignore entry {number}: paths and managers are lists"
            )
            continue
        if not paths and not managers:
            out.problems.append(
                f"{source}: [drift] ignore entry {number} names no paths or managers"
            )
            continue
        out.rules.append(
            IgnoreRule(
                source=source,
                group=entry.get("group") if isinstance(entry.get("group"), str) else None,
                kind=_glob(entry.get("kind")),
                namespace=_glob(entry.get("namespace")),
                name=_glob(entry.get("name")),
                paths=tuple(str(p) for p in paths),
                managers=tuple(str(m) for m in managers),
            )
        )
    return out


def jq_path(expression: str) -> str | None:
    """A jq path expression in one of its common forms as a dotted diff path, else None:
    ``.spec.replicas``; ``.metadata.annotations."x/y"``;
    ``.spec.template.spec.containers[] | select(.name == "api").image``;
    ``.spec.template.spec.containers[].image``."""
    text = expression.strip()
    selected = _JQ_SELECT.match(text)
    if selected:
        return f"{selected['list'][1:]}[{selected['name']}]{selected['rest']}"
    every = _JQ_ALL.match(text)
    if every:
        return f"{every['list'][1:]}[*]{every['rest']}"
    if _JQ_PLAIN.match(text):
        parts = re.findall(r"\.(?:([A-Za-z0-9_-]+)|\"([^\"]+)\")", text)
        return format_path([a or b for a, b in parts])
    return None


def rules_from_application(app: Mapping[str, Any]) -> RuleSet:
    """An Argo CD Application's ``spec.ignoreDifferences``."""
    meta = app.get("metadata") or {}
    source = f"Application {meta.get('namespace') or '-'}/{meta.get('name') or '?'}"
    out = RuleSet()
    for number, entry in enumerate(((app.get("spec") or {}).get("ignoreDifferences") or []), 1):
        if not isinstance(entry, Mapping):
            continue
        paths = [str(p) for p in entry.get("jsonPointers") or []]
        for expression in entry.get("jqPathExpressions") or []:
            converted = jq_path(str(expression))
            if converted is None:
                out.problems.append(
                    f"{source}: ignoreDifferences {number}: jq path {expression!r} not understood"
                )
            else:
                paths.append(converted)
        managers = [str(m) for m in entry.get("managedFieldsManagers") or []]
        if not paths and not managers:
            continue
        out.rules.append(
            IgnoreRule(
                source=source,
                group=str(entry.get("group") or ""),
                kind=_glob(entry.get("kind")),
                namespace=_glob(entry.get("namespace")),
                name=_glob(entry.get("name")),
                paths=tuple(paths),
                managers=tuple(managers),
            )
        )
    return out


def tracked_by(obj: Mapping[str, Any]) -> str | None:
    """The Argo CD Application tracking a live object (its tracking-id annotation, else
    the instance label Argo CD sets by default)."""
    meta = obj.get("metadata") or {}
    tracking = (meta.get("annotations") or {}).get(ARGO_TRACKING_ID)
    if isinstance(tracking, str) and ":" in tracking:
        return tracking.split(":", 1)[0]
    label = (meta.get("labels") or {}).get(ARGO_INSTANCE_LABEL)
    return label if isinstance(label, str) and label else None


def object_rules(obj: Mapping[str, Any]) -> list[IgnoreRule]:
    """What the live object's own annotations say to ignore."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    out = []
    if str(annotations.get(FLUX_SSA, "")).lower() == "ignore":
        out.append(IgnoreRule(source=f"annotation {FLUX_SSA}: Ignore", whole_object=True))
    return out


def ignores_extraneous(obj: Mapping[str, Any]) -> bool:
    """Argo CD's IgnoreExtraneous: the object not being in git is expected."""
    options = ((obj.get("metadata") or {}).get("annotations") or {}).get(ARGO_COMPARE_OPTIONS)
    return isinstance(options, str) and "IgnoreExtraneous" in [
        o.strip() for o in options.split(",")
    ]


def _pointer_path(pointer: str, obj: Mapping[str, Any]) -> str:
    """A JSON pointer in the diff's notation, list positions named where the list is."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    segments: list[Any] = []
    current: Any = obj
    for part in parts:
        if isinstance(current, list) and part.isdigit():
            position = int(part)
            segments.append(
                item_segment(current, position) if position < len(current) else position
            )
            current = current[position] if position < len(current) else None
        else:
            segments.append(part)
            current = current.get(part) if isinstance(current, dict) else None
    return format_path(segments)


def _covers(rule_path: str, path: str) -> bool:
    """Whether a rule's dotted path covers a difference's path: the same, or inside it;
    ``[*]`` in the rule matches any one list item."""
    pattern = "^" + re.escape(rule_path).replace(r"\[\*\]", r"\[[^\]]+\]") + r"(?:$|[.\[])"
    return re.match(pattern, path) is not None


def ignoring(
    rules: Sequence[IgnoreRule],
    paths: Iterable[str],
    live: Mapping[str, Any],
    managed_fields: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, IgnoreRule]:
    """The rule that covers each of ``paths`` (differences of the ``live`` object)."""
    out: dict[str, IgnoreRule] = {}
    owners: Mapping[str, Owner] | None = None
    wanted = list(paths)
    for rule in rules:
        dotted = [p if not p.startswith("/") else _pointer_path(p, live) for p in rule.paths]
        for path in wanted:
            if path in out:
                continue
            if rule.whole_object or any(_covers(d, path) for d in dotted):
                out[path] = rule
                continue
            if rule.managers:
                if owners is None:
                    owners = (
                        resolve_paths(field_owners(managed_fields or []), live)
                        if managed_fields
                        else {}
                    )
                owner = owner_of(path, owners)
                if owner is not None and owner.manager in rule.managers:
                    out[path] = rule
    return out

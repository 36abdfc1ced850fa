"""Which ignore rules apply to which object at a moment (``domain.ignore`` has the rules).

The rules of a moment: those configured (timetravel.toml's ``[drift] ignore``), those of
every Argo CD Application recorded at the moment (for the objects it tracks), and each
object's own annotations. A policy has a fingerprint, so a comparison cached under one set
of rules is not reused under another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from timetravel.domain.ignore import (
    IgnoreRule,
    RuleSet,
    object_rules,
    rules_from_application,
    tracked_by,
)
from timetravel.store.records import RevisionRecord


@dataclass(frozen=True)
class IgnorePolicy:
    configured: tuple[IgnoreRule, ...] = ()
    by_app: Mapping[str, tuple[IgnoreRule, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        text = repr((self.configured, sorted(self.by_app.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def rules_for(
        self, group: str, kind: str, namespace: str, name: str, live: Mapping[str, Any]
    ) -> list[IgnoreRule]:
        app = tracked_by(live)
        candidates = [
            *self.configured,
            *(self.by_app.get(app, ()) if app else ()),
            *object_rules(live),
        ]
        return [
            r for r in candidates if r.whole_object or r.applies_to(group, kind, namespace, name)
        ]

    @property
    def empty(self) -> bool:
        return not self.configured and not self.by_app


NO_RULES = IgnorePolicy()


def policy_at(records: Iterable[RevisionRecord], configured: RuleSet | None = None) -> IgnorePolicy:
    """The policy of a moment whose live objects are ``records``."""
    by_app: dict[str, tuple[IgnoreRule, ...]] = {}
    problems = list(configured.problems) if configured else []
    for record in records:
        if record.key.group != "argoproj.io" or record.key.kind != "Application" or record.deleted:
            continue
        found = rules_from_application(record.obj or {})
        problems += found.problems
        if found.rules:
            by_app[record.key.name] = tuple(found.rules)
    return IgnorePolicy(tuple(configured.rules) if configured else (), by_app, tuple(problems))

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
from functools import cached_property
from typing import Any

from timetravel.domain.ignore import (
    ARGO_COMPARE_OPTIONS,
    IgnoreRule,
    RuleSet,
    ignores_extraneous,
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
    # Applications annotated ``compare-options: IgnoreExtraneous``: what they track that
    # git does not declare is expected.
    extraneous_apps: frozenset[str] = frozenset()

    @cached_property
    def fingerprint(self) -> str:
        # Asked for every comparison of a moment (thousands): made once per policy.
        text = repr((self.configured, sorted(self.by_app.items()), sorted(self.extraneous_apps)))
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
        return not self.configured and not self.by_app and not self.extraneous_apps

    def extraneous_rule(self, record: RevisionRecord) -> str | None:
        """Why a live object git does not declare is expected (Argo CD's
        ``compare-options: IgnoreExtraneous`` on it, or on the Application tracking it),
        else None. Most objects say nothing of it: their stored bytes are looked at before
        any is parsed (the list's thousands of unmanaged rows are never parsed otherwise)."""
        body = record.body
        if body is None or record.deleted:
            return None
        if _mentions(record, b"IgnoreExtraneous"):
            live = record.obj or {}
            if ignores_extraneous(live):
                return f"annotation {ARGO_COMPARE_OPTIONS}: IgnoreExtraneous"
        if any(app.encode() in body for app in self.extraneous_apps):
            app = tracked_by(record.obj or {})
            if app is not None and app in self.extraneous_apps:
                return f"Application {app}: {ARGO_COMPARE_OPTIONS}: IgnoreExtraneous"
        return None


NO_RULES = IgnorePolicy()


def _mentions(record: RevisionRecord, word: bytes) -> bool:
    """Whether a revision's stored bytes hold ``word``: a search of bytes (~1 µs a KB), so
    the list's thousands of unmanaged rows are never parsed for it. Not cached across
    calls: a revision's id, uid and time name it only within one store, and a process
    may open several."""
    return record.body is not None and word in record.body


def policy_at(records: Iterable[RevisionRecord], configured: RuleSet | None = None) -> IgnorePolicy:
    """The policy of a moment whose live objects are ``records``."""
    by_app: dict[str, tuple[IgnoreRule, ...]] = {}
    extraneous: set[str] = set()
    problems = list(configured.problems) if configured else []
    for record in records:
        if record.key.group != "argoproj.io" or record.key.kind != "Application" or record.deleted:
            continue
        found = rules_from_application(record.obj or {})
        problems += found.problems
        if found.rules:
            by_app[record.key.name] = tuple(found.rules)
        if ignores_extraneous(record.obj or {}):
            extraneous.add(record.key.name)
    return IgnorePolicy(
        tuple(configured.rules) if configured else (),
        by_app,
        tuple(problems),
        frozenset(extraneous),
    )

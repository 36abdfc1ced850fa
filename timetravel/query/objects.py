"""``timetravel get``: objects as they were at a moment, chosen as kubectl chooses them.

Kinds as typed (``deploy,svc``, ``all``; :mod:`timetravel.domain.kinds`), names, one
namespace or every one, a label selector; from the cluster as recorded (the latest revision
of each resource at or before the moment) or from git (``desired``: what the followed
branches declared then). Secrets are as the store holds them: redacted.

AGE is measured from when the object came to be as far as the store knows: the earlier
of the revision that created it (its current life: a delete and create under the same
name starts a new one) and the oldest managedFields time it carries. The normalized
object keeps no creationTimestamp, and an object the recorder found already running was
created before its first revision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from timetravel.domain.kinds import KindName, matches, name_prefix, namespaced, resource_text
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import from_stored, to_rfc3339, to_stored
from timetravel.query.changes import END_OF_TIME
from timetravel.query.columns import UNKNOWN, columns_of, human_duration, table
from timetravel.query.desired import DesiredState
from timetravel.query.scope import scope_of
from timetravel.query.selectors import EVERYTHING, Selector
from timetravel.store import Database
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

OUTPUTS = ("yaml", "json", "wide", "name")


@dataclass(frozen=True)
class Wanted:
    """What ``get`` was asked for. ``namespace`` None: every namespace (``-A``)."""

    kinds: tuple[KindName, ...]
    names: tuple[str, ...] = ()
    namespace: str | None = "default"
    selector: Selector = EVERYTHING


@dataclass(frozen=True)
class Found:
    """One object at the moment. ``since``: when it came to be (stored time), if known."""

    kind: KindName  # the typed kind it was found for
    key: ResourceKey
    api_version: str
    obj: dict[str, Any]
    since: str | None = None


@dataclass(frozen=True)
class Missing:
    """A named object that was not there, and what the store knows of it otherwise."""

    kind: KindName
    name: str
    hint: str | None = None

    def message(self, at: datetime, desired: bool = False) -> str:
        """kubectl's NotFound line, with the moment (and a hint when the store has one)."""
        where = "in git " if desired else ""
        line = (
            f"Error from server (NotFound): {resource_text(self.kind.kind, self.kind.group or '')}"
            f' "{self.name}" not found {where}at {moment(at)}'
        )
        return line + (f" ({self.hint})" if self.hint else "")


def moment(at: datetime) -> str:
    """A moment in a message: RFC 3339 in UTC, to the second (as it was typed, mostly)."""
    return to_rfc3339(at.replace(microsecond=0))


@dataclass(frozen=True)
class Answer:
    found: tuple[Found, ...]
    missing: tuple[Missing, ...] = ()
    unknown: tuple[str, ...] = field(default=())  # typed kinds the store never held


def _in_namespace(wanted: Wanted, namespace: str) -> bool:
    # Cluster-scoped objects (no namespace) answer whatever namespace is asked, as kubectl.
    return wanted.namespace is None or not namespace or namespace == wanted.namespace


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _candidates(
    wanted: Wanted, keys: Sequence[tuple[ResourceKey, str, dict[str, Any]]]
) -> list[Found]:
    """The objects among ``keys`` that ``wanted`` asks for, kind by kind as typed, then in
    the order of the names asked for (kubectl's), else by namespace and name."""
    out: list[Found] = []
    for kind in wanted.kinds:
        picked = [
            Found(kind, key, api_version, obj)
            for key, api_version, obj in keys
            if matches(kind, key.kind, key.group)
            and _in_namespace(wanted, key.namespace)
            and (not wanted.names or key.name in wanted.names)
            and wanted.selector.admits(_labels(obj))
        ]
        if wanted.names:
            picked.sort(key=lambda f: (wanted.names.index(f.key.name), f.key.namespace))
        else:
            picked.sort(key=lambda f: (f.key.namespace, f.key.name, f.key.kind, f.key.group))
        out.extend(picked)
    return out


def _reads(wanted: Wanted) -> list[str | None]:
    """The namespaces to read (None: all): the one asked for, and the cluster-scoped
    objects ("") when a kind may be cluster-scoped."""
    if wanted.namespace is None:
        return [None]
    scoped = {namespaced(k.kind, k.group) if k.group is not None else None for k in wanted.kinds}
    reads: list[str | None] = []
    if scoped != {False}:
        reads.append(wanted.namespace)
    if scoped != {True}:
        reads.append("")
    return reads


def _since(reader: Reader, record: RevisionRecord) -> str:
    """When the object came to be, as far as the store knows (see the module's docstring)."""
    start = record.observed_at
    for earlier in reader.history(record.resource_id, until=record.observed_at, with_body=False):
        start = earlier.observed_at
        if earlier.change == "created":
            break
    times = [start]
    for entry in record.managed_fields:
        when = entry.get("time") if isinstance(entry, dict) else None
        if isinstance(when, str) and when:
            try:
                times.append(to_stored(datetime.fromisoformat(when.replace("Z", "+00:00"))))
            except ValueError:
                continue
    return min(times)


class ObjectReader:
    """Reads what ``get`` asks for at moments, from one store and one cluster of it."""

    def __init__(self, db: Database, cluster: str | None) -> None:
        self.db = db
        self.reader = Reader(db)
        names = [c["name"] for c in self.reader.clusters()]
        self.scope = scope_of(
            names, cluster if cluster is not None or len(names) != 1 else names[0]
        )
        self.cluster = self.scope.cluster

    def actual(
        self, wanted: Wanted, at: datetime, *, with_age: bool = True
    ) -> list[tuple[Found, RevisionRecord]]:
        at_stored = to_stored(at)
        records: list[RevisionRecord] = []
        for namespace in _reads(wanted):
            records.extend(
                self.reader.state_at(at_stored, cluster=self.scope.revisions, namespace=namespace)
            )
        if self.cluster is not None:
            records = [r for r in records if r.key.cluster == self.cluster]
        by_key = {r.key: r for r in records}
        found = _candidates(
            wanted, [(r.key, r.api_version, r.obj or {}) for r in records if r.obj is not None]
        )
        out = []
        for item in found:
            record = by_key[item.key]
            since = _since(self.reader, record) if with_age else None
            out.append((Found(item.kind, item.key, item.api_version, item.obj, since), record))
        return out

    def desired(self, wanted: Wanted, at: datetime) -> list[Found]:
        _, declared = DesiredState(self.db).merged_at(to_stored(at), self.cluster)
        keys = []
        for (group, kind, namespace, name), item in declared.items():
            key = ResourceKey(self.cluster or "", group, kind, namespace, name)
            keys.append((key, str(item.obj.get("apiVersion") or ""), item.obj))
        return _candidates(wanted, keys)

    def get(
        self, wanted: Wanted, at: datetime, *, desired: bool = False, with_age: bool = True
    ) -> Answer:
        """Every object ``wanted`` names at ``at``, and the named ones that were not there."""
        found = (
            self.desired(wanted, at)
            if desired
            else [f for f, _ in self.actual(wanted, at, with_age=with_age)]
        )
        missing = []
        for kind in wanted.kinds:
            for name in wanted.names:
                if not any(f.kind == kind and f.key.name == name for f in found):
                    missing.append(Missing(kind, name, self._hint(wanted, kind, name, at, desired)))
        unknown = tuple(
            kind.kind
            for kind in wanted.kinds
            if kind.group is None
            and not any(f.kind == kind for f in found)
            and not self._ever_held(kind)
        )
        return Answer(tuple(found), tuple(missing), unknown)

    def _ever_held(self, kind: KindName) -> bool:
        """Whether the store ever held an object of this kind (recorded or declared)."""
        every = self.reader.state_at(
            END_OF_TIME, cluster=self.scope.revisions, include_deleted=True
        )
        if any(matches(kind, r.key.kind, r.key.group) for r in every):
            return True
        _, declared = DesiredState(self.db).merged_at(END_OF_TIME, self.cluster)
        return any(matches(kind, k, g) for g, k, _, _ in declared)

    def _hint(
        self, wanted: Wanted, kind: KindName, name: str, at: datetime, desired: bool
    ) -> str | None:
        """What the store knows of a named object that was not there at ``at``: in another
        namespace then, deleted before, or first recorded after."""
        if desired:
            return None
        elsewhere = Wanted((kind,), (name,), None)
        others = sorted({f.key.namespace for f, _ in self.actual(elsewhere, at, with_age=False)})
        if others and wanted.namespace is not None:
            return f"it was in namespace {others[0]}: -n {others[0]}"
        return self._lifetime_hint(kind, name, wanted.namespace, at)

    def _lifetime_hint(
        self, kind: KindName, name: str, namespace: str | None, at: datetime
    ) -> str | None:
        if kind.group is None:
            return None
        namespaces = [namespace] if namespace is not None else []
        if namespaced(kind.kind, kind.group) is False:
            namespaces = [""]
        cluster = self.cluster
        if cluster is None or len(namespaces) != 1:
            return None
        key = ResourceKey(cluster, kind.group, kind.kind, namespaces[0], name)
        latest = self.reader.object_at(key, END_OF_TIME)
        if latest is None:
            return None
        at_stored = to_stored(at)
        before = self.reader.object_at(key, at_stored)
        if before is not None and before.deleted:
            return f"deleted at {moment(from_stored(before.observed_at))}"
        history = self.reader.history(latest.resource_id, with_body=False)
        first = history[-1].observed_at if history else latest.observed_at
        if first > at_stored:
            return f"first recorded at {moment(from_stored(first))}"
        return None


# -- printing ------------------------------------------------------------------------------


def _sorted_keys(value: Any) -> Any:
    """Maps with their keys in order, as kubectl prints them (Go marshals maps sorted)."""
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def as_document(found: Sequence[Found], single: bool) -> dict[str, Any]:
    """One object as itself when one was named, else kubectl's ``kind: List``."""
    if single and len(found) == 1:
        return _sorted_keys(found[0].obj)  # type: ignore[no-any-return]
    return {
        "apiVersion": "v1",
        "items": [_sorted_keys(f.obj) for f in found],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


# Characters a terminal would act on that JSON may carry raw (it escapes only C0): written
# as \\u escapes, which read back as the same string.
_UNSAFE_JSON = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
)


def render_json(found: Sequence[Found], single: bool) -> str:
    """kubectl's ``-o json``: four-space indents, text as it is but for what a terminal
    would act on."""
    text = json.dumps(as_document(found, single), indent=4, ensure_ascii=False)
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def render_names(found: Sequence[Found]) -> str:
    return "".join(f"{name_prefix(f.key.kind, f.key.group)}/{f.key.name}\n" for f in found)


def render_tables(
    found: Sequence[Found],
    at: datetime,
    *,
    wide: bool = False,
    all_namespaces: bool = False,
    prefixed: bool = False,
) -> str:
    """kubectl's tables: one per kind (a blank line between), NAMESPACE first with ``-A``
    for namespaced kinds, names as ``kind.group/name`` when several kinds were asked for."""
    groups: dict[tuple[str, str], list[Found]] = {}
    for item in found:
        groups.setdefault((item.key.kind, item.key.group), []).append(item)
    out = []
    for (kind, group), items in groups.items():
        columns = columns_of(kind, group)
        scoped = all_namespaces and any(i.key.namespace for i in items)
        header = ["NAMESPACE"] if scoped else []
        header += ["NAME", *columns.headers, *(["AGE"] if columns.age else []), *columns.after_age]
        if wide:
            header += columns.wide_headers
        rows = [header]
        for item in items:
            name = item.key.name
            if prefixed:
                name = f"{name_prefix(kind, group)}/{name}"
            row = [item.key.namespace] if scoped else []
            row += [name, *columns.cells(item.obj)]
            if columns.age:
                age = (
                    UNKNOWN if item.since is None else human_duration(at - from_stored(item.since))
                )
                row.append(age)
            row += columns.after(item.obj)
            if wide:
                row += columns.wide(item.obj)
            rows.append(row)
        out.append(table(rows))
    return "\n".join(out)


def no_resources(namespace: str | None) -> str:
    """kubectl's line for an empty answer."""
    return "No resources found" + (f" in {namespace} namespace." if namespace else "")

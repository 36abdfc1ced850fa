"""Two recorded states side by side: one cluster at two moments, or two clusters at one.

Objects are matched by API group, kind, namespace and name (for two clusters, through a
namespace map: ``payments-staging`` may be ``payments``'s counterpart). Each difference is
an object added, removed or changed, with the fields that changed (``domain.diff``, the
same rules as every other view). Status is what controllers report and differs all the
time: it is left out unless asked for.

Between two clusters, what a controller made (an object with a controlling owner: Pods,
ReplicaSets, EndpointSlices, ...) is left out too: their names are random and their
counterparts are the workloads, which are compared, and which also carry the digests they
run (``artifacts.images_at``): the same ``image:`` tag may be two binaries in two clusters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from timetravel.domain.diff import changed_fields
from timetravel.domain.model import ResourceKey
from timetravel.domain.normalize import strip_status
from timetravel.domain.snapshot import FieldChange
from timetravel.domain.values import by_telling
from timetravel.domain.workloads import controller_of
from timetravel.query.artifacts import images_at
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
RUNNING = "running digests"  # the pseudo-field two clusters' workloads are compared on

Identity = tuple[str, str, str, str]  # (group, kind, namespace, name)


@dataclass(frozen=True)
class Difference:
    change: str  # added | removed | changed (B against A)
    a: ResourceKey | None
    b: ResourceKey | None
    api_version: str
    fields: tuple[FieldChange, ...] = ()

    @property
    def key(self) -> ResourceKey:
        found = self.b or self.a
        assert found is not None
        return found

    def to_json(self) -> dict[str, Any]:
        def key(k: ResourceKey | None) -> dict[str, Any] | None:
            if k is None:
                return None
            return {"cluster": k.cluster, "namespace": k.namespace or None, "name": k.name}

        return {
            "change": self.change,
            "apiVersion": self.api_version,
            "kind": self.key.kind,
            "a": key(self.a),
            "b": key(self.b),
            "fields": [f.to_json() for f in self.fields],
        }


def _objects(
    records: Iterable[RevisionRecord],
    namespaces: Sequence[str],
    *,
    status: bool,
    skip_owned: bool,
    namespace_map: Mapping[str, str] | None = None,
) -> dict[Identity, tuple[RevisionRecord, dict[str, Any]]]:
    out = {}
    for record in records:
        obj = record.obj
        if obj is None or record.deleted:
            continue
        key = record.key
        namespace = (namespace_map or {}).get(key.namespace, key.namespace)
        if namespaces and namespace not in namespaces:
            continue
        if skip_owned and controller_of(obj) is not None:
            continue
        body = obj if status else strip_status(obj)
        body = _without_identity(body)
        out[(key.group, key.kind, namespace, key.name)] = (record, body)
    return out


def _without_identity(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what names it (compared through the identity instead)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("namespace", None)
    meta.pop("name", None)
    return {**obj, "metadata": meta}


def _differences(
    a: Mapping[Identity, tuple[RevisionRecord, dict[str, Any]]],
    b: Mapping[Identity, tuple[RevisionRecord, dict[str, Any]]],
    extra: Mapping[Identity, tuple[Any, Any]] | None = None,
) -> list[Difference]:
    out = []
    for identity in sorted(a.keys() | b.keys(), key=lambda i: (i[2], i[1], i[3], i[0])):
        left, right = a.get(identity), b.get(identity)
        if left is None and right is not None:
            out.append(Difference(ADDED, None, right[0].key, right[0].api_version))
        elif right is None and left is not None:
            out.append(Difference(REMOVED, left[0].key, None, left[0].api_version))
        elif left is not None and right is not None:
            fields = [FieldChange(*f) for f in changed_fields(left[1], right[1])]
            before, after = (extra or {}).get(identity, (None, None))
            if before != after:
                fields.append(FieldChange(RUNNING, before, after))
            if fields:
                out.append(
                    Difference(
                        CHANGED,
                        left[0].key,
                        right[0].key,
                        right[0].api_version,
                        tuple(by_telling(fields)),
                    )
                )
    return out


def compare_moments(
    reader: Reader,
    at_a: str,
    at_b: str,
    *,
    cluster: str | None = None,
    namespaces: Sequence[str] = (),
    status: bool = False,
) -> list[Difference]:
    """What changed in ``cluster`` from ``at_a`` to ``at_b`` (stored time text)."""
    a = _objects(
        reader.state_at(at_a, cluster=cluster), namespaces, status=status, skip_owned=False
    )
    b = _objects(
        reader.state_at(at_b, cluster=cluster), namespaces, status=status, skip_owned=False
    )
    return _differences(a, b)


def _digests(
    reader: Reader, at: str, cluster: str, namespace_map: Mapping[str, str]
) -> dict[Identity, list[str]]:
    return {
        (
            w.workload.group,
            w.workload.kind,
            namespace_map.get(w.workload.namespace, w.workload.namespace),
            w.workload.name,
        ): w.digests
        for w in images_at(reader, at, cluster=cluster)
    }


def compare_clusters(
    reader: Reader,
    at: str,
    cluster_a: str,
    cluster_b: str,
    *,
    namespace_map: Mapping[str, str] | None = None,
    namespaces: Sequence[str] = (),
    status: bool = False,
) -> list[Difference]:
    """How ``cluster_b`` differs from ``cluster_a`` at ``at``. ``namespace_map`` renames
    A's namespaces to B's (``{"payments": "payments-staging"}``); ``namespaces`` are B's."""
    mapping = dict(namespace_map or {})
    a = _objects(
        reader.state_at(at, cluster=cluster_a),
        namespaces,
        status=status,
        skip_owned=True,
        namespace_map=mapping,
    )
    b = _objects(reader.state_at(at, cluster=cluster_b), namespaces, status=status, skip_owned=True)
    digests_a = _digests(reader, at, cluster_a, mapping)
    digests_b = _digests(reader, at, cluster_b, {})
    extra = {
        identity: (digests_a.get(identity), digests_b.get(identity))
        for identity in digests_a.keys() | digests_b.keys()
    }
    return _differences(a, b, extra)

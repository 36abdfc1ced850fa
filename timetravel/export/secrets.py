"""Secrets withheld again at the last step, whatever reached the snapshot."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from timetravel.domain import paths
from timetravel.domain.model import ResourceKey
from timetravel.domain.normalize import is_secret_kind
from timetravel.domain.snapshot import ChangeView, FieldChange, Snapshot

REDACTED = "redacted:"
WITHHELD = "redacted:withheld"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _is_redacted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(REDACTED)


def _safe_values(value: Any) -> Any:
    """A Secret's ``data``/``stringData`` with every value a ``redacted:`` hash."""
    if isinstance(value, dict):
        return {k: v if v is None or _is_redacted(v) else WITHHELD for k, v in value.items()}
    return value if value is None or _is_redacted(value) else WITHHELD


def _last_applied_is_safe(text: Any) -> bool:
    if _is_redacted(text):
        return True
    try:
        applied = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return False
    if not isinstance(applied, dict):
        return False
    return all(_safe_values(applied.get(f)) == applied.get(f) for f in ("data", "stringData"))


def _safe_secret(obj: Any) -> Any:
    """A Secret object (or a part of one rooted at the object) with no value left in it."""
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    for name in ("data", "stringData"):
        if name in out:
            out[name] = _safe_values(out[name])
    meta = out.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        annotations = meta["annotations"]
        if LAST_APPLIED in annotations and not _last_applied_is_safe(annotations[LAST_APPLIED]):
            out["metadata"] = {**meta, "annotations": {**annotations, LAST_APPLIED: WITHHELD}}
    return out


def _safe_field(path: str, value: Any) -> Any:
    """The value at ``path`` of a Secret, withheld when it is (or holds) a Secret value."""
    if value is None:
        return None
    try:
        segments = paths.parse(path)
    except ValueError:
        return WITHHELD
    if not all(isinstance(s, str) for s in segments):
        return value  # a list item: neither data, stringData nor an annotation
    wrapped: Any = value
    for segment in reversed(segments):
        wrapped = {segment: wrapped}
    guarded = _safe_secret(wrapped)
    for segment in segments:
        guarded = guarded[segment]
    return guarded


def _is_secret(key: ResourceKey) -> bool:
    # The store's rule: a Secret by kind, whatever its group.
    return is_secret_kind(key.kind)


def _safe_change(change: ChangeView) -> ChangeView:
    fields = tuple(
        FieldChange(f.path, _safe_field(f.path, f.before), _safe_field(f.path, f.after))
        for f in change.fields
    )
    return dataclasses.replace(change, fields=fields)


def guard_secrets(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with every Secret value (and copy) that is not a ``redacted:`` hash withheld.

    The store already redacts; this is the exporters' own check, so a bug upstream cannot
    put a password into a file someone attaches to a ticket. Only Secrets are touched.
    """
    resources = []
    for resource in snapshot.resources:
        if _is_secret(resource.key):
            resource = dataclasses.replace(
                resource,
                desired=_safe_secret(resource.desired),
                actual=_safe_secret(resource.actual),
                diff=tuple(
                    {
                        **d,
                        "desired": _safe_field(d["path"], d.get("desired")),
                        "actual": _safe_field(d["path"], d.get("actual")),
                    }
                    for d in resource.diff
                ),
                last_change=_safe_change(resource.last_change) if resource.last_change else None,
            )
        resources.append(resource)
    changes = tuple(_safe_change(c) if _is_secret(c.key) else c for c in snapshot.changes)
    return dataclasses.replace(snapshot, resources=tuple(resources), changes=changes)

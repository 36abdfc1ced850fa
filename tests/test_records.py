"""The fast record maker makes the same records as the dataclass does."""

from __future__ import annotations

import dataclasses
import inspect

from timetravel.domain.model import ResourceKey
from timetravel.store.records import RevisionRecord, revision_record


def test_revision_record_equals_the_dataclass_and_keeps_its_fields() -> None:
    names = [f.name for f in dataclasses.fields(RevisionRecord)]
    assert list(inspect.signature(revision_record).parameters) == names
    body = b'{"managedFields":[{"manager":"kubectl-edit"}],"object":{"kind":"ConfigMap"}}'
    values = (
        7,
        3,
        ResourceKey("c", "", "ConfigMap", "payments", "settings"),
        "v1",
        "2026-11-19T21:30:00.000000Z",
        "updated",
        "42",
        None,
        True,
        False,
        "watch",
        "2026-11-19T21:29:59Z",
        '["kubectl-edit"]',
        body,
    )
    fast, plain = revision_record(*values), RevisionRecord(*values)
    assert fast == plain and repr(fast) == repr(plain)
    assert fast.obj == {"kind": "ConfigMap"} == plain.obj
    assert fast.managers == ("kubectl-edit",) and fast.body == body
    assert dataclasses.replace(fast, change="deleted").deleted

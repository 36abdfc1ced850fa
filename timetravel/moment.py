"""Assemble the snapshot of one moment from the store (and, when recorded, git)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from timetravel.domain.diff import changed_fields
from timetravel.domain.snapshot import ChangeView, FieldChange, ResourceView, Snapshot
from timetravel.domain.times import stored_to_rfc3339, to_rfc3339, to_stored, utc_now
from timetravel.store import Database
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

DEFAULT_WINDOW = timedelta(hours=1)


def change_view(record: RevisionRecord, previous: RevisionRecord | None) -> ChangeView:
    """A stored revision as a change: what it did, and which fields moved.

    Creations and deletions list no fields: the whole object is the change.
    """
    fields: tuple[FieldChange, ...] = ()
    if record.change == "updated" and previous is not None and previous.obj is not None:
        fields = tuple(
            FieldChange(path, before, after)
            for path, before, after in changed_fields(previous.obj, record.obj or {})
        )
    return ChangeView(
        at=stored_to_rfc3339(record.observed_at),
        key=record.key,
        api_version=record.api_version,
        type=record.change,
        cause="unknown",
        actor=record.managers[0] if record.managers else None,
        field_managers=record.managers,
        fields=fields,
        inferred=record.inferred,
        status_only=record.status_only,
    )


def changes_in(reader: Reader, records: Sequence[RevisionRecord]) -> list[ChangeView]:
    """Change views for consecutive records, reading each resource's prior revision once."""
    previous_by_resource: dict[int, RevisionRecord | None] = {}
    out = []
    for record in records:
        if record.resource_id in previous_by_resource:
            previous = previous_by_resource[record.resource_id]
        else:
            previous = reader.previous(record)
        out.append(change_view(record, previous))
        previous_by_resource[record.resource_id] = record
    return out


def build_snapshot(
    db: Database,
    at: datetime,
    *,
    window: timedelta = DEFAULT_WINDOW,
    namespaces: Sequence[str] = (),
    generated_at: datetime | None = None,
) -> Snapshot:
    """Everything live at ``at`` and every change in [at - window, at + window]."""
    reader = Reader(db)
    at_stored = to_stored(at)
    start, end = at - window, at + window
    wanted = set(namespaces)

    resources = []
    for record in reader.state_at(at_stored):
        if wanted and record.key.namespace not in wanted:
            continue
        resources.append(
            ResourceView(
                key=record.key,
                api_version=record.api_version,
                state="unmanaged",
                desired=None,
                actual=record.obj,
                last_change=change_view(record, reader.previous(record)),
            )
        )
    records = [
        r
        for r in reader.changes_between(to_stored(start), to_stored(end))
        if not wanted or r.key.namespace in wanted
    ]
    errors = [
        {
            "kind": "gap",
            "cluster": gap.cluster,
            "source": gap.source,
            "from": stored_to_rfc3339(gap.started_at),
            "to": stored_to_rfc3339(gap.ended_at),
            "reason": gap.reason,
        }
        for gap in reader.gaps_between(to_stored(start), to_stored(end))
    ]
    return Snapshot(
        at=to_rfc3339(at),
        window_from=to_rfc3339(start),
        window_to=to_rfc3339(end),
        generated_at=to_rfc3339(generated_at or utc_now()),
        clusters=tuple(reader.clusters()),
        resources=tuple(resources),
        changes=tuple(changes_in(reader, records)),
        errors=tuple(errors),
    )

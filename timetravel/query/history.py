"""``timetravel history``: every revision of one resource, with its cause and its fields.

The changes are the snapshot's (``moment.changes_in``: fields from ``domain.diff``, causes
from ``CauseFinder``), oldest first as ``kubectl rollout history`` lists them; the first
one in a ``since`` window is compared with the revision before it, so its fields are right.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from timetravel.domain.kinds import KindName, matches, namespaced, resource_text
from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ChangeView, FieldChange
from timetravel.domain.timeparse import format_local
from timetravel.domain.times import parse_rfc3339, to_stored
from timetravel.domain.values import by_telling, describe
from timetravel.query.causes import CauseFinder
from timetravel.query.changes import END_OF_TIME
from timetravel.query.columns import table
from timetravel.query.moment import changes_in
from timetravel.query.scope import scope_of
from timetravel.store import Database
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

# Fields listed per revision in the text form before "(+N more)"; JSON lists them all.
FIELDS_SHOWN = 3
# A value longer than this is cut in the text form (an image reference fits).
VALUE_WIDTH = 72


class NotRecorded(LookupError):
    """The store holds no revision of the resource asked for."""

    def __init__(self, kind: KindName, name: str, elsewhere: Sequence[str] = ()) -> None:
        line = (
            f"Error from server (NotFound): {resource_text(kind.kind, kind.group or '')} "
            f'"{name}" not found: no revision of it was recorded'
        )
        if elsewhere:
            line += f" here (it was recorded in namespace {elsewhere[0]}: -n {elsewhere[0]})"
        super().__init__(line)


@dataclass(frozen=True)
class History:
    key: ResourceKey
    api_version: str
    changes: tuple[ChangeView, ...]  # oldest first


def _latest(
    reader: Reader, cluster: str | None, revisions: str | None, kind: KindName, name: str, ns: str
) -> RevisionRecord | None:
    """The newest revision of the resource, found by key when the kind is known, else
    among every resource the store holds (a CRD typed by its kind alone)."""
    if kind.group is not None and cluster is not None:
        namespace = "" if namespaced(kind.kind, kind.group) is False else ns
        return reader.object_at(
            ResourceKey(cluster, kind.group, kind.kind, namespace, name), END_OF_TIME
        )
    for namespace in (ns, ""):
        for record in reader.state_at(
            END_OF_TIME, cluster=revisions, namespace=namespace, include_deleted=True
        ):
            if (
                record.key.name == name
                and matches(kind, record.key.kind, record.key.group)
                and (cluster is None or record.key.cluster == cluster)
            ):
                return record
    return None


def history_of(
    db: Database,
    kind: KindName,
    name: str,
    namespace: str,
    *,
    cluster: str | None,
    since: datetime | None = None,
) -> History:
    """Every revision of one resource (observed at or after ``since``), oldest first, as
    changes with their cause and fields; :class:`NotRecorded` when the store has none."""
    reader = Reader(db)
    names = [c["name"] for c in reader.clusters()]
    scope = scope_of(names, cluster if cluster is not None or len(names) != 1 else names[0])
    latest = _latest(reader, scope.cluster, scope.revisions, kind, name, namespace)
    if latest is None:
        every = reader.state_at(END_OF_TIME, cluster=scope.revisions, include_deleted=True)
        elsewhere = sorted(
            {
                r.key.namespace
                for r in every
                if r.key.name == name
                and r.key.namespace
                and matches(kind, r.key.kind, r.key.group)
                and scope.cluster in (None, r.key.cluster)
            }
        )
        raise NotRecorded(kind, name, elsewhere)
    records = reader.history(latest.resource_id)
    if since is not None:
        cut = to_stored(since)
        records = [r for r in records if r.observed_at >= cut]
    records.reverse()
    views = changes_in(reader, records, CauseFinder(db)) if records else []
    return History(latest.key, latest.api_version, tuple(views))


# -- printing ------------------------------------------------------------------------------


def field_text(change: FieldChange) -> str:
    """One changed field in the words every view uses: ``api image payments/api:2.3.0 →
    2.4.0``, ``api env DEBUG=true added`` (``domain.values``)."""
    return printable(describe(change, VALUE_WIDTH))


def fields_summary(view: ChangeView, shown: int = FIELDS_SHOWN) -> str:
    """The fields a revision changed on one line, the most telling first (the image,
    replicas, env, resources, the rest; status last)."""
    if view.type != "updated":
        return "(whole object)"
    if not view.fields:
        return "-"
    ordered = by_telling(view.fields)
    parts = [field_text(f) for f in ordered[:shown]]
    more = len(ordered) - shown
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def actor_text(view: ChangeView) -> str:
    """Who or what made the change: the person and the pipeline run, else the actor or
    field manager the cause was read from."""
    run = view.pipeline_run
    if run is not None and view.cause == "pipeline":
        label = f"{run.provider} {run.pipeline}#{run.run_id}"
        return printable(f"{run.actor} via {label}" if run.actor else label)
    who = view.actor or (view.field_managers[0] if view.field_managers else "-")
    if view.cause == "gitops" and view.commit:
        who += f" (commit {view.commit[:7]})"
    return printable(who)


def change_text(view: ChangeView) -> str:
    out = view.type
    if view.status_only:
        out += " (status)"
    if view.inferred:
        out += " (after a gap)"
    return out


def render_text(history: History, tz: tzinfo) -> str:
    rows = [["TIME", "CHANGE", "CAUSE", "ACTOR", "FIELDS"]]
    for view in history.changes:
        rows.append(
            [
                format_local(parse_rfc3339(view.at), tz),
                change_text(view),
                view.cause,
                actor_text(view),
                fields_summary(view),
            ]
        )
    return table(rows)


def as_json(history: History) -> dict[str, Any]:
    key = history.key
    revisions = []
    for view in history.changes:
        entry = view.to_json()
        entry.update(
            {
                "actor_text": actor_text(view),
                "summary": fields_summary(view, shown=len(view.fields)),
                "inferred": view.inferred,
                "status_only": view.status_only,
                "evidence": view.evidence,
            }
        )
        revisions.append(entry)
    return {
        "cluster": key.cluster,
        "apiVersion": history.api_version,
        "kind": key.kind,
        "namespace": key.namespace or None,
        "name": key.name,
        "revisions": revisions,
    }


def render_json(history: History) -> str:
    return json.dumps(as_json(history), indent=2, ensure_ascii=True) + "\n"

"""Finding the alert events in the record, a pass at a time.

Each pass reads what was recorded since the last one (with an overlap: a batch observed
earlier may commit a little later) up to ``grace`` before now (so that a pipeline run
reported just after its deploy still explains it), and finds:

- a manual change, a change of unknown cause (spec, not status; not inferred);
- drift opened and closed: each touched declared resource's state now against the state
  the last pass saw (every declared resource when a branch moved);
- a recording gap that ended, a failed pipeline run or sync.

The events, the drift states and the cursor are written in one transaction; every event
has a key naming its fact, so a pass repeated after a crash adds nothing twice. The first
pass records the drift states it finds without telling anyone (a new recorder does not
announce every drift it inherited).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from timetravel.domain.alerts import AlertEvent
from timetravel.domain.argocd import APPLICATION
from timetravel.domain.ignore import RuleSet
from timetravel.domain.model import ResourceKey
from timetravel.domain.normalize import is_secret_kind
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.times import stored_to_rfc3339, to_stored
from timetravel.domain.values import change_summary
from timetravel.query.artifacts import unknown_images
from timetravel.query.causes import CauseFinder
from timetravel.query.desired import DesiredState
from timetravel.query.ignore_policy import NO_RULES, policy_at
from timetravel.query.moment import change_view, compare
from timetravel.store import Database
from timetravel.store import alerts as outbox
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

CURSOR = "evaluated_until"
OVERLAP = timedelta(minutes=10)
FAILED = frozenset({"failed", "failure", "error", "errored"})


@dataclass(frozen=True)
class Pass:
    events: int  # new events
    until: str
    baseline: bool
    found: tuple[AlertEvent, ...] = ()  # every event of the pass (new or not)


def _resource(key: ResourceKey) -> dict[str, str | None]:
    return {"kind": key.kind, "namespace": key.namespace or None, "name": key.name}


def _summary(view: ChangeView) -> str:
    if is_secret_kind(view.key.kind):
        # Hashed values still say nothing of use and must not leave the store: paths only.
        paths = ", ".join(f.path for f in view.fields[:5])
        return f"{view.type} {paths}".strip()
    return change_summary(view)


def _change_events(
    reader: Reader, causes: CauseFinder, records: list[RevisionRecord]
) -> list[AlertEvent]:
    out = []
    previous = reader.previous_many(records)
    for record in records:
        if record.inferred or record.status_only:
            continue
        view = change_view(record, previous.get(record.id), causes)
        kind = {"manual": "manual_change", "unknown": "unknown_cause"}.get(view.cause)
        if kind is None:
            continue
        out.append(
            AlertEvent(
                kind=kind,
                key=f"{kind}:{record.id}",
                at=stored_to_rfc3339(record.observed_at),
                cluster=record.key.cluster,
                summary=_summary(view),
                resource=_resource(record.key),
                cause=view.cause,
                actor=view.actor,
                details={"evidence": view.evidence, "field_managers": list(view.field_managers)},
            )
        )
    return out


def _declared(desired: DesiredState, dkey: tuple[str, str, str, str], at: str, cluster: str) -> Any:
    version = desired.version_at(dkey, at, cluster)
    if version is None:  # a store without the declared-object index
        return desired.merged_at(at, cluster)[1].get(dkey)
    return desired.declared(dkey, at, version, cluster)


def _unknown_image_events(reader: Reader, since: str, until: str) -> list[AlertEvent]:
    """An image no recorded build produced starting to run in a workload: once per
    workload and digest (the screen's ⚠ marker)."""
    return [
        AlertEvent(
            kind="unknown_provenance",
            key=f"unknown_provenance:{found.workload.cluster}:{found.workload.display()}:"
            f"{found.digest}",
            at=stored_to_rfc3339(found.at),
            cluster=found.workload.cluster,
            summary=found.summary,
            resource=_resource(found.workload),
            details={"digest": found.digest, "image": found.image},
        )
        for found in unknown_images(reader, since, until, None)
    ]


def _drift_events(
    db: Database,
    reader: Reader,
    desired: DesiredState,
    records: list[RevisionRecord],
    since: str,
    until: str,
    baseline: bool,
    snapshot_dir: Path | None = None,
    ignore: RuleSet | None = None,
) -> tuple[list[AlertEvent], list[tuple[int, str]]]:
    """Events for drift that opened or closed, and the states to remember.

    Each resource's state is followed through the pass's points (its revisions, the
    branch's moves) from the state the last pass left, as ``drift.drift_history`` does;
    a transition is an event at its point."""
    moves = sorted({u.observed_at for u, _ in desired.ref_updates_between(since, until)})
    by_key: dict[ResourceKey, list[RevisionRecord]] = {}
    for each in records:
        by_key.setdefault(each.key, []).append(each)
    if moves or baseline:
        for c in reader.clusters():
            for dkey in desired.merged_at(until, c["name"])[1]:
                by_key.setdefault(ResourceKey(c["name"], *dkey), [])
    first_live = {key: reader.object_at(key, since) for key in by_key} if not baseline else {}
    found = {key: reader.object_at(key, until) for key in by_key}
    ids = {key: rec.resource_id for key, rec in found.items() if rec is not None}
    known = outbox.drift_states(db.conn, list(ids.values()))
    # What ignore rules cover is expected, not drift: no alert for an autoscaler's replicas
    # an Application ignores (the rules of the Applications recorded now, and configured).
    applications = reader.state_at(until, kind=APPLICATION) if ids else []
    policy = policy_at(applications, ignore) if ids else NO_RULES
    events: list[AlertEvent] = []
    remember: list[tuple[int, str]] = []
    for key, resource_id in ids.items():
        dkey = (key.group, key.kind, key.namespace, key.name)
        points: list[tuple[str, RevisionRecord | None]] = [(r.observed_at, r) for r in by_key[key]]
        points += [(at, None) for at in moves]
        points.sort(key=lambda p: (p[0], p[1] is not None))
        if baseline:
            points = [(until, found[key])]
        state = known.get(resource_id)
        live: RevisionRecord | None = first_live.get(key)
        for at, record in points:
            if record is not None:
                live = record
            current = live if live is not None and not live.deleted else None
            new, _ = compare(_declared(desired, dkey, at, key.cluster), current, None, policy)
            opened, closed = (
                new == "drifted" and state != "drifted",
                state == "drifted" and new != "drifted",
            )
            if not baseline and state is not None and (opened or closed):
                kind = "drift_opened" if opened else "drift_closed"
                what = "drifted from git" if opened else f"back to {new.replace('_', ' ')}"
                moment = stored_to_rfc3339(at)
                details = {"export": export_command(moment, key.cluster, key.namespace)}
                if opened and snapshot_dir is not None:
                    details["snapshot"] = str(snapshot_dir / snapshot_name(moment, key))
                events.append(
                    AlertEvent(
                        kind=kind,
                        key=f"{kind}:{resource_id}:{record.id if record else 'commit'}:{at}",
                        at=moment,
                        cluster=key.cluster,
                        summary=f"{key.display()} {what}",
                        resource=_resource(key),
                        details=details,
                    )
                )
            state = new
        if state is not None:
            remember.append((resource_id, state))
    return events, remember


def export_command(at: str, cluster: str, namespace: str) -> str:
    """The command that writes the incident bundle of a moment (for a team store, where
    the recorder's disk is nobody's to read)."""
    words = ["timetravel", "export", "--cluster", cluster, "--at", at]
    if namespace:
        words += ["-n", namespace]
    words += ["-o", "bundle", "--output-file", "incident.tar.gz"]
    return shlex.join(words)


def snapshot_name(at: str, key: ResourceKey) -> str:
    """The bundle's file name for a drift opening: when, where, what (safe in a path)."""
    stamp = at.replace("-", "").replace(":", "")
    what = "-".join(p for p in (key.cluster, key.namespace, key.kind.lower(), key.name) if p)
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in what)
    return f"drift-{stamp}-{safe}.tar.gz"


def evaluate(
    db: Database,
    now: datetime,
    grace: timedelta = timedelta(seconds=60),
    snapshot_dir: Path | None = None,
    ignore: RuleSet | None = None,
) -> Pass:
    """One pass over what was recorded since the last; returns what it found.
    ``snapshot_dir``: drift openings name the incident bundle written there."""
    reader = Reader(db)
    causes = CauseFinder(db)
    desired = DesiredState(db)
    until = to_stored(now - grace)
    last = outbox.cursor(db.conn, CURSOR)
    if desired.git.pending_sets():
        # A history whose renders are under way: what git wants is not known yet, and a
        # comparison with nothing would open drift on every object. The pass waits.
        return Pass(0, last or until, not last)
    baseline = not last
    since = (
        to_stored(datetime.fromisoformat(last.replace("Z", "+00:00")) - OVERLAP) if last else until
    )
    records = reader.changes_between(since, until) if not baseline else []
    events: list[AlertEvent] = []
    if not baseline:
        events += _change_events(reader, causes, records)
        for gap in reader.gaps_between(since, until):
            if since <= gap.ended_at <= until:
                events.append(
                    AlertEvent(
                        kind="recording_gap",
                        key=f"gap:{gap.cluster}:{gap.source}:{gap.started_at}:{gap.ended_at}",
                        at=stored_to_rfc3339(gap.ended_at),
                        cluster=gap.cluster,
                        summary=f"no record of {gap.source} from "
                        f"{stored_to_rfc3339(gap.started_at)} to "
                        f"{stored_to_rfc3339(gap.ended_at)}: {gap.reason}",
                        details={"started_at": stored_to_rfc3339(gap.started_at)},
                    )
                )
        events += _unknown_image_events(reader, since, until)
        for run in causes.runs_between(since, until):
            ended = run.finished_at or run.reported_at
            if (
                (run.status or "").lower() in FAILED
                and ended is not None
                and since <= ended <= until
            ):
                events.append(
                    AlertEvent(
                        kind="failed_sync",
                        key=f"failed_sync:{run.provider}:{run.pipeline}:{run.run_id}",
                        at=stored_to_rfc3339(ended),
                        cluster=run.clusters[0] if len(run.clusters) == 1 else None,
                        summary=f"{run.provider} {run.pipeline} #{run.run_id} {run.status}",
                        actor=run.actor,
                        details={"url": run.url, "commit": run.commit},
                    )
                )
    drift, states = _drift_events(
        db, reader, desired, records, since, until, baseline, snapshot_dir, ignore
    )
    events += drift
    with db.conn:
        added = outbox.add_events(db.conn, events, to_stored(now))
        for resource_id, state in states:
            outbox.set_drift_state(db.conn, resource_id, state, until)
        outbox.set_cursor(db.conn, CURSOR, until)
    return Pass(added, until, baseline, tuple(events))

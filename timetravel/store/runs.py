"""Pipeline runs and Kubernetes audit events: the "who and why" facts, written and queried.

Both are facts that may arrive late (a run reported after its deploy, an audit log imported
next week); attribution reads them with the functions here whenever it runs, so a late fact
changes the answer without re-recording anything.

Times passed in and read back are the store's text form (``domain.times.to_stored``:
fixed-width UTC, so text order is time order), audit events' ``stage_at`` included.

Each names the cluster(s) it is about when that was said: an audit event its ``cluster``,
a run its ``clusters`` (stored as a JSON list). NULL means not said (every fact written
before timetravel knew several clusters in one store): such a fact bears on any cluster,
so a store of one cluster answers as it always did. The ``cluster`` arguments of the
readers keep the facts that may be about that cluster: its own and those naming none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from timetravel.domain.audit import AuditEvent, stage_rank
from timetravel.domain.ci_env import PipelineRun, PipelineRunFacts, Target, parse_target
from timetravel.domain.times import to_stored, utc_now
from timetravel.store import dialect
from timetravel.store.handle import StoreDB

__all__ = [
    "AuditInsertResult",
    "all_pipeline_runs",
    "audit_events_between",
    "audit_events_for",
    "decode_clusters",
    "encode_clusters",
    "get_pipeline_run",
    "insert_audit_events",
    "pipeline_runs_between",
    "upsert_pipeline_run",
]

# SQLite's default limit on bound variables is 999 before 3.32; stay well under it.
_CHUNK = 500


def _opt_stored(at: datetime | None) -> str | None:
    return to_stored(at) if at is not None else None


# -- pipeline runs ----------------------------------------------------------------------

_RUN_COLUMNS = (
    "id, provider, pipeline, run_id, url, commit_sha, status, actor, started_at, "
    "finished_at, targets, service_account, reported_at, source, clusters"
)


def _decode_targets(text: str | None) -> tuple[Target, ...]:
    if not text:
        return ()
    out: list[Target] = []
    for item in orjson.loads(text):
        try:
            out.append(parse_target(str(item)))
        except ValueError:
            # Written by an older or foreign writer: a target we cannot read is not fatal.
            continue
    return tuple(out)


def encode_clusters(clusters: Iterable[str]) -> str | None:
    """The ``clusters`` column of a run deploying to ``clusters``: a JSON list, sorted, each
    once; NULL for none (not said: any cluster)."""
    names = sorted(set(clusters))
    return orjson.dumps(names).decode() if names else None


def decode_clusters(text: str | None) -> tuple[str, ...]:
    """The clusters a ``clusters`` column names (none for NULL, or for text that is not a
    JSON list: an older or foreign writer's, read as not said)."""
    if not text:
        return ()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(str(name) for name in value if isinstance(name, str) and name)


def _run_record(row: Sequence[Any]) -> PipelineRun:
    return PipelineRun(
        id=int(row[0]),
        provider=str(row[1]),
        pipeline=str(row[2]),
        run_id=str(row[3]),
        url=row[4],
        commit=row[5],
        status=row[6],
        actor=row[7],
        started_at=row[8],
        finished_at=row[9],
        targets=_decode_targets(row[10]),
        service_account=row[11],
        reported_at=str(row[12]),
        source=str(row[13]),
        clusters=decode_clusters(row[14]),
    )


def get_pipeline_run(db: StoreDB, provider: str, pipeline: str, run_id: str) -> PipelineRun | None:
    """The stored run with this identity, or None."""
    row = db.execute(
        f"SELECT {_RUN_COLUMNS} FROM pipeline_runs "
        "WHERE provider = ? AND pipeline = ? AND run_id = ?",
        [provider, pipeline, run_id],
    ).fetchone()
    return _run_record(row) if row is not None else None


def _merge_targets(old: tuple[Target, ...], new: tuple[Target, ...]) -> tuple[Target, ...]:
    # Steps of one run often report the objects they deployed one by one: keep them all.
    merged = list(old)
    for target in new:
        if target not in merged:
            merged.append(target)
    return tuple(merged)


def _merge_source(old: str, new: str) -> str:
    parts = old.split(",")
    return old if new in parts else f"{old},{new}"


def upsert_pipeline_run(db: StoreDB, run: PipelineRunFacts) -> int:
    """Record one report of a run; returns its row id.

    A later report of the same (provider, pipeline, run_id) fills in what earlier ones did
    not know and replaces a value only with a non-null one: a final report saying
    ``success`` at 21:40 keeps the commit and start time the first report gave. Targets
    and clusters accumulate (a report naming none leaves those known); ``reported_at`` is
    the latest report's time.
    """
    conn = db.conn
    with conn:
        row = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM pipeline_runs "
            "WHERE provider = ? AND pipeline = ? AND run_id = ?",
            (run.provider, run.pipeline, run.run_id),
        ).fetchone()
        reported_at = to_stored(run.reported_at)
        if row is None:
            targets = [str(t) for t in run.targets]
            return dialect.insert_id(
                conn,
                "INSERT INTO pipeline_runs (provider, pipeline, run_id, url, commit_sha, "
                "status, actor, started_at, finished_at, targets, service_account, "
                "reported_at, source, clusters) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.provider,
                    run.pipeline,
                    run.run_id,
                    run.url,
                    run.commit,
                    run.status,
                    run.actor,
                    _opt_stored(run.started_at),
                    _opt_stored(run.finished_at),
                    orjson.dumps(targets).decode() if targets else None,
                    run.service_account,
                    reported_at,
                    run.source,
                    encode_clusters(run.clusters),
                ),
            )
        old = _run_record(row)
        old_id = int(row[0])  # a stored run always has its row id and report time
        merged = _merge_targets(old.targets, run.targets)
        conn.execute(
            "UPDATE pipeline_runs SET url = ?, commit_sha = ?, status = ?, actor = ?, "
            "started_at = ?, finished_at = ?, targets = ?, service_account = ?, "
            "reported_at = ?, source = ?, clusters = ? WHERE id = ?",
            (
                run.url or old.url,
                run.commit or old.commit,
                run.status or old.status,
                run.actor or old.actor,
                _opt_stored(run.started_at) or old.started_at,
                _opt_stored(run.finished_at) or old.finished_at,
                orjson.dumps([str(t) for t in merged]).decode() if merged else None,
                run.service_account or old.service_account,
                max(reported_at, str(row[12])),
                _merge_source(old.source, run.source),
                encode_clusters((*old.clusters, *run.clusters)),
                old_id,
            ),
        )
        return old_id


def _in_cluster(runs: Iterable[PipelineRun], cluster: str | None) -> list[PipelineRun]:
    # In Python, not SQL: a name in a JSON list is found alike on both engines (LIKE would
    # take the '_' of gke_project_zone_name for a wildcard), among the few runs of a window.
    if cluster is None:
        return list(runs)
    return [run for run in runs if run.in_cluster(cluster)]


def evidence_mark(db: StoreDB) -> tuple[Any, ...]:
    """What the runs and audit events are, read cheaply: equal twice, none was reported,
    merged or imported between. A run's report merged into its row moves its
    ``reported_at``; an audit event's later stage is logged after everything before it,
    so it moves the newest ``stage_at`` (both ends of an index, or a small table)."""
    row = db.conn.execute(
        "SELECT (SELECT count(*) FROM pipeline_runs), (SELECT max(id) FROM pipeline_runs), "
        "(SELECT max(reported_at) FROM pipeline_runs), (SELECT min(id) FROM audit_events), "
        "(SELECT max(id) FROM audit_events), (SELECT max(stage_at) FROM audit_events)"
    ).fetchone()
    return tuple(row)


def all_pipeline_runs(db: StoreDB, *, cluster: str | None = None) -> list[PipelineRun]:
    """Every stored run (that may have changed ``cluster``: it names it or none; None:
    every run), earliest first (by start, else finish, else report time)."""
    rows = db.execute(
        f"SELECT {_RUN_COLUMNS} FROM pipeline_runs "
        "ORDER BY COALESCE(started_at, finished_at, reported_at), id"
    ).fetchall()
    return _in_cluster(map(_run_record, rows), cluster)


def pipeline_runs_between(
    db: StoreDB, start: str, end: str, *, cluster: str | None = None
) -> list[PipelineRun]:
    """Runs whose window overlaps [start, end] (and that may have changed ``cluster``, as
    in :func:`all_pipeline_runs`), earliest first.

    A run's window is [started_at, finished_at]; where the CI system gave no finish the
    latest report time stands in, and where it gave no start the window begins at its
    end (see ``PipelineRun.window``). Widening windows for clock skew or a deploy
    step that reports late is the caller's decision, not the store's.
    """
    rows = db.execute(
        f"SELECT {_RUN_COLUMNS} FROM pipeline_runs "
        "WHERE COALESCE(started_at, finished_at, reported_at) <= :end "
        "AND COALESCE(finished_at, reported_at) >= :start "
        "ORDER BY COALESCE(started_at, finished_at, reported_at), id",
        {"start": start, "end": end},
    ).fetchall()
    return _in_cluster(map(_run_record, rows), cluster)


# -- audit events -----------------------------------------------------------------------

_AUDIT_COLUMNS = (
    # "user" quoted: a reserved word in PostgreSQL.
    'audit_id, stage, stage_at, verb, "user", user_groups, impersonated_user, user_agent, '
    "field_manager, api_group, api_version, resource, subresource, namespace, name, "
    "response_code, request_uri, level, cluster"
)
# The same columns minus audit_id, plus imported_at then audit_id: the order of the
# parameters that _audit_values and an audit_id make.
_AUDIT_WRITE_COLUMNS = _AUDIT_COLUMNS.removeprefix("audit_id, ") + ", imported_at, audit_id"


@dataclass(frozen=True)
class AuditInsertResult:
    """What one insert did. Unpacks as ``(inserted, duplicates)``.

    ``inserted`` counts events written: new requests, and later stages of a stored request
    (a ResponseComplete replacing its RequestReceived). ``duplicates`` counts events whose
    request was already stored at the same or a later stage. ``changes`` counts the written
    events that are changes (``AuditEvent.is_change``).
    """

    inserted: int = 0
    duplicates: int = 0
    changes: int = 0

    def __iter__(self) -> Iterator[int]:
        return iter((self.inserted, self.duplicates))


def _audit_values(event: AuditEvent, imported_at: str) -> tuple[Any, ...]:
    # Only metadata columns: AuditEvent carries no request or response body to store.
    return (
        event.stage,
        event.stage_at,
        event.verb,
        event.user,
        orjson.dumps(list(event.user_groups)).decode(),
        event.impersonated_user,
        event.user_agent,
        event.field_manager,
        event.api_group,
        event.api_version,
        event.resource,
        event.subresource,
        event.namespace,
        event.name,
        event.response_code,
        event.request_uri,
        event.level,
        event.cluster,
        imported_at,
    )


def _stored_ranks(conn: Any, audit_ids: list[str]) -> dict[str, tuple[int, str | None]]:
    """Per stored request: its stage's rank and its cluster."""
    ranks: dict[str, tuple[int, str | None]] = {}
    for i in range(0, len(audit_ids), _CHUNK):
        chunk = audit_ids[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for audit_id, stage, cluster in conn.execute(
            f"SELECT audit_id, stage, cluster FROM audit_events WHERE audit_id IN ({marks})",
            chunk,
        ):
            ranks[str(audit_id)] = (stage_rank(stage), cluster)
    return ranks


def insert_audit_events(
    db: StoreDB, events: Iterable[AuditEvent], *, imported_at: datetime | None = None
) -> AuditInsertResult:
    """Store a batch of audit events in one transaction, one row per request (auditID).

    The API server logs a request once per stage under one auditID; the latest stage
    replaces an earlier one, so a row shows how the request ended when that is known.
    An event's ``cluster`` is kept; a request stored without one takes the cluster of an
    event of it that names one (a log imported again with ``--cluster``), and one stored
    with a cluster keeps it.
    """
    batch = list(events)
    if not batch:
        return AuditInsertResult()
    stamp = to_stored(imported_at or utc_now())
    inserted = duplicates = changes = 0
    conn = db.conn
    with conn:
        ranks = _stored_ranks(conn, sorted({e.audit_id for e in batch}))
        for event in batch:
            rank = stage_rank(event.stage)
            known = ranks.get(event.audit_id)
            if known is None:
                conn.execute(
                    f"INSERT INTO audit_events ({_AUDIT_WRITE_COLUMNS}) "
                    f"VALUES ({', '.join('?' * 20)})",
                    (*_audit_values(event, stamp), event.audit_id),
                )
            elif rank > known[0]:
                conn.execute(
                    'UPDATE audit_events SET stage = ?, stage_at = ?, verb = ?, "user" = ?, '
                    "user_groups = ?, impersonated_user = ?, user_agent = ?, "
                    "field_manager = ?, api_group = ?, api_version = ?, resource = ?, "
                    "subresource = ?, namespace = ?, name = ?, response_code = ?, "
                    "request_uri = ?, level = ?, cluster = COALESCE(cluster, ?), "
                    "imported_at = ? WHERE audit_id = ?",
                    (*_audit_values(event, stamp), event.audit_id),
                )
            else:
                duplicates += 1
                if event.cluster is not None and known[1] is None:
                    conn.execute(
                        "UPDATE audit_events SET cluster = ? WHERE audit_id = ?",
                        (event.cluster, event.audit_id),
                    )
                    ranks[event.audit_id] = (known[0], event.cluster)
                continue
            ranks[event.audit_id] = (rank, known[1] if known and known[1] else event.cluster)
            inserted += 1
            changes += event.is_change
    return AuditInsertResult(inserted, duplicates, changes)


def _audit_event(row: Sequence[Any]) -> AuditEvent:
    groups = orjson.loads(row[5]) if row[5] else []
    return AuditEvent(
        audit_id=str(row[0]),
        stage=row[1],
        stage_at=str(row[2]),
        verb=str(row[3] or ""),
        user=row[4],
        user_groups=tuple(str(g) for g in groups),
        impersonated_user=row[6],
        user_agent=row[7],
        field_manager=row[8],
        api_group=row[9],
        api_version=row[10],
        resource=row[11],
        subresource=row[12],
        namespace=row[13],
        name=row[14],
        response_code=row[15],
        request_uri=row[16],
        level=row[17],
        cluster=row[18],
    )


def _select_audit(
    db: StoreDB, where: str, params: dict[str, Any], changes_only: bool, cluster: str | None
) -> list[AuditEvent]:
    if cluster is not None:
        where += " AND (cluster = :cluster OR cluster IS NULL)"
        params["cluster"] = cluster
    rows = db.execute(
        f"SELECT {_AUDIT_COLUMNS} FROM audit_events WHERE {where} ORDER BY stage_at, id",
        params,
    ).fetchall()
    events = [_audit_event(r) for r in rows]
    if changes_only:
        events = [e for e in events if e.is_change]
    return events


def audit_events_for(
    db: StoreDB,
    resource: str,
    namespace: str,
    name: str,
    start: str,
    end: str,
    *,
    api_group: str | None = None,
    changes_only: bool = False,
    cluster: str | None = None,
) -> list[AuditEvent]:
    """Audit events about one object in [start, end] (by stage time), earliest first.

    ``resource`` is the plural resource name (``deployments``; ``domain.audit.
    guess_resource`` turns a kind into one); ``namespace`` is ``""`` for a cluster-scoped
    object. ``api_group`` (``""`` for core) narrows when given. Subresource writes
    (``status``, ``scale``) are included: they change the object. ``changes_only`` keeps
    finished, successful writes (``AuditEvent.is_change``). ``cluster`` keeps the events
    of that cluster's API server and those naming no cluster (None: every event).
    """
    where = (
        "resource = :resource AND namespace = :namespace AND name = :name "
        "AND stage_at >= :start AND stage_at <= :end"
    )
    params: dict[str, Any] = {
        "resource": resource,
        "namespace": namespace,
        "name": name,
        "start": start,
        "end": end,
    }
    if api_group is not None:
        where += " AND api_group = :group"
        params["group"] = api_group
    return _select_audit(db, where, params, changes_only, cluster)


def audit_events_between(
    db: StoreDB,
    start: str,
    end: str,
    *,
    changes_only: bool = False,
    cluster: str | None = None,
) -> list[AuditEvent]:
    """Every stored audit event with a stage time in [start, end] (of ``cluster`` or of
    none, as in :func:`audit_events_for`), earliest first."""
    return _select_audit(
        db,
        "stage_at >= :start AND stage_at <= :end",
        {"start": start, "end": end},
        changes_only,
        cluster,
    )

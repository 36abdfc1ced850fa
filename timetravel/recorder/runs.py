"""Pipeline runs reported by CI (``timetravel record-run``): merge rules and validation.

A run is reported from inside its CI job, often twice (at the start of the deploy and at
the end with a status). Flags win; what a flag does not say comes from the CI system's
environment when it is the same provider; reports of one run (same provider, pipeline
and run id) merge in the store, a later one filling in what an earlier one did not say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from timetravel.domain.ci_env import (
    TERMINAL_STATUSES,
    DetectedRun,
    PipelineRun,
    PipelineRunFacts,
    Target,
    clusters_from_env,
    detect_run,
    normalize_service_account,
    normalize_status,
    parse_target,
)
from timetravel.errors import UserError
from timetravel.store import Database
from timetravel.store.runs import get_pipeline_run, upsert_pipeline_run

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


@dataclass(frozen=True)
class RunReport:
    """What one ``record-run`` call says: flags (None when absent), times as typed."""

    flags: Mapping[str, str | None]
    targets: tuple[str, ...] = ()
    started_at: str | None = None
    finished_at: str | None = None
    clusters: tuple[str, ...] = ()  # --cluster values


@dataclass(frozen=True)
class RecordedRun:
    """The run as stored after the report, and how the report was read."""

    record: PipelineRun
    updated: bool  # an earlier report of the same run was merged
    detected: DetectedRun | None  # the CI environment used, if any
    from_env: tuple[str, ...]  # flag names (``run-id``) whose value came from it


def parse_targets(values: tuple[str, ...]) -> tuple[Target, ...]:
    """``--target`` values as targets, each once, in the order given."""
    out: list[Target] = []
    for value in values:
        try:
            target = parse_target(value)
        except ValueError as exc:
            raise UserError(f"--target {value!r}: {exc}") from None
        if target not in out:
            out.append(target)
    return tuple(out)


def parse_clusters(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--cluster`` values, each once, in the order given."""
    names = tuple(dict.fromkeys(value.strip() for value in values))
    if "" in names:
        raise UserError("--cluster needs a cluster name")
    return names


def merge_with_env(
    flags: Mapping[str, str | None], env: Mapping[str, str], use_env: bool
) -> tuple[dict[str, str | None], DetectedRun | None, datetime | None]:
    """Flags win; a missing one comes from the CI environment when it is the same provider.

    Returns the merged text fields, the detected run (if used) and the environment's start
    time (only a CI system that exposes one gives it).
    """
    detected = detect_run(env) if use_env else None
    if detected is not None and flags["provider"] not in (None, detected.provider):
        # `--provider tekton` inside a GitHub job: GitHub's run id is not the Tekton one.
        detected = None
    if detected is None:
        return dict(flags), None, None
    merged = dict(flags)
    from_env: dict[str, str | None] = {
        "provider": detected.provider,
        "pipeline": detected.pipeline,
        "run_id": detected.run_id,
        "url": detected.url,
        "commit": detected.commit,
        "actor": detected.actor,
        "status": detected.status,
        "service_account": detected.service_account,
    }
    for key, value in from_env.items():
        if merged.get(key) is None:
            merged[key] = value
    return merged, detected, detected.started_at


@dataclass(frozen=True)
class PreparedRun:
    """A report checked and completed from the environment, before it meets the store."""

    facts: PipelineRunFacts  # bounds only as reported (None where nothing said)
    terminal: bool  # the status is final
    detected: DetectedRun | None
    from_env: tuple[str, ...]


def prepare_run(
    report: RunReport,
    *,
    env: Mapping[str, str],
    use_env: bool,
    now: datetime,
    parse_time: Callable[[str, datetime], datetime],
) -> PreparedRun:
    """Validate ``report`` and complete it from ``env``; raises UserError for what is wrong.

    ``--provider``, ``--pipeline``, ``--run-id`` and ``--commit`` must end up known.
    """
    flags = {k: (v.strip() or None) if v is not None else None for k, v in report.flags.items()}
    merged, detected, env_started = merge_with_env(flags, env, use_env)
    missing = [
        f"--{key.replace('_', '-')}"
        for key in ("provider", "pipeline", "run_id", "commit")
        if not merged.get(key)
    ]
    if missing:
        where = (
            f"not given and not in the {detected.provider} environment"
            if detected is not None
            else "not given and no CI environment detected"
        )
        raise UserError(f"missing {', '.join(missing)} ({where})")
    commit_sha = str(merged["commit"])
    if not _SHA.fullmatch(commit_sha):
        raise UserError(f"--commit {commit_sha!r}: expected a git commit SHA (7 to 64 hex digits)")
    final_status = normalize_status(merged["status"]) if merged["status"] else None
    targets = parse_targets(report.targets)
    clusters = parse_clusters(report.clusters)
    env_clusters = clusters_from_env(env) if use_env and not clusters else ()
    start = parse_time(report.started_at, now) if report.started_at else env_started
    finish = parse_time(report.finished_at, now) if report.finished_at else None
    if start and finish and finish < start:
        raise UserError("--finished-at is before --started-at")
    account = merged["service_account"]
    facts = PipelineRunFacts(
        provider=str(merged["provider"]),
        pipeline=str(merged["pipeline"]),
        run_id=str(merged["run_id"]),
        reported_at=now,
        source="record-run",
        url=merged["url"],
        commit=commit_sha.lower(),
        status=final_status,
        actor=merged["actor"],
        started_at=start,
        finished_at=finish,
        targets=targets,
        service_account=normalize_service_account(account) if account else None,
        clusters=clusters or env_clusters,
    )
    # Say which values came from the environment: a wrong one is then easy to trace.
    filled = [k.replace("_", "-") for k, v in merged.items() if v and not flags.get(k)]
    if env_started is not None and not report.started_at:
        filled.append("started-at")
    if env_clusters:
        filled.append("cluster")
    return PreparedRun(facts, final_status in TERMINAL_STATUSES, detected, tuple(filled))


def record_run(db: Database, run: PreparedRun) -> RecordedRun | None:
    """Merge ``run`` into the stored run of the same key; None when it was not kept
    (another writer deleted it in between).

    The report time is what is known of a run's bounds when the CI system does not say: a
    run reported while running started by then, one reported finished ended by then; only
    a bound no earlier report gave is filled.
    """
    facts = run.facts
    stored = get_pipeline_run(db, facts.provider, facts.pipeline, facts.run_id)
    start, finish = facts.started_at, facts.finished_at
    if start is None and not run.terminal and (stored is None or stored.started_at is None):
        start = facts.reported_at
    if finish is None and run.terminal and (stored is None or stored.finished_at is None):
        finish = facts.reported_at
    upsert_pipeline_run(db, replace(facts, started_at=start, finished_at=finish))
    record = get_pipeline_run(db, facts.provider, facts.pipeline, facts.run_id)
    if record is None:
        return None
    return RecordedRun(record, stored is not None, run.detected, run.from_env)

"""``record-run``: report a pipeline run (from a CI step) so changes can be traced to it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import click

from timetravel.commands.options import db_option, resolve_db, time_arg, user_errors
from timetravel.domain.ci_env import (
    TERMINAL_STATUSES,
    DetectedRun,
    PipelineRunFacts,
    Target,
    detect_run,
    normalize_service_account,
    normalize_status,
    parse_target,
)
from timetravel.domain.times import stored_to_rfc3339, utc_now
from timetravel.errors import UserError
from timetravel.store.db import open_database
from timetravel.store.runs import get_pipeline_run, upsert_pipeline_run

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


def _targets(values: tuple[str, ...]) -> tuple[Target, ...]:
    out: list[Target] = []
    for value in values:
        try:
            target = parse_target(value)
        except ValueError as exc:
            raise UserError(f"--target {value!r}: {exc}") from None
        if target not in out:
            out.append(target)
    return tuple(out)


def merge_with_env(
    flags: dict[str, str | None], env: Mapping[str, str], use_env: bool
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
        return flags, None, None
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


@click.command("record-run")
@db_option
@click.option(
    "--provider", help="CI system: github-actions, gitlab-ci, jenkins, tekton, argo-workflows, ..."
)
@click.option("--pipeline", help="Pipeline (workflow, job, project) name.")
@click.option("--run-id", "run_id", help="The run's id in that pipeline.")
@click.option("--commit", help="Git commit SHA the run deployed.")
@click.option("--url", help="Link to the run.")
@click.option(
    "--status", help="success, failed, cancelled, running, ... (synonyms are normalized)."
)
@click.option("--actor", help="Who started the run.")
@click.option(
    "--started-at",
    "started_at",
    metavar="T",
    help="When the run started [default: now, unless --status is final].",
)
@click.option(
    "--finished-at",
    "finished_at",
    metavar="T",
    help="When it finished [default: now when --status is final].",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="KIND/NS/NAME",
    help="An object the run deploys (repeatable; KIND/NAME when cluster-scoped; NAME may be *).",
)
@click.option(
    "--service-account",
    "service_account",
    metavar="SA",
    help="Identity the run uses in the cluster: NS/NAME or an audit username.",
)
@click.option(
    "--no-env",
    "no_env",
    is_flag=True,
    help="Do not fill missing fields from CI environment variables.",
)
@user_errors
def record_run(
    db_path: Path | None,
    provider: str | None,
    pipeline: str | None,
    run_id: str | None,
    commit: str | None,
    url: str | None,
    status: str | None,
    actor: str | None,
    started_at: str | None,
    finished_at: str | None,
    targets: tuple[str, ...],
    service_account: str | None,
    no_env: bool,
) -> None:
    """Record a pipeline run: which commit it deployed, when, by whom, to what.

    Run it from the CI job, at the start of the deploy and again at the end with
    --status: reports of one run (same provider, pipeline and run id) merge, a later one
    filling in what an earlier one did not say. Flags that are absent are taken from the
    CI system's environment (GitHub Actions, GitLab CI, Jenkins, Azure Pipelines,
    Buildkite, CircleCI; Tekton and Argo Workflows when the step exports their variables:
    see timetravel.domain.ci_env). --provider, --pipeline, --run-id and --commit must end
    up known. Times: RFC 3339, 'now', '-5m', '21:30'.

    Example:

    \b
        timetravel record-run --provider github-actions --pipeline deploy-prod --run-id 7712345 --commit 3f2c9e1 --target Deployment/payments/api
        timetravel record-run --status success   # later, inside the same GitHub Actions job
    """
    now = utc_now()
    flags: dict[str, str | None] = {
        "provider": provider,
        "pipeline": pipeline,
        "run_id": run_id,
        "commit": commit,
        "url": url,
        "status": status,
        "actor": actor,
        "service_account": service_account,
    }
    flags = {k: (v.strip() or None) if v is not None else None for k, v in flags.items()}
    merged, detected, env_started = merge_with_env(flags, os.environ, use_env=not no_env)

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
    parsed_targets = _targets(targets)
    start = time_arg(started_at, now) if started_at else env_started
    finish = time_arg(finished_at, now) if finished_at else None
    if start and finish and finish < start:
        raise UserError("--finished-at is before --started-at")
    account = merged["service_account"]

    key = (str(merged["provider"]), str(merged["pipeline"]), str(merged["run_id"]))
    db = open_database(resolve_db(db_path))
    stored = get_pipeline_run(db, *key)
    # The report time is what is known of a run's bounds when the CI system does not say:
    # a run reported while running started by now, one reported finished ended by now.
    # Only fill a bound no earlier report gave.
    terminal = final_status in TERMINAL_STATUSES
    if start is None and not terminal and (stored is None or stored.started_at is None):
        start = now
    if finish is None and terminal and (stored is None or stored.finished_at is None):
        finish = now
    facts = PipelineRunFacts(
        provider=key[0],
        pipeline=key[1],
        run_id=key[2],
        reported_at=now,
        source="record-run",
        url=merged["url"],
        commit=commit_sha.lower(),
        status=final_status,
        actor=merged["actor"],
        started_at=start,
        finished_at=finish,
        targets=parsed_targets,
        service_account=normalize_service_account(account) if account else None,
    )
    upsert_pipeline_run(db, facts)
    record = get_pipeline_run(db, *key)
    if record is None:  # another writer deleted it in between: report what was sent
        raise UserError(f"{resolve_db(db_path)}: the run was not kept (database changed)")
    verb = "updated" if stored is not None else "recorded"
    details = [f"commit {record.commit[:12] if record.commit else '?'}"]
    if record.status:
        details.append(f"status {record.status}")
    if record.started_at:
        details.append(f"started {stored_to_rfc3339(record.started_at)}")
    if record.finished_at:
        details.append(f"finished {stored_to_rfc3339(record.finished_at)}")
    if record.targets:
        details.append(f"{len(record.targets)} target{'s' if len(record.targets) > 1 else ''}")
    # Say which values came from the environment: a wrong one is then easy to trace.
    filled = [k.replace("_", "-") for k, v in merged.items() if v and not flags.get(k)]
    if env_started is not None and not started_at:
        filled.append("started-at")
    via = ""
    if filled and detected is not None:
        via = f"; from the {detected.provider} environment: {', '.join(filled)}"
    click.echo(
        f"{verb} {record.provider} run {record.pipeline} #{record.run_id} "
        f"({', '.join(details)}{via})"
    )

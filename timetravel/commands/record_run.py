"""``record-run``: report a pipeline run (from a CI step) so changes can be traced to it."""

from __future__ import annotations

import os

import click

from timetravel.commands.options import db_option, resolve_db, time_arg, user_errors
from timetravel.domain.printable import printable
from timetravel.domain.times import stored_to_rfc3339, utc_now
from timetravel.errors import UserError
from timetravel.recorder.runs import RunReport, prepare_run
from timetravel.recorder.runs import record_run as record_run_fact
from timetravel.store.db import open_database


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
    db_path: str | None,
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
    flags = {
        "provider": provider,
        "pipeline": pipeline,
        "run_id": run_id,
        "commit": commit,
        "url": url,
        "status": status,
        "actor": actor,
        "service_account": service_account,
    }
    prepared = prepare_run(
        RunReport(flags, targets, started_at, finished_at),
        env=os.environ,
        use_env=not no_env,
        now=utc_now(),
        parse_time=time_arg,
    )
    db = open_database(resolve_db(db_path))
    run = record_run_fact(db, prepared)
    if run is None:  # another writer deleted it in between: report what was sent
        raise UserError(f"{resolve_db(db_path)}: the run was not kept (database changed)")
    record = run.record
    details = [f"commit {record.commit[:12] if record.commit else '?'}"]
    if record.status:
        details.append(f"status {record.status}")
    if record.started_at:
        details.append(f"started {stored_to_rfc3339(record.started_at)}")
    if record.finished_at:
        details.append(f"finished {stored_to_rfc3339(record.finished_at)}")
    if record.targets:
        details.append(f"{len(record.targets)} target{'s' if len(record.targets) > 1 else ''}")
    via = ""
    if run.from_env and run.detected is not None:
        via = f"; from the {run.detected.provider} environment: {', '.join(run.from_env)}"
    click.echo(
        printable(
            f"{'updated' if run.updated else 'recorded'} {record.provider} run "
            f"{record.pipeline} #{record.run_id} ({', '.join(details)}{via})"
        )
    )

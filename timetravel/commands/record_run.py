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
from timetravel.store.reader import Reader


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
    "--cluster",
    "clusters",
    multiple=True,
    metavar="NAME",
    help="A cluster the run deploys to (repeatable) [default: $TIMETRAVEL_CLUSTER, else any].",
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
    clusters: tuple[str, ...],
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

    In a store of several clusters, --cluster (or TIMETRAVEL_CLUSTER, comma-separated,
    set once in the deploy job) names those the run deploys to: it then explains
    changes there only. Without it the run may explain a change in any cluster. Reports
    of one run add up their clusters; a name the store does not record yet is taken,
    with a warning.

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
        RunReport(flags, targets, started_at, finished_at, clusters),
        env=os.environ,
        use_env=not no_env,
        now=utc_now(),
        parse_time=time_arg,
    )
    db = open_database(resolve_db(db_path))
    if prepared.facts.clusters:
        known = {c["name"] for c in Reader(db).clusters()}
        unknown = [name for name in prepared.facts.clusters if name not in known]
        if unknown:
            # A run may be reported before the cluster's recorder first writes: kept.
            names = ", ".join(repr(name) for name in unknown)
            click.echo(
                printable(f"timetravel: warning: this store records no cluster {names} yet"),
                err=True,
            )
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
    if record.clusters:
        details.append(
            f"cluster{'s' if len(record.clusters) > 1 else ''} {', '.join(record.clusters)}"
        )
    via = ""
    if run.from_env:
        where = f"the {run.detected.provider}" if run.detected is not None else "the"
        via = f"; from {where} environment: {', '.join(run.from_env)}"
    click.echo(
        printable(
            f"{'updated' if run.updated else 'recorded'} {record.provider} run "
            f"{record.pipeline} #{record.run_id} ({', '.join(details)}{via})"
        )
    )

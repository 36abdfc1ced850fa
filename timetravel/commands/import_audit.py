"""``import-audit``: Kubernetes audit logs into the store (who made each change)."""

from __future__ import annotations

import sys

import click

from timetravel.commands.options import db_option, resolve_db, user_errors
from timetravel.domain.printable import printable
from timetravel.recorder.audit import check_audit_sources, import_audit_files, log_cluster
from timetravel.recorder.progress import Progress
from timetravel.store.db import open_database
from timetravel.store.reader import Reader


@click.command("import-audit")
@db_option
@click.option(
    "--cluster",
    metavar="NAME",
    default=None,
    help="The cluster whose API server wrote the log (required in a store of several clusters).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.argument("sources", metavar="FILE...|-", nargs=-1, required=True)
@user_errors
def import_audit(
    db_path: str | None, cluster: str | None, quiet: bool, sources: tuple[str, ...]
) -> None:
    """Import Kubernetes audit logs, as the API server or GKE, AKS and EKS write them.

    Reads what the API server's log backend writes (--audit-log-path, and its .gz
    rotations: give several files at once), webhook EventList batches, and the
    records managed clusters export: GKE Cloud Logging entries (protoPayload), AKS
    diagnostic records (properties.log, also in {"records": [...]}) and EKS CloudWatch
    log events (message; aws logs output, subscription logEvents, S3 exports). One
    record a line, or pretty-printed JSON (jq ., gcloud logging read --format=json),
    at any level. Only metadata is kept (user, impersonation, user agent, field
    manager, object, response code), never request or response bodies. get/list/watch
    requests are skipped. Bad records are listed at the end, each at the line it starts
    on and saying what it is (exit 1); the rest is imported. Importing a log twice adds
    nothing.

    An audit log is one cluster's: its events explain changes of that cluster only.
    In a store of several clusters (a team store) --cluster names it, and without it
    the command stops with the list of clusters (exit 2), importing nothing. A store of
    one cluster needs none (its events then explain any cluster's changes, as before);
    a name the store does not record yet is taken, with a warning. Importing a log
    again with --cluster files the events it imported without one under that cluster.

    Example:

    \b
        timetravel import-audit /var/log/kubernetes/audit/audit*.log*
        timetravel import-audit --db postgresql://tt@db/timetravel --cluster prod prod-audit.log.gz
        gcloud logging read 'resource.type="k8s_cluster" logName:"cloudaudit"' --format=json > gke.json
        timetravel import-audit --cluster prod gke.json
    """
    checked = check_audit_sources(sources)
    db = open_database(resolve_db(db_path))
    chosen = log_cluster([c["name"] for c in Reader(db).clusters()], cluster)
    if chosen.warning is not None:
        click.echo(f"timetravel: warning: {printable(chosen.warning)}", err=True)
    progress = Progress("importing audit events", unit="events", enabled=not quiet)
    report = import_audit_files(db, checked, progress=progress, cluster=chosen.cluster)
    progress.close()
    click.echo(report.summary(), err=True)
    if report.bad:
        for line in report.bad_lines():
            click.echo(printable(line), err=True)
        sys.exit(1)

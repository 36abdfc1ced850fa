"""``import-events``: what ``kubectl get -w`` printed, into the store."""

from __future__ import annotations

import sys

import click

from timetravel.commands.options import db_option, resolve_db, user_errors
from timetravel.domain.model import DEFAULT_CLUSTER
from timetravel.domain.printable import printable
from timetravel.recorder.events import import_events as run_import
from timetravel.recorder.progress import Progress
from timetravel.sources.files import close_input, open_input, read_lines
from timetravel.store.db import open_database
from timetravel.store.lease import writer_lease

EVENT_LINE_BYTES = 64 * 1024 * 1024


@click.command("import-events")
@db_option
@click.option(
    "--cluster",
    default=DEFAULT_CLUSTER,
    show_default=True,
    help="Cluster name to file the objects under.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.argument("source", metavar="FILE|-")
@user_errors
def import_events(db_path: str | None, cluster: str, quiet: bool, source: str) -> None:
    """Import what `kubectl get -w -o json --output-watch-events` prints.

    Accepts watch events ({"type": ..., "object": ...}) one per line or pretty-printed
    and concatenated, plain `kubectl get -o json` objects and Lists. An event may carry a
    top-level "observed_at" (RFC 3339); otherwise the import time is used. Bad or
    truncated records are skipped and listed at the end (exit 1); the rest is imported.
    Refused while a recorder writes the database (one writer at a time).

    Example:

        kubectl get deploy,cm -A -w -o json --output-watch-events | timetravel import-events -
    """
    path = resolve_db(db_path)
    stream, raw = open_input(source)
    db = open_database(path)
    # Objects are written as a recorder writes them: not while one records this database.
    lease = writer_lease(path, f"cluster:{cluster}", command="timetravel import-events")
    try:
        lease.acquire()
        progress = Progress("importing", unit="records", enabled=not quiet)
        # Lines longer than 64 MiB (a bomb, not a record) are skipped unread.
        lines = read_lines(stream, max_bytes=EVENT_LINE_BYTES)
        report = run_import(db, lines, cluster=cluster, progress=progress)
    finally:
        lease.release()
        close_input(stream, raw)
    click.echo(report.summary(), err=True)
    if report.bad:
        for line in report.skipped_lines():
            click.echo(printable(line), err=True)
        sys.exit(1)

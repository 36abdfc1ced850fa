"""``copy``: a recorded history from one store into another, either engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from timetravel.commands.options import time_arg, user_errors
from timetravel.domain.times import to_stored
from timetravel.errors import UserError
from timetravel.recorder.progress import Progress
from timetravel.store.copy import Scope, Tally, clusters_to_copy, copy_store
from timetravel.store.db import open_database
from timetravel.store.lease import Lease, writer_leases
from timetravel.store.location import Location, PostgresLocation, parse_location


def _same(a: Location, b: Location) -> bool:
    if isinstance(a, PostgresLocation) or isinstance(b, PostgresLocation):
        return a == b
    try:
        return os.path.samefile(a.path, b.path)
    except OSError:
        return Path(os.path.abspath(a.path)) == Path(os.path.abspath(b.path))


@click.command("copy")
@click.option(
    "--from",
    "source",
    metavar="FILE|URL",
    required=True,
    help="The store to copy from (only read).",
)
@click.option(
    "--to",
    "target",
    metavar="FILE|URL",
    required=True,
    help="The store to copy into (made when missing).",
)
@click.option(
    "--cluster",
    metavar="NAME",
    help="Copy only this cluster's objects, gaps and events, and the repositories feeding it.",
)
@click.option(
    "--since", metavar="T", help="Copy what was observed at or after T, and the state at T."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@user_errors
def copy(source: str, target: str, cluster: str | None, since: str | None, quiet: bool) -> None:
    """Copy a recorded history from one store into another (SQLite or PostgreSQL).

    Copies objects and their revisions, gaps, Warning events, repositories, commits,
    ref updates and desired sets, pipeline runs and audit events. Run it again to copy
    what is new: what the target holds already is skipped, so copying twice adds nothing,
    and a copy that was interrupted (killed, Ctrl-C, a lost connection) is finished by
    running the same command again. Secret values stay hashed: the target must hash with
    the source's key (a new target takes its key id). Refused while a recorder writes the
    copied clusters into the target.

    Example:

        timetravel copy --from laptop.db --to postgresql://tt_writer@db.example.com/timetravel

        timetravel copy --from postgresql://tt@db/tt --to incident.db --cluster prod --since -6h
    """
    source_at, target_at = parse_location(source), parse_location(target)
    if _same(source_at, target_at):
        raise UserError(f"{source_at}: --from and --to name the same store")
    scope = Scope(cluster, to_stored(time_arg(since)) if since else None)
    src = open_database(source_at, readonly=True)
    clusters = clusters_to_copy(src, cluster)
    dst = open_database(target_at)
    leases = writer_leases(target_at, [f"cluster:{c}" for c in clusters], command="timetravel copy")
    held: list[Lease] = []

    def start(label: str, total: int | None, unit: str) -> Tally:
        return Progress(label, total=total, unit=unit, enabled=not quiet)

    try:
        for lease in leases:
            lease.acquire()
            held.append(lease)
        report = copy_store(src, dst, scope, progress=start)
    except KeyboardInterrupt:
        click.echo(
            "timetravel: interrupted; what was copied is kept: run the same command again to "
            "finish the copy",
            err=True,
        )
        sys.exit(130)
    finally:
        for lease in held:
            lease.release()
        src.conn.close()
        dst.conn.close()
    for line in report.lines():
        click.echo(line, err=True)

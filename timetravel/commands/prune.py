"""``prune``: remove history older than a moment, keeping the state at it."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from timetravel.commands.options import db_option, duration_arg, resolve_db, time_arg, user_errors
from timetravel.domain.times import to_stored, utc_now
from timetravel.errors import UserError
from timetravel.recorder.progress import Progress
from timetravel.store.copy import Tally, clusters_to_copy
from timetravel.store.db import open_database
from timetravel.store.lease import LeaseHeld, writer_lease, writer_leases
from timetravel.store.location import SqliteLocation
from timetravel.store.prune import prune as prune_store


def before_arg(text: str, now: datetime | None = None) -> datetime:
    """``--before``: a time as ``--at`` takes it, or a duration back from now (``90d``)."""
    now = now or utc_now()
    try:
        return time_arg(text, now)
    except UserError as as_time:
        try:
            return now - duration_arg(text)
        except UserError:
            raise UserError(f"--before: {as_time}, or a duration ('90d')") from None


@click.command("prune")
@db_option
@click.option(
    "--before",
    "before",
    metavar="T",
    required=True,
    help="Remove history older than T: a time as --at takes it, or a duration back from now (90d).",
)
@click.option(
    "--cluster",
    metavar="NAME",
    default=None,
    help="Only this cluster's objects, gaps and Warning events, and the repositories bound to it.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@user_errors
def prune(
    db_path: str | None, before: str, cluster: str | None, dry_run: bool, quiet: bool
) -> None:
    """Remove history older than T; the state at T and everything after stay exact.

    Each object keeps the revision in force at T (an object deleted before T and not
    back goes); ref updates but the one in force at T, desired sets and commits nothing
    kept names, gaps and Warning events before T go; pipeline runs and audit events go
    where they can bear on no change from T on (kept from the start of T's day). The
    store records where its history now starts; the screen shows it. A SQLite file gives
    the space back (the first time by VACUUM, which needs room for a copy); PostgreSQL
    reuses it. Refused while a recorder writes what is pruned (`record --keep D` prunes
    as it records). Interrupted, it leaves a consistent store: run it again to finish.

    Example:

        timetravel prune --before 90d --dry-run

        timetravel prune --db prod.db --before 2026-09-01
    """
    where = resolve_db(db_path)
    if isinstance(where, SqliteLocation) and not where.path.expanduser().exists():
        raise UserError(f"{where}: no such database")
    now = utc_now()
    cut = before_arg(before, now)
    if cut > now:
        raise UserError(f"--before: {to_stored(cut)} is in the future; nothing recorded is older")
    db = open_database(where, readonly=dry_run, create=False)
    try:
        clusters_to_copy(db, cluster)  # a cluster the store lacks is one line naming those it has
        leases = []
        if not dry_run:
            if cluster is None:
                leases = [writer_lease(where, "database", command="timetravel prune")]
            else:
                leases = writer_leases(where, [f"cluster:{cluster}"], command="timetravel prune")
        held = []

        def start(label: str, total: int | None, unit: str) -> Tally:
            return Progress(label, total=total, unit=unit, enabled=not quiet)

        try:
            for lease in leases:
                try:
                    lease.acquire()
                except LeaseHeld as exc:
                    who = exc.holder
                    writer = f"{who.command} ({who.describe()})" if who else "another process"
                    what = f"cluster {cluster} of {where}" if cluster else str(where)
                    raise UserError(
                        f"{what}: written by {writer}; stop it first, or let the recorder "
                        "prune as it records: `timetravel record --keep D`"
                    ) from None
                held.append(lease)
            report = prune_store(
                db, to_stored(cut), cluster=cluster, dry_run=dry_run, progress=start
            )
        except KeyboardInterrupt:
            click.echo(
                "timetravel: interrupted; what was pruned stays pruned and the store is "
                "consistent: run the same command again to finish",
                err=True,
            )
            sys.exit(130)
        finally:
            for lease in held:
                lease.release()
    finally:
        db.conn.close()
    for line in report.lines():
        click.echo(line)

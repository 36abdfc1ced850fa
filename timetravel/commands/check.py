"""``check``: find (and with --repair, mend) damage in a database."""

from __future__ import annotations

import sys

import click

from timetravel.commands.options import db_option, resolve_db, user_errors
from timetravel.domain.printable import printable
from timetravel.errors import UserError
from timetravel.store.check import check as check_store
from timetravel.store.check import repair as repair_store
from timetravel.store.db import open_database
from timetravel.store.lease import writer_lease
from timetravel.store.location import SqliteLocation


@click.command("check")
@db_option
@click.option(
    "--repair",
    is_flag=True,
    help="Mend what is found, keeping every distinct revision (needs no recorder running).",
)
@user_errors
def check(db_path: str | None, repair: bool) -> None:
    """Check a database: every revision readable, indexed once, stored once.

    Reads every segment and reports revisions the time index names but their segment
    lacks, revisions missing from the index, segments of one object overlapping in time,
    the same change stored twice (as two recorders writing one database leave them),
    conflicting revisions and undecodable segments. Exit status 0 when nothing is wrong
    (or all of it was repaired), 1 when damage remains.

    Example:

        timetravel check --db prod.db --repair
    """
    path = resolve_db(db_path)
    if isinstance(path, SqliteLocation) and not path.path.exists():
        raise UserError(f"{path}: no such database")
    lease = writer_lease(path, "database", command="timetravel check --repair")
    if repair:
        lease.acquire()  # nothing else may write while objects are laid out again
    try:
        db = open_database(path, readonly=not repair, create=False)
        report = check_store(db)
        for line in report.lines():
            click.echo(printable(line))
        if report.clean:
            return
        if not repair:
            click.echo("run `timetravel check --repair` to mend it", err=True)
            sys.exit(1)
        for line in repair_store(db, report).lines():
            click.echo(printable(line))
        after = check_store(db)
        remaining = [line for line in after.lines()[1:] if line != "no damage found"]
        if remaining:
            for line in remaining:
                click.echo(f"left: {printable(line)}", err=True)
            sys.exit(1)
        click.echo("no damage left")
    finally:
        lease.release()

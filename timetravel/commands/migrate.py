"""``migrate``: bring a store to this version's schema, explicitly."""

from __future__ import annotations

import click

from timetravel.commands.options import db_option, resolve_db, user_errors
from timetravel.store.migrate import migrate_store


@click.command("migrate")
@db_option
@user_errors
def migrate(db_path: str | None) -> None:
    """Bring a store to this version's schema and say what was applied.

    A recorder migrates the store it opens, but the screen and exports only read: a team
    store (PostgreSQL) read with a role that may not change it must be migrated first,
    after each upgrade of timetravel, by a role that may create tables in it. A store
    already at this version's schema is left as it is.

    Example:

        timetravel migrate --db postgresql://tt_writer@db.example.com/timetravel
    """
    click.echo(migrate_store(resolve_db(db_path)).line())

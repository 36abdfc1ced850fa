"""``ui``: the screen (also what bare ``timetravel`` runs)."""

from __future__ import annotations

from pathlib import Path

import click

from timetravel.cli import db_option, resolve_db, time_arg, user_errors


@click.command("ui")
@db_option
@click.option(
    "--at",
    "at_text",
    default=None,
    help="Start with the cursor here (21:30, 'thursday 21:30', -2h, RFC 3339) [default: now].",
)
@click.option(
    "--no-record", is_flag=True, default=False, help="Only read the database; record nothing."
)
@click.option(
    "--live/--no-live", default=None, help="Follow now [default: on unless --at is given]."
)
@user_errors
def ui(
    db_path: Path | None = None,
    at_text: str | None = None,
    no_record: bool = False,
    live: bool | None = None,
) -> None:
    """Scrub through recorded time: desired next to actual, the cause of each change.

    Keys: left/right previous/next change, +/- zoom, g go to a time, / filter, d unified
    diff, z noise, e export, l live, ? help, q quit.

    Example:

        timetravel ui --db prod.db --at "thursday 21:30" --no-record
    """
    from timetravel.screen_data import ScreenData

    at = time_arg(at_text) if at_text else None
    data = ScreenData(resolve_db(db_path))
    from timetravel.tui.app import TimetravelApp

    # Recording from the screen arrives with the recorder flags; until then it only reads.
    recorder = "read-only"
    app = TimetravelApp(data, at=at, live=at is None if live is None else live, recorder=recorder)
    app.run()

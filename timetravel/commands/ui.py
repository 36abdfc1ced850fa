"""``ui``: the screen (also what bare ``timetravel`` runs), recording while it shows."""

from __future__ import annotations

import functools

import click

from timetravel.commands.options import (
    cluster_options,
    cluster_scope_option,
    db_option,
    repo_options,
    resolve_db,
    time_arg,
    user_errors,
)
from timetravel.store.db import open_database


@click.command("ui")
@db_option
@click.option(
    "--at",
    "at_text",
    default=None,
    help="Start with the cursor here (21:30, 'thursday 21:30', -2h, RFC 3339) [default: now, LIVE].",
)
@click.option(
    "--no-record", is_flag=True, default=False, help="Only read the database; record nothing."
)
@click.option(
    "--live/--no-live", default=None, help="Follow now [default: on unless --at is given]."
)
@cluster_scope_option(
    "Show this cluster of the store first (c switches) [default: the first by name]."
)
@cluster_options
@repo_options(
    repo_help="Record this GitOps repository (default: the current directory, when it is a git checkout).",
    branch_help="Branch for the --repo at the same position.",
)
@user_errors
def ui(
    db_path: str | None = None,
    at_text: str | None = None,
    no_record: bool = False,
    live: bool | None = None,
    cluster: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespaces: tuple[str, ...] = (),
    repos: tuple[str, ...] = (),
    branches: tuple[str, ...] = (),
) -> None:
    """Scrub through recorded time: desired next to actual, the cause of each change.

    Unless --no-record is given, a recorder runs behind the screen (a child process
    writing to the same database): the current kubeconfig context when there is one, and
    the current directory's repository when it is a git checkout; the recorder flags
    override. Its status is always in the header (recording, git-only, read-only). When
    another recorder already writes the database, this one stands by and takes over when
    that one ends; the header names the one that records.

    A store that holds several clusters (a team store) shows one at a time: the header
    names it ("prod (1/3)"); c, or "Switch cluster" in the command palette (:), shows
    another at the same moment.

    Keys: left/right previous/next change, +/- zoom, g go to a time, / filter, d unified
    diff, z noise, c cluster, e export, l live, ? help, q quit.

    Example:

        timetravel ui --db prod.db --at "thursday 21:30" --no-record

        timetravel ui --db postgresql://tt@db/timetravel --cluster staging --no-record
    """
    from timetravel.query.screen import ScreenData
    from timetravel.recorder import background
    from timetravel.tui.app import TimetravelApp

    at = time_arg(at_text) if at_text else None
    path = resolve_db(db_path)
    recorder = None
    if not no_record:
        plan = background.plan(
            path,
            kubeconfig=kubeconfig,
            context=context,
            namespaces=namespaces,
            repos=repos,
            branches=branches,
        )
        if plan is not None:
            open_database(path).conn.close()  # create or migrate it before the screen reads
            recorder = background.BackgroundRecorder(plan)
            recorder.start()
    try:
        data = ScreenData(path, cluster=cluster)
        status = (
            recorder.status
            if recorder is not None
            else None
            if data.read_only_copy
            else functools.partial(background.reader_status, path)
        )
        app = TimetravelApp(
            data,
            at=at,
            live=at is None if live is None else live,
            recorder=status() if status else "read-only",
            recorder_status=status,
        )
        app.run()
    finally:
        if recorder is not None:
            recorder.stop()

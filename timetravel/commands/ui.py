"""``ui``: the screen (also what bare ``timetravel`` runs), recording while it shows."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import click

from timetravel.commands.logs import log_args, log_options
from timetravel.commands.options import (
    cluster_options,
    cluster_scope_option,
    db_option,
    moment_arg,
    repo_options,
    resolve_db,
    user_errors,
)
from timetravel.domain.printable import printable
from timetravel.errors import UserError
from timetravel.store.db import open_database


def jump_text(resource: str, namespaces: tuple[str, ...]) -> str:
    """The screen's k9s-style jump for ``ui KIND[/NAME] [-n NS]``: ``deploy/api payments``
    (the grammar of ``:`` on the screen, ``KIND[/NAME] [NAMESPACE]``)."""
    kind, slash, name = resource.strip().partition("/")
    if not kind or (slash and (not name or "/" in name)) or " " in resource.strip():
        raise UserError(f"{printable(resource)!r}: the resource to open is KIND or KIND/NAME")
    named = [ns for ns in namespaces if ns]  # k9s gives an empty $NAMESPACE for cluster kinds
    if len(set(named)) > 1:
        raise UserError("with a resource to open, -n names its namespace: give one")
    return resource.strip() + (f" {named[0]}" if named else "")


@click.command("ui")
@click.argument("resource", required=False, default=None, metavar="[KIND[/NAME]]")
@db_option
@click.option(
    "--at",
    "at_text",
    default=None,
    help="Start with the cursor here (21:30, 'thursday 21:30', -2h, RFC 3339, a Grafana or Prometheus URL) [default: now, LIVE].",
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
@log_options
@user_errors
def ui(
    resource: str | None = None,
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
    verbose: int = 0,
    log_format: str = "text",
) -> None:
    """Scrub through recorded time: desired next to actual, the cause of each change.

    Unless --no-record is given, a recorder runs behind the screen (a child process
    writing to the same database): the current kubeconfig context when there is one, and
    the current directory's repository when it is a git checkout; the recorder flags
    override. Its status is always in the header (recording, git-only, read-only). When
    another recorder already writes the database, this one stands by and takes over when
    that one ends; the header names the one that records.

    A store that holds several clusters (a team store) shows one at a time: the header
    names it ("prod (1/3)"); c, :ctx NAME, or "Switch cluster" in the command palette
    (ctrl+p) shows another at the same moment.

    With KIND/NAME (or a KIND) it opens on that resource, as the : jump does (deploy/api,
    cm/web-config, deployments.apps/api); -n then names the resource's namespace, and the
    recorder started here records every namespace.

    --at also takes a Grafana or Prometheus URL pasted whole: the screen opens at its end,
    zoomed to show its range. The recorder's log is kept in the XDG state dir
    (~/.local/state/timetravel/ui-recorder-PID.log); -v, -vv and --log-format set it.

    Keys: left/right previous/next change, +/- zoom, g go to a time, / filter
    (prov:unknown: images no recorded build produced), p provenance (which images the
    selected workload ran when, and their builds), d unified diff, z noise, c cluster, e
    export, l live, ? help, q quit.

    Investigating: I shows or hides the differences an ignore rule expects (timetravel.toml's
    [drift] ignore, an Argo CD Application's ignoreDifferences), dimmed with the rule; t pins
    a note at the cursor; m marks a moment and x compares the cursor with it (X: the cluster
    shown with another at the cursor; esc leaves); D lists the selected resource's drift
    intervals.

    Example:

        timetravel ui --db prod.db --at "thursday 21:30" --no-record

        timetravel ui deploy/api -n payments --at "1h ago"

        timetravel ui --db postgresql://tt@db/timetravel --cluster staging --no-record
    """
    from timetravel.config import load_drift_rules
    from timetravel.query.screen import ScreenData
    from timetravel.recorder import background
    from timetravel.tui.app import TimetravelApp

    moment = moment_arg(at_text) if at_text else None
    at = moment.at if moment is not None else None
    jump = None
    if resource is not None:
        jump = jump_text(resource, namespaces)
        namespaces = ()  # the resource's namespace, not a limit on what is recorded
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
            log_args=tuple(log_args(verbose, log_format)),
        )
        if plan is not None:
            open_database(path).conn.close()  # create or migrate it before the screen reads
            recorder = background.BackgroundRecorder(plan)
            recorder.start()
    try:
        # timetravel.toml's [drift] ignore: what they cover shows as ignored, not drift.
        data = ScreenData(path, cluster=cluster, ignore=load_drift_rules())
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
            jump=jump,
        )
        if moment is not None and moment.window is not None:
            _show_range(app, moment.window)
        app.run()
    finally:
        if recorder is not None:
            recorder.stop()


def _show_range(app: Any, window: timedelta) -> None:
    """Zoom the screen's timeline to show a pasted URL's range, ending at the cursor: the
    first zoom step longer than the range, the range's start at the left."""
    from timetravel.tui.keys import ZOOMS

    longer = [index for index, span in enumerate(ZOOMS) if span > window]
    app.zoom_index = longer[0] if longer else len(ZOOMS) - 1
    # Not at the very edge: a cursor at the view's end would recenter it.
    app.view_start = app.cursor - min(window, ZOOMS[app.zoom_index] * 0.95)

"""``export``: one moment as an incident snapshot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from timetravel.commands.options import (
    cluster_scope_option,
    db_option,
    duration_arg,
    resolve_db,
    time_arg,
    user_errors,
)
from timetravel.domain.printable import printable
from timetravel.domain.times import (
    DEFAULT_WINDOW,
    DEFAULT_WINDOW_TEXT,
    SUPPORTED_RANGE,
    to_rfc3339,
    window_around,
)
from timetravel.errors import UserError
from timetravel.export import FORMATS, ONLY, write_bundle_dir, write_export, write_file
from timetravel.host import local_zone
from timetravel.query.damage import damage_line
from timetravel.query.moment import build_snapshot
from timetravel.query.scope import one_cluster
from timetravel.store.db import open_database
from timetravel.store.reader import Reader


@click.command("export")
@db_option
@click.option(
    "--at",
    "at_text",
    required=True,
    help="The moment: RFC 3339, now, -2h, '2h ago', 21:30, 'thursday 21:30'.",
)
@click.option(
    "--window",
    "window_text",
    default=DEFAULT_WINDOW_TEXT,
    show_default=True,
    help="Changes this long before and after --at (90s, 15m, 2h, 1d).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    default=None,
    help="Write here instead of stdout; for bundle a .tar.gz file, or a directory with a trailing /.",
)
@click.option(
    "--namespace", "-n", "namespaces", multiple=True, help="Only these namespaces (repeatable)."
)
@click.option(
    "--only",
    type=click.Choice(ONLY),
    default=None,
    help="Only drifted (and missing) resources, or only those changed in the window.",
)
@cluster_scope_option(
    "The cluster to export, in a store of several (required there; a store of one needs none)."
)
@user_errors
def export(
    db_path: str | None,
    at_text: str,
    window_text: str,
    fmt: str,
    output: str | None,
    namespaces: tuple[str, ...],
    only: str | None,
    cluster: str | None = None,
) -> None:
    """Write the snapshot of one moment: desired, actual, drift and changes around it.

    json follows the timetravel.snapshot/v1 schema (times in UTC). markdown and html are the
    incident report (times in the local zone): what ran, drift, the timeline and who changed
    what. bundle holds all three plus desired/actual YAML and a diff per resource. The same
    store and arguments give the same bytes (apart from generated_at). Secret values never
    appear.

    --at takes a moment from year 1000 to 9998 (UTC), and the window around it must stay
    in that range.

    An object whose stored bytes are damaged (see `timetravel check`) is left out, named
    in the snapshot's errors and in one warning line on stderr; the rest is exported.

    A snapshot is of one cluster: in a store of several (a team store) --cluster names
    it, and without it the command stops with the list of clusters (exit 2) rather than
    mix prod's objects with staging's. Export each one on its own.

    Example:

        timetravel export --at "thursday 21:30" --window 2h --format markdown -o incident.md

        timetravel export --at "thursday 21:30" --format bundle -o incident/

        timetravel export --db postgresql://tt@db/timetravel --cluster prod --at -1h
    """
    at = time_arg(at_text)
    window = duration_arg(window_text) if window_text else DEFAULT_WINDOW
    if window_around(at, window)[2]:
        # Not cut short: a window of centuries is a typo, and reading it would take hours.
        raise UserError(
            f"--window {window_text.strip() or DEFAULT_WINDOW_TEXT} around {to_rfc3339(at)} "
            f"reaches past the supported range ({SUPPORTED_RANGE}); use a shorter window"
        )
    if fmt == "bundle" and output is None:
        raise UserError("--format bundle needs -o PATH (a .tar.gz file or a directory/)")
    db = open_database(resolve_db(db_path), readonly=True)
    known = [c["name"] for c in Reader(db).clusters()]
    chosen = one_cluster(known, cluster)
    snapshot = build_snapshot(db, at, window=window, namespaces=namespaces, cluster=chosen)
    damaged = damage_line(snapshot.errors)
    if damaged is not None:
        # The rest is exported (exit 0); what could not be read is in its errors too.
        click.echo(f"timetravel: warning: {printable(damaged)}", err=True)
    zone = local_zone()
    if output is None:
        data = write_export(snapshot, fmt, only=only, tz=zone, namespaces=namespaces)
        sys.stdout.buffer.write(data)
        return
    target = Path(output)
    if fmt == "bundle" and (output.endswith(("/", os.sep)) or target.is_dir()):
        count = write_bundle_dir(snapshot, target, only=only, tz=zone, namespaces=namespaces)
        click.echo(f"wrote {count} files into {target}/", err=True)
        return
    data = write_export(snapshot, fmt, only=only, tz=zone, namespaces=namespaces)
    write_file(target, data)
    click.echo(f"wrote {target}", err=True)

"""``export``: one moment as an incident snapshot."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from timetravel.cli import db_option, duration_arg, resolve_db, time_arg, user_errors
from timetravel.errors import UserError
from timetravel.export import write_export
from timetravel.moment import DEFAULT_WINDOW, build_snapshot
from timetravel.store.db import open_database

FORMATS = ("json", "markdown", "html", "bundle")


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
    default="1h",
    show_default=True,
    help="Changes this long before and after --at (90s, 15m, 2h, 1d).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write here instead of stdout (a directory for bundle with a trailing /).",
)
@click.option(
    "--namespace", "-n", "namespaces", multiple=True, help="Only these namespaces (repeatable)."
)
@user_errors
def export(
    db_path: Path | None,
    at_text: str,
    window_text: str,
    fmt: str,
    output: Path | None,
    namespaces: tuple[str, ...],
) -> None:
    """Write the snapshot of one moment: desired, actual, drift and changes around it.

    The JSON follows the timetravel.snapshot/v1 schema. Secret values never appear.

    Example:

        timetravel export --at "thursday 21:30" --window 2h --format json -o incident.json
    """
    at = time_arg(at_text)
    window = duration_arg(window_text) if window_text else DEFAULT_WINDOW
    db = open_database(resolve_db(db_path), readonly=True)
    snapshot = build_snapshot(db, at, window=window, namespaces=namespaces)
    if fmt == "bundle" and output is None:
        raise UserError("--format bundle needs -o PATH (a .tar.gz file or a directory/)")
    data = write_export(snapshot, fmt)
    if output is None:
        sys.stdout.buffer.write(data)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(data)
    except OSError as exc:
        raise UserError(f"{output}: cannot write ({exc.strerror})") from None
    click.echo(f"wrote {output}", err=True)

"""``export``: one moment as an incident snapshot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from timetravel.commands.options import (
    at_and_window,
    cluster_scope_option,
    db_option,
    resolve_db,
    user_errors,
)
from timetravel.config import load_drift_rules
from timetravel.domain.printable import printable
from timetravel.domain.times import (
    DEFAULT_WINDOW_TEXT,
    SUPPORTED_RANGE,
    to_rfc3339,
    window_around,
)
from timetravel.errors import UserError
from timetravel.export import (
    FORMATS,
    GITHUB_COMMENT_LIMIT,
    MIN_MAX_SIZE,
    ONLY,
    write_bundle_dir,
    write_export,
    write_file,
)
from timetravel.host import local_zone
from timetravel.query.damage import damage_line
from timetravel.query.drift_report import with_drift_intervals
from timetravel.query.moment import build_snapshot
from timetravel.query.scope import one_cluster
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

# -o md is kubectl-short for markdown
ALIASES = {"md": "markdown"}
CHOICES = (*FORMATS, *ALIASES)
SUFFIXES = {
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".tar.gz": "bundle",
    ".tgz": "bundle",
}


@click.command("export")
@db_option
@click.option(
    "--at",
    "at_text",
    required=True,
    help="The moment: RFC 3339, now, -2h, '2h ago', 21:30, 'thursday 21:30', the output of "
    "date, or a Grafana or Prometheus URL pasted whole.",
)
@click.option(
    "--window",
    "window_text",
    default=None,
    help=f"Changes this long before and after --at (90s, 15m, 2h, 1d) [default: "
    f"{DEFAULT_WINDOW_TEXT}, or the range of a URL given as --at].",
)
@click.option(
    "-o",
    "--output",
    "output",
    metavar="FORMAT",
    default=None,
    help="Output format, as kubectl's -o: json, markdown (md), html or bundle. Default: from --output-file's suffix (.md, .html, .tar.gz, a directory/), else json.",
)
@click.option(
    "--format", "fmt", type=click.Choice(CHOICES), default=None, hidden=True, help="Same as -o."
)
@click.option(
    "--output-file",
    "output_file",
    metavar="PATH",
    default=None,
    help="Write here instead of stdout; for bundle a .tar.gz file, or a directory with a trailing /.",
)
@click.option(
    "--max-size",
    "max_size",
    type=click.IntRange(min=MIN_MAX_SIZE),
    is_flag=False,
    flag_value=GITHUB_COMMENT_LIMIT,
    default=None,
    metavar="[CHARS]",
    help=f"Markdown: stay under CHARS characters (alone: {GITHUB_COMMENT_LIMIT:,}, a GitHub comment's limit), cutting the least important parts first and listing them at the end.",
)
@click.option(
    "--include-paths",
    is_flag=True,
    help="Keep local paths (the repositories' checkouts, the home directory); by default a local repository goes by its directory's name.",
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
@click.option(
    "--exit-code",
    "exit_code",
    is_flag=True,
    help="Exit 1 when a resource is drifted or missing at the moment (a gate, as kubectl diff).",
)
@cluster_scope_option(
    "The cluster to export, in a store of several (required there; a store of one needs none)."
)
@user_errors
def export(
    db_path: str | None,
    at_text: str,
    window_text: str | None,
    output: str | None,
    fmt: str | None,
    output_file: str | None,
    max_size: int | None,
    include_paths: bool,
    namespaces: tuple[str, ...],
    only: str | None,
    exit_code: bool = False,
    cluster: str | None = None,
) -> None:
    """Write the snapshot of one moment: desired, actual, drift and changes around it.

    json follows the timetravel.snapshot/v1.1 schema (times in UTC). markdown and html are the
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

    No local path is written unless --include-paths asks for it: a repository recorded
    from a checkout goes by its directory's name (gitops, not /home/you/src/gitops).

    Until this release -o named the file: -o PATH still writes to PATH, with a warning,
    and stops doing so in the next release; use --output-file PATH.

    Example:

        timetravel export --at "thursday 21:30" --window 2h -o md --output-file incident.md

        timetravel export --at "thursday 21:30" -o md --max-size | gh issue comment 42 -F -

        timetravel export --at "thursday 21:30" -o bundle --output-file incident/

        timetravel export --db postgresql://tt@db/timetravel --cluster prod --at -1h -o json
    """
    fmt, output_file = output_and_file(output, fmt, output_file)
    if max_size is not None and fmt != "markdown":
        raise UserError(f"--max-size applies to -o markdown, not to -o {fmt}")
    at, window = at_and_window(at_text, window_text)
    if window_around(at, window)[2]:
        # Not cut short: a window of centuries is a typo, and reading it would take hours.
        raise UserError(
            f"--window {(window_text or '').strip() or DEFAULT_WINDOW_TEXT} around "
            f"{to_rfc3339(at)} "
            f"reaches past the supported range ({SUPPORTED_RANGE}); use a shorter window"
        )
    if fmt == "bundle" and output_file is None:
        raise UserError("-o bundle needs --output-file PATH (a .tar.gz file or a directory/)")
    db = open_database(resolve_db(db_path), readonly=True)
    known = [c["name"] for c in Reader(db).clusters()]
    chosen = one_cluster(known, cluster)
    rules = load_drift_rules()
    snapshot = build_snapshot(
        db, at, window=window, namespaces=namespaces, cluster=chosen, ignore=rules
    )
    snapshot = with_drift_intervals(db, snapshot, ignore=rules)
    damaged = damage_line(snapshot.errors)
    if damaged is not None:
        # The rest is exported (exit 0); what could not be read is in its errors too.
        click.echo(f"timetravel: warning: {printable(damaged)}", err=True)
    zone = local_zone()

    def render(fmt: str) -> bytes:
        return write_export(
            snapshot,
            fmt,
            only=only,
            tz=zone,
            namespaces=namespaces,
            include_paths=include_paths,
            max_chars=max_size,
        )

    if output_file is None:
        sys.stdout.buffer.write(render(fmt))
    else:
        target = Path(output_file)
        if fmt == "bundle" and (output_file.endswith(("/", os.sep)) or target.is_dir()):
            count = write_bundle_dir(
                snapshot,
                target,
                only=only,
                tz=zone,
                namespaces=namespaces,
                include_paths=include_paths,
            )
            click.echo(f"wrote {count} files into {target}/", err=True)
        else:
            write_file(target, render(fmt))
            click.echo(f"wrote {target}", err=True)
    if exit_code and any(r.state in ("drifted", "missing") for r in snapshot.resources):
        sys.stdout.flush()
        sys.exit(1)


def output_and_file(
    output: str | None, fmt: str | None, output_file: str | None
) -> tuple[str, str | None]:
    """The format and the file to write (None: stdout) from -o, --format and --output-file.

    -o names the format, as in kubectl. Before, it named the file: a value that is no
    format but reads as a path (it holds a / or a .) still does, with a one-line warning,
    for one release. Any other value (-o yaml, -o wide) is a mistake, not a file to make.
    """
    chosen = None
    if output is not None:
        if output in CHOICES:
            chosen = ALIASES.get(output, output)
        elif ("/" in output or "." in output) and output_file is None:
            click.echo(
                f"timetravel: warning: -o PATH is deprecated, -o is the format now (as in "
                f"kubectl); write --output-file {printable(output)} (-o PATH stops working in "
                "the next release)",
                err=True,
            )
            output_file = output
        else:
            raise UserError(
                f"-o {printable(output)}: not an output format (use one of "
                f"{', '.join(CHOICES)}); "
                "a file is --output-file PATH"
            )
    if fmt is not None:
        fmt = ALIASES.get(fmt, fmt)
        if chosen is not None and chosen != fmt:
            raise UserError(f"-o {chosen} and --format {fmt} disagree: give one")
        chosen = fmt
    if chosen is None:
        chosen = _from_suffix(output_file) or "json"
    return chosen, output_file


def _from_suffix(path: str | None) -> str | None:
    """The format a file's name asks for: incident.md is Markdown, incident/ a bundle."""
    if path is None:
        return None
    if path.endswith(("/", os.sep)):
        return "bundle"
    name = Path(path).name.lower()
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None

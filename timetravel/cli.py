"""The ``timetravel`` command: thin commands over library functions.

Every user error becomes one line on stderr and exit status 2 (see ``errors.UserError``).
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from timetravel import __version__
from timetravel.config import default_db_path
from timetravel.domain.timeparse import parse_duration, parse_time
from timetravel.domain.times import utc_now
from timetravel.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def db_option(fn: F) -> F:
    """``--db F``: the database (default ``$TIMETRAVEL_DB``, else the XDG data dir)."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Database file [default: $TIMETRAVEL_DB, else the XDG data dir].",
    )(fn)


def resolve_db(db_path: Path | None) -> Path:
    return db_path if db_path is not None else default_db_path()


def time_arg(text: str, now: datetime | None = None) -> datetime:
    return parse_time(text, now=now or utc_now())


def duration_arg(text: str) -> timedelta:
    return parse_duration(text)


def user_errors(fn: F) -> F:
    """Turn UserError (and an interrupted pipe) into one stderr line and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            click.echo(f"timetravel: error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="timetravel")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """What was actually running, and why, at any moment.

    timetravel records a Kubernetes cluster (list+watch) and its GitOps repository into
    one SQLite file, and lets you scrub through time to see desired (git) next to actual
    (cluster) state, the cause of every change, and drift.

    Without a command it opens the screen (`timetravel ui`).

    Example:

        timetravel demo
    """
    if ctx.invoked_subcommand is None:
        from timetravel.commands.ui import ui

        ctx.invoke(ui)


def _register() -> None:
    from timetravel.commands import export, imports

    cli.add_command(export.export)
    cli.add_command(imports.import_events)
    for name in ("ui", "demo", "record", "record_run", "import_audit"):
        try:
            module = __import__(f"timetravel.commands.{name}", fromlist=[name])
        except ModuleNotFoundError as exc:
            if exc.name != f"timetravel.commands.{name}":
                raise
            continue
        cli.add_command(getattr(module, name))


_register()


def tune_collector() -> None:
    """The cyclic collector as every timetravel process runs it (benchmarks too).

    Parsed Kubernetes JSON is millions of small dicts and lists without cycles; the
    default collector thresholds spent more time walking them than parsing them (see
    BENCHMARKS.md): collect young objects less often. Nothing is frozen here, so a
    snapshot build can age what it keeps alive without a walk
    (``domain.snapshot.collector_paused``); import-time objects cost ~1 ms a full pass.
    """
    gc.set_threshold(50_000, 20, 100)


def main() -> None:
    tune_collector()
    try:
        cli.main(prog_name="timetravel", standalone_mode=True)
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error.
        sys.stderr.close()
        sys.exit(0)

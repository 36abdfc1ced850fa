"""The options and error handling every command shares.

Commands are thin: each parses its flags with these helpers and calls a library function.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from timetravel.config import default_db_path
from timetravel.domain.timeparse import parse_duration, parse_time
from timetravel.domain.times import utc_now
from timetravel.errors import UserError
from timetravel.host import local_zone

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
    """A time as the user typed it, wall-clock forms in the local zone."""
    return parse_time(text, now=now or utc_now(), tz=local_zone())


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

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

from timetravel.config import default_db
from timetravel.domain.printable import printable
from timetravel.domain.timeparse import Moment, parse_duration, parse_moment, parse_time
from timetravel.domain.times import DEFAULT_WINDOW, utc_now
from timetravel.errors import UserError
from timetravel.host import local_zone
from timetravel.store.location import Location, parse_location

F = TypeVar("F", bound=Callable[..., Any])


def db_option(fn: F) -> F:
    """``--db``: the database, a file or a URL (default ``$TIMETRAVEL_DB``, else the XDG
    data dir)."""
    # A string, not a click.Path: a postgresql:// URL is no path (Path would fold its //).
    return click.option(
        "--db",
        "db_path",
        metavar="FILE|URL",
        default=None,
        help="Database: a SQLite file or a postgresql:// URL "
        "[default: $TIMETRAVEL_DB, else the XDG data dir].",
    )(fn)


def cluster_options(fn: F) -> F:
    """``--kubeconfig``, ``--context``, ``--namespace``: the cluster a recorder watches,
    found as kubectl finds it."""
    fn = click.option(
        "--namespace",
        "-n",
        "namespaces",
        multiple=True,
        help="Record only these namespaces (repeatable); cluster-scoped kinds are still recorded.",
    )(fn)
    fn = click.option(
        "--context", default=None, help="Kubeconfig context (default: the current one)."
    )(fn)
    return click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        default=None,
        help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).",
    )(fn)


def cluster_scope_option(help_text: str) -> Callable[[F], F]:
    """``--cluster NAME``: which of the store's clusters a reading command is about (a name
    the store does not hold is a user error listing those it does)."""

    def decorate(fn: F) -> F:
        return click.option("--cluster", "cluster", metavar="NAME", default=None, help=help_text)(
            fn
        )

    return decorate


def repo_options(
    repo_help: str, branch_help: str, repo_metavar: str | None = None
) -> Callable[[F], F]:
    """``--repo DIR`` and ``--branch B`` (repeatable, paired by position)."""

    def decorate(fn: F) -> F:
        fn = click.option("--branch", "branches", multiple=True, help=branch_help)(fn)
        return click.option(
            "--repo",
            "repos",
            multiple=True,
            type=click.Path(file_okay=False),
            metavar=repo_metavar,
            help=repo_help,
        )(fn)

    return decorate


def remote_repo_options(fn: F) -> F:
    """``--path`` (paired with ``--repo`` by position) and how to reach a ``--repo`` URL:
    a token file or variable (https) or an ssh key and known_hosts."""
    for option in reversed(
        (
            click.option(
                "--path",
                "paths",
                multiple=True,
                metavar="FOLDER",
                help="Folder of the --repo at the same position that declares this cluster (clusters/prod); only it is desired state.",
            ),
            click.option(
                "--git-token-file",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="File holding a token for an https --repo URL (a mounted Secret); read again at every fetch.",
            ),
            click.option(
                "--git-token-env",
                metavar="NAME",
                default=None,
                help="Environment variable holding a token for an https --repo URL.",
            ),
            click.option(
                "--git-username",
                metavar="NAME",
                default=None,
                help="User name sent with the token [default: x-access-token].",
            ),
            click.option(
                "--ssh-key",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="Private key for an ssh --repo URL (ssh://, git@host:path).",
            ),
            click.option(
                "--known-hosts",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="known_hosts file for an ssh --repo URL; host keys are checked strictly.",
            ),
        )
    ):
        fn = option(fn)
    return fn


def resolve_db(db_path: str | Path | None) -> Location:
    """Where the database is: ``--db``, else ``$TIMETRAVEL_DB``, else the data dir; a URL
    with a scheme this product does not read is a UserError."""
    return parse_location(db_path if db_path is not None else default_db())


def time_arg(text: str, now: datetime | None = None) -> datetime:
    """A time as the user typed it, wall-clock forms in the local zone."""
    return parse_time(text, now=now or utc_now(), tz=local_zone())


def moment_arg(text: str, now: datetime | None = None) -> Moment:
    """A time as the user typed or pasted it: the instant, and the window of a pasted
    Grafana or Prometheus URL (its range; None for every other form)."""
    return parse_moment(text, now=now or utc_now(), tz=local_zone())


def at_and_window(
    at_text: str,
    window_text: str | None,
    default: timedelta = DEFAULT_WINDOW,
    now: datetime | None = None,
) -> tuple[datetime, timedelta]:
    """``--at`` and ``--window`` together: the window given, else the range of a dashboard
    URL pasted as ``--at`` (``from=now-6h&to=now``: the moment is ``to``, the window 6h),
    else ``default``. A command whose ``--window`` has this meaning gives it no click
    default (None), so that a URL's range can apply."""
    moment = moment_arg(at_text, now)
    if window_text is not None and window_text.strip():
        return moment.at, duration_arg(window_text)
    return moment.at, moment.window or default


def window_options(since_default: str) -> Callable[[F], F]:
    """``--since D|T`` and ``--until T``: a window ending now by default (read with
    :func:`since_until`)."""

    def decorate(fn: F) -> F:
        fn = click.option(
            "--until",
            "until_text",
            default="now",
            show_default=True,
            metavar="T",
            help="End of the window.",
        )(fn)
        return click.option(
            "--since",
            "since_text",
            default=since_default,
            show_default=True,
            metavar="D|T",
            help="Start: a duration back from --until, or a time.",
        )(fn)

    return decorate


def since_until(since_text: str, until_text: str = "now") -> tuple[datetime, datetime]:
    """``--since`` (a duration back from ``--until``, or a time) and ``--until`` (at most
    now: nothing is recorded later) as a window; a UserError when it is empty."""
    until = min(time_arg(until_text), utc_now())
    try:
        since = until - duration_arg(since_text)
    except UserError:
        since = time_arg(since_text)
    if since >= until:
        raise UserError("--since must be before --until")
    return since, until


def duration_arg(text: str) -> timedelta:
    return parse_duration(text)


def user_errors(fn: F) -> F:
    """Turn UserError (and an interrupted pipe) into one stderr line and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            # A message may quote a file name or a record: never raw escapes on a terminal.
            click.echo(f"timetravel: error: {printable(str(exc))}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]

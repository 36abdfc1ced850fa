"""``history``: every revision of one resource, with its cause, actor and changed fields."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from timetravel.commands.get import context_namespace
from timetravel.commands.options import (
    cluster_scope_option,
    db_option,
    duration_arg,
    resolve_db,
    time_arg,
    user_errors,
)
from timetravel.domain.kinds import resolve_kind
from timetravel.domain.printable import printable
from timetravel.domain.times import utc_now
from timetravel.errors import UserError
from timetravel.host import local_zone
from timetravel.query.history import NotRecorded, history_of, render_json, render_text
from timetravel.query.scope import one_cluster
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

FORMATS = ("text", "json")


def since_arg(text: str) -> datetime:
    """``--since``: a duration back from now (``2h``, ``1d``), or a moment (``thursday``)."""
    now = utc_now()
    try:
        return now - duration_arg(text)
    except UserError:
        return time_arg(text, now=now)


@click.command("history")
@db_option
@click.argument("resource", nargs=-1, required=True, metavar="KIND/NAME")
@click.option(
    "-n",
    "--namespace",
    default=None,
    metavar="NS",
    help="The namespace [default: the kubeconfig context's, else default].",
)
@click.option(
    "--since",
    "since_text",
    default=None,
    metavar="D",
    help="Only revisions this recent: a duration (2h, 1d) or a moment ('thursday 21:00').",
)
@click.option(
    "-o",
    "--output",
    "output",
    default="text",
    metavar="FORMAT",
    help="text or json [default: text].",
)
@cluster_scope_option(
    "The cluster to read, in a store of several (required there; a store of one needs none)."
)
@user_errors
def history(
    db_path: str | None,
    resource: tuple[str, ...],
    namespace: str | None,
    since_text: str | None,
    output: str,
    cluster: str | None = None,
) -> None:
    """List every recorded revision of one resource, oldest first.

    Each line: when (local time), the change (created, updated, deleted; "(status)" when
    only the status moved), its cause (pipeline, gitops, manual, controller, unknown),
    who (the person and the pipeline run, else the field manager) and the fields that
    changed. -o json gives every field with its values, the run, the commit and the
    evidence for the cause.

    Example:

        timetravel history deploy/api -n payments

        timetravel history cm/payments-config -n payments --since 2d -o json
    """
    fmt = output.removeprefix("=").strip()
    if fmt not in FORMATS:
        raise UserError(f"unknown output format {printable(fmt)!r}: -o takes {', '.join(FORMATS)}")
    if len(resource) == 2 and "/" not in resource[0]:
        kind_text, name = resource  # kubectl's other spelling: KIND NAME
    elif len(resource) == 1 and resource[0].count("/") == 1:
        kind_text, _, name = resource[0].partition("/")
    else:
        raise UserError(
            f"{printable(' '.join(resource))!r}: one resource, as KIND/NAME (deploy/api)"
        )
    if not kind_text or not name:
        raise UserError(
            f"{printable(' '.join(resource))!r}: one resource, as KIND/NAME (deploy/api)"
        )
    since = since_arg(since_text) if since_text else None
    db = open_database(resolve_db(db_path), readonly=True)
    try:
        chosen = one_cluster([c["name"] for c in Reader(db).clusters()], cluster)
        found = history_of(
            db,
            resolve_kind(kind_text),
            name,
            namespace or context_namespace(),
            cluster=chosen,
            since=since,
        )
    except NotRecorded as exc:
        click.echo(printable(str(exc)), err=True)
        sys.exit(1)
    finally:
        db.conn.close()
    if fmt == "json":
        sys.stdout.write(render_json(found))
    elif found.changes:
        sys.stdout.write(render_text(found, local_zone()))
    else:
        click.echo(f"no revisions of {printable(name)} since {since_text}", err=True)

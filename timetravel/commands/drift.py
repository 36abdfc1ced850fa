"""``drift``: every drift in a window, when it opened and by whom, when and how it closed."""

from __future__ import annotations

import json

import click

from timetravel.commands.options import (
    cluster_scope_option,
    db_option,
    resolve_db,
    since_until,
    user_errors,
    window_options,
)
from timetravel.config import load_drift_rules
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.export.drift import drift_text
from timetravel.query.drift_report import drifts_between
from timetravel.query.scope import one_cluster
from timetravel.store.db import open_database
from timetravel.store.reader import Reader


@click.command("drift")
@db_option
@window_options("7d")
@click.option(
    "--namespace", "-n", "namespaces", multiple=True, help="Only these namespaces (repeatable)."
)
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="Output format.",
)
@cluster_scope_option("The cluster, in a store of several (required there).")
@user_errors
def drift(
    db_path: str | None,
    since_text: str,
    until_text: str,
    namespaces: tuple[str, ...],
    fmt: str,
    cluster: str | None = None,
) -> None:
    """Every drift from git in a window: per resource, when it opened and by whom (the
    change's cause and actor, or a commit), when and how it closed (a sync, a commit, a
    revert by hand, a pipeline, a deletion), and how long it lasted.

    Example:

    \b
        timetravel drift --since 24h
        timetravel drift --since "monday" -n payments -o json
    """
    since, until = since_until(since_text, until_text)
    db = open_database(resolve_db(db_path), readonly=True)
    chosen = one_cluster([c["name"] for c in Reader(db).clusters()], cluster)
    found = drifts_between(
        db,
        to_stored(since),
        to_stored(until),
        cluster=chosen,
        namespaces=namespaces,
        ignore=load_drift_rules(),
    )
    data = {
        "since": to_rfc3339(since),
        "until": to_rfc3339(until),
        "drifts": [d.to_json() for d in found],
    }
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(drift_text(data), nl=False)

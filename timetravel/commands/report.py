"""``report``: delivery figures (DORA's four keys) from what the store recorded."""

from __future__ import annotations

import json

import click

from timetravel.commands.options import (
    cluster_scope_option,
    db_option,
    duration_arg,
    resolve_db,
    since_until,
    user_errors,
    window_options,
)
from timetravel.domain.times import to_stored
from timetravel.export.delivery import delivery_html, delivery_markdown
from timetravel.query.delivery import delivery_figures
from timetravel.query.scope import one_cluster
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

FORMATS = ("markdown", "json", "html")


@click.command("report")
@db_option
@window_options("30d")
@click.option(
    "--failure-window",
    "failure_text",
    default="1h",
    show_default=True,
    metavar="D",
    help="A deployment rolled back or whose sync failed within this counts as failed.",
)
@click.option(
    "-o",
    "--output",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="markdown",
    show_default=True,
    help="Output format.",
)
@cluster_scope_option("The cluster to report on, in a store of several (required there).")
@user_errors
def report(
    db_path: str | None,
    since_text: str,
    until_text: str,
    failure_text: str,
    fmt: str,
    cluster: str | None = None,
) -> None:
    """Delivery figures from the record: deployment frequency, lead time for changes,
    change failure rate and failed deployment recovery time, as DORA defines them, each
    with the deployments it counts.

    A deployment is a digest starting to run in a workload (from the recorded Pods); lead
    time runs from the source commit's time (record-build) to it; a deployment rolled back
    or whose sync or pipeline run naming the workload failed within --failure-window
    failed. docs/DELIVERY.md says how each figure is counted.

    Example:

    \b
        timetravel report --since 30d
        timetravel report --cluster prod --since 7d -o json
    """
    since, until = since_until(since_text, until_text)
    failure_window = duration_arg(failure_text)
    db = open_database(resolve_db(db_path), readonly=True)
    reader = Reader(db)
    chosen = one_cluster([c["name"] for c in reader.clusters()], cluster)
    figures = delivery_figures(
        reader,
        db,
        to_stored(since),
        to_stored(until),
        cluster=chosen,
        failure_window=failure_window,
    )
    data = figures.to_json()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif fmt == "html":
        click.echo(delivery_html(data), nl=False)
    else:
        click.echo(delivery_markdown(data), nl=False)

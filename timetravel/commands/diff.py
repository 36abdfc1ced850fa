"""``diff``: what differs between two moments of a cluster, or between two clusters."""

from __future__ import annotations

import json
import sys

import click

from timetravel.commands.options import db_option, resolve_db, time_arg, user_errors
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.errors import UserError
from timetravel.export.compare import compare_markdown, compare_text
from timetravel.query.compare import compare_clusters, compare_moments
from timetravel.query.scope import check_cluster, one_cluster
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

FORMATS = ("text", "json", "markdown")


def _namespace_map(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        a, eq, b = value.partition("=")
        if not eq or not a.strip() or not b.strip():
            raise UserError(
                f"--map-namespace {value!r}: expected A=B (A's namespace named B in the other)"
            )
        out[a.strip()] = b.strip()
    return out


@click.command("diff")
@db_option
@click.option("--from", "from_text", metavar="T", help="The earlier moment (with --to).")
@click.option("--to", "to_text", metavar="T", help="The later moment [default: now].")
@click.option("--at", "at_text", metavar="T", help="The moment two clusters are compared at.")
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    metavar="NAME",
    help="The cluster (with --from/--to), or twice: the two clusters to compare (with --at).",
)
@click.option(
    "--namespace", "-n", "namespaces", multiple=True, help="Only these namespaces (repeatable)."
)
@click.option(
    "--map-namespace",
    "mappings",
    multiple=True,
    metavar="A=B",
    help="The first cluster's namespace A is B in the second (repeatable).",
)
@click.option(
    "--status",
    is_flag=True,
    help="Compare status too (left out: controllers rewrite it all the time).",
)
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--exit-code",
    "exit_code",
    is_flag=True,
    help="Exit 1 when there are differences, as `kubectl diff` does.",
)
@user_errors
def diff(
    db_path: str | None,
    from_text: str | None,
    to_text: str | None,
    at_text: str | None,
    clusters: tuple[str, ...],
    namespaces: tuple[str, ...],
    mappings: tuple[str, ...],
    status: bool,
    fmt: str,
    exit_code: bool,
) -> None:
    """What differs between two moments of a cluster (--from, --to), or between two
    clusters at one moment (--at with --cluster twice): objects added, removed or changed,
    each changed one summed up by its most telling fields.

    Objects are matched by kind, namespace and name; between clusters, --map-namespace
    pairs namespaces named differently, objects a controller made (Pods, ReplicaSets)
    are left out, and workloads are also compared by the image digests they run.

    Example:

    \b
        timetravel diff --from "thursday 21:00" --to "thursday 21:30" -n payments
        timetravel diff --at -1h --cluster prod --cluster staging --map-namespace payments=payments-staging
        timetravel diff --from 21:00 --to 21:30 --exit-code
    """
    if at_text is not None and (from_text is not None or to_text is not None):
        raise UserError("--at compares two clusters; --from/--to compare two moments: not both")
    db = open_database(resolve_db(db_path), readonly=True)
    reader = Reader(db)
    known = [c["name"] for c in reader.clusters()]
    mapping = _namespace_map(mappings)
    if at_text is not None:
        if len(clusters) != 2:
            raise UserError("--at compares two clusters: name them with --cluster twice")
        a, b = (check_cluster(known, c) for c in clusters)
        at = time_arg(at_text)
        differences = compare_clusters(
            reader, to_stored(at), a, b, namespace_map=mapping, namespaces=namespaces, status=status
        )
        labels = (f"{a} at {to_rfc3339(at)}", f"{b} at {to_rfc3339(at)}")
    else:
        if from_text is None:
            raise UserError(
                "say what to compare: --from T [--to T], or --at T --cluster A --cluster B"
            )
        if len(clusters) > 1:
            raise UserError("two clusters are compared at one moment: use --at, not --from/--to")
        if mapping:
            raise UserError("--map-namespace pairs two clusters' namespaces: use it with --at")
        cluster = one_cluster(known, clusters[0] if clusters else None)
        start, end = time_arg(from_text), time_arg(to_text or "now")
        if end < start:
            raise UserError("--to is before --from")
        differences = compare_moments(
            reader,
            to_stored(start),
            to_stored(end),
            cluster=cluster,
            namespaces=namespaces,
            status=status,
        )
        labels = (to_rfc3339(start), to_rfc3339(end))
    data = {"a": labels[0], "b": labels[1], "differences": [d.to_json() for d in differences]}
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(compare_markdown(data), nl=False)
    else:
        click.echo(compare_text(data), nl=False)
    if exit_code and differences:
        sys.exit(1)

"""``get``: objects as they were at a moment, printed as kubectl prints them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from timetravel.commands.options import (
    cluster_scope_option,
    db_option,
    resolve_db,
    time_arg,
    user_errors,
)
from timetravel.domain.kinds import KindName, resolve_kind, resolve_kinds
from timetravel.domain.printable import printable
from timetravel.domain.times import utc_now
from timetravel.errors import UserError
from timetravel.query.objects import (
    OUTPUTS,
    Found,
    Missing,
    ObjectReader,
    Wanted,
    as_document,
    no_resources,
    render_json,
    render_names,
    render_tables,
)
from timetravel.query.scope import one_cluster
from timetravel.query.selectors import EVERYTHING, SelectorError, parse_selector
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

DEFAULT_NAMESPACE = "default"


def context_namespace() -> str:
    """The namespace kubectl would use without ``-n``: the current context's in the first
    kubeconfig file ($KUBECONFIG, else ~/.kube/config), else ``default``. Read as a plain
    file: a reading command loads no Kubernetes client and reaches no cluster."""
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    path = Path(first) if first else Path.home() / ".kube" / "config"
    try:
        import yaml

        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        current = config.get("current-context")
        for entry in config.get("contexts") or []:
            if entry.get("name") == current:
                return str((entry.get("context") or {}).get("namespace") or DEFAULT_NAMESPACE)
    except (OSError, ValueError, AttributeError, TypeError, yaml.YAMLError):
        pass
    return DEFAULT_NAMESPACE


def output_format(text: str | None) -> str | None:
    """``-o`` as kubectl spells it (``-o yaml``, ``-oyaml``, ``-o=yaml``); a UserError for
    a format this command does not print."""
    if text is None:
        return None
    fmt = text.removeprefix("=").strip()
    if fmt not in OUTPUTS:
        raise UserError(f"unknown output format {printable(fmt)!r}: -o takes {', '.join(OUTPUTS)}")
    return fmt


def requests(arguments: tuple[str, ...]) -> list[tuple[tuple[KindName, ...], tuple[str, ...]]]:
    """The kinds and names asked for, as kubectl reads ``KIND [NAME...]`` or
    ``KIND/NAME...``: one (kinds, names) pair per kind of the slash form."""
    first = arguments[0]
    if "/" not in first:
        if any("/" in name for name in arguments[1:]):
            raise UserError(
                "there is no need to specify a resource type as a separate argument "
                "when passing arguments in resource/name form (get deploy/api, or get deploy api)"
            )
        try:
            return [(resolve_kinds(first), tuple(arguments[1:]))]
        except ValueError as exc:
            raise UserError(str(exc)) from None
    pairs: dict[KindName, list[str]] = {}
    for argument in arguments:
        kind, slash, name = argument.partition("/")
        if not slash or not kind or not name or "/" in name:
            raise UserError(
                f"{printable(argument)!r}: arguments in resource/name form must all be "
                "KIND/NAME (get deploy/api svc/api)"
            )
        names = pairs.setdefault(resolve_kind(kind), [])
        if name not in names:
            names.append(name)
    return [((kind,), tuple(names)) for kind, names in pairs.items()]


@click.command("get")
@db_option
@click.argument("resources", nargs=-1, required=True, metavar="KIND[/NAME] [NAME...]")
@click.option(
    "-n",
    "--namespace",
    default=None,
    metavar="NS",
    help="The namespace [default: the kubeconfig context's, else default].",
)
@click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True, help="Every namespace.")
@click.option(
    "-l",
    "--selector",
    default=None,
    metavar="SELECTOR",
    help="Label selector as kubectl takes it: a=b, a!=b, 'a in (x,y)', 'a notin (x)', a, !a.",
)
@click.option(
    "--at",
    "at_text",
    default=None,
    help="The moment: RFC 3339, now, -2h, '2h ago', 21:30, 'thursday 21:30' [default: now].",
)
@click.option(
    "--desired", is_flag=True, help="What git declared at that moment, not the cluster's state."
)
@click.option(
    "-o",
    "--output",
    "output",
    default=None,
    metavar="FORMAT",
    help="yaml, json, wide or name [default: a table].",
)
@cluster_scope_option(
    "The cluster to read, in a store of several (required there; a store of one needs none)."
)
@user_errors
def get(
    db_path: str | None,
    resources: tuple[str, ...],
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    at_text: str | None,
    desired: bool,
    output: str | None,
    cluster: str | None = None,
) -> None:
    """Print objects as they were at a moment, as kubectl get prints them.

    KIND as kubectl takes it: deploy, deployments, Deployment, deployments.apps, cm, po,
    several joined by commas (deploy,svc), or all. The table's AGE is measured to --at.
    -o yaml and -o json print one named object as itself, anything else as a kind: List.
    Secret values are redacted as the store holds them.

    A named object that was not there prints kubectl's NotFound line with the moment
    (exit 1); an unknown -o, a bad selector or a kind the store never held exits 2.

    Example:

        timetravel get deploy -n payments --at "thursday 21:30"

        timetravel get deploy/api -n payments --at -1h -o yaml

        timetravel get deploy,cm -A -l 'app in (api,web)' --desired
    """
    fmt = output_format(output)
    if all_namespaces and namespace is not None:
        raise UserError("-A and -n: choose one (-A reads every namespace)")
    try:
        chosen = parse_selector(selector) if selector is not None else EVERYTHING
    except SelectorError as exc:
        raise UserError(f"bad selector: {exc}") from None
    asked = requests(resources)
    at = time_arg(at_text) if at_text else utc_now()
    ns = None if all_namespaces else (namespace or context_namespace())
    db = open_database(resolve_db(db_path), readonly=True)
    try:
        reader = ObjectReader(db, one_cluster([c["name"] for c in Reader(db).clusters()], cluster))
        found: list[Found] = []
        missing: list[Missing] = []
        unknown: list[str] = []
        for kinds, names in asked:
            wanted = Wanted(kinds, names, ns, chosen)
            answer = reader.get(wanted, at, desired=desired, with_age=fmt in (None, "wide"))
            found.extend(answer.found)
            missing.extend(answer.missing)
            unknown.extend(answer.unknown)
    finally:
        db.conn.close()
    if unknown:
        raise UserError(f'no resource type "{printable(unknown[0])}" in this store, at any time')
    several_kinds = len({k for kinds, _ in asked for k in kinds}) > 1
    single = not several_kinds and sum(len(names) for _, names in asked) == 1
    if found or (fmt in ("yaml", "json") and not single):
        if fmt == "json":
            text = render_json(found, single)
        elif fmt == "yaml":
            # The project's own writer: kubectl's block style, read back equal by any YAML reader.
            from timetravel.export.yaml_writer import to_yaml

            text = to_yaml(as_document(found, single))
        elif fmt == "name":
            text = render_names(found)
        else:
            text = render_tables(
                found,
                at,
                wide=fmt == "wide",
                all_namespaces=all_namespaces,
                prefixed=several_kinds,
            )
        sys.stdout.write(printable_output(text, fmt))
    elif not missing:
        click.echo(no_resources(ns), err=True)
    for item in missing:
        click.echo(printable(item.message(at, desired)), err=True)
    if missing:
        sys.exit(1)


def printable_output(text: str, fmt: str | None) -> str:
    """Tables and names as a terminal can show them (a name recorded from the cluster may
    hold control characters); yaml and json escape them already."""
    if fmt in ("yaml", "json"):
        return text
    return "\n".join(printable(line) for line in text.split("\n"))

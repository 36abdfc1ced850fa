"""``note``: pin what you know to a moment ("incident started", "rolled back here")."""

from __future__ import annotations

import json
import os

import click

from timetravel.commands.options import (
    db_option,
    resolve_db,
    since_until,
    time_arg,
    user_errors,
)
from timetravel.domain.kinds import matches, resolve_kind
from timetravel.domain.notes import Note, check_text
from timetravel.domain.printable import printable
from timetravel.domain.times import stored_to_rfc3339, to_stored, utc_now
from timetravel.errors import UserError
from timetravel.query.scope import check_cluster, one_cluster
from timetravel.sources.commit_info import git_user
from timetravel.store.db import open_database
from timetravel.store.notes import add_note, notes_between
from timetravel.store.reader import Reader


def _resource(
    reader: Reader, text: str, namespace: str | None, at: str, cluster: str | None
) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name) of the recorded object KIND/NAME (or KIND/NS/NAME)."""
    parts = text.split("/")
    if len(parts) == 3:
        kind_text, ns, name = parts
    elif len(parts) == 2:
        kind_text, name = parts
        ns = namespace or ""
    else:
        raise UserError(f"--resource {text!r}: expected KIND/NAME (with -n) or KIND/NAMESPACE/NAME")
    kind = resolve_kind(kind_text)
    for record in reader.state_at(at, cluster=cluster, namespace=ns, include_deleted=True):
        if record.key.name == name and matches(kind, record.key.kind, record.key.group):
            return record.key.group, record.key.kind, record.key.namespace, record.key.name
    where = f" in namespace {ns}" if ns else ""
    raise UserError(
        f"--resource {text!r}: no such object{where} recorded at {stored_to_rfc3339(at)}"
    )


@click.command("note")
@db_option
@click.argument("text", required=False)
@click.option(
    "--at",
    "at_text",
    default="now",
    show_default=True,
    metavar="T",
    help="The moment the note is about.",
)
@click.option(
    "--resource",
    metavar="KIND/NAME",
    help="The object it is about: KIND/NAME (with -n) or KIND/NAMESPACE/NAME.",
)
@click.option("--namespace", "-n", default=None, help="The namespace of --resource.")
@click.option(
    "--cluster",
    default=None,
    metavar="NAME",
    help="The cluster, in a store of several (required there).",
)
@click.option(
    "--author", default=None, help="Who writes it [default: git config user.name and user.email]."
)
@click.option(
    "--list", "listing", is_flag=True, help="List the notes of a window instead (--since)."
)
@click.option(
    "--since",
    "since_text",
    default="7d",
    show_default=True,
    metavar="D|T",
    help="With --list: how far back.",
)
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="With --list: output format.",
)
@user_errors
def note(
    db_path: str | None,
    text: str | None,
    at_text: str,
    resource: str | None,
    namespace: str | None,
    cluster: str | None,
    author: str | None,
    listing: bool,
    since_text: str,
    fmt: str,
) -> None:
    """Pin a note to a moment of the record, for the cluster or one object; it shows on
    the screen's timeline and in exports, for everyone reading the same store.

    Example:

    \b
        timetravel note --at "21:24" "incident started: checkout errors"
        timetravel note --at 21:46 --resource deploy/api -n payments "rolled back here"
        timetravel note --list --since 24h
    """
    location = resolve_db(db_path)
    if listing:
        db = open_database(location, readonly=True)
        known = [c["name"] for c in Reader(db).clusters()]
        chosen = check_cluster(known, cluster) if cluster else None
        since, until = since_until(since_text)
        found = notes_between(db, to_stored(since), to_stored(until), cluster=chosen)
        if fmt == "json":
            click.echo(json.dumps([n.to_json() for n in found], indent=2, ensure_ascii=False))
            return
        for n in found:
            about = f" [{n.resource}]" if n.resource else ""
            click.echo(printable(f"{stored_to_rfc3339(n.at)}  {n.author}{about}: {n.text}"))
        return
    if text is None:
        raise UserError('what does the note say? timetravel note [--at T] "TEXT"')
    try:
        body = check_text(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    who = author or os.environ.get("TIMETRAVEL_AUTHOR") or git_user()
    if not who:
        raise UserError("who writes it? --author NAME (or set git config user.name)")
    at = to_stored(time_arg(at_text))
    db = open_database(location)
    reader = Reader(db)
    known = [c["name"] for c in reader.clusters()]
    chosen = one_cluster(known, cluster) if known else None
    key = _resource(reader, resource, namespace, at, chosen) if resource else None
    note_id = add_note(
        db,
        Note(
            at=at,
            text=body,
            author=who.strip(),
            written_at=to_stored(utc_now()),
            cluster=chosen,
            group=key[0] if key else None,
            kind=key[1] if key else None,
            namespace=key[2] if key else None,
            name=key[3] if key else None,
        ),
    )
    about = f" on {key[2] or '-'}/{key[1]}/{key[3]}" if key else ""
    click.echo(printable(f"noted #{note_id} at {stored_to_rfc3339(at)}{about} by {who.strip()}"))

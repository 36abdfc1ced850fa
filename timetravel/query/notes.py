"""Notes as the screen reads and writes them: those about one resource (or the whole moment)
up to the cursor, and a note written at the cursor through the store.

The screen never imports the store: :class:`~timetravel.query.screen.ScreenData` hands these
to it. Writing needs a store this user may write; a read-only copy or a reader role is one
:class:`~timetravel.errors.UserError` line, never a traceback.
"""

from __future__ import annotations

import os
from dataclasses import replace

from timetravel.domain.model import ResourceKey
from timetravel.domain.notes import Note, check_text
from timetravel.domain.times import to_stored, utc_now
from timetravel.errors import UserError
from timetravel.sources.commit_info import git_user
from timetravel.store.db import open_database
from timetravel.store.handle import StoreDB
from timetravel.store.location import Location
from timetravel.store.notes import add_note, notes_between

# Notes shown in the cause panel: the newest this many.
NOTES_SHOWN = 3
BEGINNING = "0000"  # before every stored time


def about(note: Note, key: ResourceKey) -> bool:
    """Whether ``note`` is about the resource ``key``."""
    return (
        note.kind == key.kind
        and note.name == key.name
        and (note.namespace or "") == key.namespace
        and (note.group is None or note.group == key.group)
    )


def notes_for(
    db: StoreDB, key: ResourceKey | None, at: str, cluster: str | None
) -> tuple[Note, ...]:
    """The notes the cause panel shows at ``at``, newest first: those about ``key`` up to
    then; when there are none, those about the whole moment (no resource)."""
    every = notes_between(db, BEGINNING, at, cluster=cluster)
    mine = [n for n in every if key is not None and about(n, key)]
    chosen = mine or [n for n in every if n.kind is None]
    return tuple(reversed(chosen[-NOTES_SHOWN:]))


def default_author() -> str | None:
    """Who writes a note from the screen: $TIMETRAVEL_AUTHOR, git's user.name, $USER."""
    return os.environ.get("TIMETRAVEL_AUTHOR") or git_user() or os.environ.get("USER") or None


def write_note(
    location: Location,
    *,
    at: str,
    text: str,
    cluster: str | None,
    key: ResourceKey | None,
    author: str | None = None,
    read_only: bool = False,
) -> Note:
    """Pin a note to ``at`` (about ``key``, or the whole moment); the note as stored.
    A UserError (one line) when it cannot be written: empty text, no author, a read-only
    store."""
    try:
        body = check_text(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if read_only:
        raise UserError("this store is a read-only copy: notes cannot be written to it")
    who = (author or default_author() or "").strip()
    if not who:
        raise UserError("who writes it? set git config user.name (or $TIMETRAVEL_AUTHOR)")
    note = Note(
        at=at,
        text=body,
        author=who,
        written_at=to_stored(utc_now()),
        cluster=cluster,
        group=key.group if key else None,
        kind=key.kind if key else None,
        namespace=key.namespace if key else None,
        name=key.name if key else None,
    )
    try:
        db = open_database(location)
    except UserError as exc:
        raise UserError(f"note not written: {exc}") from None
    try:
        note_id = add_note(db, note)
    except UserError as exc:  # a reader role (PostgreSQL): the store's own line
        raise UserError(f"note not written: {exc}") from None
    except Exception as exc:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"note not written: {line}") from None
    finally:
        db.conn.close()
    return replace(note, id=note_id)

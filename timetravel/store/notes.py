"""Notes on the timeline: written by ``timetravel note`` (or the screen), read by moment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from timetravel.domain.notes import Note
from timetravel.store import dialect
from timetravel.store.handle import StoreDB

_COLUMNS = "id, at, cluster, api_group, kind, namespace, name, text, author, written_at"


def add_note(db: StoreDB, note: Note) -> int:
    with db.conn:
        return dialect.insert_id(
            db.conn,
            "INSERT INTO notes (at, cluster, api_group, kind, namespace, name, text, author, "
            "written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                note.at,
                note.cluster,
                note.group,
                note.kind,
                note.namespace,
                note.name,
                note.text,
                note.author,
                note.written_at,
            ),
        )


def _note(row: Sequence[Any]) -> Note:
    return Note(
        id=int(row[0]),
        at=str(row[1]),
        cluster=row[2],
        group=row[3],
        kind=row[4],
        namespace=row[5],
        name=row[6],
        text=str(row[7]),
        author=str(row[8]),
        written_at=str(row[9]),
    )


def notes_between(db: StoreDB, start: str, end: str, *, cluster: str | None = None) -> list[Note]:
    """Notes pinned in [start, end], oldest first; with ``cluster``, its own and those
    about no cluster (the whole store)."""
    sql = f"SELECT {_COLUMNS} FROM notes WHERE at >= ? AND at <= ?"
    params: list[Any] = [start, end]
    if cluster is not None:
        sql += " AND (cluster = ? OR cluster IS NULL)"
        params.append(cluster)
    rows = db.conn.execute(sql + " ORDER BY at, id", params).fetchall()
    return [_note(row) for row in rows]

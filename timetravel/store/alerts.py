"""The alerts' outbox: events found once, messages delivered at least once (m012).

Each write that decides something happens in the caller's transaction with what it
decided: events with the evaluator's cursor and drift states (``with conn:`` around
``add_events`` + ``set_cursor``), messages with the receiver's event cursor. A crash
between two transactions repeats a step, and the keys (UNIQUE) make the repeat a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from timetravel.domain.alerts import AlertEvent
from timetravel.store.handle import StoreDB


@dataclass(frozen=True)
class Message:
    id: int
    target: str
    key: str
    event_ids: tuple[int, ...]
    attempts: int
    next_try_at: str
    delivered_at: str | None
    last_error: str | None


def add_events(conn: Any, events: Iterable[AlertEvent], created_at: str) -> int:
    """Insert events not seen before (by key); returns how many were new. Inside the
    caller's transaction."""
    added = 0
    for event in events:
        cursor = conn.execute(
            "INSERT INTO alert_events (key, kind, cluster, at, created_at, payload) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (
                event.key,
                event.kind,
                event.cluster,
                event.at,
                created_at,
                orjson.dumps(event.to_json()).decode(),
            ),
        )
        added += cursor.rowcount or 0
    return added


def cursor(conn: Any, name: str, default: str = "") -> str:
    row = conn.execute("SELECT value FROM alert_cursors WHERE name = ?", (name,)).fetchone()
    return str(row[0]) if row else default


def set_cursor(conn: Any, name: str, value: str) -> None:
    conn.execute(
        "INSERT INTO alert_cursors (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def drift_states(conn: Any, resource_ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    ids = list(resource_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = conn.execute(
            f"SELECT resource_id, state FROM alert_drift WHERE resource_id IN ({marks})", chunk
        ).fetchall()
        out.update({int(r[0]): str(r[1]) for r in rows})
    return out


def set_drift_state(conn: Any, resource_id: int, state: str, since: str) -> None:
    conn.execute(
        "INSERT INTO alert_drift (resource_id, state, since) VALUES (?, ?, ?) "
        "ON CONFLICT (resource_id) DO UPDATE SET state = excluded.state, since = excluded.since",
        (resource_id, state, since),
    )


def events_after(
    db: StoreDB, after_id: int, created_before: str, limit: int = 500
) -> list[tuple[int, AlertEvent]]:
    """Events with an id above ``after_id`` created before ``created_before``, by id."""
    rows = db.conn.execute(
        "SELECT id, payload FROM alert_events WHERE id > ? AND created_at <= ? "
        f"ORDER BY id LIMIT {int(limit)}",
        (after_id, created_before),
    ).fetchall()
    return [(int(r[0]), AlertEvent.from_json(orjson.loads(r[1]))) for r in rows]


def events_by_id(db: StoreDB, ids: Sequence[int]) -> list[AlertEvent]:
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    rows = db.conn.execute(
        f"SELECT id, payload FROM alert_events WHERE id IN ({marks})", list(ids)
    ).fetchall()
    found = {int(r[0]): AlertEvent.from_json(orjson.loads(r[1])) for r in rows}
    return [found[i] for i in ids if i in found]


def add_message(conn: Any, target: str, key: str, event_ids: Sequence[int], now: str) -> None:
    conn.execute(
        "INSERT INTO alert_messages (target, key, events, created_at, attempts, next_try_at) "
        "VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (key) DO NOTHING",
        (target, key, orjson.dumps(list(event_ids)).decode(), now, now),
    )


def _message(row: Sequence[Any]) -> Message:
    return Message(
        id=int(row[0]),
        target=str(row[1]),
        key=str(row[2]),
        event_ids=tuple(orjson.loads(row[3])),
        attempts=int(row[4]),
        next_try_at=str(row[5]),
        delivered_at=row[6],
        last_error=row[7],
    )


_MESSAGE_COLUMNS = "id, target, key, events, attempts, next_try_at, delivered_at, last_error"


def due_messages(db: StoreDB, target: str, now: str, limit: int = 50) -> list[Message]:
    rows = db.conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM alert_messages WHERE target = ? "
        f"AND delivered_at IS NULL AND next_try_at <= ? ORDER BY id LIMIT {int(limit)}",
        (target, now),
    ).fetchall()
    return [_message(r) for r in rows]


def messages(db: StoreDB, target: str | None = None) -> list[Message]:
    sql = f"SELECT {_MESSAGE_COLUMNS} FROM alert_messages"
    params: list[Any] = []
    if target is not None:
        sql += " WHERE target = ?"
        params.append(target)
    return [_message(r) for r in db.conn.execute(sql + " ORDER BY id", params).fetchall()]


def delivered(db: StoreDB, message_id: int, at: str) -> None:
    with db.conn:
        db.conn.execute(
            "UPDATE alert_messages SET delivered_at = ?, attempts = attempts + 1, "
            "last_error = NULL WHERE id = ?",
            (at, message_id),
        )


def failed(db: StoreDB, message_id: int, error: str, next_try_at: str) -> None:
    with db.conn:
        db.conn.execute(
            "UPDATE alert_messages SET attempts = attempts + 1, last_error = ?, "
            "next_try_at = ? WHERE id = ?",
            (error[:500], next_try_at, message_id),
        )

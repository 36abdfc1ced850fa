"""Instants as the store and the snapshot write them: RFC 3339, UTC, fixed width.

Stored times are text so that a person querying the database with sqlite-utils or
datasette reads them directly; the fixed width (microseconds, ``Z``) keeps text order
equal to time order, which the indexes on them rely on. The time index of revisions,
one entry per revision, holds integer microseconds instead (8 bytes, not 27).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The store's resolution: the next instant after a time is a tick later.
TICK = timedelta(microseconds=1)
_MICROSECOND = TICK
# The span before a moment whose changes an export, a report or the screen's export shows.
DEFAULT_WINDOW_TEXT = "1h"
DEFAULT_WINDOW = timedelta(hours=1)


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def to_stored(dt: datetime) -> str:
    """Fixed-width UTC text (``2026-11-19T21:30:00.000000Z``) that sorts as time does."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every stored time must be aware")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_instant(stored: str) -> str:
    """The stored text of the first instant after ``stored``: bounds of half-open spans."""
    return to_stored(from_stored(stored) + TICK)


def previous_instant(stored: str) -> str:
    """The stored text of the last instant before ``stored``."""
    return to_stored(from_stored(stored) - TICK)


def to_micros(text: str) -> int:
    """A stored (or any RFC 3339) instant as integer microseconds since the Unix epoch."""
    return (parse_rfc3339(text) - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> str:
    """The stored text of an instant given in microseconds since the Unix epoch."""
    return to_stored(_EPOCH + micros * _MICROSECOND)


def to_rfc3339(dt: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, seconds precision unless there is a fraction."""
    dt = dt.astimezone(UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def stored_to_rfc3339(text: str) -> str:
    """Convert a stored instant to the snapshot's RFC 3339 form."""
    return to_rfc3339(from_stored(text))


def from_stored(text: str) -> datetime:
    """Parse a stored (or any RFC 3339) instant into an aware UTC datetime."""
    return parse_rfc3339(text)


def parse_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 as Kubernetes and git write it; raises ValueError when it is not."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    return dt.astimezone(UTC)

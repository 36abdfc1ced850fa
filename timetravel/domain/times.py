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

# The instants the store accepts: a stamp outside them is corrupt, not an observation (the
# first import of a real cluster is after 2014). From year 1000: the store's text is fixed
# width with a four-digit year, and many writers and readers of RFC 3339 drop the leading
# zero of an earlier one. Up to a year before the end of ``datetime`` (9999-12-31): room
# for a window or the screen's zoom around any of them without overflowing.
FIRST_INSTANT = datetime(1000, 1, 1, tzinfo=UTC)
LAST_INSTANT = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
SUPPORTED_RANGE = "1000-01-01T00:00:00Z to 9998-12-31T23:59:59Z"


class TimeOutOfRange(ValueError):
    """A well-formed time whose offset moves it past the ends of ``datetime``."""


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def to_stored(dt: datetime) -> str:
    """Fixed-width UTC text (``2026-11-19T21:30:00.000000Z``) that sorts as time does."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every stored time must be aware")
    # isoformat, not strftime: it writes every year with four digits (strftime's %Y writes
    # year 999 as '999', which would sort after '2026').
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def in_supported_range(dt: datetime) -> bool:
    """Whether an aware instant is one the store accepts (see ``FIRST_INSTANT``)."""
    return FIRST_INSTANT <= dt <= LAST_INSTANT


def window_around(at: datetime, window: timedelta) -> tuple[datetime, datetime, bool]:
    """``[at - window, at + window]`` cut to the supported range, and whether it was cut.

    ``at`` is aware and in the range; the window may be any length (``3000000d``): the
    bounds are cut before they are computed, so nothing overflows.
    """
    start = at - min(window, max(at - FIRST_INSTANT, timedelta(0)))
    end = at + min(window, max(LAST_INSTANT - at, timedelta(0)))
    return start, end, (start - at) != -window or (end - at) != window


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
    naive = dt.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="microseconds" if naive.microsecond else "seconds") + "Z"


def stored_to_rfc3339(text: str) -> str:
    """Convert a stored instant to the snapshot's RFC 3339 form."""
    if len(text) == 27 and text[19] == "." and text[26] == "Z" and text[10] == "T":
        # Stored text is already RFC 3339 in UTC: only a zero fraction goes (the resource
        # list makes a row of every live object, and parsing each cost a tenth of a build).
        return text[:19] + "Z" if text[20:26] == "000000" else text
    return to_rfc3339(from_stored(text))


def from_stored(text: str) -> datetime:
    """Parse a stored (or any RFC 3339) instant into an aware UTC datetime."""
    return parse_rfc3339(text)


def parse_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 as Kubernetes and git write it; raises ValueError when it is not
    (also for a time whose offset moves it past the ends of ``datetime``)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise TimeOutOfRange(f"time out of range: {text!r}") from None

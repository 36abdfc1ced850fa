"""When a change delivered after a recording gap happened, as far as the server's times show.

A watch resumed from its resourceVersion after the recorder could not receive (network cut,
API server down, backoff) delivers every change made meanwhile, late: the time it arrived
says nothing about when it happened. The API server's own timestamps may: the ``time`` of
the managedFields entry the write advanced (the manager that wrote it; the writer knows
the previous version's entries), creationTimestamp for a creation, deletionTimestamp for a
deletion. They are written to the second by the server's clock, so a time T stands for
[T, T + 1 s): it lies in a gap [start, end] when T + 1 s > start and T <= end, and places
the change at the later of T and start. A change with no such time stays at the gap's
end: it is never shown earlier than can be shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from timetravel.domain.model import HappenedBetween
from timetravel.domain.times import from_stored, parse_rfc3339, to_stored

# The resolution of the API server's metav1.Time: a time T means some instant in [T, T + 1 s).
SERVER_RESOLUTION = timedelta(seconds=1)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def written_times(previous: Mapping[str, str] | None, current: Mapping[str, str]) -> list[str]:
    """The times of the managedFields entries a version wrote: new since ``previous`` or
    advanced (both ``managed_fields.manager_times``; every entry when ``previous`` is None).
    The other entries keep the times of earlier writes."""
    return [
        time
        for ident, time in current.items()
        if time and (previous is None or previous.get(ident) != time)
    ]


def server_times(
    change: str, obj: Mapping[str, Any], written: Sequence[str] | None = None
) -> list[tuple[datetime, str]]:
    """The server's times that say when a change (``created``, ``updated``, ``deleted``: what
    the version did to the stored object, whatever the watch called it) was made, newest
    first, with
    their names: a creation's creationTimestamp, a deletion's deletionTimestamp, else the
    times of the managedFields entries the version wrote (``written``; when None or empty,
    every entry's), and an update's deletionTimestamp (a graceful deletion began)."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return []
    created = _time(meta.get("creationTimestamp"))
    deleted = _time(meta.get("deletionTimestamp"))
    if change == "created" and created is not None:
        return [(created, "creationTimestamp")]
    if change == "deleted":
        # Its managedFields are those of the object's last write, not of the delete.
        return [(deleted, "deletionTimestamp")] if deleted is not None else []
    times: Sequence[Any] = written or ()
    if not times:
        # No entry advanced: a manager wrote again within the second of its entry's time.
        # Every entry's time is of this write or an earlier one, so the write was made in
        # the second of the newest.
        entries = meta.get("managedFields")
        times = [
            e.get("time")
            for e in (entries if isinstance(entries, list) else ())
            if isinstance(e, Mapping)
        ]
    found = [(at, "managedFields") for t in times if (at := _time(t)) is not None]
    if deleted is not None and change == "updated":
        found.append((deleted, "deletionTimestamp"))
    return sorted(found, key=lambda pair: pair[0], reverse=True)


def place(
    change: str,
    obj: Mapping[str, Any],
    start: str,
    end: str,
    *,
    written: Sequence[str] | None = None,
    not_before: str | None = None,
) -> tuple[str, HappenedBetween]:
    """The ``observed_at`` of a change delivered after the gap [start, end] (stored times),
    and what says so: the newest of its server times (``server_times``) that lies in the
    gap, else ``end``. Never before ``not_before`` (where the object's previous version
    is): a later version is never shown before an earlier one, even if that puts it
    after ``end``."""
    low, high = from_stored(start), from_stored(end)
    at, placed_by = high, None
    for when, name in server_times(change, obj, written):
        if when + SERVER_RESOLUTION > low and when <= high:
            at, placed_by = max(when, low), name
            break
    if not_before is not None:
        at = max(at, from_stored(not_before))
    return to_stored(at), HappenedBetween(start, end, placed_by)

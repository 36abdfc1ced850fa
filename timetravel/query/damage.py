"""Damaged stored bytes, as answers say them: an error entry per object, and one line.

A read that meets a segment it cannot decode (a flipped bit fails the frame's checksum)
leaves that object's versions out and answers the rest (store.reader.Reader.damage).
What was left out must be said, never passed over: a snapshot lists each such object in
``errors`` (``kind: damaged``), ``timetravel export`` prints :func:`damage_line` on stderr,
and the screen shows it in a toast. ``timetravel check`` lists every damaged frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from timetravel.domain.model import ResourceKey
from timetravel.domain.times import stored_to_rfc3339
from timetravel.store.records import Damage

DAMAGED = "damaged"
REASON = "stored bytes damaged (the frame fails its checksum or cannot be decoded)"
# Objects named in one line; the rest are counted.
_NAMED = 3


def object_name(key: ResourceKey) -> str:
    """``kind/namespace/name`` (``kind/name`` for a cluster-scoped object)."""
    if key.namespace:
        return f"{key.kind}/{key.namespace}/{key.name}"
    return f"{key.kind}/{key.name}"


def damage_errors(damage: Iterable[Damage]) -> list[dict[str, Any]]:
    """The snapshot's ``errors`` entries for damaged objects, one per object (merged
    when two reads met the same one), in key order."""
    merged: dict[ResourceKey, tuple[str, str]] = {}
    for found in damage:
        known = merged.get(found.key)
        merged[found.key] = (
            (found.start, found.end)
            if known is None
            else (min(known[0], found.start), max(known[1], found.end))
        )
    out = []
    for key in sorted(merged, key=lambda k: (k.cluster, k.namespace, k.kind, k.name, k.group)):
        start, end = merged[key]
        out.append(
            {
                "kind": DAMAGED,
                "cluster": key.cluster,
                "group": key.group,
                "resource": object_name(key),
                "from": stored_to_rfc3339(start),
                "to": stored_to_rfc3339(end),
                "reason": REASON,
            }
        )
    return out


def damage_line(errors: Sequence[Mapping[str, Any]]) -> str | None:
    """One line saying which objects' stored versions could not be read and when (None
    when none): for a command's stderr and the screen's toast. Not yet made printable:
    the caller does, as for any recorded text."""
    damaged = [e for e in errors if e.get("kind") == DAMAGED]
    if not damaged:
        return None
    named = [f"{e.get('resource')} ({e.get('from')} to {e.get('to')})" for e in damaged[:_NAMED]]
    more = len(damaged) - len(named)
    listed = ", ".join(named) + (f" and {more} more" if more else "")
    subject = "1 object" if len(damaged) == 1 else f"{len(damaged)} objects"
    return (
        f"stored versions of {subject} are damaged and left out: {listed}; "
        "`timetravel check` lists every damaged frame"
    )

"""Rows read back from the store, decoded into plain values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

import orjson

from timetravel.domain.model import HappenedBetween, ResourceKey
from timetravel.domain.snapshot import RawJSON

# A stored body is ``{"managedFields": [...], "object": {...}}`` with sorted keys. No key
# inside managedFields is "object" (FieldsV1 keys start with f:, k:, v:, i: or "."), and a
# quote inside a string is escaped, so the first occurrence of this is the boundary; were
# it ever inside a nested value, the first half would not parse and the whole body is.
_MANAGED_PREFIX = b'{"managedFields":'
_OBJECT_SEPARATOR = b',"object":'

T = TypeVar("T")


class _parsed(Generic[T]):
    """A value computed on first read and kept in the instance: functools.cached_property
    without its lock (Python 3.11), as thousands of records are read per state."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self._compute = compute
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _parsed[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> T | _parsed[T]:
        if instance is None:
            return self
        value = self._compute(instance)
        instance.__dict__[self._name] = value
        return value


@dataclass(frozen=True)
class RevisionRecord:
    """One stored revision of one resource; its body is parsed when first read.

    A state holds thousands of records while most callers read keys and states only, or
    the object without its managedFields: parsing each half on demand keeps them cheap.
    """

    id: int
    resource_id: int
    key: ResourceKey
    api_version: str
    observed_at: str
    change: str  # created | updated | deleted
    resource_version: str | None
    uid: str | None
    inferred: bool
    status_only: bool
    source: str
    server_time: str | None
    managers_json: str | None  # as stored: a JSON list, or NULL for none
    body: bytes | None = field(default=None, repr=False, compare=False)
    # Delivered after a recording gap: not seen live; when it happened, as far as known.
    happened_between: HappenedBetween | None = None

    @property
    def deleted(self) -> bool:
        return self.change == "deleted"

    @_parsed
    def managers(self) -> tuple[str, ...]:
        """The field managers whose entry is new or advanced in this revision."""
        return tuple(orjson.loads(self.managers_json)) if self.managers_json else ()

    @_parsed
    def obj(self) -> dict[str, Any] | None:
        """The normalized object as recorded (None without a body)."""
        if self.body is None:
            return None
        found = self._part(1)
        return found if found is not None else self._whole().get("object")

    @_parsed
    def managed_fields(self) -> list[dict[str, Any]]:
        """The managedFields summary recorded with the object."""
        found = self._part(0)
        return (found if found is not None else self._whole().get("managedFields")) or []

    @property
    def obj_read(self) -> bool:
        """Whether :attr:`obj` has been parsed already."""
        return "obj" in self.__dict__

    def lazy_obj(self) -> dict[str, Any] | RawJSON | None:
        """:attr:`obj`, or when it has not been parsed yet, its recorded JSON to parse when
        needed (a snapshot's ten thousand live objects are mostly written out as they are)."""
        if self.obj_read or self.body is None:
            return self.obj
        text = self._half(1)
        return RawJSON(bytes(text)) if text is not None else self.obj

    def _half(self, index: int) -> memoryview | None:
        """The bytes of one half of the body, or None when the body is not of that shape."""
        raw = self.body
        if raw is None or not raw.startswith(_MANAGED_PREFIX) or not raw.endswith(b"}"):
            return None
        cut = raw.find(_OBJECT_SEPARATOR)
        if cut < 0:
            return None
        view = memoryview(raw)  # orjson reads a slice of it without a copy
        if index == 0:
            return view[len(_MANAGED_PREFIX) : cut]
        return view[cut + len(_OBJECT_SEPARATOR) : -1]

    def _part(self, index: int) -> Any:
        """One half of the body parsed alone, or None when the body is not of that shape."""
        part = self._half(index)
        if part is None:
            return None
        try:
            return orjson.loads(part)
        except orjson.JSONDecodeError:
            return None

    def _whole(self) -> dict[str, Any]:
        decoded = orjson.loads(self.body) if self.body is not None else None
        return decoded if isinstance(decoded, dict) else {}


_new = object.__new__


def revision_record(
    id: int,
    resource_id: int,
    key: ResourceKey,
    api_version: str,
    observed_at: str,
    change: str,
    resource_version: str | None,
    uid: str | None,
    inferred: bool,
    status_only: bool,
    source: str,
    server_time: str | None,
    managers_json: str | None,
    body: bytes | None,
    happened_between: HappenedBetween | None = None,
) -> RevisionRecord:
    """``RevisionRecord(...)`` without the frozen dataclass's ``object.__setattr__`` per
    field: a state makes ten thousand records, and that costs ~1.5 µs each."""
    record: RevisionRecord = _new(RevisionRecord)
    record.__dict__.update(
        id=id,
        resource_id=resource_id,
        key=key,
        api_version=api_version,
        observed_at=observed_at,
        change=change,
        resource_version=resource_version,
        uid=uid,
        inferred=inferred,
        status_only=status_only,
        source=source,
        server_time=server_time,
        managers_json=managers_json,
        body=body,
        happened_between=happened_between,
    )
    return record


@dataclass(frozen=True)
class GapRecord:
    id: int
    cluster: str | None
    source: str
    started_at: str
    ended_at: str
    reason: str


@dataclass(frozen=True)
class ObservationRecord:
    """A Warning event (or similar) seen on the cluster, linked to the object it is about."""

    observed_at: str
    cluster: str
    kind: str
    severity: str
    reason: str | None
    message: str | None
    object_kind: str | None
    object_namespace: str | None
    object_name: str | None
    count: int | None


@dataclass(frozen=True)
class Damage:
    """Stored versions of one object that a read could not decode: its segment's bytes are
    damaged (a frame that fails its checksum, entries that do not parse) or its keyframe is.
    The read left them out; everything else it answered as usual.

    ``start`` and ``end`` (stored times) are the first and last versions the damaged
    segments hold, from the time index (kept apart from the segments, so still readable):
    no answer about the object in that span can be given, nor about its state after
    ``end`` until its next readable version."""

    key: ResourceKey
    start: str
    end: str
    segments: tuple[int, ...]

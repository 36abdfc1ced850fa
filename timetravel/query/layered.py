"""A mapping made from another by a few changes, without copying it.

A step moves a moment of 100,000 objects by a handful of them (``query.incremental``).
Copying a mapping of that size costs ~10 ms however few entries change (every key and
value is touched to count its new reference, each a cache miss), on every step of a held
key. :class:`Layered` keeps the mapping it was made from and the changes; the next step
layers its changes over the same base, and once the changes reach an eighth of the base
they are folded into a new one (one copy in many steps).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, ValuesView
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_GONE: Any = object()  # a change that removes its key
# Changes folded into a new base past this share of it (and this many at least).
FOLD_SHARE = 8
FOLD_LEAST = 1000


class Layered(Mapping[K, V], Generic[K, V]):
    """``base`` with ``changes`` over it (a change of ``_GONE``: the key is not there)."""

    __slots__ = ("_base", "_changes", "_len")

    def __init__(self, base: dict[K, V], changes: dict[K, Any]) -> None:
        self._base = base
        self._changes = changes
        size = len(base)
        for key, value in changes.items():
            if key in base:
                size -= value is _GONE
            else:
                size += value is not _GONE
        self._len = size

    def __getitem__(self, key: K) -> V:
        value = self._changes.get(key, _GONE)
        if value is _GONE:
            if key in self._changes:
                raise KeyError(key)
            return self._base[key]
        return value  # type: ignore[no-any-return]

    def get(self, key: K, default: Any = None) -> Any:
        changes = self._changes
        if key in changes:
            value = changes[key]
            return default if value is _GONE else value
        return self._base.get(key, default)

    def __contains__(self, key: object) -> bool:
        changes = self._changes
        if key in changes:
            return changes[key] is not _GONE
        return key in self._base

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        changes = self._changes
        for key in self._base:
            if key not in changes:
                yield key
        for key, value in changes.items():
            if value is not _GONE:
                yield key

    def values(self) -> ValuesView[V]:
        return _Values(self)


class _Values(ValuesView[V]):
    """The values without a lookup each (a state's 100,000 records are read in one pass)."""

    _mapping: Layered[Any, V]

    def __iter__(self) -> Iterator[V]:
        layered = self._mapping
        changes = layered._changes
        for key, value in layered._base.items():
            if key not in changes:
                yield value
        for value in changes.values():
            if value is not _GONE:
                yield value


def moved(old: Mapping[K, V], removed: Iterable[K], added: Mapping[K, V]) -> Mapping[K, V]:
    """``old`` without the keys ``removed``, then with ``added``: layered over its base
    while the changes are few, else a new dict."""
    if isinstance(old, Layered):
        base, changes = old._base, dict(old._changes)
    elif isinstance(old, dict):
        base, changes = old, {}
    else:
        base, changes = dict(old), {}
    for key in removed:
        changes[key] = _GONE
    changes.update(added)
    if len(changes) > max(FOLD_LEAST, len(base) // FOLD_SHARE):
        folded = dict(base)
        for key, value in changes.items():
            if value is _GONE:
                folded.pop(key, None)
            else:
                folded[key] = value
        return folded
    return Layered(base, changes)

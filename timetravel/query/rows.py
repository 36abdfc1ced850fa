"""The resources at a moment: the revisions live then, moved from the last moment read
rather than read again, and the resource list's rows made of them.

Scrubbing moves the cursor by one change, or by a few thousand: reading every live revision
again for each step (10,000 of them, ~0.3 s) would keep a thread busy that shares the GIL
with the event loop. A step applies the revisions in between instead, and falls back to
a full read when there are too many of them.

Loads check a ``stop`` callable between steps and raise :class:`Superseded` once it says
so: a thread cannot be killed, but a superseded load can give up.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.times import stored_to_rfc3339
from timetravel.query.desired import DeclaredObject, DesiredKey
from timetravel.query.ignore_policy import NO_RULES, IgnorePolicy
from timetravel.query.moment import CompareCache, compare_ignoring
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

Stop = Callable[[], bool]

# How many resources are handled between two looks at ``stop``.
STOP_EVERY = 200
# Rows kept by (revision, state); beyond this many they start over.
ROWS_KEPT = 200_000
# The state of a row a glimpse has not made yet (query.glimpse): its key only.
PENDING = "pending"


class Superseded(Exception):
    """A load gave up: a newer one replaces it (its worker was cancelled)."""


def never() -> bool:
    """The ``stop`` of a load that nothing supersedes."""
    return False


def check(stop: Stop) -> None:
    if stop():
        raise Superseded


@dataclass(frozen=True)
class LiveSet:
    """The latest revision of every resource live at ``at`` (stored time), by resource id;
    ``cluster``: of that cluster only (None: of every one)."""

    at: str
    by_resource: Mapping[int, RevisionRecord]
    cluster: str | None = None


@dataclass(frozen=True)
class ResourceRow:
    """One line of the resource list."""

    key: ResourceKey
    state: str  # in_sync | drifted | missing | unmanaged
    last_change_at: str | None
    last_cause: str | None
    last_type: str | None
    # Differences (or, unmanaged, its not being in git) an ignore rule covers: in sync or
    # unmanaged all the same, shown apart ("ignored", as Argo CD shows it).
    ignored: bool = False

    @property
    def search_text(self) -> str:
        """What a word of the filter is looked for in: ``namespace/kind/name`` as recorded
        and, when that holds control characters, as the list shows it (``\\x1b`` for ESC:
        what the user sees is what they type), lower case."""
        k = self.key
        raw = f"{k.namespace}/{k.kind}/{k.name}"
        shown = printable(raw)
        # A word holds no blank, so it cannot match across the line between the two forms.
        return raw.lower() if shown is raw else f"{raw}\n{shown}".lower()

    def matches(self, query: str) -> bool:
        """The ``/`` filter: words all match; ``state:drifted`` (``kind:``, ``ns:``) by field,
        each as recorded or as shown."""
        for word in query.lower().split():
            name, sep, value = word.partition(":")
            if sep and name == "state":
                if not self.state.startswith(value) and not (
                    self.ignored and "ignored".startswith(value)
                ):
                    return False
            elif sep and name == "kind":
                if value not in _forms(self.key.kind):
                    return False
            elif sep and name in ("ns", "namespace"):
                if value not in _forms(self.key.namespace):
                    return False
            elif word not in self.search_text:
                return False
        return True


def _forms(text: str) -> tuple[str, str]:
    """A field as recorded and as shown, lower case (the filter's field words)."""
    return text.lower(), printable(text).lower()


# A set's rows made from another's: its positions, the keys that left, the keys that came.
Spliced = tuple[Mapping[ResourceKey, int], frozenset[ResourceKey], frozenset[ResourceKey]]


@dataclass(frozen=True)
class ResourceSet:
    """Every resource at one moment, with the moment's header facts."""

    at: datetime
    rows: tuple[ResourceRow, ...]
    counts: dict[str, int]
    clusters: tuple[str, ...]
    repos: tuple[str, ...]
    cluster: str | None = None  # the cluster shown (None: every one)
    # The last revision of each row (causes are read for the rows on screen only).
    records: Mapping[ResourceKey, RevisionRecord] = field(default_factory=dict, repr=False)
    positions: Mapping[ResourceKey, int] = field(default_factory=dict, repr=False)
    # False for a glimpse (query.glimpse): the rows around the selection made, the others
    # still PENDING, no counts yet; the whole set follows.
    complete: bool = True
    # Made from another set by splicing rows in and out (query.incremental): its positions,
    # the keys that left and the keys that came. What is counted over the rows (the
    # list's ⚠) moves by those, not by a pass over 100,000 keys on the event loop.
    spliced: Spliced | None = field(default=None, repr=False, compare=False)

    def position(self, key: ResourceKey | None) -> int | None:
        return self.positions.get(key) if key is not None else None


# A pending row's fields but its key: a glimpse makes one per object away from the cursor
# (100,000 at a time), and a frozen dataclass's __init__ sets each field with a call.
_PENDING_FIELDS: dict[str, object] = {
    "state": PENDING,
    "last_change_at": None,
    "last_cause": None,
    "last_type": None,
    "ignored": False,
}


def pending_row(key: ResourceKey) -> ResourceRow:
    """The row of an object a glimpse lists without making (``ResourceRow(key, PENDING,
    None, None, None)``, made in a fifth of the time)."""
    row = object.__new__(ResourceRow)
    fields = dict(_PENDING_FIELDS)
    fields["key"] = key
    object.__setattr__(row, "__dict__", fields)
    return row


def row_order(row: ResourceRow) -> tuple[str, str, str, str]:
    key = row.key
    return (key.namespace, key.kind, key.name, key.cluster)


class Positions(Mapping[ResourceKey, int]):
    """Where each of a sorted tuple of rows is, by key: found by bisection, its keys told
    by ``members`` (any mapping of them, layered from the set before by a step: see
    query.layered). A step that splices rows in or out would otherwise make the position
    of every row again (~25 ms at 100,000 objects), where a screen asks for a few."""

    __slots__ = ("members", "rows")

    def __init__(self, rows: tuple[ResourceRow, ...], members: Mapping[ResourceKey, object]):
        self.rows = rows
        self.members = members

    def __getitem__(self, key: ResourceKey) -> int:
        if key not in self.members:
            raise KeyError(key)
        rows = self.rows
        index = bisect_left(rows, (key.namespace, key.kind, key.name, key.cluster), key=row_order)
        while rows[index].key != key:  # rows alike in order but of another API group
            index += 1
        return index

    def __contains__(self, key: object) -> bool:
        return key in self.members

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ResourceKey]:
        return (row.key for row in self.rows)


def count_rows(rows: Iterable[ResourceRow]) -> dict[str, int]:
    """How many rows are in each state (every state present, zero included)."""
    counts = {"in_sync": 0, "drifted": 0, "missing": 0, "unmanaged": 0}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    return counts


def missing_key(dkey: DesiredKey, match: DeclaredObject, cluster: str) -> ResourceKey:
    """The key of the row of a declared object not live: in its repository's cluster, else
    in ``cluster`` (the first of those shown)."""
    return ResourceKey(match.repo.cluster or cluster, *dkey)


class Rows:
    """Makes the resource list's rows; one per screen (the rows it made are kept)."""

    def __init__(self, compare_cache: CompareCache) -> None:
        self._compare_cache = compare_cache
        self._rows: dict[tuple[int, str, bool], ResourceRow] = {}

    def of(
        self,
        reader: Reader,
        live: LiveSet,
        declared: dict[DesiredKey, DeclaredObject],
        clusters: Sequence[str],
        stop: Stop,
        policy: IgnorePolicy = NO_RULES,
    ) -> tuple[tuple[ResourceRow, ...], dict[ResourceKey, RevisionRecord]]:
        """One row per live or declared resource, sorted; only declared ones are compared
        (their bodies parsed): an unmanaged row needs its key and last revision only.
        ``policy``: the ignore rules of the moment (what they cover is not drift)."""
        rows: list[ResourceRow] = []
        records: dict[ResourceKey, RevisionRecord] = {}
        seen: set[DesiredKey] = set()
        for count, record in enumerate(live.by_resource.values()):
            if count % STOP_EVERY == 0:
                check(stop)
            k = record.key
            dkey = (k.group, k.kind, k.namespace, k.name)
            match = declared.get(dkey)
            if match is not None:
                seen.add(dkey)
            rows.append(self.live_row(record, match, policy))
            records[k] = record
        cluster = clusters[0] if clusters else "default"
        for dkey, match in declared.items():
            if dkey in seen:
                continue
            row, last = self.missing_row(reader, missing_key(dkey, match, cluster), match, live.at)
            rows.append(row)
            if last is not None:
                records[row.key] = last
        rows.sort(key=row_order)
        return tuple(rows), records

    def live_row(
        self, record: RevisionRecord, match: DeclaredObject | None, policy: IgnorePolicy = NO_RULES
    ) -> ResourceRow:
        """The row of a live resource, against what git declares for it (``match``)."""
        state, _, ignored = compare_ignoring(match, record, self._compare_cache, policy)
        # Ignored only: a drifted row stays drifted whatever else a rule covers.
        return self._row(record, state, bool(ignored) and state != "drifted")

    def missing_row(
        self, reader: Reader, key: ResourceKey, match: DeclaredObject, at: str
    ) -> tuple[ResourceRow, RevisionRecord | None]:
        """The row of a resource declared but not live at ``at``, and its last revision:
        its last change (if it ever existed) is its deletion."""
        last = reader.object_at(key, at)
        if last is None:
            return ResourceRow(key, "missing", None, None, None), None
        return replace(self._row(last, "missing"), key=key), last

    def _row(self, record: RevisionRecord, state: str, ignored: bool = False) -> ResourceRow:
        """The row of a revision in a state; the same revision makes the same row."""
        known = self._rows.get((record.id, state, ignored))
        if known is None:
            known = ResourceRow(
                key=record.key,
                state=state,
                last_change_at=stored_to_rfc3339(record.observed_at),
                last_cause=None,
                last_type=record.change,
                ignored=ignored,
            )
            if len(self._rows) > ROWS_KEPT:
                self._rows.clear()
            self._rows[(record.id, state, ignored)] = known
        return known

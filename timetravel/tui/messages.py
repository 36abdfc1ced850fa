"""Messages between the screen's workers and widgets: small dataclasses.

Workers post results as messages tagged with the request they answer, so a result that
arrives after the cursor moved on is recognised as stale and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from textual.message import Message

from timetravel.domain.drift import DriftInterval
from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import ChangeView
from timetravel.query.detail import Detail
from timetravel.query.rows import ResourceSet
from timetravel.query.timeline import Density, Marker
from timetravel.query.workload_artifacts import WorkloadArtifacts


@dataclass
class ResourcesLoaded(Message):
    resources: ResourceSet


@dataclass
class CausesLoaded(Message):
    """Causes of the last change of rows at ``at`` (the rows that were on screen)."""

    at: datetime
    causes: dict[ResourceKey, str]


@dataclass
class CausesWanted(Message):
    """The resource list shows rows whose last change has no known cause yet."""

    keys: tuple[ResourceKey, ...]


@dataclass
class DetailLoaded(Message):
    detail: Detail


@dataclass
class DriftLoaded(Message):
    """The drift interval open at ``at`` for ``key`` (None: not drifted then)."""

    key: ResourceKey
    at: datetime
    interval: DriftInterval | None


@dataclass
class AroundLoaded(Message):
    at: datetime
    changes: list[ChangeView]
    after_index: int
    cluster: str | None = None  # the cluster it was asked for


@dataclass
class TimelineLoaded(Message):
    density: Density
    markers: list[Marker]
    cluster: str | None = None  # the cluster it was asked for


@dataclass
class SeekDone(Message):
    """A keyboard seek found its target (None: nothing further that way)."""

    request: int
    target: datetime | None
    what: str


@dataclass
class StoreChanged(Message):
    """The live poll saw new facts; ``last`` is the newest observation time.

    Ticks flood while a recorder writes: only the newest one matters.
    """

    last: datetime | None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreChanged)


@dataclass
class CursorRequested(Message):
    """A widget asks to move the time cursor (timeline click, changes list enter)."""

    at: datetime
    key: ResourceKey | None = None


@dataclass
class ResourceHighlighted(Message):
    key: ResourceKey | None


@dataclass
class ArtifactsLoaded(Message):
    """The chains of the digests ``key``'s row runs at ``at`` (None: a kind without any)."""

    key: ResourceKey
    at: datetime
    artifacts: WorkloadArtifacts | None
    cluster: str | None = None  # the cluster it was asked for


@dataclass
class ProvenanceLoaded(Message):
    """The rows of the resource set at ``at`` running a digest of unknown provenance."""

    at: datetime
    unknown: Mapping[ResourceKey, tuple[str, ...]]
    cluster: str | None = None
    # How many of them the set's rows hold (its positions, the count): counted in the load.
    flagged: tuple[Mapping[ResourceKey, int], int] | None = None

"""Rows read back from the store, decoded into plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from timetravel.domain.model import ResourceKey


@dataclass(frozen=True)
class RevisionRecord:
    """One stored revision of one resource, with its decoded body."""

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
    managers: tuple[str, ...]
    obj: dict[str, Any] | None = None
    managed_fields: list[dict[str, Any]] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.change == "deleted"


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

"""The incident snapshot (schema ``timetravel.snapshot/v1.1``, a superset of v1) as plain dicts.

Pure: callers gather facts from the store and git and pass them in; this module only
shapes them exactly as ``shared/snapshot.schema.json`` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import orjson

from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.model import HappenedBetween, ResourceKey

# v1.1 is v1 and more (docs/snapshot.schema.json's changelog): ``artifacts`` (the image
# digests running at ``at``, with their builds and provenance) and ``notes``.
SCHEMA = "timetravel.snapshot/v1.1"


class RawJSON:
    """One object's JSON text as recorded (canonical: sorted keys, no whitespace), parsed
    when first read. A snapshot holds thousands of live objects that most readers never
    look into, and the JSON export embeds them as they are."""

    __slots__ = ("_value", "text")

    def __init__(self, text: bytes) -> None:
        self.text = text
        self._value: dict[str, Any] | None = None

    def value(self) -> dict[str, Any]:
        if self._value is None:
            self._value = orjson.loads(self.text)
        return self._value


def _canonical(value: dict[str, Any] | RawJSON | None) -> RawJSON | None:
    if value is None or isinstance(value, RawJSON):
        return value
    return RawJSON(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


class _ParsedOnRead:
    """A dataclass field given a value or a :class:`RawJSON`, that reads as the value."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> None: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> dict[str, Any] | None: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return None  # the field's default
        value = instance.__dict__[self._slot]
        return value.value() if isinstance(value, RawJSON) else value

    def __set__(self, instance: object, value: dict[str, Any] | RawJSON | None) -> None:
        instance.__dict__[self._slot] = value


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class ChangeView:
    """One change of actual state, with its cause as far as it can be shown."""

    at: str
    key: ResourceKey
    api_version: str
    type: str  # created | updated | deleted
    cause: str = "unknown"
    actor: str | None = None
    field_managers: tuple[str, ...] = ()
    commit: str | None = None
    pipeline_run: PipelineRun | None = None
    fields: tuple[FieldChange, ...] = ()
    inferred: bool = False
    status_only: bool = False
    evidence: str | None = None  # one line: why this cause (shown, not exported)
    # Not seen live: delivered after a recording gap, it happened between these times
    # (RFC 3339); ``at`` is placed inside them (see domain.placement).
    happened_between: HappenedBetween | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": self.at,
            "cluster": self.key.cluster,
            "apiVersion": self.api_version,
            "kind": self.key.kind,
            "namespace": self.key.namespace or None,
            "name": self.key.name,
            "type": self.type,
            "cause": self.cause,
            "actor": self.actor,
            "field_managers": list(self.field_managers),
            "commit": self.commit,
            "pipeline_run": self.pipeline_run.to_json() if self.pipeline_run else None,
            "fields": [f.to_json() for f in self.fields],
        }
        between = self.happened_between
        if between is not None:
            # Beyond the schema's change (which allows more properties), only when set: a
            # change not seen live, and what placed its ``at`` (null: the gap's end).
            out["happened_between"] = {
                "from": between.start,
                "to": between.end,
                "placed_by": between.placed_by,
            }
        return out


@dataclass(frozen=True)
class ResourceView:
    """One resource at the snapshot's moment: desired, actual, their difference."""

    key: ResourceKey
    api_version: str
    state: str  # in_sync | drifted | missing | unmanaged
    desired: dict[str, Any] | None
    # Given parsed, or as the recorded JSON (RawJSON), parsed when first read.
    actual: _ParsedOnRead = _ParsedOnRead()
    diff: tuple[dict[str, Any], ...] = ()
    source: dict[str, str] | None = None
    last_change: ChangeView | None = None
    # v1.1: differences an ignore rule covers (each with ``ignored_by``): not drift, shown.
    ignored: tuple[dict[str, Any], ...] = ()

    def actual_as_given(self) -> dict[str, Any] | RawJSON | None:
        """``actual`` without reading it: still the recorded JSON if nothing has."""
        value: dict[str, Any] | RawJSON | None = self.__dict__["_actual"]
        return value

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        """The schema's resource. With ``raw``, ``desired`` and ``actual`` are
        :class:`RawJSON`: canonical JSON text (an actual object not read yet is the text
        it was recorded as), which the JSON export writes as it is, one line each."""
        desired: Any = self.desired
        actual: Any = self.actual if not raw else self.actual_as_given()
        if raw:
            desired = _canonical(desired)
            actual = _canonical(actual)
        out = {
            "cluster": self.key.cluster,
            "apiVersion": self.api_version,
            "kind": self.key.kind,
            "namespace": self.key.namespace or None,
            "name": self.key.name,
            "state": self.state,
            "desired": desired,
            "actual": actual,
            "diff": list(self.diff),
            "source": self.source,
            "last_change": self.last_change.to_json() if self.last_change else None,
        }
        if self.ignored:  # v1.1, only when there are some: a v1 reader sees v1's fields
            out["ignored"] = list(self.ignored)
        return out


@dataclass(frozen=True)
class CommitView:
    sha: str
    at: str
    message: str
    author: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"sha": self.sha, "at": self.at, "author": self.author, "message": self.message}


@dataclass(frozen=True)
class RepoView:
    path: str
    branch: str
    commit: str | None
    commit_time: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "branch": self.branch,
            "commit": self.commit,
            "commit_time": self.commit_time,
            "message": self.message,
        }


@dataclass(frozen=True)
class Snapshot:
    at: str
    window_from: str
    window_to: str
    generated_at: str
    clusters: tuple[dict[str, Any], ...]
    repos: tuple[RepoView, ...] = ()
    resources: tuple[ResourceView, ...] = ()
    changes: tuple[ChangeView, ...] = ()
    pipeline_runs: tuple[PipelineRun, ...] = ()
    commits: tuple[CommitView, ...] = ()
    errors: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    artifacts: tuple[dict[str, Any], ...] = ()  # v1.1: query.chain.ArtifactChain.to_json
    notes: tuple[dict[str, Any], ...] = ()  # v1.1: domain.notes.Note.to_json
    # v1.1: every drift interval overlapping the window (query.drift_report.Drift.to_json).
    drift: tuple[dict[str, Any], ...] = ()

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        """The schema's document (``raw``: see :meth:`ResourceView.to_json`)."""
        return {
            "schema": SCHEMA,
            "at": self.at,
            "generated_at": self.generated_at,
            "window": {"from": self.window_from, "to": self.window_to},
            "clusters": list(self.clusters),
            "repos": [r.to_json() for r in self.repos],
            "resources": [r.to_json(raw=raw) for r in self.resources],
            "changes": [c.to_json() for c in self.changes],
            "pipeline_runs": [p.to_json() for p in self.pipeline_runs],
            "commits": [c.to_json() for c in self.commits],
            "errors": list(self.errors),
            "artifacts": list(self.artifacts),
            "notes": list(self.notes),
            "drift": list(self.drift),
        }


def count_states(resources: Sequence[ResourceView]) -> dict[str, int]:
    """How many resources are in each state (every state present, zero included)."""
    counts = {"in_sync": 0, "drifted": 0, "missing": 0, "unmanaged": 0}
    for resource in resources:
        counts[resource.state] = counts.get(resource.state, 0) + 1
    return counts

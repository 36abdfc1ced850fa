"""Drift intervals: when a resource left what git declared, who took it there, and how it
came back (a sync, a new commit, a person reverting it by hand)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DriftPoint:
    """The state of one resource just after something happened to it."""

    at: str
    state: str  # in_sync | drifted | missing | unmanaged
    by: str  # "change" (actual moved) or "commit" (desired moved)
    cause: str | None = None  # for a change: pipeline, gitops, manual, controller, unknown
    actor: str | None = None


@dataclass(frozen=True)
class DriftInterval:
    opened_at: str
    opened_by: str | None  # actor of the change that opened it (None: a commit opened it)
    opened_cause: str | None
    closed_at: str | None  # None: still open
    closed_how: str | None  # sync | commit | manual revert | pipeline | controller | deleted


def _closing(point: DriftPoint) -> str:
    if point.by == "commit":
        return "commit"
    if point.state in ("missing", "unmanaged"):
        return "deleted"
    return {"gitops": "sync", "manual": "manual revert"}.get(
        point.cause or "", point.cause or "unknown"
    )


def _opener(point: DriftPoint) -> str | None:
    return "commit" if point.by == "commit" else point.cause


def drift_intervals(points: Iterable[DriftPoint]) -> list[DriftInterval]:
    """Intervals in which the resource was drifted, oldest first, from its state history."""
    out: list[DriftInterval] = []
    opened: DriftPoint | None = None
    for point in sorted(points, key=lambda p: p.at):
        drifted = point.state == "drifted"
        if drifted and opened is None:
            opened = point
        elif not drifted and opened is not None:
            out.append(
                DriftInterval(opened.at, opened.actor, _opener(opened), point.at, _closing(point))
            )
            opened = None
    if opened is not None:
        out.append(DriftInterval(opened.at, opened.actor, _opener(opened), None, None))
    return out

"""Drift placed in the manifest, for unified and side-by-side diffs."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator
from typing import Any

from timetravel.domain import paths
from timetravel.domain.snapshot import ResourceView
from timetravel.domain.yaml_writer import to_yaml


def _set(obj: Any, path: str, value: Any) -> bool:
    """Set (or, for None, remove) ``path`` in ``obj``; False when the path does not fit."""
    try:
        segments = paths.parse(path)
    except ValueError:
        return False
    if not segments:
        return False
    current = obj
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if isinstance(segment, str):
            if not isinstance(current, dict):
                return False
            if last:
                if value is None:
                    current.pop(segment, None)
                else:
                    current[segment] = copy.deepcopy(value)
                return True
            if current.get(segment) is None:
                if value is None:
                    return True
                current[segment] = {} if isinstance(segments[i + 1], str) else []
            current = current[segment]
            continue
        if not isinstance(current, list):
            return False
        position = paths.find_item(current, segment)
        if position is None:
            if value is None:
                return True
            if isinstance(segment, int) and segment == len(current):
                current.append({} if not last and isinstance(segments[i + 1], str) else None)
            elif isinstance(segment, paths.Named):
                current.append({"name": segment.name})
            elif isinstance(segment, paths.Keyed):
                current.append(dict(segment.fields))
            elif isinstance(segment, paths.SetValue) and last:
                current.append(copy.deepcopy(value))
                return True
            else:
                return False
            position = len(current) - 1
        if last:
            if value is None:
                del current[position]
            else:
                current[position] = copy.deepcopy(value)
            return True
        current = current[position]
    return True


def drift_texts(resource: ResourceView) -> tuple[str, str, bool] | None:
    """(desired YAML, the other side's YAML, whether the other side is the drift placed in
    the manifest) for a drifted or missing resource; None when there is nothing to compare.

    The other side is the desired manifest with each differing field set to its live value,
    so the diff shows the drift and nothing else (server defaults and status are not drift).
    When a path cannot be placed, it falls back to the whole live object.
    """
    if resource.desired is None or resource.state not in ("drifted", "missing"):
        return None
    desired = to_yaml(resource.desired)
    if resource.actual is None:
        return desired, "", False
    placed = copy.deepcopy(resource.desired)
    sets = [d for d in resource.diff if d.get("actual") is not None]
    removals = [d for d in resource.diff if d.get("actual") is None]
    ok = all(_set(placed, str(d["path"]), d["actual"]) for d in sets)
    ok = ok and all(_set(placed, str(d["path"]), None) for d in reversed(removals))
    if not ok:
        return desired, to_yaml(resource.actual), False
    return desired, to_yaml(placed), True


def unified_diff(desired: str, other: str, from_name: str, to_name: str) -> Iterator[str]:
    return difflib.unified_diff(
        desired.splitlines(), other.splitlines(), from_name, to_name, lineterm="", n=3
    )

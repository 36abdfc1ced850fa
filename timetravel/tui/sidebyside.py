"""Desired and actual as YAML, aligned line by line, with the differing lines marked.

Pure (no Textual): the diff view renders what these functions return.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from timetravel.domain.normalize import strip_status
from timetravel.domain.yaml_writer import to_yaml as write_yaml

# Line marks: same on both sides, changed, only desired has it, only actual has it.
SAME, CHANGED, DESIRED_ONLY, ACTUAL_ONLY = " ", "~", "-", "+"


@dataclass(frozen=True)
class Row:
    """One aligned row: a desired line and an actual line (either may be absent)."""

    mark: str
    desired: str | None
    actual: str | None


def to_yaml(obj: dict[str, Any] | None, *, noise: bool = True) -> list[str]:
    """The object as YAML lines in its own key order; ``noise=False`` drops ``status``.

    Written by the project's own writer, as the exports write it (PyYAML's pure-Python
    dumper took ~15-27 ms for a 7 KB object on the event loop; this ~0.2-0.4 ms)."""
    if obj is None:
        return []
    if not noise:
        obj = strip_status(obj)
    return write_yaml(obj).splitlines()


def align(desired: list[str], actual: list[str]) -> list[Row]:
    """Pair equal lines; pair replaced runs line by line; the rest stand alone."""
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(a=desired, b=actual, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            rows.extend(Row(SAME, desired[a0 + i], actual[b0 + i]) for i in range(a1 - a0))
        elif op == "replace":
            rows.extend(_pair_by_key(desired[a0:a1], actual[b0:b1]))
        elif op == "delete":
            rows.extend(Row(DESIRED_ONLY, line, None) for line in desired[a0:a1])
        else:
            rows.extend(Row(ACTUAL_ONLY, None, line) for line in actual[b0:b1])
    return rows


def _key(line: str) -> str:
    """A line's indentation and key (``  replicas``), or the line for a list item/scalar."""
    head, sep, _ = line.partition(":")
    return head if sep else line


def _pair_by_key(left: list[str], right: list[str]) -> list[Row]:
    """A replaced run: lines with the same key side by side as changed, the rest alone."""
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(
        a=[_key(x) for x in left], b=[_key(x) for x in right], autojunk=False
    )
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            rows.extend(Row(CHANGED, left[a0 + i], right[b0 + i]) for i in range(a1 - a0))
            continue
        rows.extend(Row(DESIRED_ONLY, line, None) for line in left[a0:a1])
        rows.extend(Row(ACTUAL_ONLY, None, line) for line in right[b0:b1])
    return rows


def unified(rows: list[Row]) -> list[tuple[str, str]]:
    """The aligned rows as one column: (mark, line), a changed row as its two lines."""
    out: list[tuple[str, str]] = []
    for row in rows:
        if row.mark == SAME:
            out.append((SAME, row.actual or ""))
            continue
        if row.desired is not None:
            out.append((DESIRED_ONLY, row.desired))
        if row.actual is not None:
            out.append((ACTUAL_ONLY, row.actual))
    return out


def actual_only(actual: list[str]) -> list[Row]:
    """Rows for a resource git does not declare: actual alone, nothing marked."""
    return [Row(SAME, None, line) for line in actual]

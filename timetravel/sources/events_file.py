"""Read what ``kubectl get -w -o json --output-watch-events`` and ``kubectl get -o json`` print.

Records come one per line or pretty-printed and concatenated; a List is expanded into
its items. Bad or truncated records are reported with their line and skipped: one bad
line never costs the records around it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

WATCH_TYPES = ("ADDED", "MODIFIED", "DELETED")


@dataclass(frozen=True)
class EventRecord:
    """One object version read from the input, with the line where its record started."""

    line: int
    event: str
    obj: dict[str, Any]
    observed_at: str | None  # RFC 3339 as written in the input, when it carried one


@dataclass(frozen=True)
class BadRecord:
    line: int
    reason: str


def _expand(line: int, value: Any) -> Iterator[EventRecord | BadRecord]:
    if not isinstance(value, dict):
        yield BadRecord(line, f"expected a JSON object, found {type(value).__name__}")
        return
    if "type" in value and "object" in value:
        kind = value.get("type")
        obj = value.get("object")
        observed_at = value.get("observed_at")
        if observed_at is not None and not isinstance(observed_at, str):
            yield BadRecord(line, "observed_at is not a string")
            return
        if kind == "BOOKMARK":
            return
        if kind == "ERROR":
            message = obj.get("message") if isinstance(obj, dict) else obj
            yield BadRecord(line, f"watch ERROR event: {message}")
            return
        if kind not in WATCH_TYPES:
            yield BadRecord(line, f"unknown watch event type {kind!r}")
            return
        if not isinstance(obj, dict) or not _is_object(obj):
            yield BadRecord(line, "event object lacks apiVersion, kind or metadata.name")
            return
        yield EventRecord(line, str(kind), obj, observed_at)
        return
    items = value.get("items")
    kind = value.get("kind")
    if isinstance(items, list) and isinstance(kind, str) and kind.endswith("List"):
        # The API server leaves kind/apiVersion off list items; put them back.
        item_kind = kind[: -len("List")] or None
        api_version = value.get("apiVersion")
        for item in items:
            if isinstance(item, dict):
                if item_kind and "kind" not in item:
                    item = {**item, "kind": item_kind}
                if api_version and "apiVersion" not in item:
                    item = {**item, "apiVersion": api_version}
            yield from _expand(line, item)
        return
    if _is_object(value):
        yield EventRecord(line, "ADDED", value, value.get("observed_at"))
        return
    yield BadRecord(line, "not a watch event, a List or a Kubernetes object")


def _is_object(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    meta = obj.get("metadata")
    return (
        isinstance(obj.get("apiVersion"), str)
        and isinstance(obj.get("kind"), str)
        and isinstance(meta, dict)
        and isinstance(meta.get("name"), str)
        and bool(meta.get("name"))
    )


def _decode_concatenated(text: str, first_line: int) -> Iterator[tuple[int, Any] | BadRecord]:
    """Decode several JSON values written back to back (``}{``) in one chunk of text."""
    decoder = json.JSONDecoder()
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        line = first_line + text.count("\n", 0, pos)
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield BadRecord(line, f"invalid JSON: {exc.msg}")
            return
        yield (line, value)


def read_records(lines: Iterable[str | bytes]) -> Iterator[EventRecord | BadRecord]:
    """Yield object versions and bad records, in input order.

    Fast path: a record per line parses with orjson directly. Otherwise lines gather
    into one record until it parses; a line that opens a new top-level object (``{`` in
    column 0) while the gathered text still does not parse ends it as bad.
    """
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            if buffer:
                yield from _gathered(buffer, start, at_end=False)
                buffer = []
            yield BadRecord(number, "not UTF-8 text")
            continue
        if buffer and line.startswith("{"):
            # A new record begins: what was gathered must stand on its own.
            yield from _gathered(buffer, start, at_end=False)
            buffer = []
        if not buffer:
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                buffer, start = [line], number
                continue
            yield from _expand(number, value)
            continue
        buffer.append(line)
        if line.rstrip().endswith(("}", "]")):
            try:
                value = orjson.loads("".join(buffer))
            except orjson.JSONDecodeError:
                continue
            yield from _expand(start, value)
            buffer = []
    if buffer:
        yield from _gathered(buffer, start, at_end=True)


def _gathered(buffer: list[str], start: int, *, at_end: bool) -> Iterator[EventRecord | BadRecord]:
    """Records in gathered text that never parsed whole: values back to back, or bad."""
    for item in _decode_concatenated("".join(buffer), start):
        if isinstance(item, BadRecord):
            reason = "truncated record at end of input" if at_end else item.reason
            yield BadRecord(item.line, reason)
        else:
            yield from _expand(item[0], item[1])

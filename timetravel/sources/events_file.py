"""Read what ``kubectl get -w -o json --output-watch-events`` and ``kubectl get -o json`` print.

Records come one per line or pretty-printed and concatenated; a List is expanded into
its items. Bad or truncated records are reported with their line and skipped: one bad
line never costs the records around it. :func:`read_values` is the same reader for any
stream of JSON values (``import-audit`` reads pretty-printed audit exports with it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from timetravel.sources.files import LongLine

WATCH_TYPES = ("ADDED", "MODIFIED", "DELETED")

# The deepest object kept. The store writes each object with orjson, which refuses more
# than 254 levels, and the readers walk objects recursively; a real object (a CRD's schema
# included) is a few dozen levels deep. orjson's parser itself stops at 1024 levels, so
# deeper input never reaches Python as a value.
MAX_DEPTH = 200

# A JSON string (possibly cut at the end of a line); brackets inside one do not count.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^{}\[\]]+")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[{}\[\]]|[^\s"{}\[\]]+', re.DOTALL)


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


T = TypeVar("T")
# What a reader makes of one JSON value: (the line where it starts, the value, whether its
# text has enough brackets to nest deeper than MAX_DEPTH) -> its records and bad records.
Expand = Callable[[int, Any, bool], Iterable["T | BadRecord"]]


def _expand(line: int, value: Any, *, maybe_deep: bool) -> Iterator[EventRecord | BadRecord]:
    """The object versions in one parsed value; ``maybe_deep`` when its text has enough
    brackets that an object in it could be nested deeper than ``MAX_DEPTH``."""
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
        yield _checked(EventRecord(line, str(kind), obj, observed_at), maybe_deep)
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
            yield from _expand(line, item, maybe_deep=maybe_deep)
        return
    if _is_object(value):
        observed_at = value.get("observed_at")
        if observed_at is not None and not isinstance(observed_at, str):
            yield BadRecord(line, "observed_at is not a string")
            return
        yield _checked(EventRecord(line, "ADDED", value, observed_at), maybe_deep)
        return
    yield BadRecord(line, "not a watch event, a List or a Kubernetes object")


def _checked(record: EventRecord, maybe_deep: bool) -> EventRecord | BadRecord:
    if maybe_deep and _deeper_than(record.obj, MAX_DEPTH):
        return BadRecord(record.line, f"object nested more than {MAX_DEPTH} levels deep")
    return record


def _deeper_than(value: dict[str, Any], limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels in ``value``, walked
    without recursion (the value itself is level 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _maybe_deep(text: str) -> bool:
    # Fewer brackets than the limit cannot nest beyond it: the walk is for the rare big one.
    return text.count("{") + text.count("[") > MAX_DEPTH


def _parsed(line: int, text: str, expand: Expand[T]) -> Iterator[T | BadRecord]:
    """The records in one whole piece of text, or why it is not one."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        yield _invalid(line, exc)
        return
    yield from expand(line, value, _maybe_deep(text))


def _invalid(line: int, exc: orjson.JSONDecodeError) -> BadRecord:
    where = f" (at line {line + exc.lineno - 1})" if exc.lineno > 1 else ""
    return BadRecord(line, f"invalid JSON: {exc.msg}{where}")


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


class _Gatherer(Generic[T]):
    """Lines of records that are not one per line, cut into values by bracket depth.

    Brackets are counted outside strings (a JSON string never spans lines), so a value
    ends at its closing bracket and its text is parsed exactly once: the reader stays
    linear however the input is broken (trying to parse at every line ending in ``}`` was
    quadratic in a long malformed record). Text that is not a value (a stray bracket, a
    line of prose, a value that does not parse) is junk: consecutive junk is reported once,
    at its first line, when a record or a new value in column 0 follows it.
    """

    def __init__(self, expand: Expand[T]) -> None:
        self.expand = expand
        self.parts: list[str] = []  # the open value's text so far
        self.start = 0  # the line where the open value (or loose text) began
        self.depth = 0
        self.junk: BadRecord | None = None

    @property
    def open(self) -> bool:
        return self.depth > 0

    def flush_junk(self) -> Iterator[BadRecord]:
        if self.junk is not None:
            yield self.junk
            self.junk = None

    def _add_junk(self, line: int, reason: str) -> None:
        if self.junk is None:
            self.junk = BadRecord(line, reason)

    def cut(self, reason: str) -> Iterator[BadRecord]:
        """End the open value as bad (the input moved on before it closed)."""
        yield from self.flush_junk()
        if self.open:
            yield BadRecord(self.start, reason)
        self.parts, self.depth = [], 0

    def feed(self, number: int, line: str) -> Iterator[T | BadRecord]:
        if self.open:
            # Most lines of an open value do not end it: follow only their brackets (a few
            # characters once strings and the rest are gone), without the walk below.
            bare = _STRING.sub("", line) if '"' in line else line
            depth = self.depth
            for bracket in _NOT_BRACKET.sub("", bare):
                depth += 1 if bracket in "{[" else -1
                if depth == 0:
                    break
            else:
                self.depth = depth
                self.parts.append(line)
                return
        value_start: int | None = 0 if self.open else None
        loose_start: int | None = None  # text outside any value on this line
        for match in _TOKEN.finditer(line):
            token = match.group()
            if token in ("{", "["):
                if self.depth == 0:
                    if match.start() == 0 or line[: match.start()].isspace():
                        yield from self.flush_junk()  # a new record begins
                    if loose_start is not None:
                        yield from self._loose(number, line[loose_start : match.start()])
                        loose_start = None
                    value_start, self.start = match.start(), number
                self.depth += 1
            elif token in ("}", "]"):
                if self.depth == 0:
                    self._add_junk(number, f"unmatched {token!r}")
                    continue
                self.depth -= 1
                if self.depth == 0:
                    assert value_start is not None
                    text = "".join(self.parts) + line[value_start : match.end()]
                    self.parts, value_start = [], None
                    yield from self._value(self.start, text)
            elif self.depth == 0 and loose_start is None:
                loose_start = match.start()
        if self.open:
            assert value_start is not None
            self.parts.append(line[value_start:])
        elif loose_start is not None:
            yield from self._loose(number, line[loose_start:])

    def _value(self, line: int, text: str) -> Iterator[T | BadRecord]:
        records = list(_parsed(line, text, self.expand))
        if len(records) == 1 and isinstance(records[0], BadRecord) and self.junk is not None:
            return  # more of the junk before it
        yield from self.flush_junk()
        yield from records

    def _loose(self, line: int, text: str) -> Iterator[T | BadRecord]:
        """Text outside brackets: a bare scalar (``3``, ``"x"``) is a value, else junk."""
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self._add_junk(line, _invalid(line, exc).reason)
            return
        yield from self.flush_junk()
        yield from self.expand(line, value, False)


def _expand_events(line: int, value: Any, maybe_deep: bool) -> Iterator[EventRecord | BadRecord]:
    return _expand(line, value, maybe_deep=maybe_deep)


def read_records(
    lines: Iterable[str | bytes | LongLine],
) -> Iterator[EventRecord | BadRecord]:
    """Yield object versions and bad records, in input order (see :func:`read_values`)."""
    return read_values(lines, _expand_events)


def read_values(
    lines: Iterable[str | bytes | LongLine], expand: Expand[T]
) -> Iterator[T | BadRecord]:
    """Yield what ``expand`` makes of each JSON value of a stream, and bad records, in
    input order: values one per line, pretty-printed over many, or concatenated.

    Fast path: a value per line parses with orjson directly. Otherwise the lines go to a
    :class:`_Gatherer`, which cuts them into values by bracket depth; a line that opens a
    new top-level object (``{`` in column 0) while a value is still open ends that one as
    cut short.
    """
    gather: _Gatherer[T] = _Gatherer(expand)
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, LongLine):  # never held: a bomb or a runaway line
            yield from gather.cut(f"record cut short (line {number} is over the limit)")
            yield BadRecord(number, raw.reason)
            continue
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            yield from gather.cut(f"record cut short (line {number} is not UTF-8 text)")
            yield BadRecord(number, "not UTF-8 text")
            continue
        if gather.open and line.startswith("{"):
            # A new record begins: what was gathered must stand on its own.
            yield from gather.cut(f"record cut short (a new one begins at line {number})")
        if gather.open:
            yield from gather.feed(number, line)
            continue
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield from gather.feed(number, line)
            continue
        yield from gather.flush_junk()
        yield from expand(number, value, _maybe_deep(line))
    yield from gather.cut("truncated record at end of input")
    yield from gather.flush_junk()

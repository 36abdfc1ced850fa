"""One field-path notation, used by diffs, changes, managed fields and the UI.

Rules (``format_path`` and ``parse`` are inverses of each other):

- Map keys are joined with dots: ``spec.template.spec.containers``. A key that contains
  ``.``, ``[``, ``]``, ``/``, ``"`` or ``\\``, or is empty, is written JSON-quoted in brackets:
  ``metadata.annotations["app.kubernetes.io/name"]``.
- Items of a *named list* (every item a dict with a unique string ``name``: containers, env,
  volumes, Service ports when all are named, ...) are written by name: ``containers[api]``.
  A name that is not a plain token (has ``[]",=`` or whitespace, or reads as a number, ``true``,
  ``false`` or ``null``) is written ``[name="0"]``.
- Items of other lists are written by index: ``spec.ports[0]``.
- Two forms come only from managedFields (FieldsV1): items keyed by several fields,
  ``ports[containerPort=80,protocol=TCP]`` (fields sorted, values raw when plain, else JSON), and
  items of a set of scalars, ``finalizers[=kubernetes]``.
- The empty path ``""`` is the object itself.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Named:
    """A list item addressed by its ``name`` field: ``containers[api]``."""

    name: str


@dataclass(frozen=True)
class Keyed:
    """A list item addressed by several key fields, sorted by field name:
    ``ports[containerPort=80,protocol=TCP]`` (FieldsV1 ``k:`` keys other than a lone name)."""

    fields: tuple[tuple[str, Scalar], ...]


@dataclass(frozen=True)
class SetValue:
    """An item of a set of scalars, addressed by its value: ``finalizers[=kubernetes]``."""

    value: Scalar


Segment = str | int | Named | Keyed | SetValue

_PLAIN_KEY = re.compile(r'[^.\[\]/"\\]+')
_PLAIN_TOKEN = re.compile(r'[^\[\]",=\s\\]+')
_INDEX = re.compile(r"-?[0-9]+")


def _is_json_literal(text: str) -> bool:
    # A raw token that JSON would read as a number/bool/null must be quoted to stay a string.
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return not isinstance(value, str)


def _format_token(value: Scalar) -> str:
    if isinstance(value, str):
        return _string_token(value)
    return json.dumps(value, ensure_ascii=False)


# Item names repeat across objects (containers, env vars, ports): each is judged once.
@functools.lru_cache(maxsize=65_536)
def _string_token(value: str) -> str:
    if _PLAIN_TOKEN.fullmatch(value) and not _is_json_literal(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def format_segment(segment: Segment) -> str:
    """The text of one segment, with its leading ``.`` for a plain key."""
    if isinstance(segment, str):
        return _key_segment(segment)
    if isinstance(segment, bool):
        raise TypeError("a path segment cannot be a bool")
    if isinstance(segment, int):
        return f"[{segment}]"
    if isinstance(segment, Named):
        token = _format_token(segment.name)
        return f"[{token}]" if not token.startswith('"') else f"[name={token}]"
    if isinstance(segment, Keyed):
        inner = ",".join(f"{k}={_format_token(v)}" for k, v in segment.fields)
        return f"[{inner}]"
    return f"[={_format_token(segment.value)}]"


# The same few hundred map keys make up the paths of every object.
@functools.lru_cache(maxsize=65_536)
def _key_segment(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return "." + key
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


def format_path(segments: list[Segment] | tuple[Segment, ...]) -> str:
    """The path text for ``segments``; ``parse(format_path(s)) == s``."""
    text = "".join(map(format_segment, segments))
    return text[1:] if text.startswith(".") else text


def join(parent: str, key: str) -> str:
    """The path of map key ``key`` under ``parent`` (quoting the key when needed)."""
    segment = format_segment(key)
    if not parent:
        return segment[1:] if segment.startswith(".") else segment
    return parent + segment


def index(parent: str, name_or_int: str | int) -> str:
    """The path of a list item under ``parent``: by name for a str, by position for an int."""
    segment: Segment = name_or_int if isinstance(name_or_int, int) else Named(name_or_int)
    return parent + format_segment(segment)


def keyed(fields: dict[str, Scalar]) -> Named | Keyed:
    """The segment for a list item identified by ``fields`` (a lone string name is ``Named``)."""
    name = fields.get("name")
    if len(fields) == 1 and isinstance(name, str):
        return Named(name)
    return Keyed(tuple(sorted(fields.items())))


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._decoder = json.JSONDecoder()

    def error(self, why: str) -> ValueError:
        return ValueError(f"bad field path {self.text!r} at {self.pos}: {why}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected {char!r}")
        self.pos += 1

    def quoted(self) -> str:
        try:
            value, end = self._decoder.raw_decode(self.text, self.pos)
        except ValueError as exc:
            raise self.error("unterminated quoted string") from exc
        self.pos = end
        assert isinstance(value, str)
        return value

    def raw(self, stops: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stops:
            self.pos += 1
        return self.text[start : self.pos]

    def token(self) -> tuple[Scalar, bool]:
        """A bracket value: JSON-quoted string, or a raw token (JSON literal when it reads as
        one). Returns the value and whether it was quoted."""
        if self.peek() == '"':
            return self.quoted(), True
        raw = self.raw(",=]")
        if not raw:
            raise self.error("empty value")
        if _is_json_literal(raw):
            literal: Scalar = json.loads(raw)
            return literal, False
        return raw, False


def _bracket(reader: _Reader) -> Segment:
    if reader.peek() == '"':
        key = reader.quoted()
        reader.expect("]")
        return key
    if reader.peek() == "=":
        reader.pos += 1
        value, _ = reader.token()
        reader.expect("]")
        return SetValue(value)
    start = reader.pos
    first = reader.raw(",=]")
    if reader.peek() == "]":
        reader.pos += 1
        if _INDEX.fullmatch(first):
            return int(first)
        if not first:
            raise reader.error("empty brackets")
        return Named(first)
    reader.pos = start
    fields: dict[str, Scalar] = {}
    while True:
        field = reader.raw(",=]")
        if not field:
            raise reader.error("empty field name")
        reader.expect("=")
        fields[field], _ = reader.token()
        if reader.peek() == "]":
            reader.pos += 1
            return keyed(fields)
        reader.expect(",")


def parse(path: str) -> list[Segment]:
    """The segments of ``path``; raises ``ValueError`` for text that is not a field path."""
    return list(_parse(path))


# Objects of one kind share most of their paths (managedFields of thousands of Deployments):
# each is parsed once.
@functools.lru_cache(maxsize=65_536)
def _parse(path: str) -> tuple[Segment, ...]:
    reader = _Reader(path)
    segments: list[Segment] = []
    while reader.pos < len(path):
        char = reader.peek()
        if char == "[":
            reader.pos += 1
            segments.append(_bracket(reader))
            continue
        if segments:
            reader.expect(".")
        key = reader.raw(".[")
        if not _PLAIN_KEY.fullmatch(key):
            raise reader.error("empty key, or one that needs quoting")
        segments.append(key)
    return tuple(segments)


def is_named_list(items: list[Any]) -> bool:
    """Whether ``items`` is addressed by name: every item a dict with a unique str ``name``.

    An empty list counts as named, so that it pairs with either kind of list."""
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if not all(isinstance(name, str) for name in names):
        return False
    return len(set(names)) == len(names)


def is_atomic_list(items: list[Any]) -> bool:
    """Whether ``items`` is compared as one value: any item that is not a dict."""
    return any(not isinstance(item, dict) for item in items)


def _matches(item: Any, segment: Segment) -> bool:
    if isinstance(segment, Named):
        return isinstance(item, dict) and item.get("name") == segment.name
    if isinstance(segment, Keyed):
        # FieldsV1 keys are JSON, the object may carry "80" or 80: compare as text.
        return isinstance(item, dict) and all(
            k in item and _same_scalar(item[k], v) for k, v in segment.fields
        )
    if isinstance(segment, SetValue):
        return _same_scalar(item, segment.value)
    return False


def _same_scalar(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    return left == right or (left is not None and right is not None and str(left) == str(right))


def find_item(items: list[Any], segment: Segment) -> int | None:
    """The position in ``items`` that a list segment (index, name, keys or value) addresses."""
    if isinstance(segment, int) and not isinstance(segment, bool):
        return segment if 0 <= segment < len(items) else None
    if isinstance(segment, str):
        return None
    for position, item in enumerate(items):
        if _matches(item, segment):
            return position
    return None


def item_segment(items: list[Any], position: int) -> Segment:
    """The segment that names ``items[position]`` in this notation (name, else index)."""
    item = items[position]
    if is_named_list(items) and isinstance(item, dict):
        return Named(item["name"])
    return position


def get(obj: Any, path: str | list[Segment]) -> Any:
    """The value at ``path`` in ``obj``, or None where any step is missing."""
    current = obj
    for segment in parse(path) if isinstance(path, str) else path:
        if isinstance(segment, str):
            if not isinstance(current, dict):
                return None
            current = current.get(segment)
        elif isinstance(current, list):
            position = find_item(current, segment)
            if position is None:
                return None
            current = current[position]
        else:
            return None
    return current


@functools.lru_cache(maxsize=65_536)
def sort_key(path: str) -> tuple[tuple[int, str, int | float], ...]:
    """A key that orders paths as a reader expects: by segment, indexes numerically
    (``ports[2]`` before ``ports[10]``), map keys before list items."""
    key: list[tuple[int, str, int | float]] = []
    for segment in _parse(path):
        if isinstance(segment, str):
            key.append((0, segment, 0))
        elif isinstance(segment, int):
            key.append((1, "", segment))
        else:
            key.append((2, format_segment(segment), 0))
    return tuple(key)

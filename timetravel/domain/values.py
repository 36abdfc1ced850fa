"""Values and changes in the words of the person reading them.

A field's value is shown as compact JSON (strings bare unless they would read as something
else), never as Python's ``repr``; a change is summed up by the field that tells most
about it (the image, then replicas, env, resources, then the rest, status last), and an
item of a named list reads as ``env DEBUG=true added``. The screen, the change list and the
reports all word values and changes through here, so they say the same thing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from timetravel.domain.normalize import REDACTED_PREFIX
from timetravel.domain.snapshot import ChangeView, FieldChange

_AMBIGUOUS = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_.,:eE+-]*|\.[0-9]+|\.inf|\.nan)|true|false|null|yes|no|on|off|y|n|~)$",
    re.IGNORECASE,
)


def short_value(value: Any, limit: int) -> str:
    """A value on one line: strings bare (quoted when they would read as something else),
    other values as compact JSON, Secret hashes shortened, long text cut with ``…``."""
    if isinstance(value, str):
        if value.startswith(REDACTED_PREFIX):
            keep = len(REDACTED_PREFIX) + 12
            return value[:keep] + ("…" if len(value) > keep else "")
        text = (
            json.dumps(value, ensure_ascii=False)
            if _AMBIGUOUS.match(value) or (value != value.strip() or not value)
            else value
        )
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float):
        text = (
            json.dumps(value)
            if not isinstance(value, float) or math.isfinite(value)
            else str(value)
        )
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    text = text.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
    if len(text) > limit:
        text = text[: max(limit - 1, 1)] + "…"
    return text


# How much a changed field tells about a change, lowest first. Status is what controllers
# report back, so it comes last; metadata (annotations, generation) just before it.
_IMAGE, _REPLICAS, _ENV, _RESOURCES, _REST, _METADATA, _STATUS = range(7)
_NAMED_ITEM = re.compile(r"^(?P<list>.*?)\[(?:name=)?(?P<name>[^\]]+)\]$")


def telling_rank(path: str) -> int:
    """Where a field's change stands among a change's fields (lower tells more)."""
    if path.startswith("status") or ".status." in path:
        return _STATUS
    if path.startswith("metadata"):
        return _METADATA
    last = path.rsplit(".", 1)[-1]
    if last == "image" or last.startswith("image["):
        return _IMAGE
    if last == "replicas":
        return _REPLICAS
    if ".env[" in path or ".envFrom" in path or last == "env":
        return _ENV
    if ".resources" in path:
        return _RESOURCES
    return _REST


def by_telling(fields: Iterable[FieldChange]) -> list[FieldChange]:
    """The fields, most telling first; ties keep their order (the diff's, by path)."""
    return sorted(fields, key=lambda f: telling_rank(f.path))


def field_label(path: str) -> str:
    """The few words that name a field: ``spec.template.spec.containers[api].image`` is
    ``api image``, ``...containers[api].env[DEBUG].value`` is ``api env DEBUG``,
    ``spec.replicas`` is ``replicas``, ``metadata.annotations.a`` is ``annotations.a``."""
    container = None
    rest = path
    found = list(_CONTAINER.finditer(path))
    if found:
        container = found[-1]["name"]
        rest = path[found[-1].end() :].lstrip(".")
        if not rest:
            return f"container {container}"
    else:
        for prefix in ("spec.", "metadata."):
            if rest.startswith(prefix) and len(rest) > len(prefix):
                rest = rest[len(prefix) :]
                break
    words = _ITEM.sub(lambda m: f" {m['name']}", rest)
    if words.endswith(".value") and "[" in rest:
        words = words[: -len(".value")]
    return f"{container} {words}" if container else words


_CONTAINER = re.compile(r"(?:^|\.)(?:init|ephemeral)?[cC]ontainers\[(?:name=)?(?P<name>[^\]]+)\]")
_ITEM = re.compile(r"\[(?:name=)?(?P<name>[^\]]+)\]")


def _named_item_text(item: Any) -> str | None:
    """``DEBUG=true`` for an env-like item, else None."""
    if not isinstance(item, dict) or "name" not in item:
        return None
    rest = {k: v for k, v in item.items() if k != "name"}
    if set(rest) == {"value"}:
        value = rest["value"]
        # An env value is a string whatever it reads as: DEBUG=true, not DEBUG="true".
        text = _cut(value, 60) if isinstance(value, str) and value else short_value(value, 60)
        return f"{item['name']}={text}"
    return None


def describe(field: FieldChange, limit: int = 40) -> str:
    """One field's change in words: ``api image 2.3.0 → 2.4.0``, ``env DEBUG=true added``,
    ``replicas 3 → 5``, ``env DEBUG removed``."""
    label = field_label(field.path)
    before, after = field.before, field.after
    named = _NAMED_ITEM.match(field.path)
    if named and not field.path.endswith("]]"):
        if before is None:
            item = _named_item_text(after)
            if item:  # "api env DEBUG" -> "api env DEBUG=true added"
                return f"{label.removesuffix(named['name']).rstrip()} {item} added"
            return f"{label} added"
        if after is None:
            return f"{label} removed"
    if before is None:
        return f"{label} {short_value(after, limit)} added"
    if after is None:
        return f"{label} removed (was {short_value(before, limit)})"
    if label.endswith("image") and isinstance(before, str) and isinstance(after, str):
        return f"{label} {_image_change(before, after, limit)}"
    return f"{label} {short_value(before, limit)} → {short_value(after, limit)}"


def _image_change(before: str, after: str, limit: int) -> str:
    """``payments/api:2.3.0 → 2.4.0``: a tag moving on the same repository says only the
    tags; the registry host, the same on both sides, is left out."""
    repo_b, tag_b = _split_image(before)
    repo_a, tag_a = _split_image(after)
    if repo_b == repo_a and tag_b and tag_a:
        name = repo_a.split("/", 1)[1] if "." in repo_a.split("/", 1)[0] else repo_a
        return f"{short_value(name, limit)}:{tag_b} → {tag_a}"
    return f"{short_value(before, limit)} → {short_value(after, limit)}"


def _cut(text: str, limit: int) -> str:
    text = text.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


def _split_image(ref: str) -> tuple[str, str]:
    if "@" in ref:
        repo, _, digest = ref.partition("@")
        return repo, digest[:19]
    repo, colon, tag = ref.rpartition(":")
    if not colon or "/" in tag:
        return ref, ""
    return repo, tag


def change_summary(view: ChangeView) -> str:
    """One line saying what a change did, by its most telling field: ``created``,
    ``api image payments/api:2.3.0 → 2.4.0 (+2)``, ``replicas 3 → 5``."""
    if view.type != "updated":
        return view.type
    if not view.fields:
        return "updated"
    fields: Sequence[FieldChange] = by_telling(view.fields)
    first = describe(fields[0])
    more = len(fields) - 1
    return f"{first} (+{more})" if more else first

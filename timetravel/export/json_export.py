"""The JSON snapshot, byte-for-byte deterministic apart from ``generated_at``."""

from __future__ import annotations

import orjson

from timetravel.domain.snapshot import RawJSON, Snapshot


def render_json(snapshot: Snapshot) -> bytes:
    """Indented, except each resource's ``desired`` and ``actual``: canonical JSON (sorted
    keys) on one line each, the recorded text itself where it was not read (thousands of
    live objects are not parsed and written again)."""
    document = snapshot.to_json(raw=True)
    return orjson.dumps(document, option=orjson.OPT_INDENT_2, default=_embedded) + b"\n"


def _embedded(value: object) -> orjson.Fragment:
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.text)
    raise TypeError(f"not JSON: {type(value).__name__}")

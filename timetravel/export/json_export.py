"""The JSON snapshot, byte-for-byte deterministic apart from ``generated_at``."""

from __future__ import annotations

import orjson

from timetravel.domain.snapshot import Snapshot


def render_json(snapshot: Snapshot) -> bytes:
    return orjson.dumps(snapshot.to_json(), option=orjson.OPT_INDENT_2) + b"\n"

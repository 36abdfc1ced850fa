"""The JSON snapshot, byte-for-byte deterministic apart from ``generated_at``.

The data stays exact, and no control character is written raw: orjson escapes C0 controls
(ESC as ``\\u001b``) but writes DEL, C1 controls, the bidi controls and the line separators
as they are, which JSON allows and a terminal acts on (``cat snapshot.json``). They are
written as ``\\uNNNN`` escapes, which read back as the same characters.
"""

from __future__ import annotations

import re

import orjson

from timetravel.domain.snapshot import RawJSON, Snapshot

# The UTF-8 forms of DEL, C1 (U+0080-U+009F), U+061C, U+200E, U+200F, U+2028-U+202E and
# U+2066-U+2069: the characters domain.printable makes visible that orjson leaves raw.
# Outside its strings a JSON document is ASCII, and each form starts on a lead byte, so a
# match is always a whole character inside a string, where an escape means the same.
_RAW = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]")
# The regex scans ~100 MB/s, four times slower than orjson writes. The forms' first bytes,
# looked for one by one (memchr: ~0.15 ms per MB), rule out almost every document first;
# one with U+2000-U+2FFF text in it (an ellipsis, an arrow) pays for the regex.
_LEADS = (b"\x7f", b"\xc2", b"\xd8", b"\xe2")


def _escaped(match: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(match.group().decode())


def render_json(snapshot: Snapshot) -> bytes:
    """Indented, except each resource's ``desired`` and ``actual``: canonical JSON (sorted
    keys) on one line each, the recorded text itself where it was not read (thousands of
    live objects are not parsed and written again)."""
    document = snapshot.to_json(raw=True)
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2, default=_embedded) + b"\n"
    return _escape_raw(data)


def _escape_raw(data: bytes) -> bytes:
    if not any(lead in data for lead in _LEADS):
        return data
    return _RAW.sub(_escaped, data)


def _embedded(value: object) -> orjson.Fragment:
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.text)
    raise TypeError(f"not JSON: {type(value).__name__}")

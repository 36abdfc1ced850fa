"""Notes: what people say about a moment ("incident started", "rolled back here").

A note is pinned to an instant, in a cluster (or the whole store), and may be about one
resource. It is shown as data, like every other text from people: control characters
escaped where it is shown, never interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from timetravel.domain.times import stored_to_rfc3339

MAX_NOTE = 2000  # characters: a note, not a postmortem


@dataclass(frozen=True)
class Note:
    at: str  # stored time text
    text: str
    author: str
    written_at: str
    cluster: str | None = None
    group: str | None = None  # with kind, namespace, name: the resource it is about
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    id: int | None = None

    @property
    def resource(self) -> str | None:
        if self.kind is None or self.name is None:
            return None
        return f"{self.namespace or '-'}/{self.kind}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "at": stored_to_rfc3339(self.at),
            "cluster": self.cluster,
            "resource": None
            if self.kind is None
            else {
                "group": self.group,
                "kind": self.kind,
                "namespace": self.namespace or None,
                "name": self.name,
            },
            "text": self.text,
            "author": self.author,
            "written_at": stored_to_rfc3339(self.written_at),
        }


def check_text(text: str) -> str:
    """The note's text, trimmed; ValueError for an empty or overlong one."""
    trimmed = text.strip()
    if not trimmed:
        raise ValueError("a note needs some text")
    if len(trimmed) > MAX_NOTE:
        raise ValueError(f"a note holds at most {MAX_NOTE} characters ({len(trimmed)} given)")
    return trimmed

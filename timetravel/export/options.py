"""What an export is asked for: its format, what it details, and how much it shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo

FORMATS = ("json", "markdown", "html", "bundle")
ONLY = ("drifted", "changed")
# GitHub refuses an issue comment or body longer than this ("Body is too long (maximum is
# 65536 characters)"): `export --max-size` without a number keeps the Markdown under it.
GITHUB_COMMENT_LIMIT = 65_536
# Below this not even the summary fits with the note on what was cut.
MIN_MAX_SIZE = 2_000


@dataclass(frozen=True)
class Limits:
    """How much the reports show before they summarize (and say what they left out)."""

    resources: int = 50  # affected resources with a section of their own
    resource_rows: int = 500  # rows of the affected-resources table
    diff_rows: int = 50  # differing fields shown per resource
    changes: int = 30  # changes shown per resource
    timeline: int = 200  # rows of the timeline table
    value_chars: int = 120  # characters of one value shown inline
    lanes: int = 16  # resource lanes in the drawn timeline (HTML)
    context_lines: int = 240  # lines of the side-by-side manifest diff (HTML)


@dataclass(frozen=True)
class ExportOptions:
    only: str | None = None  # None (every affected resource) | "drifted" | "changed"
    tz: tzinfo = UTC  # zone of the times people read; the JSON stays UTC
    namespaces: tuple[str, ...] = ()  # as asked (shown in the reports)
    limits: Limits = Limits()

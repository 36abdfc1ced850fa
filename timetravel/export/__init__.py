"""Writers that turn a snapshot into files people read and share."""

from __future__ import annotations

from timetravel.domain.snapshot import Snapshot
from timetravel.errors import UserError


def write_export(snapshot: Snapshot, fmt: str) -> bytes:
    """The bytes of ``snapshot`` in format ``fmt`` (json now; more formats as they land)."""
    if fmt == "json":
        from timetravel.export.json_export import render_json

        return render_json(snapshot)
    raise UserError(f"--format {fmt}: not available yet in this version (use json)")

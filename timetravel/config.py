"""Settings: where the database lives, and the TIMETRAVEL_* environment."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DB = "TIMETRAVEL_DB"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/timetravel`` (``~/.local/share/timetravel`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "timetravel"


def default_db_path() -> Path:
    """``$TIMETRAVEL_DB``, else ``timetravel.db`` in the XDG data directory."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    return data_dir() / "timetravel.db"

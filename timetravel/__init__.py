"""timetravel: what was actually running, and why, at any moment."""

from __future__ import annotations

__version__ = "0.1.0"

"""Moved to :mod:`timetravel.domain.yaml_writer` (the screen writes the same YAML); this
name stays for code that imported it from here."""

from __future__ import annotations

from timetravel.domain.yaml_writer import to_yaml

__all__ = ["to_yaml"]

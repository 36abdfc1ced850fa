"""``timetravel diff`` printed: a kubectl-like table, or Markdown, from the JSON form."""

from __future__ import annotations

from typing import Any

from timetravel.domain.printable import printable
from timetravel.domain.snapshot import FieldChange
from timetravel.domain.values import describe
from timetravel.export import markdown as md

FIELDS_SHOWN = 3
_COLUMNS = ("CHANGE", "KIND", "NAMESPACE", "NAME", "FIELDS")


def _fields(difference: dict[str, Any], shown: int = FIELDS_SHOWN) -> str:
    fields = [FieldChange(f["path"], f["before"], f["after"]) for f in difference["fields"]]
    parts = [describe(f) for f in fields[:shown]]
    more = len(fields) - shown
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _cells(d: dict[str, Any]) -> list[str]:
    side = d["b"] or d["a"]
    name = side["name"]
    if d["a"] and d["b"] and d["a"]["name"] != d["b"]["name"]:
        name = f"{d['a']['name']} → {d['b']['name']}"
    namespace = side["namespace"] or "-"
    if d["a"] and d["b"] and (d["a"]["namespace"] or "-") != namespace:
        namespace = f"{d['a']['namespace'] or '-'} → {namespace}"
    return [d["change"], d["kind"], namespace, name, _fields(d)]


def compare_text(data: dict[str, Any]) -> str:
    """A table as kubectl prints one (columns three spaces apart), data shown as data."""
    rows = [[printable(c) for c in _cells(d)] for d in data["differences"]]
    if not rows:
        return f"no differences between {printable(data['a'])} and {printable(data['b'])}\n"
    widths = [max(len(r[i]) for r in [list(_COLUMNS), *rows]) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for row in [list(_COLUMNS), *rows]:
        head = "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        lines.append(f"{head}   {row[-1]}".rstrip())
    return "\n".join(lines) + "\n"


def compare_markdown(data: dict[str, Any]) -> str:
    title = f"Differences: {data['a']} → {data['b']}"
    lines = [f"# {md.text(title)}", ""]
    if not data["differences"]:
        return "\n".join([*lines, "No differences."]) + "\n"
    lines += md.header("change", "kind", "namespace", "name", "fields")
    for d in data["differences"]:
        change, kind, namespace, name, fields = _cells(d)
        lines.append(
            md.row(
                md.text(change), md.text(kind), md.text(namespace), md.code(name), md.text(fields)
            )
        )
    return "\n".join(lines) + "\n"

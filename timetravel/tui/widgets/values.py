"""Every value whole: the selected resource's field differences (what git wanted, what ran)
and the fields its changes touched, as YAML, for when a panel had to cut a value short.

Opened with ``v`` anywhere, or enter on the field diff or the cause panel; esc closes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from timetravel.domain.printable import printable
from timetravel.domain.values import by_telling, field_label, telling_rank
from timetravel.domain.yaml_writer import to_yaml
from timetravel.query.detail import Detail, diff_entries
from timetravel.tui.literal import literal

# Changes whose fields are shown whole (newest first; the drift's opener always).
CHANGES_SHOWN = 5


def _block(text: Text, name: str, value: Any) -> None:
    """``name:`` then the value as YAML, indented; a missing side says so."""
    text.append(f"  {name}: ", "dim")
    if value is None:
        text.append("not set\n", "dim italic")
        return
    lines = to_yaml(value).rstrip("\n").splitlines()
    if len(lines) == 1:
        text.append(printable(lines[0]) + "\n")
        return
    text.append("\n")
    for line in lines:
        text.append(f"    {printable(line)}\n")


def _ignored(detail: Detail) -> tuple[dict[str, Any], ...]:
    """The differences of the resource an ignore rule covers (each with ``ignored_by``)."""
    return detail.view.ignored if detail.view is not None else ()


def values_text(detail: Detail | None, *, noise: bool) -> Text:
    """The whole values, as the screen shows them: differences first, then changes."""
    text = Text()
    if detail is None:
        text.append("no resource selected", "dim")
        return text
    entries = [e for e in diff_entries(detail.view, detail.field_diffs) if noise or not e[3]]
    entries.sort(key=lambda e: telling_rank(e[0]))
    text.append("Git wanted → live\n", "bold underline")
    if not entries:
        text.append("  no difference\n", "dim")
    rules = {str(d.get("path")): str(d.get("ignored_by")) for d in _ignored(detail)}
    for path, desired, actual, is_noise in entries:
        text.append(printable(field_label(path)), "bold")
        text.append(f"  {printable(path)}" + ("  noise" if is_noise else "") + "\n", "dim")
        if path in rules:  # expected: an ignore rule covers it
            text.append(f"  ignored: {printable(rules[path])}\n", "dim italic")
        _block(text, "git", desired)
        _block(text, "live", actual)
    changes = [c for c in detail.changes if not c.status_only or noise]
    opener = detail.drift_since
    if opener is not None and opener in changes:
        changes.remove(opener)
        changes.insert(0, opener)
    for change in changes[:CHANGES_SHOWN]:
        who = change.actor or "?"
        text.append(f"\n{change.at[:16].replace('T', ' ')}Z {change.cause} {who}\n", "bold")
        if change.type != "updated" or not change.fields:
            text.append(f"  {change.type}\n", "dim")
        for field in by_telling(change.fields):
            text.append(printable(field_label(field.path)), "bold")
            text.append(f"  {printable(field.path)}\n", "dim")
            _block(text, "before", field.before)
            _block(text, "after", field.after)
    return text


class ValuesScreen(ModalScreen[None]):
    """The whole values of the selected resource's differences and changes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,v,enter", "dismiss", "Close", id="values.close"),
    ]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="values-box") as box:
            box.border_title = literal(self.title_text)
            box.border_subtitle = "esc closes"
            yield Static(self.body)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)

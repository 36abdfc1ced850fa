"""Modal dialogs: help with every binding, and go-to-time with the CLI's time parser."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from timetravel.domain.timeparse import TIME_FORMS
from timetravel.errors import UserError
from timetravel.tui.literal import literal


class HelpScreen(ModalScreen[None]):
    """Every binding, grouped as the app lists them; esc, q or ? closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, rows: Sequence[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_column(style="dim")
        for key, description, where in self.rows:
            table.add_row(key, description, where)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys (esc closes)"
            yield Static(table)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class GotoScreen(ModalScreen[datetime | None]):
    """Asks for a time as the CLI reads it (``21:30``, ``thursday 21:30``, ``-2h``, RFC 3339)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="goto.cancel"),
    ]

    def __init__(self, parse: Callable[[str], datetime]) -> None:
        super().__init__()
        self.parse = parse

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-box") as box:
            box.border_title = "Go to time"
            yield Input(placeholder="thursday 21:30, -2h, 2026-11-19T21:30:00Z", id="goto-input")
            yield Static(TIME_FORMS, id="goto-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            at = self.parse(event.value)
        except UserError as exc:
            # The message quotes what was typed: shown as written, never as markup.
            self.query_one("#goto-error", Static).update(literal(str(exc)))
            self.query_one("#goto-box").add_class("-error")
            return
        self.dismiss(at)

    def action_cancel(self) -> None:
        self.dismiss(None)

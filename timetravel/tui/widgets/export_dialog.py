"""The export dialog: format, window and path for the snapshot at the cursor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from timetravel.domain.timeparse import parse_duration
from timetravel.domain.times import DEFAULT_WINDOW_TEXT
from timetravel.errors import UserError
from timetravel.tui.literal import literal

FORMATS = (
    ("JSON (schema v1)", "json"),
    ("Markdown", "markdown"),
    ("HTML", "html"),
    ("Bundle (.tar.gz)", "bundle"),
)
HINT = "enter exports · tab moves between fields · esc cancels"
SUFFIX = {"json": ".json", "markdown": ".md", "html": ".html", "bundle": ".tar.gz"}


@dataclass(frozen=True)
class ExportRequest:
    fmt: str
    window: timedelta
    path: Path


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Asks how to export; enter in the path field exports, esc cancels.

    The path has the focus first, so e then enter exports JSON at once; choosing a format
    hands the focus back to it (enter on the format list only opens and closes it).
    """

    AUTO_FOCUS = "#export-path"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export.cancel"),
    ]

    def __init__(self, directory: Path, stamp: str) -> None:
        super().__init__()
        self.directory = directory
        self.stamp = stamp

    def _default_path(self, fmt: str) -> str:
        return str(self.directory / f"timetravel-{self.stamp}{SUFFIX[fmt]}")

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box") as box:
            box.border_title = "Export the snapshot at the cursor"
            yield Label("Format", classes="export-label")
            yield Select(FORMATS, value="json", allow_blank=False, id="export-format")
            yield Label(
                "Window: changes this long before and after the cursor", classes="export-label"
            )
            yield Input(
                value=DEFAULT_WINDOW_TEXT,
                placeholder="90s, 15m, 2h, 1d",
                id="export-window",
            )
            yield Label("Write to", classes="export-label")
            yield Input(value=self._default_path("json"), id="export-path")
            yield Static(HINT, id="export-error")

    def on_select_changed(self, event: Select.Changed) -> None:
        path = self.query_one("#export-path", Input)
        fmt = str(event.value)
        # Follow the format with the file name, unless the user typed their own.
        if any(path.value == self._default_path(f) for f in SUFFIX):
            path.value = self._default_path(fmt)
        path.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        fmt = str(self.query_one("#export-format", Select).value)
        try:
            window = parse_duration(self.query_one("#export-window", Input).value)
        except UserError as exc:
            # The parser's message already says which forms it reads: once is enough.
            self._error(f"window: {exc}")
            return
        text = self.query_one("#export-path", Input).value.strip()
        if not text:
            self._error("a path to write to")
            return
        self.dismiss(ExportRequest(fmt, window, Path(text).expanduser()))

    def on_input_changed(self, event: Input.Changed) -> None:
        """An error is about what was typed: typing again clears it."""
        box = self.query_one("#export-box")
        if box.has_class("-error"):
            box.remove_class("-error")
            self.query_one("#export-error", Static).update(HINT)

    def _error(self, message: str) -> None:
        # The message quotes what was typed: shown as written, never as markup.
        self.query_one("#export-error", Static).update(literal(message))
        self.query_one("#export-box").add_class("-error")

    def action_cancel(self) -> None:
        self.dismiss(None)

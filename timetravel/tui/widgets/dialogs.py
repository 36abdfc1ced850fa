"""Modal dialogs: help with every binding, and go-to-time with the CLI's time parser."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from timetravel.domain.timeparse import TIME_FORMS
from timetravel.errors import UserError
from timetravel.tui.literal import literal

# What the screen's symbols and words mean, in the order the eye meets them.
LEGEND: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Resource states (the list)",
        (
            ("✓", "in sync: what runs is what git declares"),
            ("≠", "drifted: what runs differs from git"),
            ("✗", "missing: git declares it, it is not running"),
            ("○", "unmanaged: running, not in git"),
            ("⚠", "unknown provenance: runs an image no recorded build produced (prov:unknown)"),
            ("≈", "ignored: its only differences are ones an ignore rule expects (I)"),
            ("…", "reading: after a far jump, rows away from the cursor (counting…) come next"),
        ),
    ),
    (
        "Causes (lists, cause panel)",
        (
            ("▲", "pipeline: a CI run deployed it"),
            ("◆", "gitops: Argo CD or Flux synced it (timeline: a commit became the head)"),
            ("✎", "manual: a person (kubectl edit, patch, scale...)"),
            ("⚙", "controller: in the cluster (autoscaler, operator)"),
            ("·", "unknown: nothing shows who"),
        ),
    ),
    (
        "Timeline",
        (
            ("✖", "a failed sync or pipeline run"),
            ("≠", "drift opened"),
            ("¶", "a note someone pinned there (a adds one)"),
            ("M", "the moment marked to compare with (m marks, x compares)"),
            ("░", "a recording gap: nothing was recorded then"),
            ("†", "deleted"),
            ("▄█", "how many changes (taller: more)"),
        ),
    ),
    (
        "Words",
        (
            ("git → live", "a field where git wanted one value and another ran"),
            ("Unified", "d: git and live in one column (- git, + live), not side by side"),
            ("Noise", "z: also what is not drift: defaults, status, controllers' fields"),
        ),
    ),
)


class HelpScreen(ModalScreen[None]):
    """What the symbols mean, then every key in the user's words; esc, q or ? closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, rows: Sequence[tuple[str, str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        sections: list[Text | Table] = []
        for heading, entries in LEGEND:
            sections.append(Text(heading, "bold underline"))
            legend = Table.grid(padding=(0, 2))
            legend.add_column(style="bold", no_wrap=True, min_width=10)
            legend.add_column()
            for symbol, meaning in entries:
                legend.add_row(Text(symbol), Text(meaning))
            sections.append(legend)
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True, min_width=10)
        table.add_column(ratio=3)
        table.add_column(style="dim", overflow="fold", ratio=1)  # an id is typed: never cut
        sections.append(
            Text("Keys (and the id timetravel.toml's [keymap] takes)", "bold underline")
        )
        # Keys, descriptions and ids as written: never read as markup ("[" is a key).
        for key, description, where, binding_id in self.rows:
            what = description if where == "anywhere" else f"{description} ({where})"
            table.add_row(*(Text(cell) for cell in (key, what, binding_id)))
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Help (esc closes)"
            box.border_subtitle = "↑↓ pgup pgdn scroll"
            yield Static(Group(*sections, table), id="help-body")

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

"""Dialogs of an investigation: a note pinned at the cursor, and a resource's drift intervals.

Every text in them is recorded (a resource's name, an actor, a note someone wrote): shown as
written, never read as markup (:func:`~timetravel.tui.literal.literal`, ``Text``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static

from timetravel.domain.model import ResourceKey
from timetravel.domain.notes import MAX_NOTE
from timetravel.domain.printable import printable
from timetravel.domain.times import from_stored
from timetravel.query.drift_report import Drift
from timetravel.tui.literal import literal

BOX_CSS = """
    align: center middle;
    background: $background 60%;
"""


@dataclass(frozen=True)
class NoteRequest:
    """What the note dialog asks to write: the text, and the resource it is about (None:
    the whole moment)."""

    text: str
    key: ResourceKey | None


class NoteScreen(ModalScreen[NoteRequest | None]):
    """A note at the cursor: one line of text, and whether it is about the selected
    resource; enter writes it, esc cancels."""

    DEFAULT_CSS = f"""
    NoteScreen {{ {BOX_CSS} }}
    #note-box {{
        width: 72; max-width: 95%; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }}
    #note-box Checkbox {{ border: none; padding: 0; margin: 0; }}
    #note-hint {{ color: $text-muted; height: auto; }}
    #note-box.-error #note-hint {{ color: $error; }}
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="note.cancel"),
    ]
    AUTO_FOCUS = "#note-input"

    def __init__(self, at: str, key: ResourceKey | None) -> None:
        super().__init__()
        self.at = at  # the cursor as the header shows it
        self.key = key

    def compose(self) -> ComposeResult:
        with Vertical(id="note-box") as box:
            box.border_title = literal(f"Note at {self.at}")
            yield Input(
                placeholder="incident started, rolled back here…",
                max_length=MAX_NOTE,
                id="note-input",
            )
            if self.key is not None:
                yield Checkbox(literal(f"about {self.key.display()}"), value=False, id="note-about")
            hint = "enter: write it · esc: cancel"
            if self.key is not None:
                hint = "enter: write it · tab space: about the resource · esc: cancel"
            yield Static(hint, id="note-hint")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        """Ticked or not, back to the text: enter writes the note."""
        event.stop()
        self.query_one("#note-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#note-hint", Static).update("a note needs some text (esc: cancel)")
            self.query_one("#note-box").add_class("-error")
            return
        about = self.query("#note-about")
        on = bool(about) and self.query_one("#note-about", Checkbox).value
        self.dismiss(NoteRequest(text, self.key if on else None))

    def action_cancel(self) -> None:
        self.dismiss(None)


def lasted(span: timedelta | None) -> str:
    """``2h05m``, ``3d4h``, ``45s``: how long a drift lasted (None: still open)."""
    if span is None:
        return "open"
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def drift_lines(drifts: Sequence[Drift], tz: tzinfo, cursor: datetime) -> Text:
    """Each drift interval on two lines, newest first: opened when and by whom, closed
    when and how, how long; the one open at the cursor said so."""
    text = Text()
    if not drifts:
        text.append("never drifted from git in what is recorded", "dim")
        return text

    def when(stamp: str) -> str:
        return from_stored(stamp).astimezone(tz).strftime("%a %m-%d %H:%M:%S")

    for drift in reversed(drifts):
        interval = drift.interval
        who = interval.opened_by or interval.opened_cause or "?"
        opened = from_stored(interval.opened_at)
        closed = from_stored(interval.closed_at) if interval.closed_at else None
        at_cursor = opened <= cursor and (closed is None or cursor < closed)
        text.append("≠ ", "bold")
        text.append(when(interval.opened_at), "bold")
        text.append(" by ")
        text.append(printable(who), "bold")
        if interval.opened_cause and interval.opened_cause != who:
            text.append(f" ({printable(interval.opened_cause)})", "dim")
        if at_cursor:
            text.append("  ← at the cursor", "italic")
        elif opened > cursor:
            text.append("  (after the cursor)", "dim")
        text.append("\n  ")
        if interval.closed_at is None:
            text.append("still open\n", "bold")
        else:
            how = printable(interval.closed_how or "?")
            text.append(f"closed {when(interval.closed_at)} by {how}")
            text.append(f" · lasted {lasted(drift.lasted)}\n", "dim")
    text.rstrip()
    return text


class DriftScreen(ModalScreen[None]):
    """A resource's drift intervals, the one at the cursor marked (``D``); esc, q or D closes."""

    DEFAULT_CSS = f"""
    DriftScreen {{ {BOX_CSS} }}
    #drift-box {{
        width: 76; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; border-subtitle-color: $text-muted;
        background: $surface; padding: 0 1;
    }}
    #drift-body {{ height: auto; }}
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,D", "dismiss", "Close", id="drift.close"),
    ]

    def __init__(self, key: ResourceKey, body: Text) -> None:
        super().__init__()
        self.key = key
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="drift-box") as box:
            box.border_title = literal(f"Drift of {self.key.display()}")
            box.border_subtitle = "esc closes"
            yield Static(self.body, id="drift-body")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)

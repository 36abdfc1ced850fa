"""Desired | actual side by side (or unified), and the field diff list under it.

Every line and value comes from the records: each is made printable as it is cut to its
column (PyYAML writes ESC as ``\\e`` but a right-to-left override as it is).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from timetravel.domain.printable import printable
from timetravel.domain.values import field_label, short_value, telling_rank
from timetravel.query.detail import Detail, diff_entries
from timetravel.tui import sidebyside
from timetravel.tui.literal import literal
from timetravel.tui.sidebyside import ACTUAL_ONLY, CHANGED, DESIRED_ONLY, SAME, Row
from timetravel.tui.widgets.linelist import TIME_KEYS
from timetravel.tui.widgets.resource_list import BADGES

MARK_CLASS = {
    CHANGED: "diff--changed",
    DESIRED_ONLY: "diff--desired-only",
    ACTUAL_ONLY: "diff--actual-only",
}


class DesiredActualView(ScrollView, can_focus=True):
    """YAML of the selected resource at the cursor; renders only the visible lines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_up", "Up", show=False, id="yaml.up"),
        Binding("down,j", "scroll_down", "Down", show=False, id="yaml.down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="yaml.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="yaml.page_down"),
        *TIME_KEYS,
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *MARK_CLASS.values(),
        "diff--gutter",
        "diff--note",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.detail: Detail | None = None
        self.unified = False
        self.noise = False
        self.rows: list[Row] = []
        self.lines: list[tuple[str, str]] = []
        self.note = "no resource selected"

    def show(self, detail: Detail | None, *, unified: bool, noise: bool) -> None:
        same_resource = (
            self.detail is not None and detail is not None and (self.detail.key == detail.key)
        )
        self.detail, self.unified, self.noise = detail, unified, noise
        self._build()
        count = len(self.lines) if unified else len(self.rows)
        self.virtual_size = Size(self.scrollable_content_region.width, count + 1)
        if not same_resource:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def _build(self) -> None:
        detail = self.detail
        view = detail.view if detail else None
        mode = "unified" if self.unified else "desired │ actual"
        self.border_title = f"{mode}" + ("" if self.noise else " · noise hidden")
        if detail is None:
            self.rows, self.lines, self.note = [], [], "no resource selected"
            self.border_subtitle = ""
            return
        self.border_subtitle = literal(
            f"{detail.key.display()} · {view.state if view else 'not live'}"
        )
        shown = view.actual if view else None
        if not self.noise and detail.quiet_actual is not None:
            shown = detail.quiet_actual  # defaults and controller fields hidden too
        actual = sidebyside.to_yaml(shown, noise=self.noise)
        if view is not None and view.desired is not None:
            desired = sidebyside.to_yaml(view.desired, noise=self.noise)
            self.rows = sidebyside.align(desired, actual)
            self.note = ""
        else:
            self.rows = sidebyside.actual_only(actual)
            self.note = "not declared in git" if view is not None else ""
        if view is None:
            when = f" (deleted {detail.deleted_at[:19]}Z)" if detail.deleted_at else ""
            self.note = f"not live at the cursor{when}"
        self.lines = sidebyside.unified(self.rows)

    # -- rendering ------------------------------------------------------------------------
    def _text(self, text: str, style: Style, width: int) -> list[Segment]:
        text = printable(text)
        cut = text if len(text) <= width else text[: max(0, width - 1)] + "…"
        return [Segment(cut.ljust(width), style)]

    def render_line(self, y: int) -> Strip:
        _, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        note_style = base + self.get_component_rich_style("diff--note", partial=True)
        gutter = base + self.get_component_rich_style("diff--gutter", partial=True)
        if index == 0 and self.note:
            return Strip(self._text(self.note, note_style, width))
        index -= 1 if self.note else 0
        if self.unified:
            if not 0 <= index < len(self.lines):
                return Strip.blank(width, base)
            mark, line = self.lines[index]
            style = base + self._mark_style(mark)
            return Strip([Segment(mark + " ", gutter), *self._text(line, style, width - 2)])
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        half = max(1, (width - 3) // 2)
        style = base + self._mark_style(row.mark)
        left = row.desired if row.desired is not None else ""
        right = row.actual if row.actual is not None else ""
        return Strip(
            [
                Segment(row.mark, gutter),
                *self._text(left, style if row.desired is not None else base, half),
                Segment(" │ ", gutter),
                *self._text(right, style if row.actual is not None else base, width - half - 3),
            ]
        )

    def _mark_style(self, mark: str) -> Style:
        if mark == SAME:
            return Style()
        return self.get_component_rich_style(MARK_CLASS[mark], partial=True)


def _item_value(value: Any) -> Any:
    """An env-like item (``{name, value}``) by its value: its name is in the label."""
    if isinstance(value, dict) and "name" in value and set(value) - {"name"} == {"value"}:
        return value["value"]
    return value


def field_lines(detail: Detail | None, *, noise: bool) -> list[tuple[str, str, str, bool]]:
    """The field diff in words: (label, git's value, the live value, noise), values as
    compact JSON ("not set": the side lacks the field), most telling field first."""
    entries = diff_entries(detail.view if detail else None, detail.field_diffs if detail else ())
    shown = [e for e in entries if noise or not e[3]]
    shown.sort(key=lambda e: telling_rank(e[0]))
    out = []
    for path, desired, actual, is_noise in shown:
        git = "not set" if desired is None else short_value(_item_value(desired), 200)
        live = "not set" if actual is None else short_value(_item_value(actual), 200)
        out.append((field_label(path), git, live, is_noise))
    return out


class FieldDiffList(Static, can_focus=True):
    """The selected resource's field differences, in words: what git wanted, what ran;
    noise on ``z``; enter shows every value whole."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "app.values", "Whole values", show=False, id="fields.values"),
        *TIME_KEYS,
    ]

    def show(self, detail: Detail | None, *, noise: bool) -> None:
        entries = diff_entries(
            detail.view if detail else None, detail.field_diffs if detail else ()
        )
        hidden = sum(1 for e in entries if e[3]) if not noise else 0
        lines = field_lines(detail, noise=noise)
        # The selected resource and its state in words: the list may show only a glyph.
        view = detail.view if detail else None
        if detail is None:
            self.border_title = "Git wanted → live"
        else:
            state = BADGES.get(view.state, ("", view.state)) if view else ("", "not live")
            self.border_title = literal(f"{detail.key.display()} {' '.join(state).strip()}")
        self.border_subtitle = f"git → live: {len(lines)}" + (
            f" (+{hidden} noise, z)" if hidden else ""
        )
        text = Text(no_wrap=True, overflow="ellipsis")
        if detail is None or detail.view is None:
            text.append("—", "dim")
        elif detail.view.desired is None:
            text.append(f"{printable(detail.view.state)}: nothing in git to compare with", "dim")
        elif not lines:
            text.append("desired and actual agree", "dim")
        for label, git, live, is_noise in lines:
            if text:
                text.append("\n")
            text.append(printable(label) + ":", "bold" if not is_noise else "dim")
            if git == "not set":
                text.append(" not in git", "dim")
            else:
                text.append(" git ", "dim")
                text.append(printable(_cut(git, 30)))
            if live == "not set":
                text.append(", not live", "dim")
            else:
                text.append(", live ", "dim")
                text.append(printable(_cut(live, 30)))
            if is_noise:
                text.append("  noise", "dim italic")
        if detail is not None and detail.conflict:
            # Several files in git declare it differently: which one is shown, and why
            # (docs/DESIRED.md's rule), is never hidden.
            text.append(("\n" if text else "") + printable(detail.conflict), "italic")
        self.update(text)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"

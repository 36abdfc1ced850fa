"""A keyboard list that renders only the rows on screen (Line API), for thousands of rows.

Rows are Segments written straight to the terminal: subclasses make the recorded text in a
row printable (:func:`~timetravel.domain.printable.printable`) before they measure it, and
:meth:`LineList.render_line` passes every segment through it again, so a control character
that a new row forgets still never reaches the terminal raw.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from timetravel.domain.printable import printable

# The panels scroll vertically only: left/right/home/end stay time keys inside them.
TIME_KEYS: list[BindingType] = [
    Binding("left", "app.step(-1)", "Prev change", show=False, id="panel.prev_change"),
    Binding("right", "app.step(1)", "Next change", show=False, id="panel.next_change"),
    Binding("home", "app.first", "First change", show=False, id="panel.first"),
    Binding("end", "app.last", "Latest", show=False, id="panel.last"),
]


class LineList(ScrollView, can_focus=True):
    """Rows come from :meth:`row_text`, asked only for visible rows; one row has the cursor.

    Subclasses say how many rows there are with :meth:`set_row_count` and react to the
    cursor in :meth:`cursor_moved` and to enter in :meth:`row_chosen`.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, tooltip="Up a row", id="list.up"),
        Binding("down,j", "cursor_down", "Down", show=False, tooltip="Down a row", id="list.down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="list.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="list.page_down"),
        Binding(
            "enter",
            "choose",
            "Select",
            show=False,
            tooltip="Select the resource; on a change: go to its moment and resource",
            id="list.choose",
        ),
        *TIME_KEYS,
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"linelist--cursor", "linelist--dim"}

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.row_count = 0

    # -- for subclasses -----------------------------------------------------------------
    def row_text(self, index: int) -> Text:  # pragma: no cover - overridden
        return Text(str(index))

    def cursor_moved(self, index: int) -> None:
        """Called when the cursor lands on a row."""

    def row_chosen(self, index: int) -> None:
        """Called on enter (or a click) on a row."""

    def set_row_count(self, count: int, cursor: int | None = None) -> None:
        self.row_count = count
        self.virtual_size = Size(self.scrollable_content_region.width, count)
        wanted = self.cursor if cursor is None else cursor
        self.set_reactive(LineList.cursor, max(0, min(wanted, count - 1)))
        # New rows: centre the cursor, so where it lands does not depend on earlier scrolling;
        # again once laid out, since before the first layout the height is not known.
        self._scroll_to_cursor(center=True)
        self.call_after_refresh(self._scroll_to_cursor, True)
        self.refresh()

    # -- rendering ------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        bar = self.vertical_scrollbar if self.show_vertical_scrollbar else None
        if y == 0 and bar is not None and bar.position != self.scroll_y:
            # A scrollbar shown after the last scroll starts at the top: keep it in step.
            bar.position = self.scroll_y
        _, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= self.row_count:
            return Strip.blank(width, base)
        text = self.row_text(index)
        text.truncate(width, overflow="ellipsis")
        if index == self.cursor:
            cursor = self.get_component_rich_style("linelist--cursor", partial=True)
            base = base + (cursor if self.has_focus else Style(bgcolor=cursor.bgcolor))
        segments = [Segment(s.text, base + s.style if s.style else base) for s in self._segs(text)]
        return Strip(segments).adjust_cell_length(width, base)

    def _segs(self, text: Text) -> list[Segment]:
        return [
            Segment(printable(s.text), s.style)
            for s in text.render(self.app.console)
            if s.text != "\n"
        ]

    def dim_style(self) -> Style:
        return self.get_component_rich_style("linelist--dim")

    # -- cursor ---------------------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        if 0 <= new < self.row_count:
            self.cursor_moved(new)

    def _scroll_to_cursor(self, center: bool = False) -> None:
        """Scroll the least that shows the cursor row, or centre it."""
        height = self.scrollable_content_region.height
        if not self.row_count or height <= 0:
            return
        top = self.scroll_offset.y
        if center:
            top = self.cursor - height // 2
        elif self.cursor < top:
            top = self.cursor
        elif self.cursor >= top + height:
            top = self.cursor - height + 1
        top = max(0, min(top, self.row_count - height))
        self.scroll_to(y=top, animate=False, immediate=True, force=True)
        if self.show_vertical_scrollbar:
            # A scrollbar that appeared after the scroll would otherwise show the top.
            self.vertical_scrollbar.position = self.scroll_y

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, self.row_count)
        self._scroll_to_cursor(center=True)
        self.call_after_refresh(self._scroll_to_cursor, True)

    def move_cursor(self, delta: int) -> None:
        if self.row_count:
            self.cursor = max(0, min(self.row_count - 1, self.cursor + delta))

    def action_cursor_up(self) -> None:
        self.move_cursor(-1)

    def action_cursor_down(self) -> None:
        self.move_cursor(1)

    def action_page_up(self) -> None:
        self.move_cursor(-max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self.move_cursor(max(1, self.scrollable_content_region.height - 1))

    def action_choose(self) -> None:
        if 0 <= self.cursor < self.row_count:
            self.row_chosen(self.cursor)

    def on_click(self, event: Click) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < self.row_count:
            self.cursor = index
            if event.chain > 1:
                self.row_chosen(index)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

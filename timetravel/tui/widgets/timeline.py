"""The timeline bar: an axis, change density, marks with a legend, and the cursor."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.events import Click
from textual.strip import Strip
from textual.widget import Widget

from timetravel.domain.printable import printable
from timetravel.query.timeline import MARK_KINDS, Density, Marker
from timetravel.tui.messages import CursorRequested

# Glyph and legend word per mark kind (see query.timeline.MARK_KINDS for their priority).
MARKS = {
    "failed_sync": ("✖", "failed sync"),
    "drift": ("≠", "drift"),
    "unknown_image": ("⚠", "unknown image"),
    "note": ("¶", "note"),
    "manual": ("✎", "manual"),
    "pipeline": ("▲", "pipeline"),
    "commit": ("◆", "commit"),
    "gap": ("░", "gap"),
    "deleted": ("†", "deleted"),
    "inferred": ("?", "inferred"),
    "status_only": ("·", "status"),
}
BARS = " ▁▂▃▄▅▆▇█"
MARK_GLYPH = "M"  # the moment marked to compare the cursor with
# History before the kept start was pruned (``timetravel prune``): its columns, and the
# column where kept history starts.
PRUNED, KEPT_FROM = "╌", "┃"
TICKS = [
    timedelta(minutes=m)
    for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160)
]


def column_of(at: datetime, start: datetime, end: datetime, width: int) -> int:
    """The column ``at`` falls in, when [start, end) spans ``width`` columns."""
    return int((at - start) / ((end - start) / width)) if width else 0


class Timeline(Widget):
    """Renders four lines; a click asks the app to move the cursor there."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--axis",
        "timeline--bar",
        "timeline--cursor",
        "timeline--legend",
        "timeline--pruned",
        "timeline--mark",
        *(f"timeline--{kind}" for kind in MARK_KINDS),
    }

    def __init__(self, tz: tzinfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz = tz
        self.start = datetime.now().astimezone()
        self.end = self.start + timedelta(hours=1)
        self.cursor_at = self.start
        self.density: Density | None = None
        self.markers: Sequence[Marker] = ()
        self.kept_from: datetime | None = None  # before it, history was pruned
        self.mark_at: datetime | None = None  # the moment marked to compare with (m)
        self._lines: list[Text] = []
        # The lines without the cursor, and what they were built from: moving the cursor
        # (every scrubbing key) restyles one column instead of placing thousands of marks.
        self._base: tuple[object, list[Text]] | None = None
        self._data_version = 0

    def show(self, start: datetime, end: datetime, cursor: datetime) -> None:
        self.start, self.end, self.cursor_at = start, end, cursor
        self.refresh()

    def set_mark(self, mark_at: datetime | None) -> None:
        """Show the moment marked to compare with (None: no mark)."""
        self.mark_at = mark_at
        self.refresh()

    def set_kept_from(self, kept_from: datetime | None) -> None:
        self.kept_from = kept_from
        self._data_version += 1
        self.refresh()

    def set_data(self, density: Density, markers: Sequence[Marker]) -> None:
        self.density, self.markers = density, markers
        self._data_version += 1
        self.refresh()

    # -- rendering ------------------------------------------------------------------------
    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"timeline--{name}", partial=True)

    def render_line(self, y: int) -> Strip:
        width = max(1, self.size.width)
        base = self.rich_style
        if y == 0:
            # Lines are built once per repaint, on the first line's request.
            self._lines = self._build(width)
        if y >= len(self._lines):
            return Strip.blank(width, base)
        # Segments go to the terminal as they are: made printable like every Line API row
        # (the labels are times and words of ours today; a label from the records must not
        # bring a control character with it).
        segments = [
            Segment(printable(s.text), base + s.style if s.style else base)
            for s in self._lines[y].render(self.app.console)
            if s.text != "\n"
        ]
        return Strip(segments).adjust_cell_length(width, base)

    def _build(self, width: int) -> list[Text]:
        cursor_col = column_of(self.cursor_at, self.start, self.end, width)
        lines = [line.copy() for line in self._base_lines(width)]
        if self.mark_at is not None:
            # The marked moment (m): an M on the marks' line, on the bars' column.
            mark_col = column_of(self.mark_at, self.start, self.end, width)
            if 0 <= mark_col < width and len(lines) > 2:
                marks = lines[2]
                lines[2] = marks[:mark_col] + Text(MARK_GLYPH) + marks[mark_col + 1 :]
                for line in lines[1:3]:
                    line.stylize(self._style("mark"), mark_col, mark_col + 1)
        if 0 <= cursor_col < width:
            for line in lines[1:3]:
                line.stylize(self._style("cursor"), cursor_col, cursor_col + 1)
        return lines

    def _base_lines(self, width: int) -> list[Text]:
        """Axis, bars, marks and legend, built again only when what they show changed."""
        made_of = (self.start, self.end, width, self._data_version, self.app.theme)
        if self._base is None or self._base[0] != made_of:
            lines = [self._axis(width), self._bars(width), self._marks(width)]
            lines.append(self._legend(width))
            self._base = (made_of, lines)
        return self._base[1]

    def _axis(self, width: int) -> Text:
        span = self.end - self.start
        tick = next((t for t in TICKS if width * t / span >= 14), TICKS[-1])
        local_start = self.start.astimezone(self.tz)
        # First tick at a round local time.
        base = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
        step = int(tick.total_seconds())
        offset = (local_start - base).total_seconds()
        first = base + timedelta(seconds=(offset // step + 1) * step)
        fmt = (
            "%a %d"
            if tick >= timedelta(days=1)
            else "%a %H:%M"
            if span > timedelta(days=1)
            else "%H:%M"
        )
        chars = [" "] * width
        at = first
        while at < self.end:
            col = column_of(at, self.start, self.end, width)
            label = "╵" + at.strftime(fmt)
            if col + len(label) <= width and all(
                c == " " for c in chars[max(0, col - 1) : col + len(label)]
            ):
                chars[col : col + len(label)] = list(label)
            at += tick
        return Text("".join(chars), self._style("axis"), no_wrap=True)

    def _bars(self, width: int) -> Text:
        text = Text(no_wrap=True)
        counts = self._column_counts(width)
        top = max(counts) if counts else 0
        gap_cols = self._gap_columns(width)
        pruned = self._pruned_columns(width)
        for col in range(width):
            count = counts[col] if col < len(counts) else 0
            if col < pruned:
                text.append(PRUNED, self._style("pruned"))
            elif count:
                level = 1 + int((len(BARS) - 2) * count / top) if top else 0
                text.append(BARS[min(level, len(BARS) - 1)], self._style("bar"))
            elif col in gap_cols:
                text.append(MARKS["gap"][0], self._style("gap"))
            else:
                text.append(" ")
        return text

    def _column_counts(self, width: int) -> list[int]:
        density = self.density
        if density is None or not density.counts:
            return [0] * width
        counts = [0] * width
        per = (density.end - density.start) / len(density.counts)
        for index, count in enumerate(density.counts):
            col = column_of(density.start + per * index, self.start, self.end, width)
            if 0 <= col < width:
                counts[col] += count
        return counts

    def _pruned_columns(self, width: int) -> int:
        """How many columns from the left lie wholly before the kept history."""
        if self.kept_from is None or self.kept_from <= self.start:
            return 0
        return min(width, column_of(self.kept_from, self.start, self.end, width))

    def _gap_columns(self, width: int) -> set[int]:
        cols: set[int] = set()
        for marker in self.markers:
            if marker.kind == "gap" and marker.until is not None:
                lo = max(0, column_of(marker.at, self.start, self.end, width))
                hi = min(width - 1, column_of(marker.until, self.start, self.end, width))
                cols.update(range(lo, hi + 1))
        return cols

    def _marks(self, width: int) -> Text:
        best: dict[int, str] = {}
        rank = {kind: index for index, kind in enumerate(MARK_KINDS)}
        for marker in self.markers:
            col = column_of(marker.at, self.start, self.end, width)
            if 0 <= col < width and (col not in best or rank[marker.kind] < rank[best[col]]):
                best[col] = marker.kind
        text = Text(no_wrap=True)
        shown = self.kept_from is not None and self.start <= self.kept_from < self.end
        kept = self._pruned_columns(width) if shown else -1
        for col in range(width):
            kind = best.get(col)
            if col == kept:
                text.append(KEPT_FROM, self._style("pruned"))
            elif kind is None:
                text.append(" ")
            else:
                text.append(MARKS[kind][0], self._style(kind))
        return text

    def _legend(self, width: int) -> Text:
        text = Text(no_wrap=True)
        pruned = f"{PRUNED} pruned"
        # Where the view holds pruned history, saying so comes before the marks' words.
        shows_pruned = self.kept_from is not None and self.kept_from > self.start
        room = width - len(pruned) if shows_pruned and width >= 2 * len(pruned) else width
        for kind in MARK_KINDS:
            glyph, word = MARKS[kind]
            piece = f"{glyph} {word}  "
            if text.cell_len + len(piece) > room:
                piece = f"{glyph}{word[:4]} "
                if text.cell_len + len(piece) > room:
                    break
            text.append(glyph, self._style(kind))
            text.append(piece[1:], self._style("legend"))
        if shows_pruned and text.cell_len + len(pruned) <= width:
            text.append(PRUNED, self._style("pruned"))
            text.append(pruned[1:], self._style("legend"))
        return text

    # -- mouse ------------------------------------------------------------------------------
    def on_click(self, event: Click) -> None:
        width = max(1, self.size.width)
        at = self.start + (self.end - self.start) * ((event.x + 0.5) / width)
        self.post_message(CursorRequested(at))

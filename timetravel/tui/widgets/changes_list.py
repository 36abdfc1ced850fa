"""Changes around the cursor, for every resource; enter jumps there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text

from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.times import from_stored
from timetravel.query.changes import failed_sync, summary
from timetravel.tui.messages import CursorRequested
from timetravel.tui.widgets.linelist import LineList
from timetravel.tui.widgets.resource_list import CAUSE_GLYPHS, SHORT_KINDS


class ChangesList(LineList):
    """Time, cause glyph, resource and summary; changes after the cursor are dimmed."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *LineList.COMPONENT_CLASSES,
        "changes--future",
        "changes--failed",
    }

    def __init__(self, tz: tzinfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz = tz
        self.changes: list[ChangeView] = []
        self.after_index = 0
        self.times: list[datetime] = []

    def set_changes(self, at: datetime, changes: Sequence[ChangeView], after_index: int) -> None:
        self.changes = list(changes)
        self.times = [from_stored(c.at) for c in self.changes]
        self.after_index = after_index
        self.border_title = f"Changes around {at.astimezone(self.tz):%a %H:%M}"
        self.set_row_count(len(self.changes), max(0, after_index - 1))

    def row_text(self, index: int) -> Text:
        change = self.changes[index]
        width = self.scrollable_content_region.width
        at = self.times[index].astimezone(self.tz)
        stamp = at.strftime("%m-%d %H:%M" if width >= 60 else "%H:%M")
        text = Text(no_wrap=True)
        text.append(f"{stamp} ")
        # A failed sync or run is marked as the timeline marks it, whatever its cause.
        if failed_sync(change):
            text.append("✖ ", self.get_component_rich_style("changes--failed", partial=True))
        else:
            text.append(f"{CAUSE_GLYPHS.get(change.cause, '·')} ")
        key = change.key
        kind = SHORT_KINDS.get(key.kind, key.kind)
        where = f"{key.namespace}/{kind}/{key.name}" if key.namespace else f"{kind}/{key.name}"
        text.append(f"{printable(where)} ")
        text.append(printable(summary(change)), self.dim_style())
        if index >= self.after_index:
            text.stylize(self.get_component_rich_style("changes--future", partial=True))
        return text

    def row_chosen(self, index: int) -> None:
        change = self.changes[index]
        self.post_message(CursorRequested(self.times[index], change.key))

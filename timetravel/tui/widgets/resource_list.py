"""Resources at the cursor: namespace, kind/name and a state badge; ``/`` filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text

from timetravel.domain.model import ResourceKey
from timetravel.screen_data import ResourceRow
from timetravel.tui.messages import ResourceHighlighted
from timetravel.tui.widgets.linelist import LineList

# Glyph and label per state; colours come from the theme through component classes.
BADGES = {
    "in_sync": ("✓", "in sync"),
    "drifted": ("≠", "drifted"),
    "missing": ("✗", "missing"),
    "unmanaged": ("○", "unmanaged"),
}
CAUSE_GLYPHS = {
    "pipeline": "▲",
    "gitops": "◆",
    "manual": "✎",
    "controller": "⚙",
    "unknown": "·",
}


class ResourceList(LineList):
    """Every resource live at the cursor, filtered; only visible rows are rendered."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *LineList.COMPONENT_CLASSES,
        "state--in_sync",
        "state--drifted",
        "state--missing",
        "state--unmanaged",
        "resource--namespace",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.all_rows: tuple[ResourceRow, ...] = ()
        self.rows: list[ResourceRow] = []
        self.query_text = ""
        self.selected: ResourceKey | None = None
        self.loading_stale = False
        self._quiet = False

    # -- data -------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[ResourceRow], selected: ResourceKey | None) -> None:
        self.all_rows = tuple(rows)
        self.selected = selected
        self._apply()

    def set_filter(self, text: str) -> None:
        self.query_text = text.strip()
        self._apply()
        if self.rows and (self.selected is None or self.index_of(self.selected) is None):
            # The filter hid the selection: select the first match instead.
            self.cursor = 0

    def _apply(self) -> None:
        query = self.query_text
        self.rows = [r for r in self.all_rows if r.matches(query)] if query else list(self.all_rows)
        index = self.index_of(self.selected) if self.selected is not None else None
        self._quiet = True
        try:
            self.set_row_count(len(self.rows), 0 if index is None else index)
        finally:
            self._quiet = False
        self._update_titles()

    def index_of(self, key: ResourceKey | None) -> int | None:
        for index, row in enumerate(self.rows):
            if row.key == key:
                return index
        return None

    def current(self) -> ResourceRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def _update_titles(self) -> None:
        counts: dict[str, int] = {}
        for row in self.all_rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        parts = [f"{BADGES[s][0]}{counts.get(s, 0)}" for s in BADGES]
        shown = f"{len(self.rows)}/{len(self.all_rows)}" if self.query_text else f"{len(self.rows)}"
        self.border_title = f"Resources {shown}"
        self.border_subtitle = " ".join(parts) + (f" /{self.query_text}" if self.query_text else "")

    # -- rendering ----------------------------------------------------------------------
    def row_text(self, index: int) -> Text:
        row = self.rows[index]
        width = self.scrollable_content_region.width
        glyph, label = BADGES.get(row.state, ("?", row.state))
        badge_style = self.get_component_rich_style(f"state--{row.state}", partial=True)
        ns_style = self.get_component_rich_style("resource--namespace", partial=True)
        # The namespace shows on its first row, and on the top row when scrolled into a group.
        first_of_ns = index in (0, self.scroll_offset.y) or (
            self.rows[index - 1].key.namespace != row.key.namespace
        )
        ns_width = 12 if width >= 50 else 10
        namespace = (row.key.namespace or "-") if first_of_ns else ""
        text = Text(no_wrap=True)
        text.append(f"{namespace[:ns_width]:<{ns_width}} ", ns_style)
        kind_name = f"{row.key.kind}/{row.key.name}"
        badge = f"{glyph} {label}" if width >= 38 else glyph
        tail_width = len(badge) + 1
        cause = ""
        if width >= 50 and row.last_change_at:
            cause = f" {CAUSE_GLYPHS.get(row.last_cause or 'unknown', '·')}"
            tail_width += len(cause)
        room = max(4, width - ns_width - 1 - tail_width - 1)
        if len(kind_name) > room:
            kind_name = kind_name[: room - 1] + "…"
        text.append(f"{kind_name:<{room}} ")
        text.append(badge, badge_style)
        if cause:
            text.append(cause, self.dim_style())
        if self.loading_stale:
            text.stylize(self.dim_style())
        return text

    # -- events ---------------------------------------------------------------------------
    def cursor_moved(self, index: int) -> None:
        if self._quiet:
            return
        row = self.rows[index]
        if row.key != self.selected:
            self.selected = row.key
            self.post_message(ResourceHighlighted(row.key))

    def row_chosen(self, index: int) -> None:
        self.cursor_moved(index)

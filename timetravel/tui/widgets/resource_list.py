"""Resources at the cursor: namespace, kind/name, a state badge and the last change's
cause; ``/`` filters.

Thousands of rows: only the visible ones are rendered, and only their causes are asked
for (:class:`~timetravel.tui.messages.CausesWanted`); a known cause is kept for as long as
the row's last change is the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.text import Text

from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.query.rows import PENDING, ResourceRow, Spliced
from timetravel.tui.contrast import chip, legible_on
from timetravel.tui.jump import Scope
from timetravel.tui.literal import literal
from timetravel.tui.messages import CausesWanted, ResourceHighlighted
from timetravel.tui.widgets.artifacts import UNKNOWN_GLYPH
from timetravel.tui.widgets.linelist import LineList

# Glyph and label per state; colours come from the theme through component classes.
BADGES = {
    "in_sync": ("✓", "in sync"),
    "drifted": ("≠", "drifted"),
    "missing": ("✗", "missing"),
    "unmanaged": ("○", "unmanaged"),
}
# A row whose only differences from git (or, unmanaged, its not being in git) an ignore
# rule expects: counted in sync (or unmanaged), shown apart, as Argo CD does.
IGNORED_BADGE = ("≈", "ignored")
# A row a far jump's glimpse has not made yet (its key only; the whole set follows).
PENDING_BADGE = ("…", "reading")
# Compare mode (m, x): what happened to each object from A to B.
COMPARE_BADGES = {
    "added": ("+", "added"),
    "removed": ("-", "removed"),
    "changed": ("~", "changed"),
}
CAUSE_GLYPHS = {
    "pipeline": "▲",
    "gitops": "◆",
    "manual": "✎",
    "controller": "⚙",
    "unknown": "·",
}
# kubectl's short names (and Argo CD's ``app``), for a list too narrow for whole kinds:
# at 80x24 "HorizontalPodAutoscaler/api" left no room for the name.
SHORT_KINDS = {
    "Deployment": "deploy",
    "Pod": "po",
    "ConfigMap": "cm",
    "Service": "svc",
    "HorizontalPodAutoscaler": "hpa",
    "Application": "app",
    "StatefulSet": "sts",
    "DaemonSet": "ds",
    "ReplicaSet": "rs",
    "Ingress": "ing",
    "ServiceAccount": "sa",
    "PersistentVolumeClaim": "pvc",
    "PersistentVolume": "pv",
    "CronJob": "cj",
    "NetworkPolicy": "netpol",
    "PodDisruptionBudget": "pdb",
    "Namespace": "ns",
    "CustomResourceDefinition": "crd",
    "Kustomization": "ks",
    "HelmRelease": "hr",
}
# Narrower than this, kinds go by their short names.
WHOLE_KINDS_WIDTH = 58
# The narrowest list that shows the last change's cause.
CAUSE_WIDTH = 50
# Causes kept across moments, by (resource, time of its last change).
CAUSES_KEPT = 20_000

CauseKey = tuple[ResourceKey, str | None]


def provenance_filter(query: str) -> tuple[str, str | None]:
    """The ``/`` filter's words without its ``prov:`` word, and that word's value (None:
    none typed): ``prov:unknown`` keeps the rows running a digest of unknown provenance."""
    words, value = [], None
    for word in query.split():
        name, sep, rest = word.partition(":")
        if sep and name.lower() in ("prov", "provenance"):
            value = rest.lower()
        else:
            words.append(word)
    return " ".join(words), value


class ResourceList(LineList):
    """Every resource live at the cursor, filtered; only visible rows are rendered."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *LineList.COMPONENT_CLASSES,
        "state--in_sync",
        "state--drifted",
        "state--missing",
        "state--unmanaged",
        "state--ignored",
        "state--added",
        "state--removed",
        "state--changed",
        "state--pending",
        "resource--namespace",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.all_rows: tuple[ResourceRow, ...] = ()
        self.rows: list[ResourceRow] = []
        self.query_text = ""
        self.scope = Scope()  # the : jumps' kind and namespace
        self.selected: ResourceKey | None = None
        # Rows running a digest no recorded build produced, with those digests (issue 23).
        self.unknown: Mapping[ResourceKey, tuple[str, ...]] = {}
        self.loading_stale = False
        # Compare mode: "A→cursor" or "prod→staging"; the rows are differences then.
        self.compare_title: str | None = None
        self._quiet = False
        self._positions: Mapping[ResourceKey, int] | None = None  # of all_rows
        self._counts: dict[str, int] | None = None  # of all_rows
        self.complete = True  # False: a glimpse, counts not known yet
        self._flagged_for: tuple[object, object, int] | None = None
        self.causes: dict[CauseKey, str] = {}
        self._stale_causes: dict[CauseKey, str] = {}  # shown until asked again
        self.asked: tuple[ResourceKey, ...] = ()  # causes asked for, not answered yet
        self._asked_rows: dict[ResourceKey, ResourceRow] = {}

    # -- data -------------------------------------------------------------------------
    def set_rows(
        self,
        rows: Sequence[ResourceRow],
        selected: ResourceKey | None,
        *,
        positions: Mapping[ResourceKey, int] | None = None,
        counts: dict[str, int] | None = None,
        complete: bool = True,
        spliced: Spliced | None = None,
    ) -> None:
        """Show ``rows``; ``positions`` and ``counts`` of them, when known, spare a pass
        over thousands of rows on the event loop. ``complete`` False: a glimpse (rows
        around the selection made, the rest pending, no counts yet). ``spliced``: the
        rows are those shown with some spliced in and out (``ResourceSet.spliced``)."""
        self.all_rows = tuple(rows)
        known = self._flagged_for
        if (
            spliced is not None
            and positions is not None
            and known is not None
            and known[0] is self.unknown
            and known[1] is spliced[0]
        ):
            # The ⚠ count moved by the rows that left and came, not counted again.
            unknown = self.unknown
            moved = sum(1 for k in spliced[2] if k in unknown) - sum(
                1 for k in spliced[1] if k in unknown
            )
            self._flagged_for = (unknown, positions, known[2] + moved)
        self._positions, self._counts = positions, counts
        self.complete = complete
        self.selected = selected
        self._apply()

    def add_causes(self, causes: Mapping[ResourceKey, str]) -> None:
        """The causes asked for arrived, for these rows (a row left unexplained is shown
        as unknown rather than asked for again and again)."""
        if len(self.causes) > CAUSES_KEPT:
            self.causes.clear()
        for key, row in self._asked_rows.items():
            self.causes[(key, row.last_change_at)] = causes.get(key, "unknown")
        self.refresh()
        self.ask_again()

    def ask_again(self) -> None:
        """Ask anew for the causes the visible rows lack (an answer was dropped)."""
        self.asked, self._asked_rows = (), {}
        self._ask_causes()

    def forget_causes(self) -> None:
        """New facts can change causes: ask again, showing the old ones meanwhile."""
        if len(self._stale_causes) > CAUSES_KEPT:
            self._stale_causes.clear()
        self._stale_causes.update(self.causes)
        self.causes.clear()
        self._ask_causes()

    def cause_of(self, row: ResourceRow) -> str | None:
        known = (row.key, row.last_change_at)
        return self.causes.get(known) or self._stale_causes.get(known) or row.last_cause

    def _ask_causes(self) -> None:
        """Ask for the causes of the visible rows that have none yet (when shown at all)."""
        if self.scrollable_content_region.width < CAUSE_WIDTH:
            return
        top = self.scroll_offset.y
        height = max(1, self.scrollable_content_region.height)
        wanted = {
            row.key: row
            for row in self.rows[top : top + height]
            if row.last_change_at and (row.key, row.last_change_at) not in self.causes
        }
        if wanted and tuple(wanted) != self.asked:
            self.asked, self._asked_rows = tuple(wanted), wanted
            self.post_message(CausesWanted(self.asked))

    def set_filter(self, text: str) -> None:
        self.query_text = text.strip()
        self._apply()
        if self.rows and (self.selected is None or self.index_of(self.selected) is None):
            # The filter hid the selection: select the first match instead.
            self.cursor = 0

    def set_scope(self, scope: Scope) -> None:
        """Keep only the rows of a ``:`` jump's kind and namespace (``Scope()``: all)."""
        self.scope = scope
        self.set_filter(self.query_text)

    def select(self, key: ResourceKey) -> bool:
        """Put the cursor on ``key``'s row (clearing the ``/`` filter if it hides it);
        False when no row shown has that key."""
        index = self.index_of(key)
        if index is None and self.query_text:
            self.query_text = ""
            self._apply()
            index = self.index_of(key)
        if index is None:
            return False
        self.cursor = index
        return True

    @property
    def filtered(self) -> bool:
        return bool(self.query_text or self.scope)

    def set_unknown(
        self,
        unknown: Mapping[ResourceKey, tuple[str, ...]],
        flagged: tuple[Mapping[ResourceKey, int], int] | None = None,
    ) -> None:
        """The rows running a digest of unknown provenance (``⚠``; ``prov:unknown``).
        ``flagged``: how many of them a set of rows holds (its positions, the count),
        counted by the load, not on the event loop."""
        # The same mapping when a step changed none (query.provenance); another is taken
        # as news, not compared: tens of thousands of keys would hold the event loop.
        counted = flagged is not None and flagged[0] is self._positions
        if flagged is not None and counted:
            self._flagged_for = (unknown, flagged[0], flagged[1])
        if unknown is self.unknown:
            if counted:
                self._update_titles()  # the count of the rows shown now
            return
        self.unknown = unknown
        if provenance_filter(self.query_text)[1] is not None:
            self._apply()
        else:
            self._update_titles()
            self.refresh()

    def _apply(self) -> None:
        query, provenance = provenance_filter(self.query_text)
        scope = self.scope
        if query or scope or provenance is not None:
            unknown = self.unknown
            self.rows = [
                r
                for r in self.all_rows
                if scope.admits(r.key)
                and (not query or r.matches(query))
                and (provenance is None or ("unknown".startswith(provenance) and r.key in unknown))
            ]
        else:
            self.rows = list(self.all_rows)
        index = self.index_of(self.selected) if self.selected is not None else None
        self._quiet = True
        try:
            self.set_row_count(len(self.rows), 0 if index is None else index)
        finally:
            self._quiet = False
        self._update_titles()
        self.ask_again()

    def index_of(self, key: ResourceKey | None) -> int | None:
        if not self.filtered and self._positions is not None:
            return self._positions.get(key) if key is not None else None
        for index, row in enumerate(self.rows):
            if row.key == key:
                return index
        return None

    def current(self) -> ResourceRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def _update_titles(self) -> None:
        counts = self._counts
        if counts is None:
            counts = {}
            for row in self.all_rows:
                counts[row.state] = counts.get(row.state, 0) + 1
        badges = BADGES if self.compare_title is None else COMPARE_BADGES
        if self.compare_title is not None:
            counts = {}
            for row in self.all_rows:
                counts[row.state] = counts.get(row.state, 0) + 1
        parts = [f"{badges[s][0]}{counts.get(s, 0)}" for s in badges]
        if not self.complete and self.compare_title is None:
            parts = ["counting…"]
        flagged = self._flagged()
        if flagged and (self.complete or self.compare_title is not None):
            parts.append(f"{UNKNOWN_GLYPH}{flagged}")
        shown = f"{len(self.rows)}/{len(self.all_rows)}" if self.filtered else f"{len(self.rows)}"
        # The scope is the user's own typing, shown as typed (never read as markup); where
        # the list is too narrow for it after "Resources", it goes first.
        heading = "Resources" if self.compare_title is None else f"Compare {self.compare_title}"
        title = f"{heading} {shown} {self.scope.label}".rstrip()
        if self.scope and len(title) > self.size.width - 6:
            title = f"{self.scope.label} {shown}"
        self.border_title = literal(title)
        self.border_subtitle = literal(
            " ".join(parts) + (f" /{self.query_text}" if self.query_text else "")
        )

    def _flagged(self) -> int:
        """How many rows shown run a digest of unknown provenance: counted once per set
        of rows and of flags (tens of thousands of keys at 100,000 objects, on the event
        loop at every step otherwise)."""
        positions = self._positions
        known = self._flagged_for
        if known is not None and known[0] is self.unknown and known[1] is positions:
            return known[2]
        flagged = sum(1 for k in self.unknown if positions is None or k in positions)
        self._flagged_for = (self.unknown, positions, flagged)
        return flagged

    # -- rendering ----------------------------------------------------------------------
    def row_text(self, index: int) -> Text:
        row = self.rows[index]
        width = self.scrollable_content_region.width
        glyph, label = (
            BADGES.get(row.state)
            or COMPARE_BADGES.get(row.state)
            or (PENDING_BADGE if row.state == PENDING else ("?", printable(row.state)))
        )
        style_name = row.state
        if row.ignored:
            (glyph, label), style_name = IGNORED_BADGE, "ignored"
        badge_style = self.get_component_rich_style(f"state--{style_name}", partial=True)
        ns_style = self.get_component_rich_style("resource--namespace", partial=True)
        # The namespace shows on its first row, and on the top row when scrolled into a group.
        first_of_ns = index in (0, self.scroll_offset.y) or (
            self.rows[index - 1].key.namespace != row.key.namespace
        )
        ns_width = 12 if width >= 50 else 10
        namespace = printable(row.key.namespace or "-") if first_of_ns else ""
        text = Text(no_wrap=True)
        text.append(f"{namespace[:ns_width]:<{ns_width}} ", ns_style)
        kind = row.key.kind
        if width < WHOLE_KINDS_WIDTH:
            kind = SHORT_KINDS.get(kind, kind)
        kind_name = printable(f"{kind}/{row.key.name}")
        badge = f"{glyph} {label}" if width >= 38 else glyph
        tail_width = len(badge) + 1
        cause = ""
        if width >= CAUSE_WIDTH and row.last_change_at:
            # Blank until the cause is read, rather than a glyph that then changes.
            known = self.cause_of(row)
            cause = f" {CAUSE_GLYPHS.get(known, '·') if known else ' '}"
            tail_width += len(cause)
        # A digest no recorded build produced runs here: flagged after the name.
        flag = f" {UNKNOWN_GLYPH}" if row.key in self.unknown else ""
        tail_width += len(flag)
        room = max(4, width - ns_width - 1 - tail_width - 1)
        if len(kind_name) > room:
            kind_name = kind_name[: room - 1] + "…"
        text.append(f"{kind_name:<{room}}")
        if flag:
            warn = self.get_component_rich_style("state--drifted", partial=True)
            text.append(flag, legible_on(warn, self.rich_style.bgcolor))
        # Legible on every row style: moved off the surface's colour where the theme
        # made them close, and as a chip on the cursor row (its highlight may be the
        # state's own colour).
        if index == self.cursor:
            text.append(f" {badge}", chip(badge_style, self.rich_style.bgcolor))
        else:
            text.append(" ")
            text.append(badge, legible_on(badge_style, self.rich_style.bgcolor))
        if cause:
            text.append(cause, self.dim_style())
        elif index == self.cursor:
            text.append(" ", chip(badge_style, self.rich_style.bgcolor))
        if self.loading_stale:
            text.stylize(self.dim_style())
        return text

    # -- events ---------------------------------------------------------------------------
    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._ask_causes()

    def on_resize(self) -> None:
        # LineList.on_resize runs too (handlers of every class in the MRO do).
        self._update_titles()
        self.call_after_refresh(self._ask_causes)

    def cursor_moved(self, index: int) -> None:
        if self._quiet:
            return
        row = self.rows[index]
        if row.key != self.selected:
            self.selected = row.key
            self.post_message(ResourceHighlighted(row.key))

    def row_chosen(self, index: int) -> None:
        self.cursor_moved(index)

"""An investigation on the screen (issue 24): ignored differences shown or hidden (``I``),
notes pinned at the cursor (``t``), a moment marked (``m``) and compared with the cursor
(``x``) or another cluster at the cursor (``X``), a resource's drift intervals (``D``).

Reads and the one write (a note) run in thread workers over
:class:`~timetravel.query.screen.ScreenData`; the screen never touches the store itself.
In compare mode the resource list shows what was added, removed or changed from A to B,
and the side-by-side the selected resource at A and at B; esc (or ``x`` again) leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from textual import on, work
from textual.message import Message

from timetravel.domain.model import ResourceKey
from timetravel.domain.notes import Note
from timetravel.errors import UserError
from timetravel.query.compare import Difference
from timetravel.query.drift_report import Drift
from timetravel.query.rows import ResourceRow, ResourceSet
from timetravel.tui.messages import ResourceHighlighted
from timetravel.tui.scrub import ScrubbingApp
from timetravel.tui.widgets.cause_panel import CausePanel
from timetravel.tui.widgets.cluster_picker import ClusterScreen
from timetravel.tui.widgets.desired_actual import DesiredActualView, FieldDiffList
from timetravel.tui.widgets.header import StatusHeader
from timetravel.tui.widgets.investigate import (
    DriftScreen,
    NoteRequest,
    NoteScreen,
    drift_lines,
)
from timetravel.tui.widgets.resource_list import ResourceList
from timetravel.tui.widgets.timeline import Timeline


@dataclass
class CompareLoaded(Message):
    """What differs between A and B (``request``: the compare asked last)."""

    request: int
    differences: list[Difference]


@dataclass
class PairLoaded(Message):
    """The selected resource at A and at B."""

    request: int
    key: ResourceKey
    a: dict[str, Any] | None
    b: dict[str, Any] | None


@dataclass
class NoteWritten(Message):
    note: Note | None
    error: str | None = None


@dataclass
class DriftsLoaded(Message):
    key: ResourceKey
    at: datetime
    drifts: list[Drift]


class Investigating(ScrubbingApp):
    """Ignored differences, notes, marks and compare mode, drift intervals; the app
    calls the hooks below from its loads and panels."""

    # Made by the app's compose.
    w_header: StatusHeader
    w_timeline: Timeline
    w_resources: ResourceList
    w_yaml: DesiredActualView
    w_fields: FieldDiffList
    w_cause: CausePanel
    resources: ResourceSet | None
    unified: bool
    noise: bool

    show_ignored = True  # differences an ignore rule covers, dimmed with the rule (I)
    mark_at: datetime | None = None  # the moment marked to compare with (A)
    comparing: str | None = None  # None; "moments": A is the mark; else the cluster B
    differences: Mapping[ResourceKey, Difference] = MappingProxyType({})
    pair: PairLoaded | None = None
    _compare_request = 0

    # -- ignored differences ------------------------------------------------------------
    def action_toggle_ignored(self) -> None:
        self.show_ignored = not self.show_ignored
        self.notify(
            "ignored differences shown, dimmed with their rule"
            if self.show_ignored
            else "ignored differences hidden (counted in the panel's title)",
            timeout=3,
        )
        self.show_panels()

    # -- notes --------------------------------------------------------------------------
    def action_note(self) -> None:
        at = self.moment
        shown = at.astimezone(self.tz).strftime("%a %m-%d %H:%M:%S")

        def chosen(request: NoteRequest | None) -> None:
            if request is not None:
                self._write_note(at, request)

        self.push_screen(NoteScreen(shown, self.selected), chosen)

    @work(group="note", thread=True, exit_on_error=False)
    def _write_note(self, at: datetime, request: NoteRequest) -> None:
        try:
            note = self.data.add_note(at, request.text, request.key)
        except UserError as exc:
            self.post_message(NoteWritten(None, str(exc)))
            return
        self.post_message(NoteWritten(note))

    @on(NoteWritten)
    def _note_written(self, message: NoteWritten) -> None:
        if message.note is None:
            self.notify(message.error or "note not written", title="Note", severity="error")
            return
        note = message.note
        about = f" on {note.resource}" if note.resource else ""
        self.notify(f"noted{about} by {note.author}", title="Note", timeout=4)
        self.note_added()

    def note_added(self) -> None:
        """A note was written: the timeline's marks and the cause panel read again."""

    # -- mark and compare ----------------------------------------------------------------
    def action_mark(self) -> None:
        """Mark the cursor's moment (A); again at the same moment clears the mark."""
        at = self.moment
        if self.mark_at == at:
            self.mark_at = None
            self.leave_compare()
            self.notify("mark cleared", timeout=2)
        else:
            self.mark_at = at
            shown = at.astimezone(self.tz).strftime("%a %H:%M:%S")
            self.notify(f"marked {shown}: move, then x compares the cursor with it", timeout=4)
            if self.comparing == "moments":
                self._load_compare()
        self.w_timeline.set_mark(self.mark_at)
        self._show_mark()

    def _show_mark(self) -> None:
        mark = ""
        if self.comparing not in (None, "moments"):
            mark = f"vs {self.comparing}"
        elif self.mark_at is not None:
            shown = self.mark_at.astimezone(self.tz).strftime("%H:%M:%S")
            mark = f"A {shown}" + (" → cursor" if self.comparing else "")
        self.w_header.update_state(mark=mark)

    def action_compare(self) -> None:
        """Compare the cursor with the marked moment (again: leave compare mode)."""
        if self.comparing is not None:
            self.leave_compare()
            return
        if self.mark_at is None:
            self.notify("mark a moment first (m), move the cursor, then x", timeout=4)
            return
        self.comparing = "moments"
        self._enter_compare()

    def action_compare_cluster(self) -> None:
        """Compare the cluster shown with another at the cursor (again: leave)."""
        if self.comparing is not None:
            self.leave_compare()
            return
        others = [c for c in self.data.clusters() if c != self.data.cluster]
        if not others:
            self.notify("only one cluster is recorded in this store", timeout=3)
            return

        def chosen(name: str | None) -> None:
            if name is not None:
                self.comparing = name
                self._enter_compare()

        if len(others) == 1:
            chosen(others[0])
        else:
            self.push_screen(ClusterScreen(others, None), chosen)

    def _enter_compare(self) -> None:
        self._show_mark()
        self.w_resources.compare_title = self._compare_title()
        self._load_compare()

    def _compare_title(self) -> str:
        if self.comparing == "moments" and self.mark_at is not None:
            return "A→cursor"
        return f"{self.data.cluster}→{self.comparing}"

    def leave_compare(self) -> bool:
        """Leave compare mode (esc); False when not in it."""
        if self.comparing is None:
            return False
        self.comparing = None
        self.differences = MappingProxyType({})
        self.pair = None
        self._compare_request += 1
        self.w_resources.compare_title = None
        self._show_mark()
        resources = self.resources
        if resources is not None:
            self.w_resources.set_rows(
                resources.rows,
                self.selected,
                positions=resources.positions,
                counts=resources.counts,
            )
            current = self.w_resources.current()
            if current is not None and current.key != self.selected:
                # Selected among the differences (another cluster's, one removed): the
                # list's row is the selection again.
                self.post_message(ResourceHighlighted(current.key))
        self.show_panels()
        return True

    def compare_at_cursor(self) -> None:
        """The cursor moved (B): compare again, when comparing."""
        if self.comparing is not None:
            self._load_compare()

    def _load_compare(self) -> None:
        self._compare_request += 1
        self.w_resources.loading_stale = True
        self.w_resources.refresh()
        self._compare_worker(self._compare_request, self.comparing, self.mark_at, self.moment)

    @work(exclusive=True, group="compare", thread=True, exit_on_error=False)
    def _compare_worker(
        self, request: int, comparing: str | None, mark: datetime | None, at: datetime
    ) -> None:
        if comparing is None:
            return
        if comparing == "moments":
            if mark is None:
                return
            found = self.data.compare_moments(mark, at)
        else:
            found = self.data.compare_clusters(at, comparing)
        self.post_message(CompareLoaded(request, found))

    @on(CompareLoaded)
    def _compare_loaded(self, message: CompareLoaded) -> None:
        if message.request != self._compare_request or self.comparing is None:
            return
        self.differences = MappingProxyType({d.key: d for d in message.differences})
        rows = [ResourceRow(d.key, d.change, None, None, None) for d in message.differences]
        listing = self.w_resources
        listing.loading_stale = False
        listing.compare_title = self._compare_title()
        selected = self.selected if self.selected in self.differences else None
        if selected is None and rows:
            selected = rows[0].key
        listing.set_rows(rows, selected)
        if selected is not None and selected != self.selected:
            # As the list's cursor would: the detail (the cause panel) and A and B read.
            self.post_message(ResourceHighlighted(selected))
        elif selected is not None:
            self._load_pair(selected)
        else:
            self.pair = None
            self.show_panels()

    def highlighted(self, key: ResourceKey) -> None:
        """The selection moved (the app loads its detail; in compare mode, A and B too)."""
        if self.comparing is not None:
            self._load_pair(key)

    def _load_pair(self, key: ResourceKey) -> None:
        difference = self.differences.get(key)
        a_key = difference.a if difference is not None and difference.a else key
        b_key = difference.b if difference is not None and difference.b else key
        moments = self.comparing == "moments" and self.mark_at is not None
        a_at = self.mark_at if moments and self.mark_at is not None else self.moment
        self._pair_worker(self._compare_request, key, a_key, a_at, b_key, self.moment)

    @work(exclusive=True, group="pair", thread=True, exit_on_error=False)
    def _pair_worker(
        self,
        request: int,
        key: ResourceKey,
        a_key: ResourceKey,
        a_at: datetime,
        b_key: ResourceKey,
        b_at: datetime,
    ) -> None:
        a = self.data.object_at(a_key, a_at)
        b = self.data.object_at(b_key, b_at)
        self.post_message(PairLoaded(request, key, a, b))

    @on(PairLoaded)
    def _pair_loaded(self, message: PairLoaded) -> None:
        if message.request != self._compare_request or message.key != self.selected:
            return
        self.pair = message
        self.show_panels()

    def show_compared(self) -> bool:
        """In compare mode, the selected resource at A and at B in the side-by-side and
        what changed in the field panel; False (nothing shown) when not comparing."""
        if self.comparing is None:
            return False
        pair = self.pair if self.pair is not None and self.pair.key == self.selected else None
        if self.comparing == "moments" and self.mark_at is not None:
            left = "A " + self.mark_at.astimezone(self.tz).strftime("%H:%M:%S")
            right = "B " + self.moment.astimezone(self.tz).strftime("%H:%M:%S")
        else:
            left, right = str(self.data.cluster), str(self.comparing)
        difference = self.differences.get(self.selected) if self.selected else None
        self.w_yaml.show_pair(
            self.selected,
            pair.a if pair else None,
            pair.b if pair else None,
            (left, right),
            unified=self.unified,
            noise=self.noise,
            loading=pair is None and self.selected is not None,
        )
        self.w_fields.show_difference(self.selected, difference, (left, right))
        return True

    def show_panels(self) -> None:
        """Show the selected resource's panels again (the app's)."""

    # -- drift intervals -----------------------------------------------------------------
    def action_drift_intervals(self) -> None:
        key = self.selected
        if key is None:
            self.notify("no resource selected", timeout=2)
            return
        # Up to the last record: the drifts after the cursor are part of its story too.
        until = max(self.moment, self.last_at or self.moment)
        self._drifts_worker(key, self.moment, until)

    @work(exclusive=True, group="drifts", thread=True, exit_on_error=False)
    def _drifts_worker(self, key: ResourceKey, at: datetime, until: datetime) -> None:
        self.post_message(DriftsLoaded(key, at, self.data.drift_intervals(key, until)))

    @on(DriftsLoaded)
    def _drifts_loaded(self, message: DriftsLoaded) -> None:
        body = drift_lines(message.drifts, self.tz, message.at)
        self.push_screen(DriftScreen(message.key, body))

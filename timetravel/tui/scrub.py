"""The time cursor and the keys that move it: step, shift, jump, zoom, go to, live.

Moving the cursor repaints at once what needs no data (the timeline's cursor, the header);
the loads for the new moment start once keys have been quiet for ``QUIET`` (a held key
passes moments nobody waits to see). Seeks that need the store run in thread workers.
In LIVE the cursor follows the clock (``tick``, every second: a repaint, no load) and the
newest facts (the app's poll of the store: a load).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

from textual import on, work
from textual.app import App
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.worker import get_current_worker

from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.timeparse import parse_time
from timetravel.host import local_zone
from timetravel.query.detail import Detail
from timetravel.query.rows import Superseded
from timetravel.query.screen import ScreenData
from timetravel.query.timeline import step_in
from timetravel.tui.keys import DEFAULT_ZOOM, QUIET, ZOOMS
from timetravel.tui.messages import CursorRequested, SeekDone
from timetravel.tui.widgets.dialogs import GotoScreen


class ScrubbingApp(App[None]):
    """The cursor over time; the app fills the panels (``_paint_cursor``, the loads)."""

    def __init__(
        self,
        data: ScreenData,
        *,
        at: datetime | None,
        now: datetime | Callable[[], datetime] | None,
        tz: tzinfo | None,
        live: bool,
        select: ResourceKey | None,
    ) -> None:
        super().__init__()
        self.data = data
        if isinstance(now, datetime):
            frozen = now
            self._clock: Callable[[], datetime] = lambda: frozen
        else:
            self._clock = now or (lambda: datetime.now(UTC))
        self.tz = tz or local_zone()
        self.cursor: datetime = at or self._clock()
        self.live = live
        self.zoom_index = DEFAULT_ZOOM
        self.view_start = self.cursor - ZOOMS[self.zoom_index] / 2
        self.selected: ResourceKey | None = select
        self.detail: Detail | None = None
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None
        self._seek_request = 0
        self._seek_origin: datetime | None = None
        self._seek_steps = 0
        self._load_timer: Timer | None = None
        self._loaded_at: datetime | None = None  # the cursor the panels were last read for

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast that shows its text as written: no markup unless asked, control
        characters visible. Messages quote recorded text (a failed load's error, a path),
        which Textual would otherwise read as markup and send to the terminal raw."""
        super().notify(
            printable(message),
            title=printable(title),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    # -- for the app ---------------------------------------------------------------------------
    def _paint_cursor(self) -> None:
        """Show the cursor where it is now (no store read)."""

    def _load_at_cursor(self) -> None:
        """Start the loads for the moment at the cursor."""

    def _load_timeline(self) -> None:
        """Start the load of the timeline's visible range."""

    def _loads_idle(self) -> bool:
        """Whether the loads of a moment may start at once: none of the last moment's is
        still running (a step moves the moment read last in a few milliseconds, so a held
        key's every moment is read); else they wait for the keys to be quiet."""
        return False

    def _show_live(self, live: bool) -> None:
        """Show whether the cursor follows now."""

    def before_records(self, at: datetime) -> str | None:
        """What to say of a moment before anything was recorded (None: nothing)."""
        return None

    # -- the cursor ----------------------------------------------------------------------------
    @property
    def span(self) -> timedelta:
        return ZOOMS[self.zoom_index]

    @property
    def moment(self) -> datetime:
        """The moment the panels show, which loads are asked for and answers must match:
        the cursor, except in LIVE, where the clock's tick moves the cursor on without
        reading the store again (nothing new was recorded, so nothing new is to be seen):
        there it is the cursor the panels were last read for."""
        if self.live and self._loaded_at is not None:
            return self._loaded_at
        return self.cursor

    def move_cursor(self, at: datetime, *, keep_live: bool = False) -> None:
        if not keep_live:
            self._set_live(False)
        self.cursor = at
        self._cursor_changed()

    def _cursor_changed(
        self, *, immediate: bool = False, recenter: bool = False, load: bool = True
    ) -> None:
        """Repaint what needs no data now; start the loads after a short quiet spell
        (none with ``load=False``: the clock's tick in LIVE)."""
        end = self.view_start + self.span
        if recenter or not self.view_start <= self.cursor < end:
            fraction = 0.9 if self.live else 0.5
            self.view_start = self.cursor - self.span * fraction
            self._load_timeline()
        self._paint_cursor()
        if not load:
            return
        if self._load_timer is not None:
            self._load_timer.stop()
            self._load_timer = None
        if immediate or self._loads_idle():
            self._load_at_cursor()
        else:
            self._load_timer = self.set_timer(QUIET, self._load_at_cursor)

    # -- live ----------------------------------------------------------------------------------
    def _follow_now(self, last: datetime | None = None) -> None:
        latest = last or self.last_at
        now = self._clock()
        self.cursor = max(now, latest) if latest else now

    def tick(self) -> None:
        """The clock moved on: in LIVE the cursor follows it. Only the cursor and the clock
        are repainted; the panels are read again when the store changes (the poll)."""
        if not self.live:
            return
        before = self.cursor
        self._follow_now()
        if self.cursor != before:
            self._cursor_changed(load=False)

    def _set_live(self, live: bool) -> None:
        if live != self.live:
            self.live = live
            self._show_live(live)

    def action_live(self) -> None:
        self._set_live(not self.live)
        if self.live:
            self._follow_now()
            self._cursor_changed(immediate=True, recenter=True)

    # -- actions: time -------------------------------------------------------------------------
    def action_step(self, direction: int) -> None:
        self._set_live(False)
        if self._seek_origin is None:
            self._seek_origin, self._seek_steps = self.cursor, 0
        self._seek_steps += direction
        self._seek_request += 1
        if self._seek_steps == 0:
            self._seek_origin = None
            return
        self._seek_worker(self._seek_request, self._seek_origin, self._seek_steps, "change")

    def action_shift(self, direction: int) -> None:
        self.move_cursor(self.cursor + self.span / 10 * direction)

    def action_resource_step(self, direction: int) -> None:
        detail = self.detail
        if detail is None or detail.key != self.selected:
            self.notify("no resource selected", timeout=2)
            return
        target = step_in(detail.change_times, self.cursor, forward=direction > 0)
        if target is None:
            self.notify("no change of this resource that way", timeout=2)
            return
        self.move_cursor(target)

    def action_notable(self, direction: int) -> None:
        self._notable_worker(self.cursor, direction > 0)

    def action_goto(self) -> None:
        def parse(text: str) -> datetime:
            return parse_time(text, now=self._clock(), tz=self.tz)

        def done(at: datetime | None) -> None:
            if at is not None:
                self.move_cursor(at)
                empty = self.before_records(at)
                if empty is not None:
                    self.notify(empty, title="Go to", severity="warning", timeout=6)

        self.push_screen(GotoScreen(parse), done)

    def action_first(self) -> None:
        if self.first_at is not None:
            self.move_cursor(self.first_at)
            return
        self._seek_request += 1
        self._seek_origin = self.cursor
        self._seek_worker(self._seek_request, self.cursor, 0, "first")

    def action_last(self) -> None:
        self._follow_now()
        self.move_cursor(self.cursor)

    def action_zoom(self, direction: int) -> None:
        index = max(0, min(len(ZOOMS) - 1, self.zoom_index + direction))
        if index != self.zoom_index:
            self.zoom_index = index
            self._cursor_changed(recenter=True)

    # -- seeking in the store -------------------------------------------------------------------
    @work(exclusive=True, group="seek", thread=True, exit_on_error=False)
    def _seek_worker(self, request: int, origin: datetime, steps: int, what: str) -> None:
        if what == "first":
            target = self.data.time_range()[0]
        elif steps > 0:
            target = self.data.next_change_after(origin, steps)
        else:
            target = self.data.prev_change_before(origin, -steps)
        self.post_message(SeekDone(request, target, what))

    @work(exclusive=True, group="notable", thread=True, exit_on_error=False)
    def _notable_worker(self, origin: datetime, forward: bool) -> None:
        worker = get_current_worker()
        try:
            marker = self.data.next_notable(
                origin, forward=forward, stop=lambda: worker.is_cancelled
            )
        except Superseded:
            return
        self.post_message(
            CursorRequested(marker.at, marker.key) if marker else SeekDone(-1, None, "notable")
        )

    def on_seek_done(self, message: SeekDone) -> None:
        if message.request not in (-1, self._seek_request):
            return
        self._seek_origin = None
        self._seek_steps = 0
        if message.target is None:
            self.notify(f"no {message.what} that way", timeout=2)
            return
        self.move_cursor(message.target)

    @on(CursorRequested)
    def _cursor_requested(self, message: CursorRequested) -> None:
        if message.key is not None and message.key != self.selected:
            self.selected = message.key
            self.detail = None
        self.move_cursor(message.at)

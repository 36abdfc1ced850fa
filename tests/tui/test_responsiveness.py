"""Scrubbing stays responsive: the store is read in worker threads only, one thread per
kind of load, a newer request stops the running one, keys pause running loads, and the
resource list asks for the causes of the rows on screen only."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from textual.pilot import Pilot
from textual.worker import WorkerState

from tests.fixtures.pilot import settle
from timetravel.query.rows import Stop, Superseded
from timetravel.query.screen import ScreenData
from timetravel.tui.app import TimetravelApp
from timetravel.tui.loads import ROWS_PARK_AFTER
from timetravel.tui.widgets.resource_list import CAUSE_GLYPHS, CAUSE_WIDTH, ResourceList

SCRUB = ("right", "right", "left", "down", "shift+right", "shift+left", "minus", "plus", "n")


def run(app: TimetravelApp, scenario: Callable[[Pilot[Any]], Any], size=(120, 36)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(pilot)

    asyncio.run(main())


def borrow_sessions(data: ScreenData, count: int) -> None:
    """Make ``count`` sessions exist at once (each thread holds one until all do)."""
    together = threading.Barrier(count)

    def hold(_: int) -> None:
        with data.session():
            together.wait(timeout=10)

    with ThreadPoolExecutor(count) as pool:
        list(pool.map(hold, range(count)))


def test_scrubbing_reads_the_store_only_in_worker_threads(make_app: Any) -> None:
    app = make_app()
    readers: list[int] = []

    def traced(sql: str) -> None:
        readers.append(threading.get_ident())

    async def scenario(pilot: Pilot[Any]) -> None:
        data = app.data
        # More sessions than loads can borrow at once, each traced, and this thread's own.
        borrow_sessions(data, 16)
        for session in data._pool:
            session.reader.conn.set_trace_callback(traced)
        data.reader().conn.set_trace_callback(traced)
        for key in SCRUB:
            await pilot.press(key)
        await settle(pilot)
        assert len(data._pool) == 16  # no connection made meanwhile, untraced

    run(app, scenario)
    assert readers, "the trace saw no read"
    assert threading.get_ident() not in readers


def blocking(name: str, log: list[str]) -> Callable[[Stop], None]:
    """A load that runs until it is told to stop, then gives up as the data layer does."""

    def job(stop: Stop) -> None:
        log.append(f"{name} started")
        while not stop():
            time.sleep(0.002)
        log.append(f"{name} stopped")
        raise Superseded

    return job


def test_a_newer_load_stops_the_running_one_and_waits_for_it(make_app: Any) -> None:
    app = make_app()
    log: list[str] = []
    most_running = 0

    def running() -> int:
        nonlocal most_running
        count = sum(
            1 for w in app.workers if w.group == "around" and w.state == WorkerState.RUNNING
        )
        most_running = max(most_running, count)
        return count

    async def scenario(pilot: Pilot[Any]) -> None:
        slot = app.loads.slots["around"]
        slot.request("a", blocking("a", log))
        while "a started" not in log:
            await pilot.pause(0.01)
        slot.request("b", blocking("b", log))  # stops a, waits for it
        slot.request("b", blocking("b", log))  # the same again: nothing more
        slot.request("c", lambda stop: log.append("c ran"))  # replaces b before it starts
        for _ in range(100):
            running()
            await pilot.pause(0.005)
        await settle(pilot)
        slot.request("d", blocking("d", log))
        while "d started" not in log:
            await pilot.pause(0.01)
        slot.request("d", blocking("d", log))  # what runs already: it is not restarted
        running()
        slot.request("e", lambda stop: log.append("e ran"))
        await settle(pilot)

    run(app, scenario)
    assert log == ["a started", "a stopped", "c ran", "d started", "d stopped", "e ran"]
    assert most_running == 1


class Ticking:
    """A load that counts while it runs, until it is stopped."""

    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self, stop: Stop) -> None:
        while not stop():
            self.ticks += 1
            time.sleep(0.002)
        raise Superseded


def test_keys_pause_running_loads_until_they_stop_coming(make_app: Any) -> None:
    app = make_app()
    ticking = Ticking()

    async def scenario(pilot: Pilot[Any]) -> None:
        loads = app.loads
        loads.hold_for = 30.0  # held until the next key says otherwise
        loads.slots["around"].request("ticking", ticking)
        while ticking.ticks < 5:
            await pilot.pause(0.01)
        await pilot.press("z")
        held = ticking.ticks
        await pilot.pause(0.2)
        assert ticking.ticks - held <= 1  # parked at its next look at stop
        loads.hold_for = 0.01
        await pilot.press("z")
        await pilot.pause(0.2)
        assert ticking.ticks - held > 5  # resumed once keys were quiet
        loads.slots["around"].request("end", lambda stop: None)
        await settle(pilot)

    run(app, scenario)


def test_a_key_parks_the_rows_load_only_once_it_has_run_a_while(make_app: Any) -> None:
    """A step's rows land though the next key of a held key came meanwhile (parked at once,
    they held the slot until the keys stopped, and every moment after passed unread); a
    load still running after ``ROWS_PARK_AFTER`` (a build) parks like any other."""
    app = make_app()
    ticking = Ticking()

    async def scenario(pilot: Pilot[Any]) -> None:
        loads = app.loads
        loads.hold_for = 30.0  # held until the next key says otherwise
        slot = loads.slots["resources"]
        assert slot.park_after == ROWS_PARK_AFTER > 0
        slot.park_after = 0.5  # as it is, whatever ROWS_PARK_AFTER becomes
        slot.request("ticking", ticking)
        while ticking.ticks < 5:
            await pilot.pause(0.01)
        await pilot.press("z")
        held = ticking.ticks
        await pilot.pause(0.15)
        assert ticking.ticks - held > 10, "not parked yet: it has run less than park_after"
        await pilot.pause(0.5)
        later = ticking.ticks
        await pilot.pause(0.2)
        assert ticking.ticks - later <= 1, "parked once it had run park_after"
        loads.hold_for = 0.01
        await pilot.press("z")
        await pilot.pause(0.2)
        assert ticking.ticks - later > 5  # resumed once keys were quiet
        slot.request("end", lambda stop: None)
        await settle(pilot)

    run(app, scenario)


def test_causes_are_read_for_the_rows_on_screen(make_app: Any) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[Any]) -> None:
        listing = app.w_resources
        assert listing.scrollable_content_region.width < CAUSE_WIDTH
        assert not listing.causes  # not shown, not read
        app.query_one("#left").styles.width = CAUSE_WIDTH + 10  # wide enough to show them
        await settle(pilot)
        height = listing.scrollable_content_region.height
        assert len(listing.rows) > height  # some rows are off screen

        def explained() -> set[int]:
            rows = {(row.key, row.last_change_at): index for index, row in enumerate(listing.rows)}
            return {rows[known] for known in listing.causes if known in rows}

        top = listing.scroll_offset.y
        on_screen = set(range(top, top + height))
        assert explained() == {i for i in on_screen if listing.rows[i].last_change_at}
        shown = listing.row_text(top).plain
        assert shown.rstrip()[-1] in CAUSE_GLYPHS.values()
        listing.focus()
        await pilot.press("end")  # a time key in the list: jumps to the latest moment
        await settle(pilot)
        listing.cursor = len(listing.rows) - 1
        await settle(pilot)
        top = listing.scroll_offset.y
        assert top > 0
        assert {i for i in range(top, len(listing.rows))} <= explained()

    run(app, scenario, size=(120, 30))


def test_a_far_jump_shows_the_rows_around_the_selection_then_every_row(make_app: Any) -> None:
    """Home, with nothing of the moment kept: the list first shows a glimpse (the rows
    around the selection made, the rest pending, "counting…" for the counts), then the
    whole moment, with its counts (issue 26 item 2)."""
    from unittest import mock

    from timetravel.query import incremental
    from timetravel.query.rows import PENDING

    app = make_app()
    shown: list[tuple[bool, str, str | None]] = []
    set_rows = ResourceList.set_rows

    def recorded(self: ResourceList, rows: Any, selected: Any, **kwargs: Any) -> None:
        set_rows(self, rows, selected, **kwargs)
        row = self.current()
        shown.append((self.complete, str(self.border_subtitle), row.state if row else None))

    async def scenario(pilot: Pilot[Any]) -> None:
        app.data.invalidate()
        shown.clear()
        await pilot.press("home")
        await settle(pilot)

    with (
        mock.patch.object(ResourceList, "set_rows", recorded),
        mock.patch.object(incremental, "NEAR_REVISIONS", 1),
        mock.patch("timetravel.query.glimpse.SPAN", 2),
        mock.patch("timetravel.query.glimpse.LEAST", 0),
    ):
        run(app, scenario)
    firsts = [s for s in shown if not s[0]]
    assert firsts, shown
    assert all("counting…" in subtitle for _, subtitle, _ in firsts)
    assert all(state not in (None, PENDING) for *_, state in firsts)  # the selection is made
    complete, subtitle, _ = shown[-1]
    assert complete and "counting…" not in subtitle and "✓" in subtitle
    listing = app.w_resources
    assert all(row.state != PENDING for row in listing.all_rows)

"""A pruned store on the screen: the timeline shows where kept history starts, and a
cursor before it says that nothing is known there rather than showing an empty cluster."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.fixtures.pilot import settle
from tests.fixtures.sample import INCIDENT
from timetravel.domain.times import to_stored
from timetravel.store.db import open_database
from timetravel.store.prune import prune
from timetravel.tui.widgets.resource_list import ResourceList
from timetravel.tui.widgets.timeline import KEPT_FROM, PRUNED

CUT = INCIDENT - timedelta(hours=6)  # inside the day the screen opens on


def test_the_screen_shows_where_kept_history_starts(make_app: Any, own_store: Path) -> None:
    db = open_database(own_store)
    prune(db, to_stored(CUT))
    db.conn.close()
    app = make_app(db=own_store, poll_interval=0.05)

    async def main() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            assert app.kept_from == CUT
            timeline = app.w_timeline
            _, bars, marks, legend = (
                line.plain for line in timeline._base_lines(timeline.size.width)
            )
            kept_col = marks.index(KEPT_FROM)
            assert 0 < kept_col < len(marks) // 2
            assert set(bars[:kept_col]) == {PRUNED}  # before it: pruned, whatever is there
            assert PRUNED not in bars[kept_col:]
            assert legend.rstrip().endswith(f"{PRUNED} pruned")
            header = app.w_header.render().plain
            assert "kept from Thu 2026-11-19 15:30:00 UTC" in header and "pruned:" not in header
            listing = app.query_one(ResourceList)
            assert listing.rows  # at the incident, after the cut: the cluster as it was

            app.move_cursor(CUT - timedelta(hours=2))
            await settle(pilot)
            header = app.w_header.render().plain
            assert "pruned: history kept from Thu 2026-11-19 15:30:00 UTC" in header
            assert listing.rows == []  # not an empty cluster: not known
            assert listing.border_title == "Resources 0"

            app.move_cursor(CUT)
            await settle(pilot)
            assert listing.rows
            assert "pruned:" not in app.w_header.render().plain

    asyncio.run(main())


def test_an_unpruned_store_shows_nothing_of_it(make_app: Any, sample_store: Path) -> None:
    app = make_app(poll_interval=0.05)

    async def main() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            assert app.kept_from is None
            timeline = app.w_timeline
            lines = [line.plain for line in timeline._base_lines(timeline.size.width)]
            assert not any(PRUNED in line or KEPT_FROM in line for line in lines)
            assert "kept from" not in app.w_header.render().plain

    asyncio.run(main())

"""LIVE follows the present: a commit reaches the screen without any cluster change, the
clock moves the cursor on, and the header says "in a gap" exactly while the cursor is in
one."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.fixtures.pilot import settle, wait_until
from tests.fixtures.sample import SAMPLE_GAP, SAMPLE_NOW
from tests.gitrepo import GitOpsRepo
from timetravel.domain.times import from_stored, to_stored
from timetravel.recorder.git import GitSource
from timetravel.tui.app import TimetravelApp
from timetravel.tui.widgets.header import StatusHeader
from timetravel.tui.widgets.resource_list import ResourceList


def config_map(name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "payments"},
        "data": {"value": value},
    }


def header_text(app: TimetravelApp) -> str:
    return app.query_one(StatusHeader).render().plain


def test_live_shows_a_new_commit_without_any_cluster_change(
    make_app: Any, own_store: Path, tmp_path: Path
) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("apps/flags.yaml", config_map("checkout-flags", "off"))
    repo.commit("initial flags", SAMPLE_NOW - timedelta(hours=2))
    seen_at = SAMPLE_NOW + timedelta(minutes=2)  # the recorder's clock when the ref moves
    source = GitSource(
        own_store, repo.path, cluster="prod", clock=lambda: to_stored(seen_at), progress=False
    )
    source.sync()  # the backfill, before the screen starts
    app = make_app(db=own_store, at=None, live=True, poll_interval=0.05)

    async def main() -> None:
        async with app.run_test(size=(140, 36)) as pilot:
            await settle(pilot)
            listing = app.query_one(ResourceList)
            assert app.live
            assert "ledger-flags" not in {r.key.name for r in listing.rows}
            repo.write("apps/ledger.yaml", config_map("ledger-flags", "strict"))
            sha = repo.commit("ledger flags", SAMPLE_NOW - timedelta(minutes=1))
            # The real recorder's look after the ref moved; no revision is written.
            assert await asyncio.to_thread(source.sync, live=True) == 1

            def commit_marked() -> bool:
                return any(
                    m.kind == "commit" and m.label.startswith(sha[:7])
                    for m in app.w_timeline.markers
                )

            assert await wait_until(pilot, commit_marked), "the commit is on the timeline"
            assert await wait_until(
                pilot, lambda: "ledger-flags" in {r.key.name for r in listing.rows}
            ), "what the commit declares is listed"
            await settle(pilot)
            assert app.live and app.cursor == seen_at
            assert "gitops@main" in header_text(app)

    asyncio.run(main())


def test_live_clock_moves_the_cursor_without_reading_the_store(
    make_app: Any, own_store: Path
) -> None:
    clock = [SAMPLE_NOW + timedelta(minutes=1)]
    app = make_app(db=own_store, at=None, live=True, now=lambda: clock[0], clock_tick=0.05)

    async def main() -> None:
        async with app.run_test(size=(140, 36)) as pilot:
            await settle(pilot)
            loaded = app.cursor
            assert loaded == clock[0]
            shown = app.query_one(ResourceList).rows
            for seconds in (1, 7, 65):
                clock[0] = SAMPLE_NOW + timedelta(minutes=1, seconds=seconds)
                assert await wait_until(pilot, lambda: app.cursor == clock[0])
                assert f"{clock[0]:%H:%M:%S}" in header_text(app), header_text(app)
            # A repaint, not a load: nothing new was recorded.
            assert app.moment == loaded and app.query_one(ResourceList).rows is shown
            assert not app.loads.busy
            # Out of LIVE the clock no longer moves it.
            await pilot.press("l")
            assert not app.live
            at = app.cursor
            clock[0] += timedelta(seconds=30)
            await pilot.pause(0.3)
            assert app.cursor == at

    asyncio.run(main())


def test_in_a_gap_follows_the_cursor_into_and_out_of_a_recorded_gap(make_app: Any) -> None:
    started, ended = from_stored(SAMPLE_GAP.started_at), from_stored(SAMPLE_GAP.ended_at)
    before = started - timedelta(minutes=20)
    app = make_app(at=before)

    async def main() -> None:
        async with app.run_test(size=(140, 36)) as pilot:
            await settle(pilot)
            view = app.view_start
            assert "in a gap" not in header_text(app)
            assert "gaps 1" in header_text(app)

            async def move(at: datetime) -> None:
                app.move_cursor(at)
                await pilot.pause()

            await move(started + (ended - started) / 2)
            assert "in a gap" in header_text(app)
            await move(ended + timedelta(minutes=5))
            assert "in a gap" not in header_text(app)
            await move(started + timedelta(minutes=1))
            assert "in a gap" in header_text(app)
            assert app.view_start == view, "all within one view: no new timeline load"

    asyncio.run(main())

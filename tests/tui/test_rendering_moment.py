"""A moment whose commit is recorded but not rendered yet (a backfill records commits
first): the header says `(rendering)`, and once the render lands the screen shows what the
commit declares without a key pressed, also when paused in the past."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.fixtures.pilot import settle, wait_until
from tests.fixtures.sample import SAMPLE_NOW
from tests.gitrepo import GitOpsRepo
from timetravel.domain.times import to_stored
from timetravel.recorder.git import GitSource
from timetravel.tui.app import TimetravelApp
from timetravel.tui.widgets.header import StatusHeader
from timetravel.tui.widgets.resource_list import ResourceList


def config_map(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "payments"},
        "data": {"value": "on"},
    }


def test_a_paused_moment_fills_in_when_its_commit_is_rendered(
    make_app: Any, own_store: Path, tmp_path: Path
) -> None:
    repo = GitOpsRepo(tmp_path / "gitops")
    for number in range(3):
        repo.write(f"apps/flags-{number}.yaml", config_map(f"rendered-flags-{number}"))
        repo.commit(f"flags {number}", SAMPLE_NOW - timedelta(hours=6 - number))
    source = GitSource(
        own_store, repo.path, cluster="prod", clock=lambda: to_stored(SAMPLE_NOW), progress=False
    )
    source.sync(render=False)  # the commits only, as `record` does before watching
    at = SAMPLE_NOW - timedelta(hours=3)  # after the last commit, paused
    app: TimetravelApp = make_app(db=own_store, at=at, poll_interval=0.05)

    async def main() -> None:
        async with app.run_test(size=(140, 36)) as pilot:
            await settle(pilot)
            listing = app.query_one(ResourceList)
            header = app.query_one(StatusHeader)
            assert not app.live
            names = {r.key.name for r in listing.rows}
            assert "rendered-flags-2" not in names
            assert "gitops@main (rendering)" in header.render().plain
            await asyncio.to_thread(source.sync)  # the renders, newest first
            assert await wait_until(
                pilot, lambda: "rendered-flags-2" in {r.key.name for r in listing.rows}
            ), "what the commit declares is listed once rendered"
            await settle(pilot)
            assert "(rendering)" not in header.render().plain
            assert app.cursor == at, "the cursor stayed where it was"

    asyncio.run(main())

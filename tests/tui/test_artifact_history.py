"""The screen tells what really ran (issue 23 item 4): the cause panel of a workload shows
the chain of each running digest (build, source commit, deploy, first run), ``p`` shows
which digests it ran when, and ``prov:unknown`` keeps the rows running an image no recorded
build produced. Driven with Pilot on the demo's week (real git repositories, builds
reported through record-build's path, Pods with containerd imageIDs)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.pilot import Pilot

from tests.fixtures.pilot import Scenario, settle
from tests.fixtures.pilot import drive as _drive
from timetravel.demo.objects import REGISTRY, image_digest
from timetravel.domain.builds import BuildFacts
from timetravel.domain.model import ResourceKey
from timetravel.store.builds import all_builds, upsert_build
from timetravel.store.db import open_database
from timetravel.tui.app import TimetravelApp
from timetravel.tui.widgets.artifacts import ArtifactsScreen, short_digest

INCIDENT = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)
WEB = ResourceKey("prod-eu1", "apps", "Deployment", "frontend", "web")
API = ResourceKey("prod-eu1", "apps", "Deployment", "payments", "api")
DEBUG = ResourceKey("prod-eu1", "", "Pod", "checkout", "debug-bob")
WEB_174 = f"{REGISTRY}/shop/web:1.7.4"
WEB_180 = f"{REGISTRY}/shop/web:1.8.0"
NETSHOOT = "docker.io/nicolaka/netshoot:latest"


def drive(app: TimetravelApp, scenario: Scenario, size: tuple[int, int] = (120, 36)) -> None:
    _drive(app, scenario, size)


def plain(renderable: Any, width: int = 200) -> str:
    console = Console(width=width, color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def cause_text(app: TimetravelApp) -> str:
    return plain(app.w_cause.body.render())


def build_of(store: Path, image: str) -> Any:
    db = open_database(store, readonly=True)
    try:
        return next(b for b in all_builds(db) if b.digest == image_digest(image))
    finally:
        db.conn.close()


def test_the_cause_panel_of_a_workload_shows_the_chain_of_what_it_runs(
    make_app: Any, demo_store: Path
) -> None:
    build = build_of(demo_store, WEB_180)

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        text = cause_text(app)
        lines = text.splitlines()
        head = next(i for i, line in enumerate(lines) if "shop/web:1.8.0" in line)
        chain = "\n".join(lines[head : head + 4])
        assert lines[head].startswith("⬢ shop/web:1.8.0 " + short_digest(image_digest(WEB_180)))
        assert "×3" in lines[head], "three Pods run it"
        assert "built github-actions #4097 Mon 13:33" in chain
        assert f"acme/shop {build.commit[:7]} web: new cart page (Erin Front)" in chain
        assert "first ran Mon 14:04" in chain
        assert "deployed Mon 14:04 deploy-frontend #4101" in chain
        assert "unknown provenance" not in text
        # The old digest stopped running on Monday: not in the chain at Thursday night.
        assert "1.7.4" not in "\n".join(lines[head : head + 5])

    drive(make_app(db=demo_store, select=WEB, at=INCIDENT), scenario)


def test_the_incident_api_runs_the_old_image_while_its_spec_names_the_new_one(
    make_app: Any, demo_store: Path
) -> None:
    # 2.4.0 never pulled: the two Pods still running run 2.3.0's digest, built by #801.
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        text = cause_text(app)
        api_230 = short_digest(image_digest(f"{REGISTRY}/payments/api:2.3.0"))
        assert f"⬢ payments/api:2.3.0 {api_230}" in text
        assert "×2" in text.splitlines()[0]
        assert "built github-actions #801" in text
        assert "2.4.0 " + short_digest(image_digest(f"{REGISTRY}/payments/api:2.4.0")) not in text
        assert "≠ drift since 21:24 by alice@acme.io" in text, "the drift is still told"

    drive(make_app(db=demo_store, select=API, at=INCIDENT), scenario)


def test_unknown_provenance_is_said_in_the_panel_and_flagged_in_the_list(
    make_app: Any, demo_store: Path
) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        text = cause_text(app)
        assert text.splitlines()[0].startswith("⚠ nicolaka/netshoot:latest")
        assert "unknown provenance: no build recorded" in text
        assert "first ran Wed 16:40" in text
        listing = app.w_resources
        flagged = [
            listing.rows[i].key
            for i in range(listing.row_count)
            if "⚠" in listing.row_text(i).plain
        ]
        assert flagged == [DEBUG], "only the Pod running the image no build produced"
        assert "⚠1" in str(listing.border_subtitle)

    drive(make_app(db=demo_store, select=DEBUG, at=INCIDENT), scenario)


def test_prov_unknown_in_the_filter_keeps_the_rows_running_unknown_images(
    make_app: Any, demo_store: Path
) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        everything = len(app.w_resources.rows)
        await pilot.press("slash", *"prov:unknown")
        await settle(pilot)
        assert [r.key for r in app.w_resources.rows] == [DEBUG]
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.w_resources.rows) == everything
        # With other words: they all match, as the filter's words always do.
        await pilot.press("slash", *"prov:unk ns:frontend")
        await settle(pilot)
        assert app.w_resources.rows == []
        await pilot.press("escape")
        await settle(pilot)
        # Before the debugging Pod started (Wednesday 16:40) nothing ran unknown.
        app.move_cursor(datetime(2026, 11, 18, 12, 0, tzinfo=UTC))
        await settle(pilot)
        await pilot.press("slash", *"prov:unknown")
        await settle(pilot)
        assert app.w_resources.rows == []
        assert len(app.w_resources.all_rows) > 10

    drive(make_app(db=demo_store, select=API, at=INCIDENT), scenario)


def test_p_shows_which_digests_ran_when_and_escape_closes_it_at_80x24(
    make_app: Any, demo_store: Path
) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ArtifactsScreen)
        assert screen.shown is not None
        text = plain(screen.shown, width=76)
        old, new = short_digest(image_digest(WEB_174)), short_digest(image_digest(WEB_180))
        # Newest first: 1.8.0 runs at the cursor; 1.7.4 ran Monday until the rollout.
        assert text.index(new) < text.index(old)
        assert f"▶ {new}  shop/web:1.8.0  running at the cursor" in text
        assert "ran Mon 11-16 08:04 → Mon 11-16 14:04 · 3 pods" in text
        assert "built github-actions build-web #4097 Mon 11-16 13:33" in text
        assert "built github-actions build-web #802 Fri 11-13 15:12" in text
        assert image_digest(WEB_180).removeprefix("sha256:") in text, "whole, to copy"
        events = text[text.index("Started and stopped") :].splitlines()[1:]
        assert [line.split("  ", 1)[1].split()[:2] for line in events if line] == [
            ["▶", "started"],
            ["▶", "started"],
            ["■", "stopped"],
        ]
        assert f"Mon 11-16 14:04  ■ stopped {old}" in text
        box = screen.query_one("#artifacts-box")
        assert box.region.right <= 80 and box.region.bottom <= 24
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ArtifactsScreen)

    drive(make_app(db=demo_store, select=WEB, at=INCIDENT), scenario, size=(80, 24))


def test_p_on_a_kind_without_images_says_so(make_app: Any, demo_store: Path) -> None:
    config = ResourceKey("prod-eu1", "", "ConfigMap", "payments", "payments-config")

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, ArtifactsScreen)
        assert "no images: only workloads and Pods run them" in plain(app.screen.shown)
        await pilot.press("p")  # p closes it too
        await settle(pilot)
        assert not isinstance(app.screen, ArtifactsScreen)

    drive(make_app(db=demo_store, select=config, at=INCIDENT), scenario)


def test_recorded_text_of_a_build_is_shown_as_written_never_as_markup(
    make_app: Any, demo_store: Path, tmp_path: Path
) -> None:
    # A build report is CI's text (a commit subject, an author, a run id): "[bold red]"
    # must not turn red and ESC must not reach the terminal.
    store = tmp_path / "hostile.db"
    shutil.copy(demo_store, store)
    db = open_database(store)
    upsert_build(
        db,
        BuildFacts(
            repository="docker.io/nicolaka/netshoot",
            digest=image_digest(NETSHOOT),
            reported_at=datetime(2026, 11, 18, 16, 0, tzinfo=UTC),
            source_repo="https://git.example.com/acme/[red]e",
            commit="0123456789abcdef0123456789abcdef01234567",
            commit_subject="[bold red]pwned[/]\x1b[2J",
            commit_author="Mallory [link=x] <m@x.io>",
            provider="gh\x07",
            run_id="7[/]",
            built_at=datetime(2026, 11, 18, 16, 0, tzinfo=UTC),
        ),
    )
    db.conn.close()

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        text = cause_text(app)
        assert "⬢ nicolaka/netshoot:latest" in text, "a build produced it now"
        assert "built gh\\x07 #7[/]" in text
        assert "acme/[red]e 0123456 [bold red]pwned[/]\\x1b[2J" in text
        assert "\x1b" not in text and "\x07" not in text
        await pilot.press("p")
        await settle(pilot)
        shown = plain(app.screen.shown)  # type: ignore[attr-defined]
        assert "[bold red]pwned[/]\\x1b[2J (Mallory [link=x])" in shown
        assert "\x1b" not in shown

    drive(make_app(db=store, select=DEBUG, at=INCIDENT), scenario)


def test_closing_the_history_before_it_is_read_is_no_error(make_app: Any, demo_store: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("p", "escape")
        await settle(pilot)
        assert not isinstance(app.screen, ArtifactsScreen)
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert errors == []
        await pilot.press("p")  # and it opens again, read
        await settle(pilot)
        assert isinstance(app.screen, ArtifactsScreen)
        assert "shop/web:1.8.0" in plain(app.screen.shown)

    drive(make_app(db=demo_store, select=WEB, at=INCIDENT), scenario, size=(80, 24))


def test_the_unknown_count_moves_with_the_rows_a_step_splices_in_and_out(
    make_app: Any, demo_store: Path
) -> None:
    """A step that adds or removes rows moves the ⚠ count by them (no pass over every row
    on the event loop): with the provenance loads held back, the count the list keeps
    after each step is the count of the rows it shows."""

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        listing = app.w_resources
        assert listing._flagged() == 1
        app.loads.provenance = lambda resources: None  # type: ignore[method-assign]
        spliced, counts = 0, set()
        for key in ["left"] * 6 + ["right"] * 12:
            await pilot.press(key)
            await settle(pilot)
            resources = app.resources
            assert resources is not None and resources.at == app.moment
            spliced += resources.spliced is not None
            known = listing._flagged_for
            fresh = sum(1 for row in listing.all_rows if row.key in listing.unknown)
            if resources.spliced is not None:
                assert known is not None and known[1] is listing._positions, "moved, not counted"
            assert listing._flagged() == fresh
            counts.add(fresh)
        assert spliced >= 3, "steps added or removed rows"
        assert counts == {0, 1}, "the Pod of unknown provenance left the rows and came back"

    # Just after the debugging Pod was made: the steps back go past it.
    just_after = datetime(2026, 11, 18, 16, 41, tzinfo=UTC)
    drive(make_app(db=demo_store, select=DEBUG, at=just_after), scenario)

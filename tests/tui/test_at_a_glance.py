"""The screen an on-call engineer reads at 3 a.m. on a laptop (issue 22): 80x24 at a glance.

Driven headless on the demo's week (git, drift, a pipeline run, a hand edit) and the seeded
week, frozen clock; each test names the item it holds to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static

from tests.fixtures.pilot import settle
from timetravel.domain.model import ResourceKey
from timetravel.query.screen import ScreenData
from timetravel.tui.app import TOO_SMALL, TimetravelApp
from timetravel.tui.contrast import LEGIBLE, contrast
from timetravel.tui.widgets.dialogs import LEGEND, HelpScreen
from timetravel.tui.widgets.export_dialog import ExportScreen
from timetravel.tui.widgets.header import short_status
from timetravel.tui.widgets.resource_list import BADGES
from timetravel.tui.widgets.values import ValuesScreen

DEMO_INCIDENT = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)
DEMO_API = ResourceKey("prod-eu1", "apps", "Deployment", "payments", "api")
API = ResourceKey("prod", "apps", "Deployment", "payments", "api")

Scenario = Callable[[TimetravelApp, Pilot[Any]], Awaitable[None]]


def drive(app: TimetravelApp, scenario: Scenario, size: tuple[int, int] = (80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


def demo_app(make_app: Any, demo_store: Path, **kwargs: Any) -> TimetravelApp:
    kwargs.setdefault("select", DEMO_API)
    app: TimetravelApp = make_app(db=demo_store, at=DEMO_INCIDENT, **kwargs)
    return app


def plain(widget: Any) -> str:
    """What a Static-like widget shows, as text."""
    content = widget.render()
    console = Console(width=400, color_system=None)
    with console.capture() as capture:
        console.print(content)
    return capture.get()


def plain_of(static: Static) -> str:
    """What a Static holding a Rich renderable shows, as text."""
    console = Console(width=120, color_system=None)
    with console.capture() as capture:
        console.print(static.content)
    return capture.get()


def rgb(color: Any) -> tuple[int, int, int]:
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


# -- 1. states readable on the cursor row ------------------------------------------------


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
def test_every_state_reads_on_every_row_style(make_app: Any, demo_store: Path, theme: str) -> None:
    # The selected drifted row's "≠ drifted" was drawn in the highlight's own colour
    # (default theme: $warning and $accent are one orange) and vanished.
    app = demo_app(make_app, demo_store)

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        app.theme = theme
        await settle(pilot)
        listing = app.w_resources
        seen: set[str] = set()
        for focused in (True, False):
            if focused:
                listing.focus()
            else:
                app.w_cause.focus()
            await settle(pilot)
            for index, row in enumerate(listing.rows):
                listing.cursor = index
                await pilot.pause()
                for at_cursor in (index, (index + 1) % len(listing.rows)):
                    row = listing.rows[at_cursor]
                    glyph = BADGES[row.state][0]
                    y = at_cursor - listing.scroll_offset.y
                    if not 0 <= y < listing.scrollable_content_region.height:
                        continue
                    strip = listing.render_line(y)
                    badge = [s for s in strip if glyph in s.text]
                    assert badge, (row.key, glyph)
                    style = badge[0].style
                    ratio = contrast(rgb(style.color), rgb(style.bgcolor))
                    where = "cursor" if at_cursor == index else "row"
                    assert ratio >= LEGIBLE, (theme, where, focused, row.state, round(ratio, 2))
                    seen.add(row.state)
        assert {"in_sync", "drifted", "unmanaged"} <= seen

    drive(app, scenario)


# -- 2. values, not Python ---------------------------------------------------------------


def test_values_are_written_as_data_and_enter_shows_them_whole(
    make_app: Any, demo_store: Path
) -> None:
    # The field diff and the cause panel printed {'name': 'DEBUG', 'value': 't… (a cut
    # Python dict).
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        fields, cause = plain(app.w_fields), plain(app.w_cause.body)
        assert "replicas: git 3, live 6" in fields
        assert 'api env DEBUG: not in git, live "true"' in fields
        assert "api env DEBUG=true added" in cause
        assert "replicas 3 → 6" in cause
        for text in (fields, cause):
            assert "{'" not in text and "'}" not in text, text
        app.w_cause.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ValuesScreen)
        whole = app.screen.body.plain
        assert "spec.template.spec.containers[api].env[DEBUG]" in whole
        assert 'value: "true"' in whole and "name: DEBUG" in whole
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, ValuesScreen), "v anywhere"

    drive(demo_app(make_app, demo_store), scenario)


# -- 3. the change that matters, first ---------------------------------------------------


def test_the_changes_list_sums_a_change_by_its_most_telling_field(
    make_app: Any, demo_store: Path
) -> None:
    # The bad rollout read "metadata.annotations (+1)"; the failed sync had no ✖.
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        rows = [app.w_changes.row_text(i).plain for i in range(app.w_changes.row_count)]
        rollout = next(r for r in rows if "21:04" in r)
        assert "api image payments/api:2.3.0 → 2.4.0" in rollout, rollout
        failed = next(r for r in rows if "21:12" in r)
        assert "✖ argocd/app/payments" in failed, failed
        hand = next(r for r in rows if "21:24" in r)
        assert "✎" in hand and "replicas 3 → 6" in hand

    drive(demo_app(make_app, demo_store), scenario, size=(120, 36))


# -- 4. 80x24 holds the essentials -------------------------------------------------------


def test_80x24_shows_the_moment_the_drift_and_its_cause_without_scrolling(
    make_app: Any, demo_store: Path
) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert "Thu" in plain(app.w_header) and "21:30:00" in plain(app.w_header)
        assert app.w_fields.display and app.w_fields.region.height >= 4
        assert not app.w_yaml.display, "the YAML waits for a bigger terminal"
        assert "payments/Deployment/api ≠ drifted" in str(app.w_fields.border_title)
        cause = app.w_cause
        assert cause.max_scroll_y == 0 or cause.scrollable_content_region.height >= 10
        lines = plain(cause.body).splitlines()
        shown = lines[: cause.scrollable_content_region.height]
        text = "\n".join(shown)
        for needed in (
            "drift since 21:24 by alice@acme.io",
            "21:24 ✎ alice@acme.io (kubectl-edit)",
            "replicas 3 → 6",
            "api env DEBUG=true added",
            "deploy-payments #5121 by carol",
            "https://github.com/acme/gitops/actions/runs/5121",
            "api image payments/api:2.3.0 → 2.4.0",
        ):
            assert needed in text.replace("\n  ", "").replace("\n", " ") or any(
                needed in line for line in shown
            ), (needed, shown)
        listing = app.w_resources
        names = [listing.row_text(i).plain for i in range(listing.row_count)]
        assert not any("…" in n for n in names), names

    drive(demo_app(make_app, demo_store), scenario)


@pytest.mark.parametrize("size", [(79, 24), (80, 23), (60, 15)])
def test_below_80x24_one_line_says_so(make_app: Any, size: tuple[int, int]) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.w_too_small.display
        assert plain(app.w_too_small).strip() == "terminal too small (need 80x24)" == TOO_SMALL
        assert not app.query_one("#main").display and not app.w_header.display

    drive(make_app(select=API), scenario, size=size)


def test_growing_to_80x24_brings_the_screen_back(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.w_too_small.display
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert not app.w_too_small.display and app.query_one("#main").display

    drive(make_app(select=API), scenario, size=(70, 20))


# -- 5. help that explains ---------------------------------------------------------------


def test_help_gives_the_legend_and_keys_in_the_users_words(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        body = plain_of(app.screen.query_one("#help-body", Static))
        for symbol in ("✓", "≠", "✗", "○", "⚙", "✎", "▲", "◆", "░", "✖", "Unified", "Noise"):
            assert any(symbol == s for _, entries in LEGEND for s, _ in entries), symbol
            assert symbol in body, symbol
        rows = {row[3]: row[1] for row in app.screen.rows}
        assert "a tenth of the timeline's window" in rows["time.step_back"]
        assert "one step" not in " ".join(rows.values()).lower()
        assert "creation" in rows["time.next_resource_change"]

    drive(make_app(), scenario)


# -- 6. the export dialog ----------------------------------------------------------------


def test_export_dialog_has_labels_sits_centred_and_errs_once(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        labels = [str(label.render()) for label in screen.query(Label)]
        assert labels[0] == "Format" and labels[-1] == "Write to"
        assert any(label.startswith("Window") for label in labels)
        box = screen.query_one("#export-box").region
        left, right = box.x, app.size.width - box.right
        assert abs(left - right) <= 1, (left, right)
        assert box.y > 1, "not over the header"
        window = screen.query_one("#export-window", Input)
        window.value = "soon"
        window.focus()
        await pilot.press("enter")
        await settle(pilot)
        error = plain(screen.query_one("#export-error", Static))
        assert error.count("cannot read duration") == 1
        assert error.count("largest unit first") == 1, error

    drive(make_app(select=API), scenario, size=(160, 45))


def test_export_dialog_writes_to_the_data_directorys_exports(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("e")
        await settle(pilot)
        path = Path(app.screen.query_one("#export-path", Input).value)
        assert path.parent == tmp_path / "xdg" / "timetravel" / "exports"
        assert path.name.endswith(".json")

    drive(make_app(select=API, export_dir=None), scenario)


# -- 7. status you can trust -------------------------------------------------------------

UNREACHABLE = (
    "git-only (cannot reach the cluster at https://10.0.0.1:6443: "
    "HTTPSConnectionPool(host='10.0.0.1', port=6443): Max retries exceeded with url: "
    "/version (Caused by ConnectTimeoutError(...)))"
)


def test_an_unreachable_cluster_keeps_the_header_whole(make_app: Any) -> None:
    # The long reason pushed the recorder status, the cluster and the repo out.
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        header = plain(app.w_header)
        assert "● git-only (cluster unreachable)" in header, header
        assert "prod" in header
        repos = ",".join(app.w_header.repos) or "no repo"
        assert repos[:10] in header, header

    drive(make_app(select=API, recorder=UNREACHABLE), scenario)


def test_short_status_keeps_the_state_and_says_why_briefly() -> None:
    assert short_status(UNREACHABLE, 40) == "git-only (cluster unreachable)"
    assert (
        short_status("read-only (Unauthorized: token expired)", 30) == "read-only (not authorized)"
    )
    assert short_status("recording (pid 12)", 40) == "recording (pid 12)"


def test_export_before_anything_was_recorded_says_so(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.first_at is not None and app.cursor < app.first_at
        assert "before any record" in plain(app.w_header)
        await pilot.press("e")
        await settle(pilot)
        assert not isinstance(app.screen, ExportScreen)
        said = [n.message for n in app._notifications]
        assert any("no export: nothing was recorded before" in m for m in said), said

    drive(make_app(select=API, at=datetime(2026, 10, 1, tzinfo=UTC)), scenario)


def test_going_to_a_moment_before_anything_was_recorded_says_so(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("g")
        await settle(pilot)
        app.screen.query_one(Input).value = "2026-10-01T00:00:00Z"
        await pilot.press("enter")
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("nothing was recorded before" in m for m in said), said

    drive(make_app(select=API), scenario)


def test_next_change_of_a_resource_not_yet_created_goes_to_its_creation(
    make_app: Any, sample_store: Path
) -> None:
    from tests.fixtures.sample import SAMPLE_NOW

    created = ScreenData(sample_store, now=SAMPLE_NOW).detail(API, SAMPLE_NOW).change_times[0]

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.detail is not None and app.detail.view is None
        assert "not created yet" in plain(app.w_cause.body)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.cursor == created

    drive(make_app(select=API, at=created - timedelta(days=3)), scenario)

"""Every binding, driven headless with Pilot on the seeded week (frozen clock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select

from tests.fixtures.pilot import settle
from tests.fixtures.sample import INCIDENT, SAMPLE_NOW
from timetravel.domain.model import ResourceKey
from timetravel.tui.app import TimetravelApp
from timetravel.tui.widgets.changes_list import ChangesList
from timetravel.tui.widgets.cluster_picker import ClusterScreen
from timetravel.tui.widgets.desired_actual import DesiredActualView
from timetravel.tui.widgets.dialogs import GotoScreen, HelpScreen
from timetravel.tui.widgets.export_dialog import ExportScreen
from timetravel.tui.widgets.resource_list import ResourceList
from timetravel.tui.widgets.timeline import Timeline

API = ResourceKey("prod", "apps", "Deployment", "payments", "api")
BANNER = ResourceKey("prod", "apps", "Deployment", "frontend", "legacy-banner")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


Scenario = Callable[[TimetravelApp, Pilot[Any]], Awaitable[None]]


def drive(app: TimetravelApp, scenario: Scenario, size: tuple[int, int] = (120, 36)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


async def press(pilot: Pilot[Any], *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


def test_every_app_binding_has_an_id_a_description_and_a_test() -> None:
    ids = {b.id for b in TimetravelApp.BINDINGS}  # type: ignore[union-attr]
    assert None not in ids
    assert all(b.description for b in TimetravelApp.BINDINGS)  # type: ignore[union-attr]
    tested = Path(__file__).read_text()
    for binding in TimetravelApp.BINDINGS:
        assert binding.id in tested, f"no test names binding {binding.id}"  # type: ignore[union-attr]


def test_left_right_step_through_changes(make_app: Any) -> None:
    # time.prev_change, time.next_change
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "right")
        assert app.cursor == t("2026-11-19T21:41:00")
        await press(pilot, "left", "left")
        assert app.cursor == t("2026-11-19T21:14:00")
        # Keys pressed faster than the store answers add up.
        await pilot.press("right", "right", "right")
        await settle(pilot)
        assert app.cursor == t("2026-11-19T21:44:00")
        header = app.query_one("#header").render().plain  # type: ignore[attr-defined]
        assert "21:44:00" in header

    drive(make_app(), scenario)


def test_shift_arrows_move_one_step_of_the_zoom(make_app: Any) -> None:
    # time.step_back, time.step_fwd
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        span = app.span
        await press(pilot, "shift+right")
        assert app.cursor == INCIDENT + span / 10
        await press(pilot, "shift+left", "shift+left")
        assert app.cursor == INCIDENT - span / 10

    drive(make_app(), scenario)


def test_brackets_step_through_the_selected_resource(make_app: Any) -> None:
    # time.prev_resource_change, time.next_resource_change
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.selected == API
        await press(pilot, "right_square_bracket")
        assert app.cursor == t("2026-11-19T21:44:00")
        await press(pilot, "left_square_bracket", "left_square_bracket")
        assert app.cursor == t("2026-11-19T21:14:00")

    drive(make_app(select=API), scenario)


def test_n_and_shift_n_jump_to_notable_changes(make_app: Any) -> None:
    # time.next_notable, time.prev_notable (deletions stand in until causes land)
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "n")
        assert app.cursor == t("2026-11-18T10:00:00")
        assert app.selected == BANNER
        detail = app.query_one(DesiredActualView)
        assert detail.note.startswith("not live")
        await press(pilot, "end", "N")
        assert app.cursor == t("2026-11-18T10:00:00")

    drive(make_app(at=t("2026-11-16T00:00:00"), notable=frozenset({"deleted"})), scenario)


def test_n_and_shift_n_jump_between_notable_changes(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "n")
        after = app.cursor
        assert after > INCIDENT, "the sample has a manual edit after the incident"
        await press(pilot, "N")
        assert app.cursor < after
        await press(pilot, "end")
        at_end = app.cursor
        await press(pilot, "n")
        assert app.cursor == at_end, "nothing notable after the last change: it stays"

    drive(make_app(), scenario)


def test_g_goes_to_a_typed_time(make_app: Any) -> None:
    # time.goto, goto.cancel
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "g")
        assert isinstance(app.screen, GotoScreen)
        await pilot.press(*"nonsense", "enter")
        assert isinstance(app.screen, GotoScreen)  # stays open with the error
        app.screen.query_one(Input).value = ""
        await press(pilot, *"wednesday 10:30", "enter")
        assert not isinstance(app.screen, GotoScreen)
        assert app.cursor == t("2026-11-18T10:30:00")
        await press(pilot, "g", "escape")
        assert not isinstance(app.screen, GotoScreen)
        await press(pilot, "g", *"-2h", "enter")
        assert app.cursor == SAMPLE_NOW - timedelta(hours=2)

    drive(make_app(), scenario)


def test_home_and_end(make_app: Any) -> None:
    # time.first, time.last
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "home")
        assert app.cursor == t("2026-11-13T08:00:00")
        await press(pilot, "end")
        assert app.cursor == SAMPLE_NOW

    drive(make_app(), scenario)


def test_zoom_in_and_out(make_app: Any) -> None:
    # view.zoom_in, view.zoom_out
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, *["minus"] * 12)
        assert app.span == timedelta(days=30)
        await press(pilot, *["plus"] * 12)
        assert app.span == timedelta(minutes=15)
        timeline = app.query_one(Timeline)
        assert timeline.end - timeline.start == timedelta(minutes=15)
        assert timeline.start <= app.cursor < timeline.end

    drive(make_app(), scenario)


def test_live_follows_now(make_app: Any) -> None:
    # time.live
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "l")
        assert app.live and app.cursor == SAMPLE_NOW
        assert "LIVE" in app.query_one("#header").render().plain  # type: ignore[attr-defined]
        await press(pilot, "left")
        assert not app.live
        assert "LIVE" not in app.query_one("#header").render().plain  # type: ignore[attr-defined]

    drive(make_app(), scenario)


def test_slash_filters_by_name_and_state(make_app: Any) -> None:
    # view.filter, app.clear_filter
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        listing = app.query_one(ResourceList)
        total = listing.row_count
        await press(pilot, "slash", *"api")
        assert [r.key.name for r in listing.rows] == ["api-config", "api", "api"]
        await press(pilot, "enter")
        assert listing.has_focus
        await press(pilot, "escape")
        assert listing.row_count == total
        await press(pilot, "slash", *"state:drifted")
        assert listing.row_count == 0
        app.query_one("#filter", Input).value = "state:unmanaged kind:secret"
        await settle(pilot)
        assert {r.key.name for r in listing.rows} == {"db-credentials", "stripe-key"}
        await press(pilot, "escape")
        assert listing.row_count == total

    drive(make_app(), scenario)


def test_list_keys_select_a_resource(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        listing = app.query_one(ResourceList)
        first = app.selected
        await press(pilot, "down")
        assert app.selected != first and app.selected == listing.rows[1].key
        assert app.detail is not None and app.detail.key == app.selected
        await press(pilot, "pagedown", "pageup", "up")
        assert app.selected == first

    drive(make_app(), scenario)


def test_d_and_z_toggle_unified_and_noise(make_app: Any) -> None:
    # view.unified, view.noise
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        view = app.query_one(DesiredActualView)
        assert not view.unified and not any(r.actual == "status:" for r in view.rows)
        await press(pilot, "d")
        assert view.unified and view.border_title.startswith("unified")
        await press(pilot, "z")
        assert any(r.actual == "status:" for r in view.rows)
        await press(pilot, "d", "z")
        assert not view.unified and not view.noise

    drive(make_app(select=API), scenario)


async def exported(app: TimetravelApp, pilot: Pilot[Any]) -> None:
    """Wait for the export worker (the store poller never finishes, so not all workers)."""
    for _ in range(1000):
        await pilot.pause(0.01)
        if not any(w.group == "export" and not w.is_finished for w in app.workers):
            break
    await pilot.pause()


def test_e_exports_json_at_the_cursor(make_app: Any, tmp_path: Path) -> None:
    # app.export, export.cancel
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "e")
        assert isinstance(app.screen, ExportScreen)
        await press(pilot, "escape")
        assert not isinstance(app.screen, ExportScreen)
        assert not list(tmp_path.glob("timetravel-*"))
        await press(pilot, "e")
        await press(pilot, "enter")  # the keys alone: the path field has the focus
        await exported(app, pilot)
        written = list(tmp_path.glob("timetravel-*.json"))
        assert len(written) == 1
        snapshot = json.loads(written[0].read_text())
        assert snapshot["at"] == "2026-11-19T21:30:00Z"
        assert any(r["name"] == "api" for r in snapshot["resources"])
        assert any(str(written[0]) in n.message for n in app._notifications)

    drive(make_app(), scenario)


def test_export_dialog_is_driven_by_keys_alone(make_app: Any, tmp_path: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "e")
        await press(pilot, "shift+tab", "shift+tab")  # path -> window -> format
        assert isinstance(app.focused, Select)
        await press(pilot, "enter", "down", "enter")  # open the list, Markdown, choose
        assert isinstance(app.focused, Input) and app.focused.id == "export-path"
        assert app.focused.value.endswith(".md")
        await press(pilot, "enter")
        await exported(app, pilot)
        written = list(tmp_path.glob("timetravel-*.md"))
        assert len(written) == 1 and written[0].read_text().startswith("# Incident snapshot")

    drive(make_app(), scenario)


def test_export_dialog_writes_markdown_with_a_window(make_app: Any, tmp_path: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "e")
        screen = app.screen
        screen.query_one("#export-format", Select).value = "markdown"
        await pilot.pause()
        window = screen.query_one("#export-window", Input)
        window.value = "nonsense"
        window.focus()
        await press(pilot, "enter")
        assert isinstance(app.screen, ExportScreen), "a bad window keeps the dialog open"
        window.value = "2h"
        await press(pilot, "enter")
        await exported(app, pilot)
        written = list(tmp_path.glob("timetravel-*.md"))
        assert len(written) == 1
        text = written[0].read_text()
        assert text.startswith("# Incident snapshot")
        assert "19:30" in text and "23:30" in text, "the 2h window around 21:30"

    drive(make_app(), scenario)


def test_help_lists_every_binding(make_app: Any) -> None:
    # app.help
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        described = {row[1] for row in app.screen.rows}
        for binding in app.BINDINGS:
            # In the user's words: what the key does, not the footer's label.
            assert binding.tooltip in described  # type: ignore[union-attr]
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)

    drive(make_app(), scenario)


def test_ctrl_p_opens_the_command_palette_with_the_actions(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {
            "Zoom in",
            "Export",
            "Go to",
            "Live",
            "Unified",
            "Jump: kind, ns, resource",
        } <= titles
        await press(pilot, "ctrl+p")
        assert app.screen.__class__.__name__ == "CommandPalette"
        await press(pilot, *"Zoom out")
        await press(pilot, "enter")
        await settle(pilot)
        assert app.span == timedelta(days=3)

    drive(make_app(), scenario)


def test_colon_opens_the_jump_prompt(make_app: Any) -> None:
    # app.jump (every form: tests/tui/test_jumps.py)
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "colon")
        assert app.screen.__class__.__name__ == "JumpPalette"
        await press(pilot, *"cm", "enter")
        listing = app.query_one(ResourceList)
        assert {row.key.kind for row in listing.rows} == {"ConfigMap"}
        assert str(listing.border_title).endswith(":cm")

    drive(make_app(), scenario)


def test_c_opens_the_cluster_picker(make_app: Any, two_cluster_store: Path) -> None:
    # app.cluster (switching itself: tests/tui/test_clusters.py)
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "c")
        assert isinstance(app.screen, ClusterScreen)
        await press(pilot, "down", "enter")
        assert app.data.cluster == "staging"

    drive(make_app(db=two_cluster_store), scenario)


def test_enter_in_changes_list_selects_and_moves(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        changes = app.query_one(ChangesList)
        changes.focus()
        await press(pilot, "down", "enter")
        assert app.cursor == t("2026-11-19T21:41:00")
        assert app.selected == ResourceKey("prod", "apps", "Deployment", "checkout", "checkout")
        assert app.query_one(ResourceList).current().key == app.selected  # type: ignore[union-attr]

    drive(make_app(), scenario)


def test_click_on_the_timeline_moves_the_cursor(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        timeline = app.query_one(Timeline)
        await pilot.click(Timeline, offset=(2, 1))
        await settle(pilot)
        assert timeline.start <= app.cursor < timeline.start + (timeline.end - timeline.start) / 10

    drive(make_app(), scenario)


def test_tab_reaches_every_panel(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        seen = set()
        for _ in range(5):
            seen.add(app.focused.id if app.focused else None)
            await press(pilot, "tab")
        assert {"resources", "yaml", "cause", "changes"} <= seen

    drive(make_app(), scenario)


def test_works_at_80x24(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.screen.has_class("-compact")
        await press(pilot, "right", "d")
        assert app.cursor == t("2026-11-19T21:41:00")

    drive(make_app(), scenario, size=(80, 24))


def test_q_quits(make_app: Any) -> None:
    # app.quit
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0 or not app.is_running

    drive(make_app(), scenario)


def test_v_shows_the_selected_resources_values_whole(make_app: Any) -> None:
    # view.values
    from timetravel.tui.widgets.values import ValuesScreen

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "v")
        assert isinstance(app.screen, ValuesScreen)
        assert "payments/Deployment/api" in str(app.screen.title_text)
        await press(pilot, "escape")
        assert not isinstance(app.screen, ValuesScreen)

    drive(make_app(select=API), scenario)


def test_p_shows_the_selected_resources_artifact_history(make_app: Any) -> None:
    # view.artifacts (the seeded week records no Pods: the history says so; the demo's
    # week, with Pods and builds, is tests/tui/test_artifact_history.py's)
    from timetravel.tui.widgets.artifacts import ArtifactsScreen

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "p")
        assert isinstance(app.screen, ArtifactsScreen)
        assert "payments/Deployment/api" in str(app.screen.title_text)
        assert "no running container recorded" in str(app.screen.shown)
        await press(pilot, "escape")
        assert not isinstance(app.screen, ArtifactsScreen)

    drive(make_app(select=API), scenario)


# Issue 24's bindings are driven in their own files: view.ignored in test_ignored_screen.py;
# app.note in test_notes_screen.py; time.mark, view.compare, view.compare_cluster and
# view.drift_intervals in test_compare_screen.py.

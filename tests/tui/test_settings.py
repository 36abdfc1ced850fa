"""The user's keymap and theme from timetravel.toml (issue 25, item 5): overrides by
binding id, warnings instead of crashes, and the theme chosen in the screen kept."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.fixtures.pilot import settle
from timetravel.config import _set_ui_theme, load_ui, save_theme
from timetravel.tui.app import TimetravelApp
from timetravel.tui.settings import keymap, valid_key
from timetravel.tui.widgets.dialogs import HelpScreen

Scenario = Callable[[TimetravelApp, Pilot[Any]], Awaitable[None]]
NEXT_CHANGE = datetime(2026, 11, 19, 21, 41, tzinfo=UTC)  # after the incident's 21:30


def drive(app: TimetravelApp, scenario: Scenario) -> None:
    async def main() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


def settings_from(tmp_path: Path, text: str) -> Any:
    config = tmp_path / "timetravel.toml"
    config.write_text(text)
    return load_ui(config, tmp_path / "state" / "ui.toml")


def warnings_of(app: TimetravelApp) -> list[str]:
    return [n.message for n in app._notifications]


def test_a_key_from_the_keymap_does_the_action_and_the_old_one_no_longer(
    make_app: Any, tmp_path: Path
) -> None:
    settings = settings_from(tmp_path, '[keymap]\n"time.next_change" = "ctrl+n"\n')

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        start = app.cursor
        assert app.focused is app.w_resources, "a list has focus: its panel twin counts"
        await pilot.press("right")
        await settle(pilot)
        assert app.cursor == start, "right no longer steps"
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.cursor == NEXT_CHANGE
        app.w_timeline.focus()  # and where no list has focus
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.cursor > NEXT_CHANGE
        assert not warnings_of(app)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        rows = {row[3]: row[0] for row in app.screen.rows}
        assert rows["time.next_change"] == "ctrl+n", "help shows the key in use and the id"

    drive(make_app(settings=settings), scenario)


def test_a_key_taken_from_another_binding_says_so(make_app: Any, tmp_path: Path) -> None:
    # The short id (after the dot) names the binding too.
    settings = settings_from(tmp_path, '[keymap]\nnext_change = "n"\n')

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("n")
        await settle(pilot)
        assert app.cursor == NEXT_CHANGE
        assert any("no longer does 'Next drift/manual'" in w for w in warnings_of(app))

    drive(make_app(settings=settings), scenario)


def test_bad_keymap_entries_and_themes_warn_and_the_screen_starts(
    make_app: Any, tmp_path: Path
) -> None:
    settings = settings_from(
        tmp_path,
        "# mine\n"
        "[keymap]\n"
        '"time.nxt_change" = "x"\n'
        '"time.last" = "not a key"\n'
        '"time.first" = 3\n'
        '"view.zoom_in" = ["i", "plus"]\n'
        "[ui]\n"
        'theme = "no-such-theme"\n',
    )

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        told = warnings_of(app)
        assert any(
            "no binding 'time.nxt_change'; did you mean 'time.next_change'?" in w for w in told
        )
        assert any("time.last: 'not a key' is not a key" in w for w in told)
        assert any("time.first: keys are a string" in w for w in told)
        assert any("no theme 'no-such-theme'" in w for w in told)
        assert len(told) == 4
        assert app.theme == "textual-dark"
        span = app.span
        await pilot.press("i")  # the good entry still counts
        await settle(pilot)
        assert app.span < span

    drive(make_app(settings=settings), scenario)


def test_a_config_that_does_not_parse_warns(make_app: Any, tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "[keymap\n")

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert any("cannot read" in w for w in warnings_of(app))

    drive(make_app(settings=settings), scenario)


def test_the_theme_from_the_file(make_app: Any, tmp_path: Path) -> None:
    settings = settings_from(tmp_path, '[ui]\ntheme = "textual-light"\n')

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.theme == "textual-light"
        assert not (tmp_path / "state").exists(), "nothing written for a theme read"
        assert (tmp_path / "timetravel.toml").read_text() == '[ui]\ntheme = "textual-light"\n'

    drive(make_app(settings=settings), scenario)


def test_the_theme_chosen_in_the_screen_is_kept(make_app: Any, tmp_path: Path) -> None:
    original = (
        "# my settings\n"
        "[keymap]\n"
        '"time.next_change" = "ctrl+n"  # like emacs\n'
        "\n"
        "[ui]\n"
        "# the theme I like\n"
        'theme = "textual-light"\n'
        "[attribution]\n"
        'extra_gitops = ["my-bot"]\n'
    )
    settings = settings_from(tmp_path, original)

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"theme", "enter")  # "Change theme"
        await settle(pilot)
        await pilot.press(*"nord", "enter")
        await settle(pilot)
        assert app.theme == "nord"

    drive(make_app(settings=settings), scenario)
    written = (tmp_path / "timetravel.toml").read_text()
    assert written == original.replace('theme = "textual-light"', 'theme = "nord"')
    assert load_ui(tmp_path / "timetravel.toml", tmp_path / "state" / "ui.toml").theme == "nord"

    # The next screen starts with it.
    async def again(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.theme == "nord"

    drive(make_app(settings=settings_from(tmp_path, written)), again)


def test_a_theme_that_cannot_go_into_the_file_goes_to_the_state_file(tmp_path: Path) -> None:
    config = tmp_path / "timetravel.toml"
    state = tmp_path / "state" / "ui.toml"
    config.write_text('ui = { theme = "textual-light" }  # an inline table\n')
    assert save_theme("nord", config, state) == state
    assert config.read_text() == 'ui = { theme = "textual-light" }  # an inline table\n'
    assert load_ui(config, state).theme == "nord", "the newer choice wins"
    # Editing the file afterwards makes the file's theme count again.
    config.write_text('[ui]\ntheme = "gruvbox"\n')
    later = state.stat().st_mtime + 5
    os.utime(config, (later, later))
    assert load_ui(config, state).theme == "gruvbox"
    # Written into the file, the choice there is the only one.
    assert save_theme("dracula", config, state) == config
    assert not state.exists()
    assert load_ui(config, state).theme == "dracula"


def test_a_config_that_cannot_be_written(tmp_path: Path) -> None:
    # Its folder is a file: no one, root included, can write there.
    blocker = tmp_path / "config"
    blocker.write_text("not a folder\n")
    config = blocker / "timetravel.toml"
    state = tmp_path / "state" / "ui.toml"
    assert save_theme("nord", config, state) == state
    assert blocker.read_text() == "not a folder\n"
    assert load_ui(config, state).theme == "nord"
    with pytest.raises(OSError):  # and when neither can be written, the caller is told
        save_theme("nord", config, blocker / "ui.toml")


def test_no_config_file_yet(tmp_path: Path) -> None:
    config = tmp_path / "new" / "timetravel.toml"
    assert save_theme("nord", config, tmp_path / "ui.toml") == config
    assert load_ui(config, tmp_path / "ui.toml").theme == "nord"
    assert config.read_text().startswith("# timetravel's settings")


def test_a_symlinked_config_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "timetravel.toml"
    real.parent.mkdir()
    real.write_text('[ui]\ntheme = "nord"\n')
    link = tmp_path / "timetravel.toml"
    link.symlink_to(real)
    save_theme("gruvbox", link, tmp_path / "ui.toml")
    assert link.is_symlink() and 'theme = "gruvbox"' in real.read_text()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", '[ui]\ntheme = "x"\n'),
        ("a = 1", 'a = 1\n\n[ui]\ntheme = "x"\n'),
        ("[ui]\n", '[ui]\ntheme = "x"\n'),
        ("[ui]  # mine\nother = 1\n", '[ui]  # mine\ntheme = "x"\nother = 1\n'),
        ('[ui]\n  theme = "y" # old\n[k]\n', '[ui]\n  theme = "x"\n[k]\n'),
        ('[k]\ntheme = "keep"\n[ui]\n', '[k]\ntheme = "keep"\n[ui]\ntheme = "x"\n'),
    ],
)
def test_setting_the_theme_line(before: str, after: str) -> None:
    assert _set_ui_theme(before, "x") == after


@pytest.mark.parametrize(
    "before", ['ui.theme = "y"\n', 'ui = {theme = "y"}\n', "[ui\n", '["ui"]\ntheme = "y"\n']
)
def test_forms_the_line_edit_does_not_follow(before: str) -> None:
    assert _set_ui_theme(before, "x") is None


def test_keymap_names() -> None:
    assert all(
        valid_key(k) for k in ("n", "N", "ctrl+n", "n,ctrl+n", "f5", "question_mark", "space")
    )
    assert not any(valid_key(k) for k in ("", "ctrl+", "meh+x", "not a key", "foo"))
    mapped, warnings = keymap({"up": "w", "time.first": "0", "panel.first": "9"})
    assert mapped == {"list.up": "w", "yaml.up": "w", "time.first": "0", "panel.first": "9"}
    assert not warnings

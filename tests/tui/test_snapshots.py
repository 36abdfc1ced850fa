"""SVG baselines of the screen on the seeded week, frozen clock, at 120x36 and 80x24.

Update them with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after a deliberate
change of the screen, and look at the report before committing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.pilot import settle
from timetravel.domain.model import ResourceKey

API = ResourceKey("prod", "apps", "Deployment", "payments", "api")
DEMO_API = ResourceKey("prod-eu1", "apps", "Deployment", "payments", "api")
DEMO_INCIDENT = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_overview(snap_compare: Any, make_app: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(select=API), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_unified_with_noise_after_the_manual_edit(
    snap_compare: Any, make_app: Any, size: tuple[int, int]
) -> None:
    app = make_app(select=API, at=datetime(2026, 11, 19, 21, 25, tzinfo=UTC))

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("d", "z")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_help(snap_compare: Any, make_app: Any, size: tuple[int, int]) -> None:
    """The legend (states, causes, timeline marks, Unified, Noise), then the keys."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_the_demos_incident(
    snap_compare: Any, make_app: Any, demo_store: Path, size: tuple[int, int]
) -> None:
    """Thursday 21:30 of the demo: what git wanted against what ran, and who changed it
    (alice's hand edit at 21:24, the 2.4.0 rollout by pipeline run #5121 before it)."""
    app = make_app(db=demo_store, select=DEMO_API, at=DEMO_INCIDENT)
    assert snap_compare(app, terminal_size=size, run_before=settle)


def test_too_small(snap_compare: Any, make_app: Any) -> None:
    assert snap_compare(make_app(select=API), terminal_size=(70, 20), run_before=settle)


def test_light_theme(snap_compare: Any, make_app: Any) -> None:
    app = make_app(select=API)

    async def run_before(pilot: Any) -> None:
        pilot.app.theme = "textual-light"
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_export_dialog(snap_compare: Any, make_app: Any, size: tuple[int, int]) -> None:
    """Labelled fields, centred over the screen."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        # A blinking cursor is on or off depending on when the picture is taken (it was
        # off in one run of two on a loaded machine): hold it on.
        for field in pilot.app.screen.query("Input"):
            field.cursor_blink = False
        await settle(pilot)

    # A fixed directory: the default path shown must not name the test's temporary one.
    app = make_app(select=API, export_dir=Path("/srv/incidents"))
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_cluster_picker_over_a_team_store(
    snap_compare: Any, make_app: Any, two_cluster_store: Path
) -> None:
    """Two clusters in one store: the header names the one shown, ``c`` lists them."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)

    app = make_app(db=two_cluster_store, select=API)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_jump_prompt_with_suggestions(snap_compare: Any, make_app: Any) -> None:
    """``:`` then ``pay``: namespaces and resources of what the store holds, best first."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("colon", "p", "a", "y")
        await settle(pilot)
        for field in pilot.app.screen.query("Input"):
            field.cursor_blink = False
        await settle(pilot)

    assert snap_compare(make_app(select=API), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_a_jump_in_force_is_in_the_lists_title(
    snap_compare: Any, make_app: Any, size: tuple[int, int]
) -> None:
    app = make_app(jump="deploy/api payments")
    assert snap_compare(app, terminal_size=size, run_before=settle)

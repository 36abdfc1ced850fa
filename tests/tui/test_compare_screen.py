"""Comparing on the screen: ``m`` marks the cursor's moment (header, timeline), ``x``
compares the cursor with it (the list shows what was added, removed or changed; the
side-by-side the selected resource at A and at B), the cursor moving compares again, esc
leaves; ``X`` compares the cluster shown with another at the cursor; ``D`` lists the
selected resource's drift intervals.

The seeded week (and its two-cluster and demo variants), the real app driven by Pilot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.fixtures.pilot import drive, settle
from tests.fixtures.sample import INCIDENT
from timetravel.config import UiSettings
from timetravel.domain.model import ResourceKey
from timetravel.query.screen import ScreenData
from timetravel.tui.app import TimetravelApp
from timetravel.tui.sidebyside import SAME
from timetravel.tui.widgets.investigate import DriftScreen

API = ResourceKey("prod", "apps", "Deployment", "payments", "api")
EVENING = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)


async def press(pilot: Pilot[Any], *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)
    app: Any = pilot.app
    for _ in range(100):  # compare and pair reads are plain workers
        if all(w.is_finished for w in app.workers if w.group in ("compare", "pair", "drifts")):
            break
        await pilot.pause(0.02)
    await settle(pilot)


async def go_to(pilot: Pilot[Any], when: str) -> None:
    await press(pilot, "g")
    await press(pilot, *when, "enter")


def listed(app: TimetravelApp) -> list[tuple[str, str]]:
    return [(row.state, row.key.display()) for row in app.w_resources.rows]


def test_m_marks_x_compares_the_cursor_with_it_and_esc_leaves(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "m")
        assert app.mark_at == INCIDENT
        assert "A 21:30:00" in app.w_header.render().plain
        assert app.w_timeline.mark_at == INCIDENT
        assert "M" in "".join(line.plain for line in app.w_timeline._build(80)[2:3])
        # x before moving compares a moment with itself: nothing differs.
        await go_to(pilot, "2026-11-19T20:00:00Z")
        assert app.cursor == EVENING
        await press(pilot, "x")
        assert app.comparing == "moments"
        expected = [
            (d.change, d.key.display()) for d in app.data.compare_moments(INCIDENT, EVENING)
        ]
        assert listed(app) == expected == [("changed", "payments/Deployment/api")]
        assert str(app.w_resources.border_title).startswith("Compare A→cursor 1")
        assert "~1" in str(app.w_resources.border_subtitle)
        assert "A 21:30:00 → cursor" in app.w_header.render().plain
        # The selected resource at A and at B, and what changed between them.
        assert app.selected == API
        assert "A 21:30:00 │ B 20:00:00" in str(app.w_yaml.border_title)
        assert any(row.mark != SAME for row in app.w_yaml.rows)
        left = "\n".join(r.desired or "" for r in app.w_yaml.rows)
        right = "\n".join(r.actual or "" for r in app.w_yaml.rows)
        assert "DB_POOL_SIZE" in left and "DB_POOL_SIZE" not in right
        fields = str(app.w_fields.render())
        assert "api image: A " in fields and 'api env DB_POOL_SIZE: A "50", B not set' in fields
        # The cursor moving is B moving: compared again.
        await go_to(pilot, "2026-11-19T21:26:00Z")
        assert listed(app) == [
            (d.change, d.key.display()) for d in app.data.compare_moments(INCIDENT, app.cursor)
        ]
        # Esc leaves compare mode: the resources at the cursor again; the mark stays.
        await press(pilot, "escape")
        assert app.comparing is None
        assert str(app.w_resources.border_title).startswith("Resources")
        assert app.resources is not None and len(app.w_resources.rows) == len(app.resources.rows)
        assert "desired │ actual" in str(app.w_yaml.border_title)
        assert app.mark_at == INCIDENT
        # m at the marked moment clears the mark; x without a mark says what to do.
        await go_to(pilot, "2026-11-19T21:30:00Z")
        await press(pilot, "m")
        assert app.mark_at is None and app.w_timeline.mark_at is None
        await press(pilot, "x")
        assert app.comparing is None
        assert any("mark a moment first" in str(n.message) for n in app._notifications)

    drive(make_app(select=API), scenario)


def test_shift_x_compares_two_clusters_at_the_cursor(
    make_app: Any, two_cluster_store: Path
) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "X")
        assert app.comparing == "staging"
        expected = [
            (d.change, d.key.display()) for d in app.data.compare_clusters(INCIDENT, "staging")
        ]
        assert listed(app) == expected
        assert ("added", "payments/Deployment/canary") in expected
        # The first difference is selected; its cause panel follows.
        assert app.selected == app.w_resources.rows[0].key
        assert app.detail is not None and app.detail.key == app.selected
        assert str(app.w_resources.border_title).startswith("Compare prod→staging")
        assert "vs staging" in app.w_header.render().plain
        app.w_resources.select(API.__class__("staging", "apps", "Deployment", "payments", "api"))
        await press(pilot)
        assert "prod │ staging" in str(app.w_yaml.border_title)
        assert "spec.replicas" not in str(app.w_fields.render())  # by label, not path
        assert "replicas: prod " in str(app.w_fields.render())
        await press(pilot, "X")  # again: leave
        assert app.comparing is None
        assert app.data.cluster == "prod"
        # staging's api was selected: prod's row under the list's cursor is, again.
        current = app.w_resources.current()
        assert current is not None and app.selected == current.key
        assert app.selected.cluster == "prod"
        assert app.detail is not None and app.detail.key == app.selected

    drive(make_app(db=two_cluster_store), scenario)


def test_shift_d_lists_the_drift_intervals_of_the_selected_resource(
    demo_store: Path, tmp_path: Path
) -> None:
    from tests.tui.conftest import DEMO_NOW

    data = ScreenData(demo_store, now=DEMO_NOW)
    at = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)
    drifted = next(r.key for r in data.resources_at(at).rows if r.state == "drifted")
    app = TimetravelApp(
        data,
        at=at,
        now=DEMO_NOW,
        tz=UTC,
        select=drifted,
        export_dir=tmp_path,
        settings=UiSettings(config=tmp_path / "none.toml", state=tmp_path / "ui.toml"),
    )

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await press(pilot, "D")
        assert isinstance(app.screen, DriftScreen)
        body = str(app.screen.query_one("#drift-body").render())
        drifts = data.drift_intervals(drifted, DEMO_NOW)
        assert drifts
        opened = [d for d in drifts if d.interval.opened_at <= "2026-11-19T21:30"]
        assert opened and "← at the cursor" in body
        assert body.count("≠ ") == len(drifts)
        assert "lasted" in body
        await press(pilot, "escape")
        assert not isinstance(app.screen, DriftScreen)

    drive(app, scenario)


def test_the_keymap_moves_the_investigation_keys(make_app: Any, tmp_path: Path) -> None:
    config = tmp_path / "timetravel.toml"
    config.write_text('[keymap]\n"time.mark" = "f6"\n"view.compare" = "f7"\n')
    from timetravel.config import load_ui

    settings = load_ui(config, tmp_path / "state" / "ui.toml")

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert not [str(n.message) for n in app._notifications]  # nothing clashes
        await press(pilot, "m")  # no longer marks
        assert app.mark_at is None
        await press(pilot, "f6")
        assert app.mark_at == INCIDENT
        await go_to(pilot, "2026-11-19T20:00:00Z")
        await press(pilot, "f7")
        assert app.comparing == "moments"
        assert listed(app) == [("changed", "payments/Deployment/api")]
        rows = {row[3]: row[0] for row in app.binding_rows()}
        assert (rows["time.mark"], rows["view.compare"]) == ("f6", "f7")

    drive(make_app(settings=settings), scenario)

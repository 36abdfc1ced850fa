"""A store of two clusters (a team store): the screen shows one at a time.

The store is the sample week of ``prod`` and a smaller ``staging`` recorded beside it
through the real ingest path; ``staging`` runs a ``payments/api`` too, so a query that
forgot its cluster would show it among prod's rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from textual.pilot import Pilot

from tests.fixtures.pilot import settle
from tests.fixtures.sample import INCIDENT, SAMPLE_NOW, add_staging
from timetravel.cli import cli
from timetravel.errors import UserError
from timetravel.query.screen import ScreenData
from timetravel.store.db import open_database
from timetravel.tui.app import TimetravelApp
from timetravel.tui.widgets.cluster_picker import ClusterScreen

STAGING_KEYS = {
    ("ConfigMap", "staging-flags"),
    ("Deployment", "api"),
    ("Deployment", "canary"),
}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


Scenario = Callable[[TimetravelApp, Pilot[Any]], Awaitable[None]]


def drive(app: TimetravelApp, scenario: Scenario, size: tuple[int, int] = (120, 36)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


def header(app: TimetravelApp) -> str:
    return str(app.w_header.render().plain)


def shown_clusters(app: TimetravelApp) -> set[str]:
    """The clusters of everything the panels show: rows, changes, timeline marks."""
    assert app.resources is not None
    clusters = {row.key.cluster for row in app.resources.rows}
    clusters |= {change.key.cluster for change in app.w_changes.changes}
    clusters |= {m.key.cluster for m in app.w_timeline.markers if m.key is not None}
    return clusters


def test_the_screen_starts_on_the_first_cluster_and_shows_only_its_objects(
    make_app: Any, two_cluster_store: Path, sample_store: Path
) -> None:
    alone = ScreenData(sample_store, now=SAMPLE_NOW).resources_at(INCIDENT)

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.data.cluster == "prod"
        assert "prod (1/2)" in header(app)
        assert app.resources is not None
        # Exactly what a store of prod alone shows: staging's payments/api is not among them.
        assert app.resources.rows == alone.rows
        assert shown_clusters(app) == {"prod"}
        assert app.gaps == []  # staging's gap that evening is not prod's
        assert app.w_timeline.density is not None

    drive(make_app(db=two_cluster_store), scenario)


def test_c_picks_another_cluster_at_the_same_time(make_app: Any, two_cluster_store: Path) -> None:
    # app.cluster
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        prod_density = app.w_timeline.density
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ClusterScreen)
        assert app.screen.clusters == ["prod", "staging"]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, ClusterScreen)
        assert app.cursor == INCIDENT
        assert app.data.cluster == "staging"
        assert "staging (2/2)" in header(app)
        assert app.resources is not None
        assert {(r.key.kind, r.key.name) for r in app.resources.rows} == STAGING_KEYS
        assert shown_clusters(app) == {"staging"}
        assert app.selected is not None and app.selected.cluster == "staging"
        assert app.detail is not None and app.detail.key.cluster == "staging"
        # The timeline counts and marks staging's facts: its gap, its hand edit at 21:20.
        assert [g.label for g in app.gaps] == ["staging recorder restarted"]
        marks = {(m.kind, m.at) for m in app.w_timeline.markers}
        assert ("manual", t("2026-11-19T21:20:00")) in marks
        assert ("manual", t("2026-11-19T21:25:00")) not in marks  # prod's kubectl edit
        assert app.w_timeline.density is not None and prod_density is not None
        assert sum(app.w_timeline.density.counts) < sum(prod_density.counts)
        # Esc leaves the picker without switching.
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.data.cluster == "staging"

    drive(make_app(db=two_cluster_store), scenario)


def test_the_command_palette_switches_cluster(make_app: Any, two_cluster_store: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Switch cluster: staging" in titles
        assert "Switch cluster: prod" not in titles  # the one shown
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"Switch cluster: staging")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.data.cluster == "staging"
        assert "staging (2/2)" in header(app)
        assert shown_clusters(app) == {"staging"}

    drive(make_app(db=two_cluster_store), scenario)


def test_colon_ctx_switches_cluster_as_in_k9s(make_app: Any, two_cluster_store: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await pilot.press("colon")
        await settle(pilot)
        await pilot.press(*"ctx", "space", *"stag")  # a fragment: the best suggestion runs
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.data.cluster == "staging"
        assert shown_clusters(app) == {"staging"}
        await pilot.press("colon")
        await settle(pilot)
        await pilot.press(*"ctx", "enter")  # alone: the picker
        await settle(pilot)
        assert isinstance(app.screen, ClusterScreen)

    drive(make_app(db=two_cluster_store), scenario)


def test_a_chosen_cluster_is_shown_first(make_app: Any, two_cluster_store: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert "staging (2/2)" in header(app)
        assert shown_clusters(app) == {"staging"}

    drive(make_app(db=two_cluster_store, cluster="staging"), scenario)


def test_a_store_of_one_cluster_names_it_without_a_count(make_app: Any) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert "│ prod" in header(app)
        assert "(1/1)" not in header(app)
        await pilot.press("c")
        await settle(pilot)
        assert not isinstance(app.screen, ClusterScreen)

    drive(make_app(), scenario)


def test_a_cluster_joining_the_store_is_picked_up(make_app: Any, own_store: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert "prod (1/2)" not in header(app)
        db = open_database(own_store)
        add_staging(db)
        db.conn.close()
        for _ in range(500):
            await pilot.pause(0.02)
            if "prod (1/2)" in header(app):
                break
        await settle(pilot)
        assert "prod (1/2)" in header(app)
        assert app.data.clusters() == ["prod", "staging"]
        # Reads are filtered from now on: staging's payments/api is not in prod's list.
        assert shown_clusters(app) == {"prod"}

    drive(make_app(db=own_store, poll_interval=0.05), scenario)


def test_an_unknown_cluster_is_one_line_naming_the_known_ones(two_cluster_store: Path) -> None:
    with pytest.raises(UserError, match=r"no cluster 'qa' in this store; it holds: prod, staging"):
        ScreenData(two_cluster_store, cluster="qa")
    result = CliRunner().invoke(
        cli, ["ui", "--db", str(two_cluster_store), "--cluster", "qa", "--no-record"]
    )
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "timetravel: error: no cluster 'qa' in this store; it holds: prod, staging"
    ]


# -- the data layer, without Textual ------------------------------------------------------


def test_every_query_of_the_screen_is_limited_to_the_cluster_shown(two_cluster_store: Path) -> None:
    data = ScreenData(two_cluster_store, now=SAMPLE_NOW)
    week = (t("2026-11-13T00:00:00"), SAMPLE_NOW)
    assert data.cluster == "prod"
    prod_changes, _ = data.changes_around(INCIDENT)
    prod_density = sum(data.density(*week, 50).counts)
    data.set_cluster("staging")
    assert data.cluster == "staging"
    rows = data.resources_at(INCIDENT).rows
    assert {(r.key.cluster, r.key.kind, r.key.name) for r in rows} == {
        ("staging", kind, name) for kind, name in STAGING_KEYS
    }
    changes, after = data.changes_around(INCIDENT)
    assert {c.key.cluster for c in changes} == {"staging"}
    assert {c.key.cluster for c in prod_changes} == {"prod"}
    assert [c.at for c in changes[after:]] == ["2026-11-19T21:35:00Z"]
    assert data.next_change_after(INCIDENT) == t("2026-11-19T21:35:00")
    assert data.prev_change_before(INCIDENT) == t("2026-11-19T21:20:00")
    # Five staging revisions in the week (three creations, two updates).
    assert sum(data.density(*week, 50).counts) == 5 < prod_density
    marks = data.markers(*week)
    assert {m.key.cluster for m in marks if m.key is not None} == {"staging"}
    assert [m.label for m in marks if m.kind == "gap"] == ["staging recorder restarted"]
    manual = data.next_notable(INCIDENT - timedelta(hours=1), forward=True)
    assert manual is not None and manual.at == t("2026-11-19T21:20:00")
    assert manual.key is not None and manual.key.cluster == "staging"
    snapshot = data.export_snapshot(INCIDENT)
    assert [c["name"] for c in snapshot.clusters] == ["staging"]
    assert {r.key.cluster for r in snapshot.resources} == {"staging"}
    # Back to prod: the cached moment of staging is not shown for it.
    data.set_cluster("prod")
    assert {r.key.cluster for r in data.resources_at(INCIDENT).rows} == {"prod"}
    with pytest.raises(UserError, match="it holds: prod, staging"):
        data.set_cluster("qa")

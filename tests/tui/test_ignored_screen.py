"""Ignored differences on the screen: an autoscaled Deployment whose replicas an Argo CD
Application ignores is in sync in the list (shown "≈ ignored"), its difference stays in the
field panel, dimmed, with the rule that covers it; ``I`` hides and shows it; a ConfigMap
annotated IgnoreExtraneous is ignored, not a plain unmanaged row; ``timetravel ui`` hands
timetravel.toml's ``[drift] ignore`` rules to the screen.

A real SQLite store: a git repository read by the git recorder, live objects written by the
store's writer; the real app driven by Pilot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.text import Text
from textual.pilot import Pilot

from tests.fixtures.pilot import drive, settle
from tests.gitrepo import GitOpsRepo
from timetravel.cli import cli
from timetravel.config import UiSettings
from timetravel.demo.objects import configmap, deployment
from timetravel.domain.ignore import rules_from_config
from timetravel.domain.model import Observation, ResourceKey
from timetravel.domain.times import to_stored
from timetravel.query.screen import ScreenData
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter
from timetravel.tui.app import TimetravelApp

T0 = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)
AT = T0 + timedelta(minutes=10)
API = ResourceKey("default", "apps", "Deployment", "payments", "api")
WORKER = ResourceKey("default", "apps", "Deployment", "payments", "worker")
GENERATED = ResourceKey("default", "", "ConfigMap", "payments", "generated")
OPTIONS = "argocd.argoproj.io/compare-options"
RULE = "Application argocd/payments: /spec/replicas"


def tracked(obj: dict[str, Any], **annotations: str) -> dict[str, Any]:
    meta = obj["metadata"]
    meta["labels"] = {**meta.get("labels", {}), "app.kubernetes.io/instance": "payments"}
    if annotations:
        meta["annotations"] = {**meta.get("annotations", {}), **annotations}
    return obj


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "tt.db"
    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("payments/api.yaml", tracked(deployment("payments", "api", "api:1.0", 3)))
    repo.write("payments/worker.yaml", tracked(deployment("payments", "worker", "worker:1.0", 2)))
    repo.commit("payments", T0 - timedelta(days=1))
    GitSource(db, repo.path, clock=MonotonicClock(), progress=False).sync()
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "payments", "namespace": "argocd"},
        "spec": {
            "destination": {"namespace": "payments"},
            "ignoreDifferences": [
                {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
            ],
        },
    }
    live = [
        app,
        tracked(deployment("payments", "api", "api:1.0", 7)),  # the autoscaler's replicas
        tracked(deployment("payments", "worker", "worker:2.0", 5)),  # a real drift too
        tracked(configmap("payments", "generated", {"a": "1"}), **{OPTIONS: "IgnoreExtraneous"}),
        tracked(configmap("payments", "leftover", {"a": "1"})),
    ]
    handle = open_database(db)
    try:
        RevisionWriter(handle).write(
            [Observation("default", "ADDED", o, to_stored(T0)) for o in live]
        )
    finally:
        handle.conn.close()
    return db


def make(store: Path, tmp_path: Path, **data: Any) -> TimetravelApp:
    return TimetravelApp(
        ScreenData(store, now=AT, **data),
        at=AT,
        now=AT,
        tz=UTC,
        export_dir=tmp_path,
        settings=UiSettings(config=tmp_path / "none.toml", state=tmp_path / "ui.toml"),
    )


async def select(app: TimetravelApp, pilot: Pilot[Any], key: ResourceKey) -> None:
    assert app.w_resources.select(key)
    await settle(pilot)
    assert app.detail is not None and app.detail.key == key


def row_line(app: TimetravelApp, key: ResourceKey) -> str:
    index = app.w_resources.index_of(key)
    assert index is not None
    return app.w_resources.row_text(index).plain


def fields_text(app: TimetravelApp) -> str:
    return str(app.w_fields.render())


def styles_at(app: TimetravelApp, word: str) -> list[str]:
    """The styles of the field panel's text where ``word`` starts."""
    text = app.w_fields.content
    assert isinstance(text, Text)
    start = text.plain.index(word)
    return [str(span.style) for span in text.spans if span.start <= start < span.end]


def test_an_ignored_difference_is_in_sync_dimmed_with_its_rule_and_i_hides_it(
    store: Path, tmp_path: Path
) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.resources is not None
        rows = {r.key: r for r in app.resources.rows}
        assert (rows[API].state, rows[API].ignored) == ("in_sync", True)
        assert (rows[WORKER].state, rows[WORKER].ignored) == ("drifted", False)
        # Counted in sync; shown apart, as Argo CD does.
        assert app.resources.counts["in_sync"] == 1 and app.resources.counts["drifted"] == 1
        # At 80 columns the badge is its glyph (help's legend names it).
        assert row_line(app, API).rstrip().endswith("≈")
        assert row_line(app, WORKER).rstrip().endswith("≠")
        await select(app, pilot, API)
        text = fields_text(app)
        assert f"replicas: git 3, live 7  ignored: {RULE}" in text
        assert app.w_fields.border_subtitle == "git → live: 0 +1 ignored"
        assert "dim" in styles_at(app, "replicas")  # dimmed, the rule italic
        assert f"ignored: spec.replicas ({RULE})" in app.w_yaml.note
        # I hides it, counted; I again shows it.
        await pilot.press("I")
        await settle(pilot)
        assert "replicas" not in fields_text(app)
        assert "(+1 ignored, I)" in str(app.w_fields.border_subtitle)
        assert "desired and actual agree (1 ignored, I shows)" in fields_text(app)
        await pilot.press("I")
        await settle(pilot)
        assert f"ignored: {RULE}" in fields_text(app)
        # A drifted resource's ignored replicas sit beside its real drift.
        await select(app, pilot, WORKER)
        text = fields_text(app)
        assert "worker image: git worker:1.0, live worker:2.0\n" in text
        assert f"replicas: git 2, live 5  ignored: {RULE}" in text
        # The filter finds the ignored rows.
        await pilot.press("slash", *"state:ignored", "enter")
        await settle(pilot)
        assert {r.key.name for r in app.w_resources.rows} == {"api", "generated"}

    drive(make(store, tmp_path), scenario)


def test_an_extraneous_object_argo_ignores_is_shown_ignored(store: Path, tmp_path: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.resources is not None
        rows = {r.key.name: r for r in app.resources.rows}
        assert (rows["generated"].state, rows["generated"].ignored) == ("unmanaged", True)
        assert (rows["leftover"].state, rows["leftover"].ignored) == ("unmanaged", False)
        assert row_line(app, GENERATED).rstrip().endswith("≈")
        assert app.resources.counts["drifted"] == 1  # the worker alone
        await select(app, pilot, GENERATED)
        assert f"ignored: annotation {OPTIONS}: IgnoreExtraneous" in fields_text(app)

    drive(make(store, tmp_path), scenario)


def test_configured_rules_reach_the_screen(store: Path, tmp_path: Path) -> None:
    rules = rules_from_config(
        {"ignore": [{"kind": "Deployment", "name": "worker", "paths": ["spec.template"]}]}
    )

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.resources is not None
        rows = {r.key: r for r in app.resources.rows}
        assert (rows[WORKER].state, rows[WORKER].ignored) == ("in_sync", True)
        await select(app, pilot, WORKER)
        assert "ignored: timetravel.toml: spec.template" in fields_text(app)

    drive(make(store, tmp_path, ignore=rules), scenario)


def test_timetravel_ui_passes_the_drift_ignore_rules_of_timetravel_toml(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "timetravel.toml"
    config.write_text(
        '[[drift.ignore]]\nkind = "Deployment"\nname = "worker"\npaths = ["spec.template"]\n'
        '[[drift.ignore]]\nkind = "Deployment"\n'  # no paths: a problem, told on the screen
    )
    monkeypatch.setenv("TIMETRAVEL_CONFIG", str(config))
    seen: dict[str, Any] = {}

    def run(self: TimetravelApp, *args: Any, **kwargs: Any) -> None:
        seen["rows"] = {
            r.key: r for r in self.data.resources_at(AT).rows if r.key.kind == "Deployment"
        }
        seen["problems"] = self.data.ignore_problems()

    monkeypatch.setattr(TimetravelApp, "run", run)
    result = CliRunner().invoke(
        cli, ["ui", "--db", str(store), "--no-record", "--at", "2026-11-19T21:10:00Z"]
    )
    assert result.exit_code == 0, result.output
    assert seen["rows"][WORKER].ignored and seen["rows"][WORKER].state == "in_sync"
    assert seen["problems"] == [
        "timetravel.toml: [drift] ignore entry 2 names no paths or managers"
    ]


@pytest.fixture
def late_drift(tmp_path: Path) -> Path:
    """``batch``: scaled at T0 (replicas, which the Application ignores), then its image
    changed by hand at T0+5m: the drift opens then, not at T0."""
    db = tmp_path / "late.db"
    repo = GitOpsRepo(tmp_path / "late-gitops")
    repo.write("payments/batch.yaml", tracked(deployment("payments", "batch", "batch:1.0", 2)))
    repo.commit("batch", T0 - timedelta(days=1))
    GitSource(db, repo.path, clock=MonotonicClock(), progress=False).sync()
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "payments", "namespace": "argocd"},
        "spec": {
            "ignoreDifferences": [
                {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
            ]
        },
    }
    handle = open_database(db)
    try:
        RevisionWriter(handle).write(
            [
                Observation("default", "ADDED", app, to_stored(T0 - timedelta(hours=1))),
                Observation(
                    "default",
                    "ADDED",
                    tracked(deployment("payments", "batch", "batch:1.0", 2)),
                    to_stored(T0 - timedelta(hours=1)),
                ),
                Observation(
                    "default",
                    "MODIFIED",
                    tracked(deployment("payments", "batch", "batch:1.0", 9)),
                    to_stored(T0),
                ),
                Observation(
                    "default",
                    "MODIFIED",
                    tracked(deployment("payments", "batch", "batch:2.0", 9)),
                    to_stored(T0 + timedelta(minutes=5)),
                ),
            ]
        )
    finally:
        handle.conn.close()
    return db


def test_drift_opens_where_a_difference_no_rule_covers_appears(
    late_drift: Path, tmp_path: Path
) -> None:
    from timetravel.tui.widgets.investigate import DriftScreen

    batch = ResourceKey("default", "apps", "Deployment", "payments", "batch")
    app = make(late_drift, tmp_path)
    app.selected = batch

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.detail is not None and app.detail.key == batch
        assert app.detail.drift is not None
        # The scaling at T0 is ignored: the drift opened with the image, at T0+5m.
        assert app.detail.drift.opened_at == to_stored(T0 + timedelta(minutes=5))
        assert "≠ drift since 21:05" in str(app.w_cause.body.render())
        # The timeline's drift mark too (n jumps there, not to the ignored scaling).
        drifts = [m.at for m in app.w_timeline.markers if m.kind == "drift"]
        assert drifts == [T0 + timedelta(minutes=5)]
        await pilot.press("D")
        await settle(pilot)
        for _ in range(100):
            if isinstance(app.screen, DriftScreen):
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, DriftScreen)
        body = str(app.screen.query_one("#drift-body").render())
        assert body.count("≠ ") == 1
        assert "≠ Thu 11-19 21:05:00" in body and "still open" in body
        assert "lasted open" not in body, "an open drift has not lasted yet"

    drive(app, scenario)

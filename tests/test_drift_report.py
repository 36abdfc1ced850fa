"""``timetravel drift``: each interval agrees with the snapshot's own states around it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.demo.build import Demo, build
from timetravel.domain.times import from_stored
from timetravel.query.moment import build_snapshot
from timetravel.store.db import open_database

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("demo") / "demo", now=NOW, zone=ZoneInfo("UTC"))


def state_of(demo: Demo, d: dict, at: datetime) -> str | None:
    db = open_database(demo.db_path, readonly=True)
    try:
        snapshot = build_snapshot(db, at, window=timedelta(0), namespaces=[d["namespace"]])
    finally:
        db.conn.close()
    return next(
        (r.state for r in snapshot.resources if (r.key.kind, r.key.name) == (d["kind"], d["name"])),
        None,
    )


def test_every_interval_is_drift_the_snapshot_sees_and_nothing_around_it(demo: Demo) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "drift",
            "--db",
            str(demo.db_path),
            "--since",
            "2026-11-16T00:00:00Z",
            "--until",
            "2026-11-27T00:00:00Z",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    drifts = json.loads(result.stdout)["drifts"]
    assert drifts, "the demo's week holds drift"
    second = timedelta(seconds=1)
    for d in drifts:
        opened = from_stored(d["opened_at"])
        assert state_of(demo, d, opened) == "drifted", d
        assert state_of(demo, d, opened - second) != "drifted", d
        if d["closed_at"] is not None:
            closed = from_stored(d["closed_at"])
            assert state_of(demo, d, closed - second) == "drifted", d
            assert state_of(demo, d, closed) != "drifted", d
            assert d["lasted_seconds"] == (closed - opened).total_seconds()
    alice = [d for d in drifts if d["opened_by"] == "alice@acme.io"]
    assert [(d["kind"], d["name"], d["opened_cause"]) for d in alice] == [
        ("Deployment", "api", "manual")
    ]


def test_a_window_with_no_drift_says_so(demo: Demo) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "drift",
            "--db",
            str(demo.db_path),
            "--since",
            "2026-11-01T00:00:00Z",
            "--until",
            "2026-11-02T00:00:00Z",
        ],
    )
    assert result.exit_code == 0
    assert result.stdout == "no drift between 2026-11-01T00:00:00Z and 2026-11-02T00:00:00Z\n"

"""The screen's data layer on the seeded week: plain values in, plain values out."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import orjson
import pytest

from tests.fixtures.sample import INCIDENT, SAMPLE_NOW
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.query import incremental
from timetravel.query.drift import drift_history
from timetravel.query.moment import build_snapshot
from timetravel.query.rows import PENDING, ResourceRow, Superseded
from timetravel.query.screen import ScreenData
from timetravel.query.timeline import step_in
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.tui import sidebyside

from .conftest import DEMO_NOW

API = ResourceKey("prod", "apps", "Deployment", "payments", "api")
BANNER = ResourceKey("prod", "apps", "Deployment", "frontend", "legacy-banner")
API_DEMO = ResourceKey("prod-eu1", "apps", "Deployment", "payments", "api")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_resources_at_the_incident(sample_store: Path) -> None:
    data = ScreenData(sample_store, now=SAMPLE_NOW)
    resources = data.resources_at(INCIDENT)
    keys = [row.key for row in resources.rows]
    assert API in keys
    assert BANNER not in keys  # deleted on Wednesday
    assert resources.clusters == ("prod",)
    assert {row.key.namespace for row in resources.rows} == {
        "payments",
        "checkout",
        "frontend",
        "monitoring",
    }
    assert sum(resources.counts.values()) == len(resources.rows)
    before_delete = data.resources_at(t("2026-11-17T12:00:00"))
    assert BANNER in [row.key for row in before_delete.rows]


def test_filter_matches_words_and_fields() -> None:
    row = ResourceRow(API, "drifted", None, None, None)
    assert row.matches("api")
    assert row.matches("payments deploy")
    assert row.matches("state:drifted")
    assert row.matches("state:drift kind:deployment ns:payments")
    assert not row.matches("state:in_sync")
    assert not row.matches("checkout")


def test_next_and_previous_change(sample_store: Path) -> None:
    data = ScreenData(sample_store, now=SAMPLE_NOW)
    assert data.next_change_after(INCIDENT) == t("2026-11-19T21:41:00")
    assert data.prev_change_before(INCIDENT) == t("2026-11-19T21:25:00")
    assert data.prev_change_before(INCIDENT, 2) == t("2026-11-19T21:14:00")
    assert data.next_change_after(INCIDENT, 2) == t("2026-11-19T21:44:00")
    first, last = data.time_range()
    assert data.prev_change_before(first) is None  # type: ignore[arg-type]
    assert data.next_change_after(last) is None  # type: ignore[arg-type]


def test_changes_around_and_detail(sample_store: Path) -> None:
    data = ScreenData(sample_store, now=SAMPLE_NOW)
    changes, after = data.changes_around(INCIDENT, 10)
    assert len(changes) == 9  # five before, and only four after
    assert changes[after - 1].at == "2026-11-19T21:25:00Z"
    assert changes[after].at == "2026-11-19T21:41:00Z"
    detail = data.detail(API, INCIDENT)
    assert detail.view is not None and detail.view.actual is not None
    assert [c.at for c in detail.changes][:2] == ["2026-11-19T21:25:00Z", "2026-11-19T21:14:00Z"]
    assert detail.changes[0].actor == "kubectl-edit"
    assert detail.change_times[-1] == t("2026-11-19T21:44:00")
    gone = data.detail(BANNER, INCIDENT)
    assert gone.view is None and gone.deleted_at is not None


def test_density_and_markers(sample_store: Path) -> None:
    data = ScreenData(sample_store, now=SAMPLE_NOW)
    start, end = t("2026-11-13T00:00:00"), t("2026-11-21T00:00:00")
    density = data.density(start, end, 64)
    assert sum(density.counts) == len(
        data.reader().changes_between(
            "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", with_body=False
        )
    )
    assert not density.saturated
    kinds = {m.kind for m in data.markers(start, end)}
    assert {"gap", "deleted", "status_only"} <= kinds
    marker = data.next_notable(start, forward=True, kinds=frozenset({"deleted"}))
    assert marker is not None and marker.key == BANNER
    back = data.next_notable(end, forward=False, kinds=frozenset({"deleted"}))
    assert back is not None and back.at == marker.at


def test_step_in() -> None:
    times = [t("2026-11-19T10:00:00"), t("2026-11-19T11:00:00")]
    assert step_in(times, t("2026-11-19T10:00:00"), forward=True) == times[1]
    assert step_in(times, t("2026-11-19T10:00:00"), forward=False) is None
    assert step_in(times, t("2026-11-19T12:00:00"), forward=False) == times[1]


def test_side_by_side_alignment() -> None:
    desired = sidebyside.to_yaml({"spec": {"replicas": 2, "paused": False}, "status": {"a": 1}})
    actual = sidebyside.to_yaml(
        {"spec": {"replicas": 6, "paused": False, "extra": 1}, "status": {"a": 1}}, noise=False
    )
    rows = sidebyside.align(desired, actual)
    marks = [(r.mark, r.desired, r.actual) for r in rows]
    assert ("~", "  replicas: 2", "  replicas: 6") in marks
    assert ("+", None, "  extra: 1") in marks
    assert any(r.mark == "-" and r.desired == "status:" for r in rows)
    unified = sidebyside.unified(rows)
    assert ("-", "  replicas: 2") in unified and ("+", "  replicas: 6") in unified
    _ = timedelta


# -- the demo's week (git, drift, causes): the screen's shortcuts against the full answers --


def demo_moments(data: ScreenData, step: timedelta = timedelta(minutes=37)) -> list[datetime]:
    first, last = data.time_range()
    assert first is not None and last is not None
    moments = []
    at = first
    while at <= last:
        moments.append(at)
        at += step
    return moments


def test_a_glimpse_drops_an_identity_deleted_then(demo_store: Path, tmp_path: Path) -> None:
    """An object deleted and made again keeps its identity, listed alive between its two
    lives: a glimpse whose window holds it reads it deleted and makes no row; one whose
    window does not lists it pending; the whole set (asked next) has no row of it."""
    store = tmp_path / "demo.db"
    shutil.copy(demo_store, store)
    # One name deleted and created again: going back over the second life ends the first.
    writer = open_database(store)
    start = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    lives = [("ADDED", 0), ("DELETED", 1), ("ADDED", 2), ("MODIFIED", 3)]
    import_events(
        writer,
        [
            configmap_event("ledger", start + timedelta(hours=h), t, f"uid-{h // 2}")
            for t, h in lives
        ],
        cluster="prod-eu1",
    )
    writer.conn.close()
    ledger = ResourceKey("prod-eu1", "", "ConfigMap", "payments", "ledger")
    gap = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)  # deleted at 10:00, back at 11:00
    data = ScreenData(store, now=DEMO_NOW)
    with (
        mock.patch.object(incremental, "NEAR_REVISIONS", 1),
        mock.patch("timetravel.query.glimpse.LEAST", 0),
    ):
        data.invalidate()
        around = data.resources_at(gap, glimpse=True, near=ledger)
        assert not around.complete and ledger not in around.positions
        data.invalidate()
        first = data.resources_at(gap, glimpse=True, near=None)
        assert not first.complete
        if ledger in first.positions:  # outside the window: listed, pending
            assert first.rows[first.positions[ledger]].state == PENDING
        whole = data.resources_at(gap)
        assert whole.complete and ledger not in whole.positions
        assert data.resources_at(gap + timedelta(hours=1)).position(ledger) is not None


def test_rows_and_their_causes_are_the_snapshots(demo_store: Path) -> None:
    data = ScreenData(demo_store, now=DEMO_NOW)
    db = open_database(demo_store, readonly=True)
    managed = 0
    for at in demo_moments(data):
        resources = data.resources_at(at)
        snap = build_snapshot(db, at, window=timedelta(0), light=True)
        rows = [(r.key, r.state, r.last_change_at) for r in resources.rows]
        assert rows == [
            (v.key, v.state, v.last_change.at if v.last_change else None) for v in snap.resources
        ]
        causes = data.causes_of(resources, [r.key for r in resources.rows])
        assert causes == {v.key: v.last_change.cause for v in snap.resources if v.last_change}
        managed += sum(1 for r in resources.rows if r.state != "unmanaged")
    assert managed > 0


def test_the_open_drift_is_the_drift_historys(demo_store: Path) -> None:
    data = ScreenData(demo_store, now=DEMO_NOW)
    db = open_database(demo_store, readonly=True)
    drifted = 0
    for at in demo_moments(data):
        for row in data.resources_at(at).rows:
            if row.state != "drifted":
                continue
            drifted += 1
            history = drift_history(db, row.key, to_stored(at))
            assert history and history[-1].closed_at is None
            assert data.drift_at(row.key, at) == history[-1]
            assert data.detail(row.key, at).drift == history[-1]
    assert drifted > 10


def test_a_superseded_load_gives_up(demo_store: Path) -> None:
    data = ScreenData(demo_store, now=DEMO_NOW)
    first, last = data.time_range()
    assert first is not None and last is not None
    at = first + (last - first) / 2
    asked = 0

    def stop_soon() -> bool:
        nonlocal asked
        asked += 1
        return asked > 1  # lets the load start, then stops it

    with pytest.raises(Superseded):
        data.resources_at(at, stop=stop_soon)
    loads = (
        lambda stop: data.changes_around(at, stop=stop),
        lambda stop: data.markers(first, last, stop=stop),
        lambda stop: data.detail(API_DEMO, at, stop=stop),
        lambda stop: data.next_notable(first, forward=True, stop=stop),
    )
    for load in loads:
        asked = 0
        with pytest.raises(Superseded):
            load(stop_soon)
    # Not superseded, the same loads answer.
    assert data.resources_at(at).rows
    assert data.changes_around(at)[0]


def test_time_range_follows_what_a_writer_adds(own_store: Path) -> None:
    data = ScreenData(own_store, now=SAMPLE_NOW)
    first, last = data.time_range()
    assert first is not None and last is not None
    writer = open_database(own_store)
    later, earlier = last + timedelta(minutes=3), first - timedelta(days=1)
    import_events(writer, [configmap_added("late", later)], cluster="prod")
    assert data.time_range() == (first, later)
    import_events(writer, [configmap_added("early", earlier)], cluster="prod")
    assert data.time_range() == (earlier, later)
    writer.conn.close()


def configmap_added(name: str, at: datetime) -> str:
    return configmap_event(name, at)


def configmap_event(name: str, at: datetime, kind: str = "ADDED", uid: str = "uid-1") -> str:
    """A watch event of a ConfigMap in payments, as ``kubectl get -w`` prints it."""
    version = str(99000 + int(at.timestamp()) % 1000)
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "payments",
            "uid": uid,
            "resourceVersion": version,
        },
        "data": {"mode": "strict", "at": to_rfc3339(at)},
    }
    return orjson.dumps({"type": kind, "object": obj, "observed_at": to_rfc3339(at)}).decode()

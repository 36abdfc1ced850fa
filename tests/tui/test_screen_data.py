"""The screen's data layer on the seeded week: plain values in, plain values out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from timetravel.domain.model import ResourceKey
from timetravel.screen_data import ResourceRow, ScreenData, step_in
from timetravel.tui import sidebyside
from timetravel.tui.sample import INCIDENT, SAMPLE_NOW

API = ResourceKey("prod", "apps", "Deployment", "payments", "api")
BANNER = ResourceKey("prod", "apps", "Deployment", "frontend", "legacy-banner")


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
    assert sum(density.counts) == len(data.reader().changes_between("0", "9", with_body=False))
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

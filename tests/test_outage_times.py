"""An outage without 410: the API server unreachable for a few seconds, the watch resumed
from its resourceVersion (no relist). Nothing is lost, but what changed meanwhile arrives
late: the break is a gap, and those changes are stored as not seen live, at the server's
time of the write where it falls in the gap, else at the gap's end, with the gap's bounds
(issue #17). The screen and the exports say "happened between A and B".
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.fixtures.pilot import settle
from timetravel.domain.model import HappenedBetween, ResourceKey
from timetravel.domain.placement import place, written_times
from timetravel.domain.times import from_stored, to_stored, utc_now
from timetravel.export.json_export import render_json
from timetravel.export.markdown import render_markdown
from timetravel.export.options import ExportOptions
from timetravel.query.moment import build_snapshot
from timetravel.query.screen import ScreenData
from timetravel.recorder import cluster
from timetravel.recorder.clock import Backoff
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.records import GapRecord, RevisionRecord

from .apidouble import ApiDouble
from .conftest import SHARED
from .recording import configmap, recording, stored, wait_for
from .test_faults import NS as CHAOS
from .test_faults import check_history, churned, wait_until_exact

NS = "payments"
OLD = datetime(2020, 1, 1, tzinfo=UTC)  # a manager's time long before the outage


@dataclass(frozen=True)
class Outage:
    """What one recorded outage left: the database, the outage's bounds as the test saw
    them, the server's time of the edit made during it, and the recorder's status lines."""

    db_path: Path
    down_at: datetime
    up_at: datetime
    edit_time: datetime  # managedFields time of the edit of "edited"
    status: str


def _edit(double: ApiDouble, name: str, value: str, at: datetime | None = None) -> dict[str, Any]:
    return double.patch(
        "v1",
        "ConfigMap",
        NS,
        name,
        lambda o: o["data"].update(k=value),
        manager="kubectl-edit",
        at=at,
    )


def _gaps(db_path: Path) -> list[GapRecord]:
    db = open_database(db_path, readonly=True)
    try:
        return Reader(db).gaps_between("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z")
    finally:
        db.conn.close()


def _records(db_path: Path) -> list[RevisionRecord]:
    db = open_database(db_path, readonly=True)
    try:
        return stored(db)
    finally:
        db.conn.close()


def _of(records: list[RevisionRecord], name: str) -> list[RevisionRecord]:
    return [r for r in records if r.key.kind == "ConfigMap" and r.key.name == name]


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Outage:
    """A recorder watching ConfigMaps; the API double down ~2.5 s while an edit (its
    managedFields time in the outage), an edit by a manager whose time says 2020, a
    delete and a create are made; then the double comes back, and one more edit is made
    once the watch has caught up."""
    tmp = tmp_path_factory.mktemp("outage")
    db_path = tmp / "tt.db"
    status = io.StringIO()
    with ApiDouble(bookmark_interval=0.1) as double:
        for name in ("edited", "old-manager", "deleted", "after"):
            double.create(configmap(name, NS))
        with recording(
            double,
            db_path,
            tmp,
            resources=["configmaps"],
            read_timeout=1.0,
            status_every=0.1,
            status_stream=status,
        ):
            wait_for(lambda: len(_of(_records(db_path), "after")) == 1, what="the first list")
            down_at = utc_now()
            double.go_down()
            wait_for(lambda: "reconnecting" in status.getvalue(), what="a reconnecting status")
            # A whole second into the outage, so its managedFields time (to the second) is
            # inside it.
            time.sleep(max(0.0, (down_at + timedelta(seconds=1.1) - utc_now()).total_seconds()))
            edited = _edit(double, "edited", "during")
            _edit(double, "old-manager", "during", at=OLD)
            double.delete("v1", "ConfigMap", NS, "deleted")
            double.create(configmap("created", NS))
            time.sleep(max(0.0, (down_at + timedelta(seconds=2.5) - utc_now()).total_seconds()))
            up_at = utc_now()
            double.come_back()
            wait_for(
                lambda: any(g.source == "watch:configmaps" for g in _gaps(db_path)),
                timeout=60,
                what="the outage's gap",
            )
            # The gap is written once the server said how far it was: this edit is later.
            _edit(double, "after", "live")
            wait_for(lambda: len(_of(_records(db_path), "after")) == 2, what="the live edit")
            wait_for(lambda: "reconnecting" not in status.getvalue().splitlines()[-1], what="ok")
    managed = edited["metadata"]["managedFields"]
    edit_time = max(from_stored(m["time"]) for m in managed if m["manager"] == "kubectl-edit")
    return Outage(db_path, down_at, up_at, edit_time, status.getvalue())


def _the_gap(outage: Outage) -> GapRecord:
    gaps = [g for g in _gaps(outage.db_path) if g.source == "watch:configmaps"]
    assert len(gaps) == 1, gaps
    return gaps[0]


def test_the_outage_is_a_gap_for_the_type(outage: Outage) -> None:
    gap = _the_gap(outage)
    assert from_stored(gap.started_at) <= outage.down_at
    assert from_stored(gap.ended_at) >= outage.up_at
    assert "without a relist" in gap.reason and "connection" in gap.reason.lower()
    # No relist: nothing of the outage came back inferred.
    assert not any(r.inferred for r in _records(outage.db_path) if r.source == "watch")


def test_a_change_in_the_outage_keeps_the_servers_time(outage: Outage) -> None:
    gap = _the_gap(outage)
    (_, during) = _of(_records(outage.db_path), "edited")
    assert during.change == "updated" and not during.inferred
    assert during.happened_between == HappenedBetween(gap.started_at, gap.ended_at, "managedFields")
    # The server's time of the write, not when the resumed watch delivered it.
    assert during.observed_at == to_stored(outage.edit_time)
    assert during.observed_at < gap.ended_at


def test_a_change_without_a_usable_server_time_gets_the_gap(outage: Outage) -> None:
    gap = _the_gap(outage)
    records = _records(outage.db_path)
    (_, old_manager) = _of(records, "old-manager")  # its manager's time says 2020
    (_, deleted) = _of(records, "deleted")  # a delete carries no time of its own
    for record in (old_manager, deleted):
        assert record.happened_between == HappenedBetween(gap.started_at, gap.ended_at, None)
        assert record.observed_at == gap.ended_at
    assert deleted.change == "deleted"
    (created,) = _of(records, "created")
    assert created.change == "created"
    assert created.happened_between is not None
    assert created.happened_between.placed_by == "creationTimestamp"
    assert gap.started_at <= created.observed_at < gap.ended_at


def test_a_change_after_the_watch_caught_up_is_seen_live(outage: Outage) -> None:
    (listed, live) = _of(_records(outage.db_path), "after")
    assert listed.inferred and listed.happened_between is None
    assert live.happened_between is None and not live.inferred
    assert live.observed_at > _the_gap(outage).ended_at


def test_the_status_line_says_which_types_are_reconnecting(outage: Outage) -> None:
    lines = outage.status.splitlines()
    assert any(
        re.search(r"reconnecting 2 types \(backoff [0-9.]+s\), recording double", line)
        for line in lines
    ), lines  # configmaps, and the Warning events every recorder watches
    assert lines[-2].startswith("timetravel: recording double")  # reconnected
    assert lines[-1].startswith("timetravel: stopped double")


def _snapshot(outage: Outage) -> Any:
    db = open_database(outage.db_path, readonly=True)
    try:
        return build_snapshot(db, outage.up_at + timedelta(minutes=1), window=timedelta(hours=1))
    finally:
        db.conn.close()


def test_the_exports_say_happened_between(outage: Outage) -> None:
    gap = _the_gap(outage)
    snapshot = _snapshot(outage)
    document = json.loads(render_json(snapshot))
    # v1.1 (docs/snapshot.schema.json), and, but for the version it names, the v1 contract:
    # a v1 reader reads every field it knows.
    ours = json.loads((Path(__file__).parent.parent / "docs" / "snapshot.schema.json").read_text())
    contract = json.loads((SHARED / "snapshot.schema.json").read_text())
    for schema, doc in (
        (ours, document),
        (contract, {**document, "schema": "timetravel.snapshot/v1"}),
    ):
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
            doc
        )
    by_name = {(c["name"], c["type"]): c for c in document["changes"]}
    start, end = (from_stored(t) for t in (gap.started_at, gap.ended_at))
    edited = by_name[("edited", "updated")]
    between = edited["happened_between"]
    assert between["placed_by"] == "managedFields"
    assert from_stored(between["from"]) == start and from_stored(between["to"]) == end
    assert from_stored(edited["at"]) == outage.edit_time
    assert by_name[("deleted", "deleted")]["happened_between"]["placed_by"] is None
    assert "happened_between" not in by_name[("after", "updated")]

    markdown = render_markdown(snapshot, ExportOptions(tz=UTC)).decode()
    # Times carry their day when the report's window crosses midnight (a run near 00:00).
    day, clock = "(?:%m-%d )?", "%H:%M:%S"
    said = re.compile(f"happened between {start:{day}}{start:{clock}} and {end:{day}}{end:{clock}}")
    rows = [line for line in markdown.splitlines() if said.search(line)]
    assert any("`payments/ConfigMap/edited`" in r and "managedFields" in r for r in rows), said
    assert any("`payments/ConfigMap/deleted`" in r and "shown at the end" in r for r in rows)
    assert "4 changes arrived after a gap" in markdown


def test_the_screen_says_happened_between(
    outage: Outage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Static

    from timetravel.tui.app import TimetravelApp

    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    gap = _the_gap(outage)
    now = outage.up_at + timedelta(minutes=1)
    key = ResourceKey("double", "", "ConfigMap", NS, "edited")
    app = TimetravelApp(
        ScreenData(outage.db_path, now=now),
        at=now,
        now=now,
        tz=UTC,
        export_dir=tmp_path,
        select=key,
    )
    shown: list[str] = []

    async def main() -> None:
        async with app.run_test(size=(200, 50)) as pilot:
            await settle(pilot)
            assert app.detail is not None and app.detail.key == key
            body = app.query_one("#cause-body", Static)
            shown.append(str(body.render()))

    asyncio.run(main())
    start, end = (from_stored(t).strftime("%m-%d %H:%M:%S") for t in (gap.started_at, gap.ended_at))
    text = html.unescape(shown[0])
    assert f"happened between {start} and {end}; shown at the server's time (managedFields)" in (
        text
    )
    assert "[not seen live]" in text


@pytest.mark.slow
def test_outages_during_churn_lose_nothing_and_mark_what_came_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight outages of 0.3-1.2 s during churn (creates, edits, deletes, re-creates), each
    resumed without 410: exact against the checker (nothing lost, doubled or invented),
    every write made while the double was down stored as not seen live, inside its gap."""
    # A healthy half second resets the backoff here (a minute in use): eight outages in
    # a few seconds would otherwise wait out 30 s backoffs.
    monkeypatch.setattr(cluster, "Backoff", partial(Backoff, healthy_after=0.5))
    rng = random.Random(17)
    outages: list[tuple[int, int]] = []  # the double's resourceVersion when down, when up
    with churned(tmp_path) as (double, churn, db_path, recorder):
        mark = double.resource_version
        with churn.running(pause=0.002):
            for _ in range(8):
                double.go_down()
                down = double.resource_version  # later writes cannot reach the recorder live
                time.sleep(rng.uniform(0.3, 1.2))  # churn goes on
                outages.append((down, double.resource_version))
                double.come_back()
                time.sleep(rng.uniform(0.6, 2.0))
        wait_until_exact(db_path, churn, timeout=60)
        assert recorder.stats.relists == 0
    report = check_history(db_path, churn, churn.rvs_between(mark, 1 << 62))
    records = [r for r in _records(db_path) if r.key.namespace == CHAOS]
    gaps = [g for g in _gaps(db_path) if g.source == "watch:configmaps"]
    # An outage that starts before the recorder reconnected from the last is the same gap.
    assert gaps, "the outages must be gaps"
    spans = {(g.started_at, g.ended_at) for g in gaps}
    late = [r for r in records if r.happened_between is not None]
    for r in late:
        between = r.happened_between
        assert between is not None and (between.start, between.end) in spans, r
        assert between.start <= r.observed_at, r
        assert r.observed_at <= between.end or between.placed_by is None, r
    by_rv = {int(r.resource_version): r for r in records if r.resource_version}
    during = [rv for low, high in outages for rv in churn.rvs_between(low, high)]
    assert during and all(by_rv[rv].happened_between is not None for rv in during if rv in by_rv)
    placed = sum(1 for r in late if r.happened_between and r.happened_between.placed_by)
    assert placed > len(late) / 2, "most writes carry their own time"
    at_end = Counter(
        r.change for r in late if r.happened_between and not r.happened_between.placed_by
    )
    print(f"\noutages x8: {report}; {len(gaps)} gaps, {len(late)} late, {placed} placed by the")
    print(f"server's time, at the gap's end: {dict(at_end)}")


# --- the rules, without a server ---------------------------------------------------------------

A = "2026-11-19T21:30:00.400000Z"
B = "2026-11-19T21:30:09.000000Z"


def _obj(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", **meta}}


def _managed(*times: str) -> list[dict[str, Any]]:
    return [{"manager": f"m{i}", "operation": "Update", "time": t} for i, t in enumerate(times)]


def test_placement_uses_the_time_of_the_write_when_it_is_in_the_gap() -> None:
    obj = _obj(managedFields=_managed("2026-11-19T21:29:00Z", "2026-11-19T21:30:05Z"))
    assert place("updated", obj, A, B) == (
        "2026-11-19T21:30:05.000000Z",
        HappenedBetween(A, B, "managedFields"),
    )
    # Written to the second: 21:30:00 may be 21:30:00.9, inside a gap from 21:30:00.4.
    obj = _obj(managedFields=_managed("2026-11-19T21:30:00Z"))
    assert place("updated", obj, A, B)[0] == A
    # The write's own entry says 2020 (a client that sets its time): the gap's end, not
    # the time of another manager's earlier write.
    obj = _obj(managedFields=_managed("2026-11-19T21:30:05Z", "2020-01-01T00:00:00Z"))
    assert place("updated", obj, A, B, written=["2020-01-01T00:00:00Z"]) == (
        B,
        HappenedBetween(A, B, None),
    )
    # A manager writing again within the second of its entry's time: no entry advanced,
    # and the write was made in the second of the newest.
    obj = _obj(managedFields=_managed("2026-11-19T21:29:00Z", "2026-11-19T21:30:05Z"))
    assert place("updated", obj, A, B, written=[])[0] == "2026-11-19T21:30:05.000000Z"
    # After the gap's end (a server clock ahead): the end, never after it.
    obj = _obj(managedFields=_managed("2026-11-19T21:31:00Z"))
    assert place("updated", obj, A, B)[0] == B


def test_written_times_are_the_entries_a_version_advanced() -> None:
    before = {"kubectl-client-side-apply/Update": "2026-11-19T21:00:00Z"}
    after = {**before, "kubectl-edit/Update": "2020-01-01T00:00:00Z"}
    assert written_times(before, after) == ["2020-01-01T00:00:00Z"]
    assert written_times(None, before) == ["2026-11-19T21:00:00Z"]


def test_placement_by_creation_and_deletion_timestamps() -> None:
    created = _obj(creationTimestamp="2026-11-19T21:30:03Z", managedFields=_managed(B))
    assert place("created", created, A, B)[1].placed_by == "creationTimestamp"
    gone = _obj(deletionTimestamp="2026-11-19T21:30:04Z", managedFields=_managed(B))
    assert place("deleted", gone, A, B) == (
        "2026-11-19T21:30:04.000000Z",
        HappenedBetween(A, B, "deletionTimestamp"),
    )
    # A delete's managedFields are its last write's, not the delete's.
    assert place("deleted", _obj(managedFields=_managed("2026-11-19T21:30:04Z")), A, B)[0] == B


def test_placement_never_puts_a_later_version_first() -> None:
    obj = _obj(managedFields=_managed("2026-11-19T21:30:02Z"))
    at, between = place("updated", obj, A, B, not_before="2026-11-19T21:30:06.000000Z")
    assert at == "2026-11-19T21:30:06.000000Z" and between.placed_by == "managedFields"


def test_backoff_is_bounded_and_resets_only_after_a_healthy_minute() -> None:
    now = [0.0]
    backoff = Backoff(now=lambda: now[0])
    waits = [backoff.next() for _ in range(12)]
    assert all(w <= 30.0 for w in waits) and waits[-1] >= 24.0
    backoff.ok()  # reconnected: the first event does not reset it
    now[0] += 59.0
    assert backoff.next() >= 24.0
    backoff.ok()
    now[0] += 60.0  # a healthy minute, then a failure: from the start again
    assert backoff.next() <= 0.2 * 1.2

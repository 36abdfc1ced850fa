"""Property: over random histories, pruning before a random cut (stopped after a random
number of its transactions, then finished) changes no answer at or after the cut: the
state at every T from the cut on, every change after it with the revision before it, and
the export of any moment whose window starts at the cut; and before the cut each object
keeps at most one revision. On both engines."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timetravel.domain.times import to_micros, to_rfc3339, to_stored
from timetravel.export.json_export import render_json
from timetravel.query.moment import build_snapshot
from timetravel.recorder.events import import_events
from timetravel.store.check import check
from timetravel.store.db import open_database
from timetravel.store.prune import Pruner
from timetravel.store.reader import Reader

from .fixtures.postgres import PostgresServer
from .test_state_property import START, build_events, step

GENERATED = datetime(2026, 11, 21, tzinfo=UTC)


def _answers(db: Any, cut: datetime, probes: list[datetime], end: datetime) -> dict[str, Any]:
    reader = Reader(db)
    states = [
        [
            (r.key, r.id, r.observed_at, r.change, r.resource_version, r.body)
            for r in reader.state_at(to_stored(t))
        ]
        for t in probes
    ]
    records = reader.changes_between(to_stored(cut), to_stored(end))
    previous = reader.previous_many(records)
    changes = [
        (r.id, r.observed_at, r.change, r.body, p.id if p else None, p.body if p else None)
        for r in records
        for p in [previous[r.id]]
    ]
    exports = []
    for t in probes:
        snapshot = build_snapshot(db, t, window=t - cut, generated_at=GENERATED)
        data = json.loads(render_json(snapshot))
        for resource in data["resources"]:
            last = resource.get("last_change")
            if last and last["at"] < to_rfc3339(cut):
                resource["last_change"] = {"at": last["at"], "type": last["type"]}
        exports.append(data)
    return {"states": states, "changes": changes, "exports": exports}


def _check(
    where: Path | str,
    events: list[tuple[datetime, str, dict[str, Any]]],
    cut_s: int,
    probes_s: list[int],
    stop_after: int,
) -> None:
    db = open_database(where)
    try:
        lines = [
            json.dumps({"type": kind, "object": obj, "observed_at": at.isoformat()})
            for at, kind, obj in events
        ]
        assert not import_events(db, lines, cluster="prop").bad
        cut = START + timedelta(seconds=cut_s)
        end = (events[-1][0] if events else START) + timedelta(seconds=1)
        probes = sorted({cut + timedelta(seconds=p) for p in probes_s})
        before = _answers(db, cut, probes, end)
        for done, _ in enumerate(Pruner(db, to_stored(cut), batch=2).batches(), 1):
            if done == stop_after:
                break
        _clean(where)
        assert _answers(db, cut, probes, end) == before
        Pruner(db, to_stored(cut), batch=2).run()
        _clean(where)
        assert _answers(db, cut, probes, end) == before
        per_object = db.execute(
            "SELECT s.resource_id, count(*) FROM revisions rv JOIN segments s "
            "ON s.id = rv.segment_id WHERE rv.observed_us < ? GROUP BY s.resource_id",
            (to_micros(to_stored(cut)),),
        ).fetchall()
        assert all(count == 1 for _, count in per_object)
    finally:
        db.conn.close()


def _clean(where: Path | str) -> None:
    # On a connection of its own: its temporary table is dropped and made again.
    db = open_database(where)
    try:
        assert check(db).clean
    finally:
        db.conn.close()


histories = given(
    steps=st.lists(step, min_size=1, max_size=60),
    cut_s=st.integers(min_value=0, max_value=3000),
    probes_s=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=4),
    stop_after=st.integers(min_value=1, max_value=12),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@histories
def test_pruning_changes_no_answer_from_the_cut_on_sqlite(
    steps: list[Any], cut_s: int, probes_s: list[int], stop_after: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check(Path(tmp) / "p.db", build_events(steps), cut_s, probes_s, stop_after)


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> PostgresServer:
    found: PostgresServer = request.getfixturevalue("postgres_server")
    return found


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@histories
def test_pruning_changes_no_answer_from_the_cut_on_postgresql(
    server: PostgresServer, steps: list[Any], cut_s: int, probes_s: list[int], stop_after: int
) -> None:
    _check(server.new_database(), build_events(steps), cut_s, probes_s, stop_after)

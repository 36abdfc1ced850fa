"""What the snapshot's speed rests on, checked for behaviour (bench/ measures the speed).

A full snapshot explains each change once (a resource's last change inside the window is
the window's own view of it), and builds and writes with the cyclic collector paused: the
collector must come back as it was, whatever the caller had set.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from timetravel.export import write_export
from timetravel.query.moment import build_snapshot
from timetravel.recorder.events import import_events
from timetravel.store import Database
from timetravel.store.db import open_database

T0 = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)


def config_map(name: str, value: str, rv: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
        },
        "data": {"value": value},
    }


def event(kind: str, obj: dict[str, object], at: datetime) -> str:
    return json.dumps({"type": kind, "object": obj, "observed_at": at.isoformat()})


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(db_path)
    lines = [
        event("ADDED", config_map("old", "1", 1), T0 - timedelta(days=2)),
        event("ADDED", config_map("busy", "1", 2), T0 - timedelta(days=2)),
        event("MODIFIED", config_map("busy", "2", 3), T0 - timedelta(minutes=20)),
        event("MODIFIED", config_map("busy", "3", 4), T0 - timedelta(minutes=10)),
    ]
    assert not import_events(database, lines, cluster="prod").bad
    yield database
    database.conn.close()


def test_a_last_change_inside_the_window_is_the_windows_own_view(db: Database) -> None:
    snapshot = build_snapshot(db, T0, window=timedelta(hours=1))
    busy = next(r for r in snapshot.resources if r.key.name == "busy")
    assert busy.last_change is snapshot.changes[-1]
    assert [f.path for f in busy.last_change.fields] == ["data.value"]
    old = next(r for r in snapshot.resources if r.key.name == "old")
    assert old.last_change is not None and old.last_change.type == "created"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_comes_back_as_it_was(db: Database, enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        snapshot = build_snapshot(db, T0, window=timedelta(hours=1))
        assert gc.isenabled() is enabled
        write_export(snapshot, "bundle")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_what_a_caller_froze_stays_frozen(db: Database) -> None:
    # Once before freezing: a first build fills caches (lazy imports, the reader's), and
    # what they replace is freed, frozen or not; the count must not move for our reason.
    write_export(build_snapshot(db, T0, window=timedelta(hours=1)), "json")
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        write_export(build_snapshot(db, T0, window=timedelta(hours=1)), "json")
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()

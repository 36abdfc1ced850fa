"""Two engines, one store: the same recorded history in SQLite and in PostgreSQL gives the
same answers, byte for byte in the exports. PostgreSQL is a real server (tests/fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timetravel.domain.model import Gap
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.export import write_export
from timetravel.query.moment import build_snapshot
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter

from .conftest import deployment
from .fixtures.postgres import PostgresServer
from .fixtures.sample import SAMPLE_NOW, build_sample_store

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GENERATED = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)


def _export(where: str | Path, at: datetime, window: timedelta, fmt: str = "json") -> bytes:
    db = open_database(where, readonly=True)
    try:
        snapshot = build_snapshot(db, at, window=window, generated_at=GENERATED)
        return write_export(snapshot, fmt, tz=UTC)
    finally:
        db.conn.close()


@pytest.fixture(autouse=True)
def shared_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both stores hash Secret values with one key, as a team's recorders do."""
    monkeypatch.setenv("TIMETRAVEL_SECRET_KEY", "ab" * 32)


def test_the_sample_week_answers_the_same_from_both_engines(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    sqlite_path = build_sample_store(tmp_path / "week.db")
    url = postgres_server.new_database()
    build_sample_store(url)
    for at in (SAMPLE_NOW - timedelta(hours=11, minutes=30), SAMPLE_NOW - timedelta(days=3)):
        from_sqlite = _export(sqlite_path, at, timedelta(hours=2))
        assert from_sqlite == _export(url, at, timedelta(hours=2))
        assert b'"changes"' in from_sqlite
        assert _export(sqlite_path, at, timedelta(hours=2), "markdown") == _export(
            url, at, timedelta(hours=2), "markdown"
        )


_NAMES = st.sampled_from(["api", "web", "worker"])
_STEP = st.tuples(
    st.sampled_from(["set", "delete"]),
    _NAMES,
    st.integers(1, 5),
    st.sampled_from(["kubectl-edit", "argocd-controller", "kube-controller-manager"]),
    st.integers(1, 600),
)


def _events(steps: list[tuple[str, str, int, str, int]]) -> list[str]:
    live: dict[str, dict[str, Any]] = {}
    lines = []
    at = START
    rv = 100
    for action, name, value, manager, seconds in steps:
        at += timedelta(seconds=seconds)
        rv += 1
        obj = live.get(name)
        if action == "delete":
            if obj is None:
                continue
            del live[name]
            event = "DELETED"
        else:
            event = "MODIFIED" if obj is not None else "ADDED"
            obj = deployment(name, replicas=value)
            obj["metadata"]["uid"] = f"uid-{name}"
            obj["metadata"]["managedFields"] = [
                {"manager": manager, "operation": "Update", "time": to_rfc3339(at)}
            ]
            live[name] = obj
        assert obj is not None
        obj["metadata"]["resourceVersion"] = str(rv)
        line = {"type": event, "object": obj, "observed_at": to_rfc3339(at)}
        lines.append(orjson.dumps(line).decode())
    return lines


def _record(where: str | Path, lines: list[str]) -> None:
    db = open_database(where)
    try:
        import_events(db, lines, cluster="prod")
        RevisionWriter(db).record_gap(
            Gap(
                "prod",
                "cluster:prod",
                to_stored(START + timedelta(minutes=5)),
                to_stored(START + timedelta(minutes=9)),
                "recorder stopped",
            )
        )
    finally:
        db.conn.close()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_STEP, min_size=1, max_size=30), offset=st.integers(0, 120))
def test_any_history_exports_byte_identical_from_both_engines(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    steps: list[tuple[str, str, int, str, int]],
    offset: int,
) -> None:
    lines = _events(steps)
    sqlite_path = tmp_path_factory.mktemp("engines") / "tt.db"
    url = postgres_server.new_database()
    _record(sqlite_path, lines)
    _record(url, lines)
    at = START + timedelta(minutes=offset)
    window = timedelta(hours=3)
    assert _export(sqlite_path, at, window) == _export(url, at, window)

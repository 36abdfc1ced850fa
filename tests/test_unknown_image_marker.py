"""A marker on the timeline where an image no recorded build produced starts running
(issue 23 item 3): the demo's debugging Pod (netshoot, never built by the team's CI) gets
one at its start; the images CI built get none; a build reported for it takes it away."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.demo.build import Demo, build
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_stored
from timetravel.notify.evaluate import CURSOR, evaluate
from timetravel.query.timeline import unknown_image_markers
from timetravel.store import alerts as outbox
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

WEEK_DONE = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEBUG = ResourceKey("prod-eu1", "", "Pod", "checkout", "debug-bob")


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("week") / "demo", now=WEEK_DONE, zone=ZoneInfo("UTC"))


def _marks(week: Demo, start: datetime, end: datetime) -> list:
    db = open_database(week.db_path, readonly=True)
    try:
        return unknown_image_markers(Reader(db), to_stored(start), to_stored(end), "prod-eu1")
    finally:
        db.conn.close()


def test_the_debugging_pod_is_marked_where_it_starts_and_nothing_built_is(week: Demo) -> None:
    marks = _marks(week, WEEK_DONE - timedelta(days=7), WEEK_DONE)
    assert [m.key for m in marks] == [DEBUG], marks
    (mark,) = marks
    assert mark.kind == "unknown_image" and "netshoot" in mark.label
    # Only its start: a window after it began has none, one around it has it.
    assert _marks(week, mark.at + timedelta(minutes=1), WEEK_DONE) == []
    around = _marks(week, mark.at - timedelta(hours=1), mark.at + timedelta(hours=1))
    assert [m.at for m in around] == [mark.at]


def test_a_build_reported_for_the_image_takes_the_mark_away(
    week: Demo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (mark,) = _marks(week, WEEK_DONE - timedelta(days=7), WEEK_DONE)
    db = open_database(week.db_path, readonly=True)
    try:
        pod = Reader(db).object_at(DEBUG, to_stored(mark.at + timedelta(minutes=1)))
    finally:
        db.conn.close()
    assert pod is not None and pod.obj is not None
    status = pod.obj["status"]["containerStatuses"][0]
    digest = status["imageID"].rpartition("@")[2]
    # A copy of the demo's store, with a build of that digest recorded as CI would.
    copy = tmp_path_factory.mktemp("built") / "demo.db"
    shutil.copy(week.db_path, copy)
    result = CliRunner().invoke(
        cli,
        [
            "record-build",
            "--db",
            str(copy),
            "--image",
            status["image"],
            "--digest",
            digest,
            "--commit",
            "0" * 40,
        ],
        env={"CI": ""},
    )
    assert result.exit_code == 0, result.output
    db = open_database(copy, readonly=True)
    try:
        after = unknown_image_markers(
            Reader(db), to_stored(WEEK_DONE - timedelta(days=7)), to_stored(WEEK_DONE), "prod-eu1"
        )
    finally:
        db.conn.close()
    assert after == []


def test_an_alert_says_it_once(week: Demo, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The alert pass tells of the same start (issue 24's "unknown provenance" event), once:
    a second pass over the same window adds nothing."""
    copy = tmp_path_factory.mktemp("alerts") / "demo.db"
    shutil.copy(week.db_path, copy)
    db = open_database(copy)
    try:
        with db.conn:
            outbox.set_cursor(db.conn, CURSOR, "2026-11-15T00:00:00Z")
        found = evaluate(db, WEEK_DONE)
        unknown = [e for e in found.found if e.kind == "unknown_provenance"]
        assert [e.resource for e in unknown] == [
            {"kind": "Pod", "namespace": "checkout", "name": "debug-bob"}
        ]
        assert "netshoot" in unknown[0].summary and unknown[0].cluster == "prod-eu1"
        with db.conn:
            outbox.set_cursor(db.conn, CURSOR, "2026-11-15T00:00:00Z")
        again = evaluate(db, WEEK_DONE)
        assert [e.key for e in again.found if e.kind == "unknown_provenance"] == [unknown[0].key]
        assert again.events < found.events, "the same facts are not new events"
    finally:
        db.conn.close()

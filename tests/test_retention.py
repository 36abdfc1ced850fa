"""`record --keep D`: a recorder prunes its own history as it records, between its writes,
on both engines; what it records meanwhile is kept whole."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.domain.model import Observation
from timetravel.domain.times import from_stored, to_micros, to_stored, utc_now
from timetravel.recorder.retention import Retention, scope
from timetravel.sources.kube import connect
from timetravel.store import dialect
from timetravel.store.check import check
from timetravel.store.db import open_database
from timetravel.store.prune import kept_from
from timetravel.store.writer import RevisionWriter

from .apidouble import ApiDouble
from .recording import configmap, recording, revisions, wait_for


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    return any_db


@pytest.fixture
def double():
    with ApiDouble(bookmark_interval=0.1) as d:
        yield d


def _old_history(db_path: Path | str, cluster: str) -> None:
    """Months of a cluster's history, as an earlier recorder left it."""
    now = utc_now()
    db = open_database(db_path)
    writer = RevisionWriter(db)

    def at(days: int) -> str:
        return to_stored(now - timedelta(days=days))

    def cm(name: str, value: str) -> dict:
        obj = configmap(name, "payments", v=value)
        obj["metadata"]["uid"] = f"uid-{name}"
        return obj

    writer.write(
        [
            Observation(cluster, "ADDED", cm("legacy", "1"), at(120)),
            Observation(cluster, "MODIFIED", cm("legacy", "2"), at(110)),
            Observation(cluster, "DELETED", cm("legacy", "2"), at(100)),
            Observation(cluster, "ADDED", cm("settings", "1"), at(120)),
            Observation(cluster, "MODIFIED", cm("settings", "2"), at(110)),
            Observation(cluster, "MODIFIED", cm("settings", "3"), at(100)),
            Observation(cluster, "MODIFIED", cm("settings", "4"), at(30)),
        ]
    )
    db.conn.close()


def test_a_recorder_prunes_what_is_older_than_keep_as_it_records(
    double: ApiDouble, tmp_path: Path, db_path: Path | str
) -> None:
    cluster = connect(str(double.write_kubeconfig(tmp_path / "probe"))).cluster
    _old_history(db_path, cluster)
    double.create(configmap("settings", "payments", v="live"))
    lines: list[str] = []
    with recording(double, db_path, tmp_path) as recorder:
        db = open_database(db_path, readonly=True)
        postgres = dialect.is_postgres(db.conn)
        db.conn.close()
        retention = Retention(
            timedelta(days=90),
            clock=recorder.clock,
            cluster=scope(postgres, recorder.cluster),
            batch=1,
            report=lines.append,
        )
        recorder.retention = retention
        wait_for(lambda: retention.last is not None, what="a prune")
        # Recorded on, through a writer renewed after the prune rewrote what it remembered.
        double.create(configmap("after", "payments"))
        wait_for(
            lambda: ("ConfigMap", "payments", "after", "created", 0) in revisions(db_path),
            what="a change after the prune",
        )
    assert retention.last is not None
    assert retention.last.removed["objects"] == 1  # legacy, gone 100 days ago
    assert retention.last.removed["revisions"] == 5  # legacy's three, settings' first two
    assert lines and lines[0].startswith("kept 90 days: history ")
    db = open_database(db_path)
    try:
        assert check(db).clean
        cut = kept_from(db.conn, None if not postgres else cluster)
        assert cut is not None
        assert abs(from_stored(cut) - (utc_now() - timedelta(days=90))) < timedelta(minutes=5)
        names = [r[0] for r in db.execute("SELECT name FROM resources ORDER BY name").fetchall()]
        assert names == ["after", "settings"]
        old = db.execute(
            "SELECT count(*) FROM revisions WHERE observed_us < ?", (to_micros(cut),)
        ).fetchone()[0]
        assert old == 1  # settings' revision in force at the cut
    finally:
        db.conn.close()
    # settings: its base, its change 30 days ago; the live one has another uid: deleted
    # and created (the base carries the uid in force, its creation being gone).
    assert [r[3] for r in revisions(db_path) if r[2] == "settings"] == [
        "updated",
        "updated",
        "deleted",
        "created",
    ]


def test_keep_takes_a_duration_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["record", "--db", str(tmp_path / "t.db"), "--keep", "a while", "--repo", "."]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "timetravel: error: cannot read duration 'a while'; use a number and a unit (s, m, h, "
        "d, w, y; or sec, min, hour, day, week, year), largest unit first, like '90s', '15m', "
        "'2h', '1.5h', '1d', '1h30m'"
    ]


def test_a_git_only_recorder_of_a_team_store_has_no_part_of_its_own_to_prune() -> None:
    assert scope(False, None) is None
    assert scope(True, "prod") == "prod"
    with pytest.raises(Exception, match="record a cluster, or prune the whole store"):
        scope(True, None)

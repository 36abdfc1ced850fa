"""The team store: recorders of several clusters writing one PostgreSQL database at once,
one writer per source with a hot standby, a reader role, and a connection dropped while
writing. A real PostgreSQL server (tests/fixtures/postgres.py) and the API double."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from timetravel.domain.times import from_stored
from timetravel.errors import UserError
from timetravel.export import write_export
from timetravel.query.moment import build_snapshot
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

from .apidouble import ApiDouble
from .fixtures.postgres import PostgresServer
from .recording import configmap, count, recording, wait_for
from .test_faults import Churn, check_history, wait_until_exact

NS = "payments"


@pytest.fixture(autouse=True)
def shared_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The team's recorders hash Secret values with one key, given to each."""
    monkeypatch.setenv("TIMETRAVEL_SECRET_KEY", "cd" * 32)


def _record_cli(url: str, kubeconfig: Path, *extra: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "timetravel",
            "record",
            "--kubeconfig",
            str(kubeconfig),
            "--resources",
            "configmaps",
            "--status-every",
            "0",
            "--read-timeout",
            "3",
            *extra,
        ],
        env={**os.environ, "TIMETRAVEL_DB": url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def _names(url: str, cluster: str) -> set[str]:
    try:
        db = open_database(url, readonly=True)
    except UserError:  # the recorder has not created its schema yet
        return set()
    try:
        rows = db.execute(
            "SELECT name FROM resources WHERE cluster = ? AND kind = 'ConfigMap'", (cluster,)
        ).fetchall()
        return {str(r[0]) for r in rows}
    finally:
        db.conn.close()


def test_two_clusters_record_into_one_database_at_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database()
    with ApiDouble(bookmark_interval=0.1) as prod, ApiDouble(bookmark_interval=0.1) as staging:
        for double, cluster in ((prod, "prod"), (staging, "staging")):
            # Both call their cluster what every pod calls its own: --cluster-name tells
            # them apart.
            double.write_kubeconfig(tmp_path / f"{cluster}.kubeconfig", context="in-cluster")
        for i in range(30):
            prod.create(configmap(f"prod-{i}", NS))
            staging.create(configmap(f"staging-{i}", NS))
        logs = [tmp_path / "prod.log", tmp_path / "staging.log"]
        procs = [
            _record_cli(url, tmp_path / "prod.kubeconfig", "--cluster-name", "prod", log=logs[0]),
            _record_cli(
                url, tmp_path / "staging.kubeconfig", "--cluster-name", "staging", log=logs[1]
            ),
        ]
        try:
            wait_for(
                lambda: len(_names(url, "prod")) == 30 and len(_names(url, "staging")) == 30,
                timeout=60,
                what="both clusters listed",
            )
            for i in range(30, 60):  # both write at once from here
                prod.create(configmap(f"prod-{i}", NS))
                staging.create(configmap(f"staging-{i}", NS))
            wait_for(
                lambda: len(_names(url, "prod")) == 60 and len(_names(url, "staging")) == 60,
                timeout=60,
                what="both clusters' new objects",
            )
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=60) for proc in procs]
        assert codes == [0, 0], [log.read_text() for log in logs]
    assert _names(url, "prod") == {f"prod-{i}" for i in range(60)}
    assert _names(url, "staging") == {f"staging-{i}" for i in range(60)}
    # Each cluster's history is its own: a gap or an object of one is not the other's.
    db = open_database(url, readonly=True)
    try:
        clusters = {str(r[0]) for r in db.execute("SELECT name FROM clusters").fetchall()}
    finally:
        db.conn.close()
    assert clusters == {"prod", "staging"}


def test_a_second_recorder_of_a_cluster_is_refused_and_a_standby_takes_over(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database()
    with ApiDouble(bookmark_interval=0.1) as double:
        kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
        churn = Churn(double, [f"cm-{i:03d}" for i in range(40)], seed=3)
        churn.populate()
        first = _record_cli(url, kubeconfig, log=tmp_path / "first.log")
        procs = [first]
        try:
            wait_for(lambda: len(_names(url, "prod")) == 40, timeout=60, what="the first list")
            refused = subprocess.run(
                [sys.executable, "-m", "timetravel", "record", "--kubeconfig", str(kubeconfig)],
                env={**os.environ, "TIMETRAVEL_DB": url},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert refused.returncode == 2, refused.stderr
            assert len(refused.stderr.strip().splitlines()) == 1
            assert "cluster:prod" in refused.stderr
            assert f"pid {first.pid}" in refused.stderr

            standby_log = tmp_path / "standby.log"
            standby = _record_cli(url, kubeconfig, "--standby", log=standby_log)
            procs.append(standby)
            wait_for(lambda: b"standing by" in standby_log.read_bytes(), what="the standby")
            with churn.running(pause=0.01):
                time.sleep(1.0)
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=30)
                time.sleep(2.0)
            wait_until_exact(url, churn, timeout=60)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)
    report = check_history(url, churn)
    assert report["revisions"] > 40
    # The span between the kill and the takeover is a recorded gap, not a silent hole.
    assert count(url, "SELECT count(*) FROM gaps WHERE cluster = 'prod'") >= 1


def test_a_dropped_database_connection_mid_batch_loses_nothing(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database()
    database = url.rsplit("/", 1)[1]
    with ApiDouble(bookmark_interval=0.1) as double:
        churn = Churn(double, [f"cm-{i:03d}" for i in range(60)], seed=5)
        churn.populate()
        with recording(double, url, tmp_path, resources=["configmaps"]) as recorder:
            wait_until_exact(url, churn)
            mark = double.resource_version
            with churn.running(pause=0.002):
                for _ in range(6):
                    time.sleep(0.3)
                    # What a failover, a network cut or an idle timeout does to a session.
                    postgres_server.sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE datname = '{database}' AND application_name = 'timetravel' "
                        "AND pid <> pg_backend_pid()"
                    )
                churn.wait_for_writes(mark, 150)
            wait_until_exact(url, churn, timeout=60)
            assert recorder.stats.errors >= 1, "the dropped connections must have been noticed"
    report = check_history(url, churn, churn.rvs_between(mark, 1 << 62))
    assert report["must_see"] > 100


def test_a_reader_role_reads_and_cannot_write(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database()
    database = url.rsplit("/", 1)[1]
    from .fixtures.sample import SAMPLE_NOW, build_sample_store

    build_sample_store(url)
    postgres_server.sql(
        "DO $$ BEGIN CREATE ROLE tt_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    postgres_server.sql(
        "GRANT USAGE ON SCHEMA public TO tt_reader; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO tt_reader",
        database=database,
    )
    reader_url = postgres_server.url(database, user="tt_reader")
    at = SAMPLE_NOW - timedelta(hours=11, minutes=30)

    def export(where: str) -> bytes:
        db = open_database(where, readonly=True)
        try:
            snapshot = build_snapshot(
                db, at, window=timedelta(hours=2), generated_at=from_stored("2026-11-20T00:00:00Z")
            )
            return write_export(snapshot, "json")
        finally:
            db.conn.close()

    assert export(reader_url) == export(url)
    from timetravel.query.screen import ScreenData

    screen = ScreenData(reader_url, now=SAMPLE_NOW)
    assert screen.resources_at(at)
    assert not screen.read_only_copy

    # The reader cannot record: one line, exit 2, nothing written.
    before = count(url, "SELECT count(*) FROM revisions")
    events = tmp_path / "events.json"
    events.write_text('{"type": "ADDED", "object": ' + _cm_json("intruder") + "}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "import-events",
            "-q",
            "--db",
            reader_url,
            str(events),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "permission denied" in result.stderr
    assert count(url, "SELECT count(*) FROM revisions") == before
    # And the Secret-hashing key is nowhere it could read.
    rows = postgres_server.sql("SELECT key || '=' || value FROM meta", database=database)
    assert "cd" * 32 not in rows
    assert "redaction_key=" not in rows


def test_a_store_opened_for_reading_refuses_writes_whatever_the_role(
    postgres_server: PostgresServer,
) -> None:
    """A screen or export opens its session read-only on the server's side: even with the
    owner's role (which may write), a write through it is one line, and nothing lands."""
    url = postgres_server.new_database()
    open_database(url).conn.close()  # migrated by a writer
    reader = open_database(url, readonly=True)
    try:
        with pytest.raises(UserError, match="opened for reading only"):
            reader.conn.execute("INSERT INTO meta (key, value) VALUES ('intruder', 'x')")
        assert reader.conn.execute("SELECT count(*) FROM meta").fetchone()[0] > 0
    finally:
        reader.conn.close()
    assert count(url, "SELECT count(*) FROM meta WHERE key = 'intruder'") == 0


def test_check_reads_a_postgresql_store_in_a_read_only_session(
    postgres_server: PostgresServer,
) -> None:
    """`timetravel check` (no --repair) opens the store for reading, and still builds its
    index in a temporary table of its own session."""
    url = postgres_server.new_database()
    from .fixtures.sample import build_sample_store

    build_sample_store(url)
    result = subprocess.run(
        [sys.executable, "-m", "timetravel", "check", "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "no damage found" in result.stdout


def test_a_rolled_back_transaction_keeps_the_sessions_prepared_writes(
    postgres_server: PostgresServer,
) -> None:
    """A write prepared before a transaction that rolls back still runs after it: psycopg's
    own statement cache (which deallocates every prepared statement on ROLLBACK) is off."""
    url = postgres_server.new_database()
    db = open_database(url)
    try:
        sql = "INSERT INTO meta (key, value) VALUES (?, ?)"
        for i in range(8):  # often enough for psycopg to have prepared statements of its own
            with db.conn:
                db.conn.execute(sql, (f"k{i}", "v"))
            db.conn.execute("SELECT value FROM meta WHERE key = ?", (f"k{i}",)).fetchone()
        with pytest.raises(RuntimeError), db.conn:
            db.conn.execute(sql, ("rolled-back", "v"))
            raise RuntimeError("rolled back")
        with db.conn:
            db.conn.execute(sql, ("after", "v"))
        assert db.conn.execute("SELECT value FROM meta WHERE key = 'after'").fetchone() == ("v",)
    finally:
        db.conn.close()


def _cm_json(name: str) -> str:
    import json

    return json.dumps(configmap(name, NS))


def test_a_screen_sees_another_machines_revisions_within_a_second(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    from timetravel.query.screen import ScreenData

    url = postgres_server.new_database()
    with ApiDouble(bookmark_interval=0.1) as double:
        double.create(configmap("first", NS))
        with recording(double, url, tmp_path, resources=["configmaps"]):
            wait_for(lambda: count(url, "SELECT count(*) FROM revisions") >= 1, what="the list")
            screen = ScreenData(url)
            _, before = screen.time_range()
            seen = threading.Event()

            def poll() -> None:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    if screen.time_range()[1] != before:
                        seen.set()
                        return
                    time.sleep(0.05)

            watcher = threading.Thread(target=poll)
            watcher.start()
            double.create(configmap("second", NS))
            watcher.join()
            assert seen.is_set(), "the screen's poll never saw the new revision"
            assert Reader(open_database(url, readonly=True)).time_range()[1] is not None

"""`timetravel copy` and `timetravel migrate`: a recorded history moved between stores of
either engine answers as it did, a copy run twice adds nothing, a copy killed at any point
is finished by running it again. PostgreSQL is a real server (tests/fixtures)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from timetravel.cli import cli
from timetravel.domain.audit import AuditEvent
from timetravel.domain.ci_env import PipelineRunFacts, parse_target
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.export import write_export
from timetravel.query.moment import build_snapshot
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.events import import_events
from timetravel.recorder.git import GitSource
from timetravel.store import copy_revisions
from timetravel.store.copy import Scope, copy_store
from timetravel.store.db import open_database
from timetravel.store.lease import writer_lease
from timetravel.store.migrations import migrations
from timetravel.store.reader import Reader
from timetravel.store.runs import insert_audit_events, upsert_pipeline_run
from timetravel.store.writer import RevisionWriter, record_warning_event

from .conftest import ROOT, deployment
from .fixtures.postgres import PostgresServer
from .fixtures.sample import INCIDENT, SAMPLE_NOW, build_sample_store, sample_events
from .gitrepo import GitOpsRepo

GENERATED = datetime(2026, 11, 21, tzinfo=UTC)
KEY = "ab" * 32
# Moments the exports are compared at: the incident, mid-week, the first day, the end, and
# the first minutes, when several objects were created at one instant (the copy keeps
# their order).
MOMENTS = [
    INCIDENT + timedelta(minutes=5),
    SAMPLE_NOW - timedelta(days=3),
    SAMPLE_NOW - timedelta(days=6, hours=20),
    SAMPLE_NOW,
    datetime(2026, 11, 13, 8, 30, tzinfo=UTC),
]
TABLES = [
    "clusters",
    "resources",
    "revisions",
    "segments",
    "gaps",
    "observations",
    "repos",
    "commits",
    "ref_updates",
    "desired_sets",
    "declared_changes",
    "pipeline_runs",
    "audit_events",
]


@pytest.fixture(autouse=True)
def small_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches of a few entries: what a copy forgets (of a big store) it reads again."""
    for name in ("_SOURCE_SEGMENTS", "_KEYFRAMES", "_OBJECTS", "_CODECS"):
        monkeypatch.setattr(copy_revisions, name, 3)


@pytest.fixture(autouse=True)
def shared_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One key for every store of a test (as a team's recorders share one), and key files
    (were any made) under the test's own data directory."""
    monkeypatch.setenv("TIMETRAVEL_SECRET_KEY", KEY)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


# -- a rich store: two clusters, git, a pipeline run, audit events, Warning events ----------


def _manifest(name: str, image: str) -> dict[str, Any]:
    obj = deployment(name, image=image)
    meta = obj["metadata"]
    obj["metadata"] = {"name": meta["name"], "namespace": meta["namespace"]}
    del obj["status"]
    return obj


def _repo(tmp_path: Path, name: str) -> tuple[GitOpsRepo, list[str]]:
    repo = GitOpsRepo(tmp_path / name)
    shas = []
    for day, tag in ((13, "1.4.0"), (16, "1.4.1"), (17, "1.5.0"), (19, "1.5.1")):
        repo.write("apps/api.yaml", _manifest("api", f"registry.example.com/payments/api:{tag}"))
        repo.write(
            "apps/secret.yaml",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db", "namespace": "payments"},
                "stringData": {"password": f"hunter{day}"},
            },
        )
        shas.append(repo.commit(f"api {tag}", datetime(2026, 11, day, 13, 55, tzinfo=UTC)))
    return repo, shas


def build_rich_store(where: Path | str, tmp_path: Path) -> Path | str:
    """The sample week (cluster prod), a second cluster (staging), two repositories (one
    feeding every cluster, one bound to staging), Warning events, a pipeline run and audit
    events: every kind of fact a copy carries."""
    build_sample_store(where)
    db = open_database(where)
    staging = [
        orjson.dumps(e).decode()
        for e in sample_events()[:40]
        if e["object"]["metadata"]["namespace"] in ("payments", "frontend")
    ]
    import_events(db, staging, cluster="staging", clock=lambda: SAMPLE_NOW)
    for cluster, minutes in (("prod", 2), ("prod", 4), ("staging", 3)):
        at = INCIDENT + timedelta(minutes=minutes)
        event = {
            "metadata": {"name": f"api.{minutes}", "uid": f"ev-{cluster}-{minutes}"},
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "count": minutes,
            "lastTimestamp": to_rfc3339(at),
        }
        with db.conn:
            record_warning_event(db.conn, cluster, to_stored(at), event)
    upsert_pipeline_run(
        db,
        PipelineRunFacts(
            provider="github-actions",
            pipeline="deploy",
            run_id="42",
            reported_at=datetime(2026, 11, 17, 14, 6, tzinfo=UTC),
            commit=None,
            status="success",
            actor="dana",
            started_at=datetime(2026, 11, 17, 13, 58, tzinfo=UTC),
            finished_at=datetime(2026, 11, 17, 14, 5, tzinfo=UTC),
            targets=(parse_target("Deployment/payments/*"),),
        ),
    )
    insert_audit_events(
        db,
        [
            AuditEvent(
                audit_id=f"audit-{i}",
                stage="ResponseComplete",
                stage_at=to_stored(INCIDENT + timedelta(seconds=i)),
                verb="patch",
                user="dana@example.com",
                user_agent="kubectl/v1.31",
                field_manager="kubectl-edit",
                api_group="apps",
                api_version="v1",
                resource="deployments",
                namespace="payments",
                name="api",
                response_code=200,
            )
            for i in range(3)
        ],
        imported_at=SAMPLE_NOW,
    )
    db.conn.close()
    for name, cluster in (("gitops", None), ("staging-gitops", "staging")):
        repo, _ = _repo(tmp_path, name)
        GitSource(where, repo.path, cluster=cluster, clock=MonotonicClock(), progress=False).sync()
    return where


@pytest.fixture(scope="module")
def rich_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("rich")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIMETRAVEL_SECRET_KEY", KEY)
        patch.setenv("XDG_DATA_HOME", str(base / "data"))
        return Path(build_rich_store(base / "rich.db", base))


def _export(where: Path | str, at: datetime, cluster: str | None = None) -> bytes:
    db = open_database(where, readonly=True)
    try:
        snapshot = build_snapshot(
            db, at, window=timedelta(hours=3), generated_at=GENERATED, cluster=cluster
        )
        return write_export(snapshot, "json", tz=UTC)
    finally:
        db.conn.close()


def _counts(where: Path | str, skip: tuple[str, ...] = ()) -> dict[str, int]:
    db = open_database(where, readonly=True)
    try:
        return {
            t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in TABLES
            if t not in skip
        }
    finally:
        db.conn.close()


def _copy(source: Path | str, target: Path | str, scope: Scope | None = None, **kw: Any) -> Any:
    src = open_database(source, readonly=True)
    dst = open_database(target)
    try:
        report = copy_store(src, dst, scope, **kw)
        assert report.unreadable == 0
        return report
    finally:
        src.conn.close()
        dst.conn.close()


def _same_answers(
    a: Path | str, b: Path | str, cluster: str | None = None, moments: list[datetime] = MOMENTS
) -> None:
    for at in moments:
        assert _export(a, at, cluster) == _export(b, at, cluster), at


# -- whole copies ----------------------------------------------------------------------------


def test_sqlite_to_postgresql_to_sqlite_answers_byte_for_byte_the_same(
    rich_sqlite: Path, pg_url: str, tmp_path: Path
) -> None:
    first = _copy(rich_sqlite, pg_url)
    back = tmp_path / "back.db"
    _copy(pg_url, back)
    counts = _counts(rich_sqlite)
    assert first.added["revisions"] == counts["revisions"] > 60
    assert _counts(pg_url) == counts == _counts(back)
    exports = [_export(rich_sqlite, at) for at in MOMENTS]
    assert all(b'"changes"' in e for e in exports) and any(b'"sha"' in e for e in exports)
    assert [_export(pg_url, at) for at in MOMENTS] == exports
    assert [_export(back, at) for at in MOMENTS] == exports
    # Segment bodies against the same keyframes, ids aside: the same size as the source's.
    sizes = "SELECT sum(length(body)) FROM segments"
    with sqlite3.connect(rich_sqlite) as a, sqlite3.connect(back) as b:
        assert abs(a.execute(sizes).fetchone()[0] - b.execute(sizes).fetchone()[0]) < 200
        keyframes = "SELECT count(*) FROM keyframes"
        assert a.execute(keyframes).fetchone() == b.execute(keyframes).fetchone()


def test_copying_twice_adds_nothing(rich_sqlite: Path, pg_url: str) -> None:
    _copy(rich_sqlite, pg_url)
    before = _counts(pg_url)
    again = _copy(rich_sqlite, pg_url)
    assert _counts(pg_url) == before
    assert sum(again.added.values()) == 0
    assert again.present["revisions"] == before["revisions"]
    assert again.lines()[0].startswith("nothing new to copy")


def test_a_later_copy_brings_what_the_source_recorded_since(tmp_path: Path) -> None:
    """The source goes on recording (new revisions, one of them late, observed before
    the object's latest): copying again adds exactly those, in their place."""
    source = build_sample_store(tmp_path / "src.db")
    target = tmp_path / "dst.db"
    _copy(source, target)
    db = open_database(source)
    events = [
        {
            "type": "MODIFIED",
            "object": deployment("api", image="registry.example.com/payments/api:9.9.9"),
            "observed_at": to_rfc3339(SAMPLE_NOW + timedelta(hours=1)),
        },
        {  # late: observed before the object's latest revision
            "type": "MODIFIED",
            "object": deployment("api", image="registry.example.com/payments/api:hotfix"),
            "observed_at": to_rfc3339(INCIDENT + timedelta(seconds=30)),
        },
    ]
    for event, rv in zip(events, ("99999", "99998"), strict=True):
        event["object"]["metadata"].update(uid="uid-payments-api", resourceVersion=rv)
    import_events(db, [orjson.dumps(e).decode() for e in events], cluster="prod")
    db.conn.close()
    report = _copy(source, target)
    assert report.added["revisions"] == 2
    assert _counts(target, skip=("segments",)) == _counts(source, skip=("segments",))
    _same_answers(source, target)
    assert _export(source, SAMPLE_NOW + timedelta(hours=2)) == _export(
        target, SAMPLE_NOW + timedelta(hours=2)
    )


def test_merging_into_a_target_with_later_history_places_revisions_in_time(
    tmp_path: Path,
) -> None:
    """Copying --since first, then everything: the earlier revisions arrive after the
    later ones, and go into the segments their times fall in."""
    source = build_sample_store(tmp_path / "src.db")
    target = tmp_path / "dst.db"
    _copy(source, target, Scope(since=to_stored(SAMPLE_NOW - timedelta(days=2))), batch=7)
    _copy(source, target, batch=7)
    # Segments aside: the earlier revisions joined the segments there already.
    assert _counts(target, skip=("segments",)) == _counts(source, skip=("segments",))
    # Revisions of one instant copied by the second run come after those of the first
    # (ids break such ties): the week's first minutes are compared by state.
    _same_answers(source, target, moments=MOMENTS[:-1])
    first = to_stored(MOMENTS[-1])
    assert _state(target, first) == _state(source, first)
    with sqlite3.connect(target) as conn:
        # Segments of one object never overlap in time (the reader relies on it).
        rows = conn.execute(
            "SELECT resource_id, first_at, id FROM segments ORDER BY resource_id, first_at, id"
        ).fetchall()
    reader = Reader(open_database(target, readonly=True))
    for rid in {r[0] for r in rows}:
        times = [r.observed_at for r in reversed(reader.history(rid))]
        assert times == sorted(times)


# -- interrupted copies ------------------------------------------------------------------------

_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import timetravel.store.copy as copy
    import timetravel.store.copy_facts as facts
    import timetravel.store.copy_revisions as revisions

    revisions.BATCH = revisions.ROWS = 5
    facts.ROWS, facts.SETS = 2, 1
    KILL_AT = int(os.environ["KILL_AT"])


    class Killing:
        # The target's connection: SIGKILL after the KILL_AT-th statement (0: never).
        def __init__(self, conn):
            self._conn, self._n = conn, 0

        def __getattr__(self, name):
            return getattr(self._conn, name)

        def _tick(self):
            self._n += 1
            if self._n == KILL_AT:
                os.kill(os.getpid(), signal.SIGKILL)

        def execute(self, *args):
            result = self._conn.execute(*args)
            self._tick()
            return result

        def executemany(self, *args):
            result = self._conn.executemany(*args)
            self._tick()
            return result

        def __enter__(self):
            self._conn.__enter__()
            return self

        def __exit__(self, *exc):
            return self._conn.__exit__(*exc)


    class Target:
        def __init__(self, db):
            self.conn = Killing(db.conn)

        def execute(self, sql, parameters=None):
            return self.conn.execute(sql, parameters or ())


    original = copy.copy_store


    def copy_store(source, target, *args, **kwargs):
        wrapped = Target(target)
        try:
            return original(source, wrapped, *args, **kwargs)
        finally:
            print(f"statements={wrapped.conn._n}", file=sys.stderr)


    copy.copy_store = copy_store
    from timetravel.cli import main

    sys.argv = ["timetravel", *sys.argv[1:]]
    main()
    """
)


def _run_killer(source: Path, target: str | Path, kill_at: int, home: Path) -> Any:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "TIMETRAVEL_SECRET_KEY": KEY,
        "KILL_AT": str(kill_at),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-c", _KILLER, "copy", "--from", str(source), "--to", str(target)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_copy_killed_at_any_point_is_finished_by_running_it_again(
    engine: str, rich_sqlite: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    def target(name: str) -> Path | str:
        if engine == "sqlite":
            return tmp_path / f"{name}.db"
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.new_database()

    clean = target("clean")
    whole = _run_killer(rich_sqlite, clean, 0, tmp_path)
    assert whole.returncode == 0, whole.stderr
    statements = int(whole.stderr.rsplit("statements=", 1)[1].split()[0])
    assert statements > 100  # small batches: many transactions to be killed in
    expected = _counts(clean)
    exports = [_export(clean, at) for at in MOMENTS]
    # In the first batch, among the revisions, among the audit events at the end.
    for kill_at in (3, statements // 3, statements - 4):
        killed = target(f"killed-{kill_at}")
        run = _run_killer(rich_sqlite, killed, kill_at, tmp_path)
        assert run.returncode == -signal.SIGKILL, run.stderr
        assert _counts(killed) != expected  # it did stop part way
        again = _cli("copy", "--from", str(rich_sqlite), "--to", str(killed))  # the lease is free
        assert again.exit_code == 0, again.output
        assert _counts(killed) == expected, kill_at
        assert [_export(killed, at) for at in MOMENTS] == exports, kill_at


# -- parts of a history ------------------------------------------------------------------------


def test_since_copies_the_state_then_and_everything_after(rich_sqlite: Path, pg_url: str) -> None:
    since = SAMPLE_NOW - timedelta(days=2, hours=3)
    report = _copy(rich_sqlite, pg_url, Scope(since=to_stored(since)))
    whole = _counts(rich_sqlite)
    assert 0 < report.added["revisions"] < whole["revisions"]
    source = Reader(open_database(rich_sqlite, readonly=True))
    target = Reader(open_database(pg_url, readonly=True))

    def changes(reader: Reader, start: datetime) -> list[tuple[Any, ...]]:
        records = reader.changes_between(to_stored(start), to_stored(SAMPLE_NOW))
        previous = reader.previous_many(records)
        return [
            (
                r.key,
                r.observed_at,
                r.change,
                r.body,
                None if previous[r.id] is None else previous[r.id].body,  # type: ignore[union-attr]
            )
            for r in records
        ]

    def state(reader: Reader, at: datetime) -> list[tuple[Any, ...]]:
        return _state(reader, to_stored(at))

    for at in (since, since + timedelta(hours=5), INCIDENT, SAMPLE_NOW):
        assert state(target, at) == state(source, at), at
        assert len(state(source, at)) > 10
    assert changes(target, since) == changes(source, since)
    assert state(target, MOMENTS[2]) != state(source, MOMENTS[2])  # before T: only bases
    # Git: where each branch pointed at T, and every move after.
    for at in (since, SAMPLE_NOW):
        assert _desired(pg_url, at) == _desired(rich_sqlite, at)
    with sqlite3.connect(rich_sqlite) as conn:
        early = conn.execute(
            "SELECT count(*) FROM observations WHERE observed_at < ?", (to_stored(since),)
        ).fetchone()[0]
    assert _counts(pg_url)["observations"] == whole["observations"] - early


def _state(where: Reader | Path | str, at: str) -> list[tuple[Any, ...]]:
    reader = where if isinstance(where, Reader) else Reader(open_database(where, readonly=True))
    return [
        (r.key, r.observed_at, r.change, r.resource_version, r.body) for r in reader.state_at(at)
    ]


def _desired(where: Path | str, at: datetime) -> list[Any]:
    from timetravel.query.desired import DesiredState

    db = open_database(where, readonly=True)
    try:
        sides = DesiredState(db).at(to_stored(at))
        return sorted(
            (s.repo.path, s.ref.sha if s.ref else None, sorted(map(str, s.objects))) for s in sides
        )
    finally:
        db.conn.close()


def test_cluster_copies_one_cluster_of_two(rich_sqlite: Path, tmp_path: Path) -> None:
    target = tmp_path / "prod.db"
    _copy(rich_sqlite, target, Scope(cluster="prod"))
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT name FROM clusters").fetchall() == [("prod",)]
        assert conn.execute("SELECT DISTINCT cluster FROM resources").fetchall() == [("prod",)]
        assert conn.execute("SELECT DISTINCT cluster FROM observations").fetchall() == [("prod",)]
        # The repository feeding every cluster, not staging's own.
        assert [r[0] for r in conn.execute("SELECT cluster FROM repos")] == [None]
        assert conn.execute("SELECT count(*) FROM pipeline_runs").fetchone() == (1,)
    with sqlite3.connect(rich_sqlite) as conn:
        prod = conn.execute(
            "SELECT count(*) FROM revision_objects WHERE cluster = 'prod'"
        ).fetchone()[0]
        staging = conn.execute(
            "SELECT count(*) FROM revision_objects WHERE cluster = 'staging'"
        ).fetchone()[0]
    assert staging > 0
    assert _counts(target)["revisions"] == prod
    _same_answers(rich_sqlite, target, cluster="prod")


# -- what is refused, in one line ------------------------------------------------------------


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), prog_name="timetravel")


def test_a_target_hashing_with_another_key_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = build_sample_store(tmp_path / "src.db")
    target = tmp_path / "other.db"
    monkeypatch.setenv("TIMETRAVEL_SECRET_KEY", "cd" * 32)
    RevisionWriter(open_database(target))  # a store whose first writer set up another key
    before = _counts(target)
    monkeypatch.setenv("TIMETRAVEL_SECRET_KEY", KEY)
    result = _cli("copy", "--from", str(source), "--to", str(target))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "hashes Secret values with key" in lines[0] and "copy into a new store" in lines[0]
    assert _counts(target) == before


def test_a_new_target_takes_the_source_key_id_and_scheme(tmp_path: Path) -> None:
    source = build_sample_store(tmp_path / "src.db")
    target = tmp_path / "dst.db"
    result = _cli("copy", "--from", str(source), "--to", str(target))
    assert result.exit_code == 0, result.output
    meta = "SELECT key, value FROM meta WHERE key LIKE 'redaction%' ORDER BY key"
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        assert b.execute(meta).fetchall() == a.execute(meta).fetchall()
        assert len(a.execute(meta).fetchall()) == 2


def test_an_unsupported_url_scheme_is_one_line(tmp_path: Path) -> None:
    for args in (
        ("--from", "mysql://db.example.com/tt", "--to", str(tmp_path / "t.db")),
        ("--from", str(tmp_path / "t.db"), "--to", "mysql://db.example.com/tt"),
    ):
        result = _cli("copy", *args)
        assert result.exit_code == 2
        assert result.output.count("\n") == 1
        assert "unsupported database URL scheme 'mysql'" in result.output
    assert not list(tmp_path.glob("*.db"))


def test_other_mistakes_are_one_line(tmp_path: Path) -> None:
    source = build_sample_store(tmp_path / "src.db")
    for args, words in (
        (("--from", str(source), "--to", str(source)), "name the same store"),
        (("--from", str(tmp_path / "absent.db"), "--to", str(tmp_path / "t.db")), "no such"),
        (("--from", str(source), "--to", str(tmp_path / "t.db"), "--cluster", "dev"), "'dev'"),
    ):
        result = _cli("copy", *args)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and words in result.output
    assert not (tmp_path / "t.db").exists()


def test_the_command_reports_what_it_copied(tmp_path: Path) -> None:
    source = build_sample_store(tmp_path / "src.db")
    target = tmp_path / "dst.db"
    first = _cli("copy", "--from", str(source), "--to", str(target))
    assert first.exit_code == 0, first.output
    assert "copied 61 revisions of 19 objects, 1 gap in " in first.output
    second = _cli("copy", "--from", str(source), "--to", str(target))
    assert second.exit_code == 0
    assert "nothing new to copy" in second.output


def test_since_from_the_command_line_takes_a_typed_time(tmp_path: Path) -> None:
    source = build_sample_store(tmp_path / "src.db")
    target = tmp_path / "dst.db"
    result = _cli(
        "copy", "--from", str(source), "--to", str(target), "--since", "2026-11-19T21:00:00Z"
    )
    assert result.exit_code == 0, result.output
    copied = _counts(target)["revisions"]
    assert 0 < copied < 61
    assert f"copied {copied} revisions" in result.output
    at = to_stored(INCIDENT)
    assert _state(target, at) == _state(source, at)


def test_a_copy_is_refused_while_a_recorder_writes_the_target(tmp_path: Path) -> None:
    source = build_sample_store(tmp_path / "src.db")
    target = tmp_path / "live.db"
    open_database(target).conn.close()
    with writer_lease(target, "cluster:prod") as lease:
        lease.acquire()
        result = _cli("copy", "--from", str(source), "--to", str(target))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "already recorded by" in result.output
    assert _counts(target)["revisions"] == 0


# -- migrate ---------------------------------------------------------------------------------


def test_migrate_applies_what_an_older_sqlite_store_lacks(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="m006_segments")
    with old.conn:
        old.execute("INSERT INTO meta (key, value) VALUES ('format', 'timetravel')")
    old.conn.close()
    result = _cli("migrate", "--db", str(path))
    assert result.exit_code == 0, result.output
    names = [m.name for m in migrations._migrations]
    latest = f"schema {len(names)} ({names[-1]})"  # every later migration counts too
    assert result.output == (
        f"{path}: applied {', '.join(names[names.index('m006_segments') :])}; now at {latest}\n"
    )
    again = _cli("migrate", "--db", str(path))
    assert again.output == f"{path}: already at {latest}; nothing to apply\n"
    missing = _cli("migrate", "--db", str(tmp_path / "absent.db"))
    assert missing.exit_code == 2 and "no such database" in missing.output
    assert not (tmp_path / "absent.db").exists()


def test_migrate_sets_up_a_postgresql_store_that_readers_then_open(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    name = url.rsplit("/", 1)[1]
    with pytest.raises(Exception, match="not migrated"):
        open_database(url, readonly=True)
    postgres_server.sql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tt_reader') "
        "THEN CREATE ROLE tt_reader LOGIN; END IF; END $$"
    )
    postgres_server.sql(
        f'REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT CONNECT ON DATABASE "{name}" TO tt_reader',
        name,
    )
    reader_url = postgres_server.url(name, user="tt_reader")
    refused = _cli("migrate", "--db", reader_url)
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1 and "permission denied" in refused.output
    result = _cli("migrate", "--db", url)
    assert result.exit_code == 0, result.output
    assert "applied m001_facts, m002_observations_and_recorders" in result.output
    names = [m.name for m in migrations._migrations]
    assert result.output.endswith(f"now at schema {len(names)} ({names[-1]})\n")
    assert f"already at schema {len(names)}" in _cli("migrate", "--db", url).output
    open_database(url, readonly=True).conn.close()


def test_a_readonly_postgresql_store_is_never_written(
    rich_sqlite: Path, pg_url: str, tmp_path: Path
) -> None:
    """Opened read-only, the store is read in sessions PostgreSQL refuses every write in:
    a snapshot, an export and a copy from it work all the same."""
    _copy(rich_sqlite, pg_url)
    sep = "&" if "?" in pg_url else "?"
    readonly_url = f"{pg_url}{sep}options=-c%20default_transaction_read_only%3Don"
    db = open_database(readonly_url, readonly=True)
    with pytest.raises(Exception, match="opened for reading only"):
        db.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    db.conn.close()
    for at in MOMENTS:
        assert _export(readonly_url, at) == _export(rich_sqlite, at)
    back = tmp_path / "back.db"
    _copy(readonly_url, back)
    assert _counts(back) == _counts(rich_sqlite)

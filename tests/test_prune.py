"""Retention (`timetravel prune`): history older than the cut goes, the state at the cut and
every answer after it stay as they were, on both engines; a prune stopped after any
transaction, or killed inside one, leaves a consistent store that a rerun finishes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.export import write_export
from timetravel.query.desired import DesiredState
from timetravel.query.moment import build_snapshot
from timetravel.store.check import check
from timetravel.store.copy import copy_store
from timetravel.store.db import open_database
from timetravel.store.lease import writer_lease
from timetravel.store.prune import Pruner, evidence_from, kept_from, prune
from timetravel.store.reader import Reader

from .conftest import ROOT
from .fixtures.postgres import PostgresServer
from .fixtures.sample import INCIDENT, SAMPLE_NOW
from .test_copy import KEY, TABLES, build_rich_store

CUT = SAMPLE_NOW - timedelta(days=2, hours=3)  # Monday 06:00: days of history on each side
GENERATED = datetime(2026, 11, 21, tzinfo=UTC)
# Moments at and after the cut; exports' windows (3 h) start at or after it.
AFTER = [CUT, CUT + timedelta(hours=5), INCIDENT, INCIDENT + timedelta(minutes=5), SAMPLE_NOW]
EXPORTED = [CUT + timedelta(hours=3), INCIDENT + timedelta(minutes=5), SAMPLE_NOW]


@pytest.fixture(autouse=True)
def shared_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIMETRAVEL_SECRET_KEY", KEY)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two clusters, two repositories, Warning events, pipeline runs, audit events, and
    facts of every kind before the cut: objects gone before it, a Warning event, audit
    events, a commit nothing names any more."""
    base = tmp_path_factory.mktemp("rich")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIMETRAVEL_SECRET_KEY", KEY)
        patch.setenv("XDG_DATA_HOME", str(base / "data"))
        where = Path(build_rich_store(base / "rich.db", base))
        _older_facts(where)
        return where


def _older_facts(where: Path) -> None:
    from timetravel.domain.audit import AuditEvent
    from timetravel.domain.ci_env import PipelineRunFacts
    from timetravel.recorder.events import import_events
    from timetravel.store.runs import insert_audit_events, upsert_pipeline_run
    from timetravel.store.writer import record_warning_event

    day = datetime(2026, 11, 14, 10, tzinfo=UTC)
    lines = []
    for n, (api, kind) in enumerate((("v1", "ConfigMap"), ("v1", "Service"), ("batch/v1", "Job"))):
        obj = {
            "apiVersion": api,
            "kind": kind,
            "metadata": {"name": f"old-{n}", "namespace": "legacy", "uid": f"old-{n}"},
            "spec" if kind != "ConfigMap" else "data": {"n": str(n), "pad": f"{kind}-" * 40},
        }
        for hours, event in ((0, "ADDED"), (5, "DELETED")):
            at = to_rfc3339(day + timedelta(hours=hours, minutes=n))
            lines.append(json.dumps({"type": event, "object": obj, "observed_at": at}))
    db = open_database(where)
    import_events(
        db, sorted(lines, key=lambda line: json.loads(line)["observed_at"]), cluster="prod"
    )
    event = {
        "metadata": {"name": "old.1", "uid": "ev-old"},
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off pulling image",
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "old"},
        "count": 1,
        "lastTimestamp": to_rfc3339(day),
    }
    with db.conn:
        record_warning_event(db.conn, "prod", to_stored(day), event)
    insert_audit_events(
        db,
        [
            AuditEvent(
                audit_id="audit-old",
                stage="ResponseComplete",
                stage_at=to_stored(day),
                verb="delete",
                user="dana@example.com",
                api_group="",
                api_version="v1",
                resource="configmaps",
                namespace="legacy",
                name="old-0",
                response_code=200,
            )
        ],
        imported_at=SAMPLE_NOW,
    )
    # A deploy after the cut of the first commit (a rollback), and a commit nothing names.
    sha = db.execute(
        "SELECT sha FROM commits WHERE committed_at LIKE '2026-11-13%' ORDER BY sha LIMIT 1"
    ).fetchone()[0]
    upsert_pipeline_run(
        db,
        PipelineRunFacts(
            provider="github-actions",
            pipeline="rollback",
            run_id="43",
            reported_at=INCIDENT + timedelta(hours=1),
            commit=sha[:10],
            status="success",
            started_at=INCIDENT + timedelta(minutes=50),
            finished_at=INCIDENT + timedelta(minutes=55),
        ),
    )
    with db.conn:
        db.conn.execute(
            "INSERT INTO commits (sha, committed_at, message) VALUES (?, ?, ?)",
            ("0" * 40, to_stored(day), "a commit of a branch no longer followed"),
        )
    db.conn.close()


def _store(rich: Path, engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """A copy of the rich store in a new store of ``engine``."""
    if engine == "sqlite":
        target = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*')))}.db"
        shutil.copy(rich, target)
        return target
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database()
    src, dst = open_database(rich, readonly=True), open_database(url)
    try:
        copy_store(src, dst)
    finally:
        src.conn.close()
        dst.conn.close()
    return url


def _answers(where: Path | str) -> dict[str, Any]:
    db = open_database(where, readonly=True)
    try:
        reader = Reader(db)
        states = {}
        for at in AFTER:
            states[at] = [
                (r.key, r.id, r.observed_at, r.change, r.resource_version, r.body)
                for r in reader.state_at(to_stored(at))
            ]
        records = reader.changes_between(to_stored(CUT), to_stored(SAMPLE_NOW))
        previous = reader.previous_many(records)
        changes = [
            (
                r.key,
                r.id,
                r.observed_at,
                r.change,
                r.body,
                p.id if p else None,
                p.body if p else None,
            )
            for r in records
            for p in [previous[r.id]]
        ]
        desired = DesiredState(db)
        sides = {
            at: [
                (s.repo.path, s.ref.sha if s.ref else None, s.commit, sorted(map(str, s.objects)))
                for s in desired.at(to_stored(at))
            ]
            for at in AFTER
        }
        versions = {
            at: [
                desired.version_at(k, to_stored(at))
                for k in sorted(desired.merged_at(to_stored(at))[1])
            ]
            for at in AFTER
        }
        exports = [_export(db, at) for at in EXPORTED]
        return {
            "states": states,
            "changes": changes,
            "sides": sides,
            "versions": versions,
            "exports": exports,
        }
    finally:
        db.conn.close()


def _export(db: Any, at: datetime) -> dict[str, Any]:
    """The JSON export at ``at``. The last change of an object that last changed before the
    cut is history older than the cut: what stays of it is its time and kind (what caused
    it, and its fields, were weighed with facts that are gone)."""
    snapshot = build_snapshot(db, at, window=timedelta(hours=3), generated_at=GENERATED)
    data = json.loads(write_export(snapshot, "json", tz=UTC))
    for resource in data["resources"]:
        last = resource.get("last_change")
        if last and last["at"] < to_rfc3339(CUT):
            resource["last_change"] = {"at": last["at"], "type": last["type"]}
    return data


def _counts(where: Path | str) -> dict[str, int]:
    db = open_database(where, readonly=True)
    try:
        return {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}
    finally:
        db.conn.close()


def _clean(where: Path | str) -> None:
    db = open_database(where)  # check keeps its index in a temporary table
    try:
        report = check(db)
        assert report.clean, report.lines()
    finally:
        db.conn.close()


def _prune(where: Path | str, **kw: Any) -> Any:
    db = open_database(where)
    try:
        return prune(db, to_stored(CUT), **kw)
    finally:
        db.conn.close()


# -- what stays, what goes ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_every_answer_at_and_after_the_cut_stays_the_same(
    engine: str, rich: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _store(rich, engine, tmp_path, request)
    answers = _answers(store)  # ids are the store's own (a copy's are new)
    before = _counts(store)
    report = _prune(store)
    after = _counts(store)
    assert report.removed["revisions"] == before["revisions"] - after["revisions"] > 0
    assert report.removed["ref_updates"] == 4  # two of four moves of each repository
    assert report.removed["desired_sets"] == 2  # the 16th's (the 13th's: a run names it)
    assert report.removed["pipeline_runs"] == 1  # Tuesday's: no change after the cut is its
    assert report.removed["audit_events"] == 1  # Saturday's; Thursday's stay
    assert report.removed["observations"] == 1  # Saturday's
    # Gone on Saturday; the third keeps its deletion: its rows hold the largest ids.
    assert report.removed["objects"] == 2
    assert report.removed["commits"] == 1  # named by nothing
    assert report.removed["keyframes"] >= 1  # used by nothing left
    _clean(store)
    assert _answers(store) == answers
    db = open_database(store, readonly=True)
    try:
        # Before the cut: one revision per object at most, the one in force at the cut.
        rows = db.execute(
            "SELECT s.resource_id, count(*) FROM revisions rv JOIN segments s "
            "ON s.id = rv.segment_id WHERE rv.observed_us < ? GROUP BY s.resource_id",
            (int(CUT.timestamp() * 1_000_000),),
        ).fetchall()
        assert rows and all(count == 1 for _, count in rows)
        assert report.bases == len(rows)
        assert kept_from(db.conn) == to_stored(CUT)
        gaps = db.execute("SELECT count(*) FROM gaps WHERE ended_at < ?", (to_stored(CUT),))
        assert gaps.fetchone()[0] == 0
    finally:
        db.conn.close()
    again = _prune(store)  # a second prune finds nothing to do
    assert not again.removed
    assert _counts(store) == after


def test_a_dry_run_counts_what_a_prune_removes_and_changes_nothing(
    rich: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _store(rich, "sqlite", tmp_path, request)
    before = _counts(store)
    db = open_database(store, readonly=True)
    try:
        dry = prune(db, to_stored(CUT), dry_run=True)
    finally:
        db.conn.close()
    assert _counts(store) == before
    assert kept_from(sqlite3.connect(store)) is None
    done = _prune(store)
    without_keyframes = {k: v for k, v in done.removed.items() if k != "keyframes"}
    assert dry.removed == without_keyframes
    assert dry.bases == done.bases


def test_objects_gone_before_the_cut_go_and_one_deleted_and_back_keeps_its_deletion(
    tmp_path: Path,
) -> None:
    from timetravel.recorder.events import import_events

    t0 = datetime(2026, 11, 1, tzinfo=UTC)

    def cm(name: str, value: str, uid: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "ns", "uid": uid},
            "data": {"v": value},
        }

    events = []
    for kind, obj, day in (
        ("ADDED", cm("gone", "1", "u1"), 1),
        ("MODIFIED", cm("gone", "2", "u1"), 2),
        ("DELETED", cm("gone", "2", "u1"), 3),
        ("ADDED", cm("back", "1", "u2"), 1),
        ("DELETED", cm("back", "1", "u2"), 2),
        ("ADDED", cm("back", "2", "u3"), 12),
        ("ADDED", cm("stays", "1", "u4"), 1),
        ("MODIFIED", cm("stays", "2", "u4"), 2),
        ("MODIFIED", cm("stays", "3", "u4"), 4),
    ):
        at = to_rfc3339(t0 + timedelta(days=day))
        events.append(json.dumps({"type": kind, "object": obj, "observed_at": at}))
    where = tmp_path / "t.db"
    db = open_database(where)
    import_events(db, sorted(events, key=lambda e: json.loads(e)["observed_at"]), cluster="c")
    cut = to_stored(t0 + timedelta(days=10))
    report = prune(db, cut)
    assert report.removed["objects"] == 1  # "gone"
    names = {r[0] for r in db.execute("SELECT name FROM resources").fetchall()}
    assert names == {"back", "stays"}
    reader = Reader(db)
    history = {
        name: [r.change for r in reversed(reader.history(rid))]
        for rid, name in db.execute("SELECT id, name FROM resources").fetchall()
    }
    assert history == {"back": ["deleted", "created"], "stays": ["updated"]}
    # The base carries the uid in force (its creation, which named it, is gone): a new
    # object under the name is still told apart.
    stays = reader.object_at(
        next(r.key for r in reader.state_at(cut) if r.key.name == "stays"), cut
    )
    assert stays is not None and stays.uid == "u4"
    assert check(db).clean
    db.conn.close()


def test_the_cut_only_moves_forward_and_one_cluster_has_its_own(tmp_path: Path) -> None:
    where = tmp_path / "t.db"
    db = open_database(where)
    prune(db, "2026-11-10T00:00:00.000000Z")
    prune(db, "2026-11-05T00:00:00.000000Z")
    assert kept_from(db.conn) == "2026-11-10T00:00:00.000000Z"
    db.conn.execute("INSERT INTO clusters (name, first_seen) VALUES ('a', '2026-11-01')")
    prune(db, "2026-11-12T00:00:00.000000Z", cluster="a")
    assert kept_from(db.conn, "a") == "2026-11-12T00:00:00.000000Z"
    assert kept_from(db.conn, "b") == "2026-11-10T00:00:00.000000Z"
    assert kept_from(db.conn) == "2026-11-12T00:00:00.000000Z"  # the store as a whole
    db.conn.close()


def test_evidence_is_kept_from_the_start_of_the_cuts_day() -> None:
    assert evidence_from("2026-11-18T06:00:00.000000Z") == "2026-11-18T00:00:00.000000Z"
    # An audit event may precede the write it records by AUDIT_BEFORE.
    assert evidence_from("2026-11-18T00:01:00.000000Z") == "2026-11-17T00:00:00.000000Z"


def test_one_cluster_prunes_its_own_history_only(
    rich: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _store(rich, "sqlite", tmp_path, request)
    whole = _answers(store)
    report = _prune(store, cluster="staging")
    assert report.bases > 0  # staging's objects, each one revision: nothing of them goes
    assert "pipeline_runs" not in report.removed  # shared by every cluster
    assert "ref_updates" in report.removed  # staging-gitops is bound to staging
    _clean(store)
    db = open_database(store, readonly=True)
    try:
        prod = db.execute(
            "SELECT count(*) FROM revisions rv JOIN segments s ON s.id = rv.segment_id "
            "JOIN resources r ON r.id = s.resource_id WHERE r.cluster = 'prod'"
        ).fetchone()[0]
        assert prod == _prod_revisions(rich)
        paths = {
            path: count
            for path, count in db.execute(
                "SELECT r.path, count(*) FROM ref_updates u JOIN repos r ON r.id = u.repo_id "
                "GROUP BY r.path"
            ).fetchall()
        }
        assert sorted(paths.values()) == [2, 4]  # gitops (every cluster's) kept its four
        assert kept_from(db.conn, "staging") == to_stored(CUT)
        assert kept_from(db.conn, "prod") is None
    finally:
        db.conn.close()
    assert _answers(store)["states"] == whole["states"]


def _prod_revisions(where: Path) -> int:
    with sqlite3.connect(where) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM revisions rv JOIN segments s ON s.id = rv.segment_id "
                "JOIN resources r ON r.id = s.resource_id WHERE r.cluster = 'prod'"
            ).fetchone()[0]
        )


# -- interrupted prunes -------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_prune_stopped_after_any_transaction_is_consistent_and_finished_by_a_rerun(
    engine: str, rich: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reference = _store(rich, "sqlite", tmp_path, request)
    db = open_database(reference)
    names = list(Pruner(db, to_stored(CUT), batch=3).batches())
    db.conn.close()
    finished = _counts(reference)
    assert len(names) > 10 and {"objects", "desired_sets", "keyframes"} <= set(names)
    stops = range(len(names)) if engine == "sqlite" else range(0, len(names), 4)
    for stop_after in stops:
        store = _store(rich, engine, tmp_path, request)
        answers = _answers(store)
        db = open_database(store)
        for done, _ in enumerate(Pruner(db, to_stored(CUT), batch=3).batches(), 1):
            if done == stop_after:
                break  # as a process killed between two transactions stops
        db.conn.close()
        _clean(store)
        assert _answers(store) == answers, stop_after
        _prune(store, batch=3)
        assert _counts(store) == finished, stop_after
        assert _answers(store) == answers, stop_after


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import timetravel.store.prune_revisions as revisions
    from timetravel.store.db import open_database
    from timetravel.store.prune import prune

    KILL_AT = int(os.environ["KILL_AT"])
    calls = [0]
    write = revisions.write

    def killing(conn, plans):
        write(conn, plans)  # the batch's writes are made, not committed
        calls[0] += 1
        if calls[0] == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)

    revisions.write = killing
    db = open_database(sys.argv[1])
    prune(db, sys.argv[2], batch=2)
    """
)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_prune_killed_inside_a_transaction_leaves_the_store_as_before_it(
    engine: str, rich: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _store(rich, engine, tmp_path, request)
    answers = _answers(store)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TIMETRAVEL_SECRET_KEY": KEY,
        "KILL_AT": "3",
        "PYTHONPATH": str(ROOT),
    }
    run = subprocess.run(
        [sys.executable, "-c", _KILLER, str(store), to_stored(CUT)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    _clean(store)
    assert _answers(store) == answers
    before = _counts(store)
    report = _prune(store)
    assert report.removed["revisions"] > 0
    assert _counts(store)["revisions"] < before["revisions"]
    assert _answers(store) == answers


# -- space -----------------------------------------------------------------------------------------


def _churn(where: Path, days: int = 20) -> None:
    from timetravel.recorder.events import import_events

    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    lines = []
    for step in range(days * 24):
        at = to_rfc3339(t0 + timedelta(hours=step))
        for n in range(10):
            obj = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm{n}", "namespace": "ns", "uid": f"u{n}"},
                "data": {"step": str(step), "blob": os.urandom(300).hex()},
            }
            kind = "ADDED" if step == 0 else "MODIFIED"
            lines.append(json.dumps({"type": kind, "object": obj, "observed_at": at}))
    db = open_database(where)
    import_events(db, lines, cluster="c")
    db.conn.close()


def test_a_new_file_gives_the_space_back_and_an_old_one_is_vacuumed_once(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    _churn(new)
    db = open_database(new)
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental, from creation
    report = prune(db, "2026-10-19T00:00:00.000000Z")
    db.conn.close()
    assert report.bytes_after is not None and report.bytes_before is not None
    assert report.bytes_after < report.bytes_before * 0.3
    assert report.space.startswith("free pages given back")
    assert new.stat().st_size == report.bytes_after

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # made before auto_vacuum was set: none
        conn.execute("PRAGMA auto_vacuum = NONE")
    old.unlink()
    shutil.copy(new, old)
    with sqlite3.connect(old) as conn:
        conn.execute("PRAGMA auto_vacuum = NONE")
        conn.execute("VACUUM")
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    _churn_more(old)
    db = open_database(old)
    report = prune(db, "2026-10-25T00:00:00.000000Z")
    assert report.space.startswith("rewritten by VACUUM")
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert report.bytes_after is not None and report.bytes_before is not None
    assert report.bytes_after < report.bytes_before
    db.conn.close()


def _churn_more(where: Path) -> None:
    from timetravel.recorder.events import import_events

    t0 = datetime(2026, 10, 21, tzinfo=UTC)
    lines = []
    for step in range(5 * 24):
        at = to_rfc3339(t0 + timedelta(hours=step))
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm0", "namespace": "ns", "uid": "u0"},
            "data": {"step": f"more{step}", "blob": os.urandom(300).hex()},
        }
        lines.append(json.dumps({"type": "MODIFIED", "object": obj, "observed_at": at}))
    db = open_database(where)
    import_events(db, lines, cluster="c")
    db.conn.close()


# -- the command --------------------------------------------------------------------------------


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_the_command_prunes_and_reports(rich: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    shutil.copy(rich, store)
    dry = _cli("prune", "--db", str(store), "--before", to_rfc3339(CUT), "--dry-run", "-q")
    assert dry.exit_code == 0, dry.output
    assert "would remove" in dry.output and "dry run: nothing was changed" in dry.output
    done = _cli("prune", "--db", str(store), "--before", to_rfc3339(CUT), "-q")
    assert done.exit_code == 0, done.output
    assert f"history before {to_rfc3339(CUT)}: removed" in done.output
    assert "MB before" in done.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--before", "whenever"], "--before: cannot read time 'whenever'"),
        (["--before", "2999-01-01"], "is in the future"),
        (["--before", "90d", "--cluster", "nope"], "no cluster 'nope' (it has: prod, staging)"),
    ],
)
def test_mistakes_are_one_line(rich: Path, tmp_path: Path, args: list[str], words: str) -> None:
    store = tmp_path / "s.db"
    shutil.copy(rich, store)
    result = _cli("prune", "--db", str(store), *args)
    assert result.exit_code == 2
    assert words in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    result = _cli("prune", "--db", str(tmp_path / "none.db"), "--before", "90d")
    assert result.exit_code == 2
    assert result.output.strip() == f"timetravel: error: {tmp_path / 'none.db'}: no such database"
    assert not (tmp_path / "none.db").exists()


def test_refused_in_one_line_while_a_recorder_writes(rich: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    shutil.copy(rich, store)
    before = _counts(store)
    with writer_lease(store, "database") as lease:
        lease.acquire()
        result = _cli("prune", "--db", str(store), "--before", to_rfc3339(CUT))
    assert result.exit_code == 2
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert "written by timetravel record (pid" in line and "record --keep D" in line
    assert _counts(store) == before


# -- git -----------------------------------------------------------------------------------------


def test_desired_state_and_declared_versions_stay_when_sets_go(tmp_path: Path) -> None:
    """A week of commits (each changing one of three objects), then, after the cut, the
    branch reset to Tuesday's commit: where the branch points and which version of each
    object it declares answer as before at every moment from the cut on, though the sets
    of the commits before the cut are gone but Tuesday's (a branch points to it again)."""
    from timetravel.recorder.git import GitSource

    from .gitrepo import GitOpsRepo

    repo = GitOpsRepo(tmp_path / "gitops")
    t0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
    names = ("api", "web", "worker")
    shas = []
    for day in range(8):
        for n, name in enumerate(names):
            replicas = day + 1 if n == day % 3 else 1 + (day // 3)
            repo.write(
                f"apps/{name}.yaml",
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": name, "namespace": "shop"},
                    "spec": {"replicas": replicas, "template": {"spec": {"pad": "x" * 200}}},
                },
            )
        shas.append(repo.commit(f"day {day}", t0 + timedelta(days=day)))
    where = tmp_path / "g.db"
    clock_now = [to_stored(t0 + timedelta(days=9))]
    source = GitSource(where, repo.path, clock=lambda: clock_now[0], progress=False)
    source.sync()  # first sight: every commit at its committer time
    repo.repo.git.reset("--hard", shas[2])  # Tuesday's again, seen live on day 9
    source.sync(live=True)
    cut = to_stored(t0 + timedelta(days=5, hours=1))
    moments = [cut] + [to_stored(t0 + timedelta(days=d, hours=5)) for d in (5, 6, 7, 9)]

    def answers() -> list[Any]:
        db = open_database(where, readonly=True)
        try:
            desired = DesiredState(db)
            out = []
            for at in moments:
                sides, merged = desired.merged_at(at)
                out.append([(s.ref.sha if s.ref else None, s.commit) for s in sides])
                out.append({k: (v.path, v.obj) for k, v in merged.items()})
                out.append([desired.version_at(k, at) for k in sorted(merged)])
            return out
        finally:
            db.conn.close()

    before = answers()
    db = open_database(where)
    sets_before = {r[0] for r in db.execute("SELECT sha FROM desired_sets").fetchall()}
    report = prune(db, cut)
    sets_after = {r[0] for r in db.execute("SELECT sha FROM desired_sets").fetchall()}
    db.conn.close()
    assert report.removed["ref_updates"] == 5  # days 0-4; day 5's was in force at the cut
    assert shas[2] in sets_after  # the branch points to it again after the cut
    assert shas[0] in sets_after or shas[1] not in sets_after  # only a keyframe stays
    assert {shas[1], shas[3]} & sets_before - sets_after  # sets nothing names went
    assert report.removed["desired_sets"] == len(sets_before - sets_after)
    assert answers() == before
    _clean(where)

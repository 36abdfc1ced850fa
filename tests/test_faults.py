"""Faults: the recorder killed, the API server misbehaving, the disk full, the clock stepping.

Every test ends with an *exact* comparison of the store with what the API double accepted
(:func:`check_history`), not with counts: nothing lost, nothing duplicated, nothing invented.
docs/RELIABILITY.md lists each fault, how often it is tried and what it showed.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.domain.normalize import normalize
from timetravel.domain.times import utc_now
from timetravel.errors import UserError
from timetravel.query.screen import ScreenData
from timetravel.recorder import cluster as recorder_module
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.cluster import Recorder
from timetravel.recorder.git import GitSource
from timetravel.store import Database
from timetravel.store.db import open_database, redaction_key
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

from .apidouble import ApiDouble
from .gitrepo import GitOpsRepo
from .recording import count, recording, stored, wait_for

NS = "chaos"
START = "0001-01-01T00:00:00.000000Z"
END = "9999-12-31T23:59:59.999999Z"


# --- what the double accepted ----------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One write the API double accepted: its resourceVersion, event type and object."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED, as a watch reports it
    name: str
    obj: dict[str, Any]


@dataclass
class Churn:
    """Random creates, edits, deletes and re-creates (new uid, same name) of ConfigMaps.

    Every accepted write is kept in order, so the test knows the exact history the
    recorder should have seen. One thread writes at a time.
    """

    double: ApiDouble
    names: list[str]
    seed: int = 0
    size: int = 120  # bytes of data per object: enough that the database keeps growing
    writes: list[Write] = field(default_factory=list)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _value(self) -> str:
        return "".join(
            self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(self.size)
        )

    def _keep(self, type_: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            self.writes.append(Write(int(obj["metadata"]["resourceVersion"]), type_, name, obj))
            if type_ == "DELETED":
                self.live.pop(name, None)
            else:
                self.live[name] = obj

    def create(self, name: str) -> None:
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "churn"}},
            "data": {"value": self._value()},
        }
        self._keep("ADDED", self.double.create(obj, manager="kubectl-client-side-apply"))

    def edit(self, name: str) -> None:
        value = self._value()

        def change(o: dict[str, Any]) -> None:
            o.setdefault("data", {})["value"] = value

        self._keep(
            "MODIFIED",
            self.double.patch("v1", "ConfigMap", NS, name, change, manager="kubectl-edit"),
        )

    def delete(self, name: str) -> None:
        self._keep("DELETED", self.double.delete("v1", "ConfigMap", NS, name))

    def populate(self) -> None:
        for name in self.names:
            if name not in self.live:
                self.create(name)

    def step(self) -> None:
        name = self.rng.choice(self.names)
        if name not in self.live:
            self.create(name)
            return
        roll = self.rng.random()
        if roll < 0.8:
            self.edit(name)
        elif roll < 0.92:
            self.delete(name)
        else:  # deleted and created again: a new uid under the same name
            self.delete(name)
            self.create(name)

    @contextmanager
    def running(self, pause: float = 0.001) -> Iterator[threading.Event]:
        """Write continuously in a thread until the block ends; yields the stop event."""
        stop = threading.Event()
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                while not stop.is_set():
                    self.step()
                    if pause:
                        time.sleep(pause)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=loop, name="churn", daemon=True)
        thread.start()
        try:
            yield stop
        finally:
            stop.set()
            thread.join(timeout=10)
            if errors:
                raise errors[0]

    def wait_for_writes(self, since: int, count: int, timeout: float = 60.0) -> None:
        """Block (while ``running``) until ``count`` writes were made after rv ``since``.

        The tests' floors on writes seen ("enough to mean anything") then hold on a slow or
        loaded machine too: the fault phase is timed, the count is not.
        """
        deadline = time.monotonic() + timeout
        while len(self.rvs_between(since, 1 << 62)) < count:
            assert time.monotonic() < deadline, f"fewer than {count} writes in {timeout} s"
            time.sleep(0.02)

    def rvs_between(self, low: int, high: int) -> set[int]:
        with self.lock:
            return {w.rv for w in self.writes if low < w.rv <= high}


# --- what the store holds --------------------------------------------------------------------


def stored_history(db_path: Path) -> tuple[dict[str, list[RevisionRecord]], bytes]:
    """Every stored revision of the churned ConfigMaps, per name, in history order."""
    db = open_database(db_path, readonly=True)
    try:
        key = redaction_key(db)
        out: dict[str, list[RevisionRecord]] = {}
        for record in Reader(db).changes_between(START, END):
            if record.key.kind == "ConfigMap" and record.key.namespace == NS:
                out.setdefault(record.key.name, []).append(record)
    finally:
        db.conn.close()
    return out, key


def state_problems(db_path: Path, churn: Churn) -> list[str]:
    """How the store's latest state differs from the double's (empty when equal)."""
    history, key = stored_history(db_path)
    with churn.lock:
        live = dict(churn.live)
    problems = []
    for name in sorted(set(history) | set(live)):
        revisions = history.get(name, [])
        last = revisions[-1] if revisions else None
        current = live.get(name)
        if current is None:
            if last is not None and not last.deleted:
                problems.append(f"{name}: deleted in the cluster, live in the store")
        elif last is None or last.deleted:
            problems.append(f"{name}: live in the cluster, not in the store")
        elif last.obj != normalize(current, key):
            problems.append(
                f"{name}: store has rv {last.resource_version}, cluster "
                f"{current['metadata']['resourceVersion']}"
            )
    return problems


def wait_until_exact(db_path: Path, churn: Churn, timeout: float = 30.0) -> None:
    last: list[str] = []

    def exact() -> bool:
        last[:] = state_problems(db_path, churn)
        return not last

    try:
        wait_for(exact, timeout=timeout, what="the store to match the cluster")
    except AssertionError:
        raise AssertionError(f"store differs from the cluster: {last[:10]}") from None


_EXPECTED_CHANGE = {"ADDED": "created", "MODIFIED": "updated", "DELETED": "deleted"}


def check_history(db_path: Path, churn: Churn, must_see: set[int] = frozenset()) -> dict[str, int]:
    """The exact comparison. Raises AssertionError listing every problem found.

    - the latest stored revision of every object is the double's object, normalized;
    - every stored revision is a write the double accepted (same rv, same content), and a
      revision not marked inferred has the event type the watch reported;
    - no duplicates: per object, resourceVersions strictly increase, no two consecutive
      revisions have the same content, a delete follows a live revision and a create
      follows nothing or a delete;
    - every rv in ``must_see`` (writes made while a recorder was up and watching) is
      stored exactly once, not inferred.
    Returns counts for the report.
    """
    problems = state_problems(db_path, churn)
    history, key = stored_history(db_path)
    if callable(must_see):
        must_see = must_see(history)
    with churn.lock:
        writes = list(churn.writes)
    by_rv = {w.rv: w for w in writes}
    deletes: dict[str, list[int]] = {}
    for w in writes:
        if w.type == "DELETED":
            deletes.setdefault(w.name, []).append(w.rv)
    seen: Counter[int] = Counter()
    inferred = 0
    for name, revisions in history.items():
        previous: RevisionRecord | None = None
        previous_rv = 0  # of the latest live revision
        for r in revisions:
            rv = int(r.resource_version) if r.resource_version else None
            where = f"{name} revision {r.id} ({r.change}, rv {rv}, inferred {r.inferred})"
            inferred += r.inferred
            if not r.inferred and rv is not None:
                seen[rv] += 1
            if r.change == "deleted":
                if previous is None or previous.deleted:
                    problems.append(f"{where}: a delete of nothing")
                if r.inferred:
                    if not any(d > previous_rv for d in deletes.get(name, [])):
                        problems.append(f"{where}: inferred delete, but none happened")
                else:
                    w = by_rv.get(rv or -1)
                    if w is None or w.name != name or w.type != "DELETED":
                        problems.append(f"{where}: not a delete the cluster made")
            else:
                w = by_rv.get(rv or -1)
                if w is None or w.name != name or w.type == "DELETED":
                    problems.append(f"{where}: no such write in the cluster (invented)")
                elif r.obj != normalize(w.obj, key):
                    problems.append(f"{where}: content differs from the cluster's write")
                elif not r.inferred and _EXPECTED_CHANGE[w.type] != r.change:
                    problems.append(f"{where}: the watch said {w.type}")
                if rv is not None and rv <= previous_rv:
                    problems.append(f"{where}: rv not after the previous revision's {previous_rv}")
                if r.change == "created" and previous is not None and not previous.deleted:
                    problems.append(f"{where}: created while live")
                if r.change == "updated":
                    if previous is None or previous.deleted:
                        problems.append(f"{where}: updated after nothing")
                    elif previous.obj == r.obj:
                        problems.append(f"{where}: same content as the previous revision")
                previous_rv = rv or previous_rv
            previous = r
    twice = sorted(rv for rv, n in seen.items() if n > 1)
    if twice:
        problems.append(f"stored twice: rvs {twice[:20]}")
    missing = sorted(rv for rv in must_see if seen[rv] != 1)
    if missing:
        problems.append(f"{len(missing)} writes seen while watching are missing: {missing[:20]}")
    assert not problems, "\n".join(problems[:40])
    return {
        "writes": len(writes),
        "revisions": sum(len(v) for v in history.values()),
        "inferred": inferred,
        "must_see": len(must_see),
    }


def integrity(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def watch_rvs(double: ApiDouble, path: str) -> list[int]:
    """The resourceVersion of every watch of ``path`` the recorder opened, in order."""
    out = []
    for request in list(double.requests):
        if request.verb == "watch" and request.path == path:
            rv = request.query.get("resourceVersion")
            if rv and rv != "0":
                out.append(int(rv))
    return out


def committed_windows(
    double: ApiDouble,
    churn: Churn,
    history: dict[str, list[RevisionRecord]],
    path: str = "/api/v1/configmaps",
) -> set[int]:
    """Writes the recorder must have kept exactly: for each watch it opened from rv L (until
    the next watch from L'), every write in (L, R], R the newest it stored from that watch.

    The writer commits in the order the watch delivered, so what reached the disk before a
    kill is a prefix of the stream: a hole in it is a lost write.
    """
    watched = sorted(
        int(r.resource_version)
        for revisions in history.values()
        for r in revisions
        if not r.inferred and r.resource_version
    )
    starts = watch_rvs(double, path)
    must: set[int] = set()
    for i, low in enumerate(starts):
        high = starts[i + 1] if i + 1 < len(starts) else 1 << 62
        got = [rv for rv in watched if low < rv <= high]
        if got:
            must |= churn.rvs_between(low, max(got))
    return must


# --- the recorder as a process, started ahead of time ------------------------------------------

# Imports everything first and waits for a line on stdin, then runs `timetravel record`: a
# recorder's startup (~1 s of imports) overlaps the previous one's run, so 20 kills fit in CI.
_PREWARMED = """
import sys
from timetravel.cli import main
import kubernetes.client, timetravel.recorder.cluster, timetravel.sources.kube
sys.stdin.readline()
sys.argv = ["timetravel", *sys.argv[1:]]
main()
"""


def prewarmed_recorder(kubeconfig: Path, db_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _PREWARMED,
            "record",
            "--db",
            str(db_path),
            "--kubeconfig",
            str(kubeconfig),
            "--resources",
            "configmaps",
            "--status-every",
            "0",
            "--read-timeout",
            "5",
            *extra,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@contextmanager
def stopping(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Kill whatever is still running of ``processes`` when the block ends, however it ends."""
    try:
        yield
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def committed(db_path: Path, last_id: int | None = None) -> tuple[int, str]:
    """The newest revision id, and a digest of every revision up to it."""
    db = open_database(db_path, readonly=True)
    try:
        records = stored(db, with_body=True)
    finally:
        db.conn.close()
    if last_id is None:
        last_id = records[-1].id if records else 0
    digest = hashlib.sha256()
    for r in records:
        if r.id <= last_id:
            row = (r.id, r.resource_id, r.observed_at, r.change, r.resource_version, r.inferred)
            digest.update(repr((*row, r.body)).encode())
    return last_id, digest.hexdigest()


def go(proc: subprocess.Popen[bytes]) -> None:
    """Let a prewarmed recorder start recording."""
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    proc.stdin = None


def started_at(db_path: Path) -> str:
    try:
        db = open_database(db_path, readonly=True)
    except Exception:
        return ""
    try:
        row = db.execute("SELECT started_at FROM recorder_state").fetchone()
        return str(row[0]) if row else ""
    except sqlite3.Error:
        return ""
    finally:
        db.conn.close()


@pytest.mark.slow
def test_sigkill_20_times_during_heavy_writes_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    rng = random.Random(20)
    kills = []
    down_from: list[int] = []
    kept: list[tuple[int, str]] = []
    with ApiDouble(bookmark_interval=0.2) as double:
        kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig")
        churn = Churn(double, [f"cm-{i:03d}" for i in range(250)], seed=1)
        churn.populate()
        spawned: list[subprocess.Popen[bytes]] = []

        def spawn() -> subprocess.Popen[bytes]:
            spawned.append(prewarmed_recorder(kubeconfig, db_path))
            return spawned[-1]

        nxt = spawn()
        with stopping(spawned):
            with churn.running(pause=0.001):
                for i in range(20):
                    proc, nxt = nxt, spawn()
                    before = started_at(db_path)
                    go(proc)
                    try:
                        wait_for(
                            lambda b=before: started_at(db_path) not in ("", b), what="a start"
                        )
                    except AssertionError:
                        proc.kill()
                        proc.wait()
                        assert proc.stderr is not None
                        raise AssertionError(f"kill {i}: {proc.stderr.read().decode()}") from None
                    # Somewhere in the first list, the catch-up, or the steady watch.
                    delay = rng.uniform(0.0, 0.5)
                    time.sleep(delay)
                    revisions_before = count(db_path, "SELECT count(*) FROM revisions")
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    assert proc.returncode == -signal.SIGKILL
                    down_from.append(double.resource_version)  # later writes: unseen by this run
                    result = integrity(db_path)
                    assert result == "ok", f"kill {i}: integrity_check says {result}"
                    kept.append(committed(db_path))
                    kills.append((round(delay, 2), revisions_before))
                    time.sleep(rng.uniform(0.0, 0.15))  # down: these writes come back inferred
                nxt.kill()
                nxt.wait()
                # The last recorder starts while the writes go on and watches them steadily
                # for a while: the killed runs' windows are short and, on a loaded machine,
                # may hold too few writes for the check below to mean anything.
                last = spawn()
                before = started_at(db_path)
                stored = count(db_path, "SELECT count(*) FROM revisions")
                go(last)
                wait_for(lambda: started_at(db_path) not in ("", before), what="the last start")
                wait_for(
                    lambda: count(db_path, "SELECT count(*) FROM revisions") > stored + 1500,
                    timeout=60,
                    what="a steady watch of the last recorder",
                )
            try:
                wait_until_exact(db_path, churn, timeout=60)
            finally:
                last.send_signal(signal.SIGTERM)
                _, stderr = last.communicate(timeout=30)
        assert last.returncode == 0, stderr.decode()
        assert integrity(db_path) == "ok"
        must: set[int] = set()

        def windows(history: dict[str, list[RevisionRecord]]) -> set[int]:
            must.update(committed_windows(double, churn, history))
            return must

        report = check_history(db_path, churn, windows)
        # What each killed run had committed is still there, unchanged, as the first rows.
        for i, (last_id, digest) in enumerate(kept):
            assert committed(db_path, last_id) == (last_id, digest), f"kill {i}: rewritten"
        # Nothing that happened while a recorder was down is claimed as seen happening: from
        # a kill to the next watch, changes can only come back from a list, inferred.
        history, _ = stored_history(db_path)
        watched = {
            int(r.resource_version)
            for revisions in history.values()
            for r in revisions
            if not r.inferred and r.resource_version
        }
        starts = watch_rvs(double, "/api/v1/configmaps")
        for down in down_from:
            resumed = min((w for w in starts if w >= down), default=None)
            if resumed is not None:
                claimed = sorted(rv for rv in watched if down < rv <= resumed)
                assert not claimed, f"seen while down: {claimed[:10]}"
    assert report["inferred"] > 0, "writes made while down must come back as inferred changes"
    assert len(must) > 1000, f"too few writes were watched to mean anything: {report}"
    killed_gaps = count(db_path, "SELECT count(*) FROM gaps WHERE reason LIKE 'recorder ended%'")
    assert killed_gaps == 20
    print(f"\nSIGKILL x20: kills (delay, revisions so far) {kills}; {report}")


# --- an API server that misbehaves -----------------------------------------------------------


@contextmanager
def churned(
    tmp_path: Path,
    objects: int = 120,
    *,
    seed: int = 0,
    double_options: dict[str, Any] | None = None,
    **options: Any,
) -> Iterator[tuple[ApiDouble, Churn, Path, Recorder]]:
    """A double with ``objects`` ConfigMaps and a recorder (in a thread) that has listed them."""
    db_path = tmp_path / "tt.db"
    with ApiDouble(**{"bookmark_interval": 0.1, **(double_options or {})}) as double:
        churn = Churn(double, [f"cm-{i:03d}" for i in range(objects)], seed=seed)
        churn.populate()
        options.setdefault("resources", ["configmaps"])
        with recording(double, db_path, tmp_path, **options) as recorder:
            wait_until_exact(db_path, churn)
            yield double, churn, db_path, recorder


def test_dropped_watches_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    with churned(tmp_path) as (double, churn, db_path, recorder):
        mark = double.resource_version
        with churn.running():
            for _ in range(25):
                time.sleep(0.06)
                double.drop_watches()
            churn.wait_for_writes(mark, 400)
        wait_until_exact(db_path, churn)
        assert recorder.stats.errors >= 5, "the drops must have been noticed"
        assert recorder.stats.relists == 0
    report = check_history(db_path, churn, churn.rvs_between(mark, 1 << 62))
    assert report["must_see"] > 300


def test_stalled_server_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # A hung server: the watch sends nothing, not even its end; the read timeout notices,
    # the recorder watches again from where it was, and gets the backlog when it recovers.
    with churned(tmp_path, read_timeout=0.6) as (double, churn, db_path, recorder):
        mark = double.resource_version
        with churn.running(pause=0.002):
            double.stall = True
            time.sleep(2.0)
            double.stall = False
            time.sleep(0.3)
            churn.wait_for_writes(mark, 400)
        wait_until_exact(db_path, churn)
        assert recorder.stats.errors >= 1, "the silence must have been noticed"
        assert recorder.stats.relists == 0
    report = check_history(db_path, churn, churn.rvs_between(mark, 1 << 62))
    assert report["must_see"] > 300


def test_slow_server_and_failing_requests_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    # Bursty: the stream stops and starts every 50-150 ms; some requests fail with 500, 503
    # and 429 (discovery, lists and watches alike) and watches are cut.
    with churned(tmp_path, read_timeout=0.5, rediscover_every=0.2) as (
        double,
        churn,
        db_path,
        recorder,
    ):
        mark = double.resource_version
        rng = random.Random(7)
        with churn.running(pause=0.002):
            for i in range(20):
                double.stall = not double.stall
                time.sleep(rng.uniform(0.05, 0.15))
                if i % 4 == 0:
                    double.fail_next(rng.randint(1, 3), rng.choice([500, 503, 429]))
                    double.drop_watches()
            double.stall = False
            churn.wait_for_writes(mark, 300)
        wait_until_exact(db_path, churn)
        assert recorder.stats.errors >= 3
    report = check_history(db_path, churn, churn.rvs_between(mark, 1 << 62))
    assert report["must_see"] > 200


@pytest.mark.slow
def test_410_storm_relists_with_gaps_and_keeps_history_exact(tmp_path: Path) -> None:
    # History compacted every 3 writes while watches are cut: every resumed watch and many
    # list continuations (600 objects: two pages) get 410 Expired. Whatever happened in a
    # gap comes back as an inferred change; nothing is made up or doubled.
    with churned(tmp_path, objects=600) as (double, churn, db_path, recorder):
        double.auto_compact_every = 3
        with churn.running(pause=0.001):
            for _ in range(12):
                time.sleep(0.1)
                double.drop_watches()
        double.drop_watches()
        wait_until_exact(db_path, churn, timeout=60)
    # Counted once the recorder stopped: a relist can still start after the store is exact.
    relists = recorder.stats.relists
    assert relists >= 2, recorder.stats
    report = check_history(db_path, churn)
    assert report["inferred"] > 0
    gaps = count(db_path, "SELECT count(*) FROM gaps WHERE reason LIKE 'watch expired (410%'")
    assert gaps == relists


def test_server_ignoring_resource_version_keeps_history_exact(tmp_path: Path) -> None:
    # Every watch replays every object from the start, whatever resourceVersion was asked
    # for, and the writes made while the watch was down are never sent (deletes included).
    with churned(tmp_path) as (double, churn, db_path, recorder):
        double.ignore_resource_version = True
        with churn.running(pause=0.002):
            for _ in range(6):
                time.sleep(0.3)
                double.drop_watches()
        double.drop_watches()
        wait_until_exact(db_path, churn)
    # Counted once the recorder stopped: the last replay can be seen after the store is
    # exact (it changes nothing) and still record its gap.
    replays = recorder.stats.relists
    assert replays >= 1, recorder.stats  # a replay cut before its end is not one
    report = check_history(db_path, churn)
    assert report["inferred"] > 0
    gaps = count(db_path, "SELECT count(*) FROM gaps WHERE reason LIKE 'server ignored%'")
    assert gaps == replays


# --- the disk, the lock, the screen ----------------------------------------------------------


def capture_writer(monkeypatch: pytest.MonkeyPatch) -> list[Database]:
    """The recorder's own database connection, once its writer opened it."""
    opened: list[Database] = []
    real = recorder_module.open_database

    def capture(path: Any, **options: Any) -> Database:
        db = real(path, **options)
        opened.append(db)
        return db

    monkeypatch.setattr(recorder_module, "open_database", capture)
    return opened


def test_disk_full_is_reported_and_recording_resumes_when_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulated with PRAGMA max_page_count on the writer's own connection: SQLite then fails
    # every write that needs a new page with SQLITE_FULL, exactly as on a full disk.
    opened = capture_writer(monkeypatch)
    status = io.StringIO()
    with churned(tmp_path, status_stream=status) as (double, churn, db_path, recorder):
        conn = opened[0].conn
        mark = double.resource_version
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with churn.running(pause=0.002):
            wait_for(lambda: "database or disk is full" in status.getvalue(), what="the error")
            time.sleep(1.0)
            churn.wait_for_writes(mark, 300)
        assert integrity(db_path) == "ok"
        assert state_problems(db_path, churn), "the writes must really have failed"
        assert recorder.stats.errors >= 1 and not recorder._writer_done.is_set()
        conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
        wait_until_exact(db_path, churn)
    report = check_history(db_path, churn, churn.rvs_between(mark, 1 << 62))
    assert report["must_see"] > 200
    lines = status.getvalue().splitlines()
    failed = [line for line in lines if "cannot write" in line]
    assert len(failed) == 1, lines  # once per outage, not once per retry
    assert failed[0] == (
        f"timetravel: cannot write to {db_path}: database or disk is full; holding what is "
        "seen and retrying"
    )
    assert sum("again" in line for line in lines) == 1
    assert integrity(db_path) == "ok"


def test_stopping_while_the_disk_is_full_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = capture_writer(monkeypatch)
    monkeypatch.setattr(recorder_module, "GIVE_UP_AFTER", 0.5)
    db_path = tmp_path / "tt.db"
    with ApiDouble(bookmark_interval=0.1) as double:
        churn = Churn(double, [f"cm-{i:03d}" for i in range(30)], seed=4)
        churn.populate()
        full = r"stopped while writes fail \(database or disk is full"
        with (
            pytest.raises(UserError, match=full),
            recording(double, db_path, tmp_path, resources=["configmaps"]) as recorder,
        ):
            wait_until_exact(db_path, churn)
            conn = opened[0].conn
            conn.execute(
                f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}"
            )
            with churn.running(pause=0.002):
                wait_for(lambda: recorder.stats.errors > 0, what="a failed write")
                time.sleep(0.3)
        assert integrity(db_path) == "ok"
        assert state_problems(db_path, churn)
        # With space again, the next start records the gap and infers what it missed.
        with recording(double, db_path, tmp_path, resources=["configmaps"]):
            wait_until_exact(db_path, churn)
    report = check_history(db_path, churn)
    assert report["inferred"] > 0
    assert count(db_path, "SELECT count(*) FROM gaps WHERE reason LIKE 'recorder ended%'") == 1


def test_database_locked_by_another_writer_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = capture_writer(monkeypatch)
    status = io.StringIO()
    with churned(tmp_path, status_stream=status) as (double, churn, db_path, recorder):
        mark = double.resource_version
        # Another program holds the write lock for 0.5 s: within the busy timeout, the
        # recorder waits. Then for 1.5 s with a 100 ms busy timeout: the writes fail, are
        # reported and retried.
        other = sqlite3.connect(db_path, isolation_level=None)
        with churn.running(pause=0.002):
            other.execute("BEGIN IMMEDIATE")
            time.sleep(0.5)
            other.execute("ROLLBACK")
            time.sleep(0.2)
            assert "locked" not in status.getvalue()
            opened[0].conn.execute("PRAGMA busy_timeout = 100")
            other.execute("BEGIN IMMEDIATE")
            wait_for(lambda: "database is locked" in status.getvalue(), what="the lock error")
            time.sleep(1.0)
            other.execute("ROLLBACK")
        other.close()
        wait_until_exact(db_path, churn)
        assert not recorder._writer_done.is_set()
    check_history(db_path, churn, churn.rvs_between(mark, 1 << 62))
    assert "again" in status.getvalue()


def test_screen_reads_while_the_recorder_writes(tmp_path: Path) -> None:
    with churned(tmp_path, objects=150) as (_double, churn, db_path, recorder):
        data = ScreenData(db_path)
        past = utc_now()
        time.sleep(0.05)
        before = [(r.key, r.last_change_at) for r in data.resources_at(past).rows]
        errors: list[BaseException] = []
        reads = Counter[str]()

        def read(stop: threading.Event) -> None:
            try:
                while not stop.is_set():
                    now = utc_now()
                    data.invalidate()
                    rows = data.resources_at(now).rows
                    assert len(rows) >= 1
                    data.changes_around(now)
                    data.density(now - timedelta(minutes=5), now, 40)
                    data.markers(now - timedelta(minutes=5), now)
                    data.detail(rows[0].key, now)
                    # The past does not move while the present is written.
                    again = [(r.key, r.last_change_at) for r in data.resources_at(past).rows]
                    assert again == before
                    reads[threading.current_thread().name] += 1
            except BaseException as exc:
                errors.append(exc)

        with churn.running(pause=0.001) as stop:
            readers = [threading.Thread(target=read, args=(stop,)) for _ in range(2)]
            for thread in readers:
                thread.start()
            time.sleep(2.0)
        for thread in readers:
            thread.join(timeout=30)
        assert not errors, errors[0]
        assert sum(reads.values()) >= 4, reads
        wait_until_exact(db_path, churn)
        data.invalidate()
        shown = {r.key.name for r in data.resources_at(utc_now()).rows if r.key.namespace == NS}
        assert shown == set(churn.live)
        assert recorder.stats.errors == 0


# --- the clock ---------------------------------------------------------------------------------


class WallClock:
    """The system clock, which a test can step."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def recorder_times(db_path: Path) -> list[str]:
    db = open_database(db_path, readonly=True)
    try:
        records = stored(db)
    finally:
        db.conn.close()
    return [r.observed_at for r in records if r.source in ("watch", "list")]


def test_clock_stepping_back_keeps_times_monotonic_and_is_recorded(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    with ApiDouble(bookmark_interval=0.1) as double:
        churn = Churn(double, [f"cm-{i:03d}" for i in range(60)], seed=3)
        churn.populate()
        wall = WallClock()
        clock = MonotonicClock(now=wall)
        with recording(double, db_path, tmp_path, resources=["configmaps"], clock=clock):
            wait_until_exact(db_path, churn)
            with churn.running(pause=0.003):
                time.sleep(0.3)
                wall.offset = -timedelta(hours=1)  # NTP steps the clock back an hour
                time.sleep(0.6)
            wait_until_exact(db_path, churn)
            wait_for(lambda: count(db_path, "SELECT count(*) FROM gaps WHERE source='clock'") == 1)
        # Down, and the clock steps back another hour before the restart.
        churn.step()
        churn.step()
        wall = WallClock(-timedelta(hours=2))
        with recording(
            double, db_path, tmp_path, resources=["configmaps"], clock=MonotonicClock(now=wall)
        ):
            with churn.running(pause=0.003):
                time.sleep(0.4)
            wait_until_exact(db_path, churn)
            wait_for(lambda: count(db_path, "SELECT count(*) FROM gaps WHERE source='clock'") == 2)
    times = recorder_times(db_path)
    assert times == sorted(times), "observed times went backwards"
    check_history(db_path, churn)
    db = open_database(db_path, readonly=True)
    gaps = db.execute(
        "SELECT started_at, ended_at, reason FROM gaps WHERE source='clock'"
    ).fetchall()
    heartbeat, stopped = db.execute(
        "SELECT heartbeat_at, stopped_at FROM recorder_state"
    ).fetchone()
    db.conn.close()
    # Each step once: an hour back while running; and at the restart, two hours behind the
    # latest time already written (the first hour was still being held).
    assert len(gaps) == 2
    for (started, ended, reason), hours in zip(gaps, (1, 2), strict=True):
        assert started < ended and "system clock stepped back" in reason, reason
        assert f"{hours - 1}:59:" in reason or f"{hours}:00:" in reason, reason
    assert heartbeat == stopped >= times[-1]


def test_git_ref_updates_stay_in_order_when_the_clock_steps_back(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    repo = GitOpsRepo(tmp_path / "repo")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}}
    repo.write("a.yaml", {**cm, "data": {"k": "1"}})
    repo.commit("one", datetime(2026, 1, 1, tzinfo=UTC))
    wall = WallClock()
    clock = MonotonicClock(now=wall)
    source = GitSource(db_path, repo.path, clock=clock, progress=False)
    source.sync()
    repo.write("a.yaml", {**cm, "data": {"k": "2"}})
    repo.commit("two", datetime(2026, 1, 2, tzinfo=UTC))
    assert source.sync(live=True) == 1
    # The process restarts (a new clock) after the system clock stepped back a day.
    later = GitSource(
        db_path, repo.path, clock=MonotonicClock(now=WallClock(-timedelta(days=1))), progress=False
    )
    repo.write("a.yaml", {**cm, "data": {"k": "3"}})
    repo.commit("three", datetime(2026, 1, 3, tzinfo=UTC))
    assert later.sync(live=True) == 1
    db = open_database(db_path, readonly=True)
    times = [r[0] for r in db.execute("SELECT observed_at FROM ref_updates ORDER BY id")]
    db.conn.close()
    assert len(times) == 3 and times == sorted(times) and len(set(times)) == 3


@pytest.mark.parametrize("command", ["import-events", "import-audit"])
def test_disk_full_during_an_import_is_one_line_and_keeps_the_batches_before(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command's own connection may grow by 500 pages only (PRAGMA max_page_count).
    module = importlib.import_module(
        "timetravel.commands.imports"
        if command == "import-events"
        else "timetravel.commands.import_audit"
    )
    real = module.open_database

    def nearly_full(path: Any, **options: Any) -> Database:
        db = real(path, **options)
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
        db.conn.execute(f"PRAGMA max_page_count = {pages + 500}")
        return db

    monkeypatch.setattr(module, "open_database", nearly_full)
    source = tmp_path / "input.jsonl"
    with source.open("w") as out:
        for i in range(12_000):
            if command == "import-events":
                obj = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"cm{i}", "namespace": "x", "resourceVersion": str(i + 1)},
                    "data": {"k": f"{i:08d}" * 8},
                }
                out.write(json.dumps({"type": "ADDED", "object": obj}) + "\n")
            else:
                event = {
                    "kind": "Event",
                    "apiVersion": "audit.k8s.io/v1",
                    "level": "Metadata",
                    "auditID": f"00000000-0000-4000-8000-{i:012d}",
                    "stage": "ResponseComplete",
                    "requestURI": f"/api/v1/namespaces/x/configmaps/cm{i}",
                    "verb": "update",
                    "user": {"username": "dana@example.com"},
                    "objectRef": {
                        "resource": "configmaps",
                        "namespace": "x",
                        "name": f"cm{i}",
                        "apiVersion": "v1",
                    },
                    "responseStatus": {"code": 200},
                    "stageTimestamp": "2026-11-19T21:30:00.000000Z",
                }
                out.write(json.dumps(event) + "\n")
    db_path = tmp_path / "tt.db"
    result = CliRunner().invoke(cli, [command, "--db", str(db_path), "--quiet", str(source)])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"timetravel: error: {db_path}: database or disk is full; what was being written is "
        "not kept, everything before it is"
    )
    assert integrity(db_path) == "ok"
    table = "revisions" if command == "import-events" else "audit_events"
    kept = count(db_path, f"SELECT count(*) FROM {table}")
    assert kept > 0 and kept % 2000 == 0, kept  # whole batches, each one transaction

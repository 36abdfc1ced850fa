"""``record --listen``: /healthz, /readyz and /metrics of the real recorder over the API double."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

import timetravel.recorder.cluster as recorder_module
from timetravel.cli import cli
from timetravel.recorder.cluster import Recorder
from timetravel.recorder.health import STALL_AFTER, HealthServer, Monitor
from timetravel.sources.kube import Kube
from timetravel.store.db import Database, open_database

from .apidouble import ApiDouble
from .recording import configmap, count, make_recorder, wait_for

# Never through a proxy the environment may name: the server is on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def double() -> Iterator[ApiDouble]:
    with ApiDouble(bookmark_interval=0.1) as d:
        yield d


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tt.db"


def get(server: HealthServer | str, path: str) -> tuple[int, str]:
    """The status and body of ``path`` on ``server`` (or a base URL)."""
    base = server if isinstance(server, str) else server.url
    try:
        with _OPENER.open(f"{base}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(server: HealthServer | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels (parsed as Prometheus would)."""
    status, text = get(server, "/metrics")
    assert status == 200, text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str):
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        value
        for (n, sample_labels), value in samples.items()
        if n == name and set(labels.items()) <= set(sample_labels)
    )


@contextmanager
def monitored(
    double: ApiDouble, db_path: Path, tmp: Path, *, stall_after: float = STALL_AFTER, **options: Any
) -> Iterator[tuple[Recorder, HealthServer, list[BaseException]]]:
    """The recorder in a thread, watched by a health server on a free loopback port, as
    ``record --listen 127.0.0.1:0`` wires them. The server outlives the recorder until the
    end of the block, so a test can ask it about a recorder that died."""
    open_database(db_path).conn.close()
    recorder = make_recorder(double, db_path, tmp, **options)
    monitor = Monitor(stall_after=stall_after)
    monitor.add_recorder(recorder)
    monitor.started([])
    server = HealthServer("127.0.0.1:0", monitor)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            recorder.run()
        except BaseException as exc:  # the test looks at it
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield recorder, server, errors
    finally:
        recorder.stop.set()
        thread.join(timeout=30)
        server.close()
        assert not thread.is_alive(), "recorder did not stop"


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


def test_readyz_answers_503_until_every_type_has_listed(
    double: ApiDouble, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The configmaps list is held until the test lets it go: a slow API server.
    double.create(configmap("settings"))
    listing, release = threading.Event(), threading.Event()
    real = Kube.list_pages

    def slow(self: Kube, rtype: Any, namespace: str | None = None) -> Iterator[Any]:
        if rtype.name == "configmaps":
            listing.set()
            release.wait(30)
        yield from real(self, rtype, namespace)

    monkeypatch.setattr(Kube, "list_pages", slow)
    with monitored(double, db_path, tmp_path) as (recorder, server, errors):
        try:
            wait_for(listing.is_set, what="the configmaps list to start")
            status, body = get(server, "/readyz")
            assert (status, body) == (503, "listing resource types\n")
            assert get(server, "/healthz") == (200, "ok\n")
            assert total(scrape(server), "timetravel_ready") == 0
            assert not recorder.ready.is_set()
        finally:
            release.set()
        wait_for(lambda: get(server, "/readyz") == (200, "ok\n"), what="/readyz 200")
        assert recorder.ready.is_set()
        assert total(scrape(server), "timetravel_ready") == 1
    assert not errors


def test_metrics_count_what_was_recorded(double: ApiDouble, db_path: Path, tmp_path: Path) -> None:
    for i in range(3):
        double.create(configmap(f"listed-{i}"))
    with monitored(double, db_path, tmp_path) as (recorder, server, errors):
        wait_for(recorder.ready.is_set, what="the first lists")
        double.create(configmap("a"))
        double.create(configmap("b", "frontend"))
        double.patch(
            "v1", "ConfigMap", "payments", "a", lambda o: o["data"].update(k="2"), manager="kubectl"
        )
        double.delete("v1", "ConfigMap", "frontend", "b")
        # Four changes seen on the watch, three objects listed: seven revisions.
        wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") == 7, what="7 revisions")
        # A relist: a change while the server is unreachable, then history compacted past
        # every watch's resourceVersion, so resuming gets 410 Gone.
        double.go_down()
        double.create(configmap("c"))
        double.compact()
        double.come_back()
        wait_for(lambda: recorder.stats.relists >= 1, what="a relist")
        wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") == 8, what="8 revisions")
        samples = scrape(server)
        stored_revisions = count(db_path, "SELECT count(*) FROM revisions")
        assert total(samples, "timetravel_revisions_total") == stored_revisions == 8
        assert total(samples, "timetravel_revisions_total", change="deleted") == 1
        assert total(samples, "timetravel_revisions_total", change="updated") == 1
        assert total(samples, "timetravel_revisions_total", change="created") == 6
        assert total(samples, "timetravel_revisions_total", resource="configmaps") == 8
        # The watch delivered the four changes; "c" came by the relist.
        assert total(samples, "timetravel_events_total", resource="configmaps") == 4
        assert total(samples, "timetravel_events_total") == recorder.stats.events
        relisted = "SELECT count(*) FROM gaps WHERE reason LIKE '%relisted%'"

        def agree() -> bool:
            # Every type relists as its backoff ends: /metrics must come to count exactly
            # the gaps and relists the store holds, by type, once the last is written.
            now = scrape(server)
            return (
                total(now, "timetravel_gaps_total") == count(db_path, "SELECT count(*) FROM gaps")
                and total(now, "timetravel_relists_total") == count(db_path, relisted)
                and total(now, "timetravel_relists_total", resource="configmaps")
                == count(db_path, relisted + " AND source = 'watch:configmaps'")
                == 1
            )

        wait_for(agree, what="/metrics to count the gaps and relists the store holds")
        assert total(samples, "timetravel_resource_types") == recorder.stats.types > 1
        assert total(samples, "timetravel_queue_capacity") == recorder_module.QUEUE_SIZE
        assert ("timetravel_queue_depth", (("cluster", recorder.cluster),)) in samples
        assert ("timetravel_backing_off_types", (("cluster", recorder.cluster),)) in samples
        lag = samples[
            (
                "timetravel_watch_lag_seconds",
                (("cluster", recorder.cluster), ("resource", "configmaps")),
            )
        ]
        assert lag >= 0
        assert total(samples, "timetravel_last_event_age_seconds") >= 0
        assert total(samples, "timetravel_store_write_seconds_count") >= 1
        assert total(samples, "timetravel_store_write_seconds_sum") > 0
        assert total(samples, "timetravel_store_write_failures_total") == 0
        # Every family follows the naming rules: the prefix, and _total on counters.
        for family in text_string_to_metric_families(get(server, "/metrics")[1]):
            assert family.name.startswith("timetravel_"), family.name
            if family.type == "counter":
                assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
    assert not errors


def test_readyz_answers_503_while_the_store_refuses_writes(
    double: ApiDouble, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk, simulated with PRAGMA max_page_count on the writer's own connection
    # (as tests/test_faults.py does): SQLite fails every write that needs a new page.
    opened = capture_writer(monkeypatch)
    with monitored(double, db_path, tmp_path, status_stream=io.StringIO()) as (
        recorder,
        server,
        errors,
    ):
        wait_for(lambda: get(server, "/readyz") == (200, "ok\n"), what="ready")
        conn = opened[0].conn
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        created = 0

        def fill() -> bool:
            nonlocal created
            double.create(configmap(f"big-{created}", k="x" * 20_000))
            created += 1
            return recorder.write_failing is not None

        wait_for(fill, what="a failed write")
        status, body = get(server, "/readyz")
        assert status == 503
        assert body == "cannot write to the store: database or disk is full\n"
        assert get(server, "/healthz") == (200, "ok\n")  # alive: retrying, holding what it sees
        samples = scrape(server)
        assert total(samples, "timetravel_ready") == 0
        assert total(samples, "timetravel_store_write_failures_total") >= 1
        conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
        wait_for(lambda: get(server, "/readyz") == (200, "ok\n"), what="/readyz 200 again")
        wait_for(
            lambda: count(db_path, "SELECT count(*) FROM revisions") == created,
            what="what was held, written",
        )
    assert not errors


def test_healthz_answers_503_when_the_writer_thread_is_dead(
    double: ApiDouble, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = threading.Event()
    real = Recorder._apply

    def apply(self: Recorder, writer: Any, items: list[Any]) -> None:
        if broken.is_set():
            raise RuntimeError("the writer broke")
        real(self, writer, items)

    monkeypatch.setattr(Recorder, "_apply", apply)
    with monitored(double, db_path, tmp_path) as (recorder, server, errors):
        wait_for(lambda: get(server, "/healthz") == (200, "ok\n"), what="healthy")
        wait_for(recorder.ready.is_set, what="the first lists")
        broken.set()
        double.create(configmap("last-straw"))
        wait_for(lambda: not recorder.writer_running, what="the writer to end")
        assert get(server, "/healthz") == (503, "the writer thread ended\n")
        assert get(server, "/readyz") == (503, "the writer thread ended\n")
        wait_for(lambda: bool(errors), what="run() to raise the writer's error")
    assert [str(e) for e in errors] == ["the writer broke"]


def test_healthz_answers_503_while_the_writer_is_stuck_and_200_when_it_moves(
    double: ApiDouble, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck, release = threading.Event(), threading.Event()
    real = Recorder._apply

    def apply(self: Recorder, writer: Any, items: list[Any]) -> None:
        if stuck.is_set():
            release.wait(60)  # a write that hangs: a lock held elsewhere, a dead NFS mount
        real(self, writer, items)

    monkeypatch.setattr(Recorder, "_apply", apply)
    with monitored(double, db_path, tmp_path, stall_after=2.0) as (recorder, server, errors):
        try:
            wait_for(recorder.ready.is_set, what="the first lists")
            wait_for(lambda: get(server, "/healthz") == (200, "ok\n"), what="healthy")
            stuck.set()
            double.create(configmap("hangs"))
            wait_for(lambda: get(server, "/healthz")[0] == 503, what="/healthz 503")
            assert get(server, "/healthz")[1].startswith("the writer is stuck (")
            assert get(server, "/readyz")[0] == 503
            assert recorder.writer_running  # stuck, not dead
            stuck.clear()
        finally:
            release.set()
        wait_for(lambda: get(server, "/healthz") == (200, "ok\n"), what="/healthz 200 again")
        wait_for(
            lambda: count(db_path, "SELECT count(*) FROM revisions") == 1,
            what="the held write to go through",
        )
    assert not errors


def _record_command(db_path: Path, kubeconfig: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "timetravel",
        "record",
        "--db",
        str(db_path),
        "--kubeconfig",
        str(kubeconfig),
        "--status-every",
        "0",
        *extra,
    ]


def _listening(pid: int) -> list[tuple[str, int]]:
    return sorted(
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    )


def _home(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home)}


def test_listen_binds_only_the_given_address_and_without_it_nothing(
    double: ApiDouble, db_path: Path, tmp_path: Path
) -> None:
    double.create(configmap("settings"))
    kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig")
    proc = subprocess.Popen(
        _record_command(db_path, kubeconfig, "--listen", "127.0.0.1:0"),
        stderr=subprocess.PIPE,
        text=True,
        env=_home(tmp_path),
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        prefix = "timetravel: serving /healthz, /readyz, /metrics on http://127.0.0.1:"
        assert line.startswith(prefix), line
        port = int(line.removeprefix(prefix))
        server = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(server, "/readyz") == (200, "ok\n"), what="/readyz 200")
        assert _listening(proc.pid) == [("127.0.0.1", port)]
        assert total(scrape(server), "timetravel_revisions_total") == 1
        assert get(server, "/nothing")[0] == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0

    proc = subprocess.Popen(
        _record_command(db_path, kubeconfig),
        stderr=subprocess.PIPE,
        text=True,
        env=_home(tmp_path),
    )
    try:
        double.create(configmap("later"))
        wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") == 2, what="recording")
        assert _listening(proc.pid) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "serving" not in stderr


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "timetravel",
                "record",
                "--db",
                str(tmp_path / "tt.db"),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=_home(tmp_path),
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"timetravel: error: --listen 127.0.0.1:{port}: Address already in use"
    ]


@pytest.mark.parametrize("addr", ["9090", "localhost", "127.0.0.1:http", ":70000", "::1:9090", ""])
def test_a_bad_listen_address_is_one_line_and_exit_2(addr: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["record", "--db", str(tmp_path / "tt.db"), "--listen", addr])
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr.splitlines() == [
        f"timetravel: error: --listen {addr!r}: expected [HOST]:PORT, like :9090, "
        "127.0.0.1:9090 or [::1]:9090"
    ]

"""Alerts: events found once in the record, delivered at least once through a real HTTP
receiver on loopback that fails, stalls and recovers, across a restart of the notifier."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.alerts import AlertEvent, slack_body
from timetravel.domain.model import Gap, Observation
from timetravel.domain.times import to_stored
from timetravel.notify.deliver import Receiver, deliver, make_messages
from timetravel.notify.evaluate import evaluate
from timetravel.notify.loop import AlertLoop
from timetravel.store import alerts as outbox
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter

T0 = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)
SECRET = b"shared-secret"


def deployment(replicas: int, manager: str, at: datetime) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api",
            "namespace": "payments",
            "managedFields": [
                {
                    "manager": manager,
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                }
            ],
        },
        "spec": {"replicas": replicas},
    }


def secret(value: str, at: datetime) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "payments",
            "managedFields": [
                {
                    "manager": "kubectl-edit",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:password": {}}},
                }
            ],
        },
        "data": {"password": value},
    }


@pytest.fixture
def store(any_db: Path | str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path | str:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the Secret key's home
    return any_db


def record(db_path: Path | str, observations: list[Observation]) -> None:
    db = open_database(db_path)
    try:
        RevisionWriter(db).write(observations)
    finally:
        db.conn.close()


def test_a_manual_change_and_a_gap_are_found_once_and_no_secret_leaves(store: Path | str) -> None:
    record(
        store, [Observation("prod", "ADDED", deployment(3, "argocd-controller", T0), to_stored(T0))]
    )
    db = open_database(store)
    try:
        first = evaluate(db, T0 + timedelta(minutes=2))
        assert first.baseline and first.events == 0
    finally:
        db.conn.close()
    edit = T0 + timedelta(minutes=5)
    record(
        store,
        [
            Observation("prod", "MODIFIED", deployment(6, "kubectl-edit", edit), to_stored(edit)),
            Observation("prod", "ADDED", secret("aHVudGVyMg==", edit), to_stored(edit)),
            Observation(
                "prod",
                "MODIFIED",
                secret("c3dvcmRmaXNo", edit + timedelta(seconds=5)),
                to_stored(edit + timedelta(seconds=5)),
            ),
        ],
    )
    db = open_database(store)
    try:
        RevisionWriter(db).record_gap(
            Gap(
                "prod",
                "cluster",
                to_stored(edit),
                to_stored(edit + timedelta(seconds=30)),
                "watch expired (410)",
            )
        )
        later = T0 + timedelta(minutes=8)
        found = evaluate(db, later)
        again = evaluate(db, later + timedelta(seconds=30))  # overlaps the last pass
        events = [e for _, e in outbox.events_after(db, 0, "9999")]
        raw = json.dumps([e.to_json() for e in events])
    finally:
        db.conn.close()
    kinds = sorted(e.kind for e in events)
    # The Deployment's edit, and the Secret's creation and edit, all by hand.
    assert kinds == ["manual_change", "manual_change", "manual_change", "recording_gap"]
    assert found.events == 4 and again.events == 0
    api = next(e for e in events if e.resource and e.resource["kind"] == "Deployment")
    assert api.summary == "replicas 3 → 6" and api.actor == "kubectl-edit" and api.cause == "manual"
    for value in ("aHVudGVyMg==", "c3dvcmRmaXNo", "hunter2", "swordfish", "redacted:"):
        assert value not in raw  # not even the hash


class Receiving:
    """A loopback HTTP receiver: fails, stalls, or takes, as the test says."""

    def __init__(self) -> None:
        self.mode = "take"
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.mode == "stall":
                    time.sleep(1.5)
                if outer.mode in ("fail", "stall"):
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.got.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiving() -> Iterator[Receiving]:
    r = Receiving()
    yield r
    r.server.shutdown()


def add(db_path: Path | str, n: int, at: datetime, cluster: str = "prod") -> None:
    db = open_database(db_path)
    try:
        with db.conn:
            outbox.add_events(
                db.conn,
                [
                    AlertEvent(
                        "manual_change",
                        f"manual_change:{cluster}:{at.isoformat()}:{i}",
                        at.isoformat(),
                        cluster,
                        f"change {i}",
                    )
                    for i in range(n)
                ],
                to_stored(at),
            )
    finally:
        db.conn.close()


def test_a_receiver_down_for_an_hour_then_back_loses_nothing(
    store: Path | str, receiving: Receiving
) -> None:
    receiver = Receiver(url=receiving.url, secret=SECRET, timeout=0.5)
    now = T0
    add(store, 25, now)  # a burst: two messages (20 + 5)
    add(store, 3, now, cluster="staging")
    receiving.mode = "fail"
    db = open_database(store)
    try:
        assert make_messages(db, receiver, now + timedelta(seconds=20), timedelta(seconds=10)) == 3
        for step in range(12):  # an hour of refusals and stalls
            receiving.mode = "stall" if step % 3 == 1 else "fail"
            now += timedelta(minutes=5)
            deliver(db, receiver, now)
        assert not receiving.got
        tried = outbox.messages(db, receiver.name)
        assert all(m.attempts >= 3 and m.delivered_at is None for m in tried)
        assert all(
            (m.last_error and "503" in m.last_error) or "timed out" in (m.last_error or "")
            for m in tried
        )
    finally:
        db.conn.close()
    # The recorder restarts; the receiver comes back.
    receiving.mode = "take"
    add(store, 2, now)
    db = open_database(store)
    try:
        make_messages(db, receiver, now + timedelta(seconds=20), timedelta(seconds=10))
        for _ in range(3):
            now += timedelta(minutes=20)
            deliver(db, receiver, now)
        stored = outbox.messages(db, receiver.name)
    finally:
        db.conn.close()
    assert all(m.delivered_at is not None for m in stored)
    keys = [headers["Idempotency-Key"] for headers, _ in receiving.got]
    assert sorted(keys) == sorted(m.key for m in stored)  # each once: none was half-taken
    delivered = [e["key"] for _, body in receiving.got for e in json.loads(body)["events"]]
    assert len(delivered) == len(set(delivered)) == 30
    for headers, body in receiving.got:
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        assert headers["X-Timetravel-Signature"] == expected
        document = json.loads(body)
        assert (
            document["type"] == "timetravel.alert/v1"
            and document["key"] == headers["Idempotency-Key"]
        )
        assert len({e["cluster"] for e in document["events"]}) == 1  # a message is one cluster's


def test_a_message_taken_but_not_acknowledged_comes_again_with_its_key(
    store: Path | str, receiving: Receiving
) -> None:
    # The receiver stores the message, then the connection times out before the answer:
    # the retry carries the same key, so the receiver can drop the copy.
    receiver = Receiver(url=receiving.url, timeout=0.5)
    add(store, 1, T0)
    db = open_database(store)
    try:
        make_messages(db, receiver, T0 + timedelta(seconds=20), timedelta(seconds=10))
        receiving.mode = "take"
        original = receiving.server.RequestHandlerClass.do_POST

        def take_then_stall(handler: Any) -> None:
            original(handler)
            time.sleep(1.0)

        receiving.server.RequestHandlerClass.do_POST = take_then_stall
        first = deliver(db, receiver, T0 + timedelta(minutes=1))
        receiving.server.RequestHandlerClass.do_POST = original
        second = deliver(db, receiver, T0 + timedelta(minutes=5))
    finally:
        db.conn.close()
    assert (first.failed, second.delivered) == (1, 1)
    keys = [headers["Idempotency-Key"] for headers, _ in receiving.got]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_a_command_gets_the_json_on_stdin(store: Path | str, tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    script = f"import sys, os; open({str(out)!r}, 'w').write(os.environ['TIMETRAVEL_IDEMPOTENCY_KEY'] + '\\n' + sys.stdin.read())"
    receiver = Receiver(command=(sys.executable, "-c", script))
    add(store, 2, T0)
    db = open_database(store)
    try:
        make_messages(db, receiver, T0 + timedelta(seconds=20), timedelta(seconds=10))
        assert deliver(db, receiver, T0 + timedelta(minutes=1)).delivered == 1
    finally:
        db.conn.close()
    key, body = out.read_text().split("\n", 1)
    assert json.loads(body)["key"] == key and len(json.loads(body)["events"]) == 2
    failing = Receiver(command=(sys.executable, "-c", "import sys; sys.exit(3)"))
    db = open_database(store)
    try:
        make_messages(db, failing, T0 + timedelta(seconds=20), timedelta(seconds=10))
        assert deliver(db, failing, T0 + timedelta(minutes=1)).failed == 1
        (message,) = outbox.messages(db, failing.name)
        assert message.last_error is not None and "exited 3" in message.last_error
    finally:
        db.conn.close()


def test_slack_messages_follow_the_incoming_webhook_format() -> None:
    events = [
        AlertEvent(
            "manual_change",
            "k1",
            "2026-11-19T21:24:00Z",
            "prod",
            "replicas 3 → 6 <!channel> & \x1b[2J",
            {"kind": "Deployment", "namespace": "payments", "name": "api"},
            "manual",
            "alice",
        ),
        AlertEvent("recording_gap", "k2", "2026-11-19T21:25:00Z", "prod", "no record of cluster"),
    ]
    body = slack_body("tt-1", events)
    assert isinstance(body["text"], str) and body["text"]
    assert [b["type"] for b in body["blocks"]] == ["section", "section", "section", "context"]
    for block in body["blocks"][:-1]:
        assert block["text"]["type"] == "mrkdwn" and len(block["text"]["text"]) <= 3000
    first = body["blocks"][1]["text"]["text"]
    # Slack's escapes: no mention can be injected, control characters are shown.
    assert "&lt;!channel&gt; &amp; \\x1b[2J" in first and "<!channel>" not in first
    assert body["blocks"][-1]["elements"][0]["type"] == "mrkdwn"


def test_drift_opens_and_closes_in_the_demo_week(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from timetravel.demo.build import build

    demo = build(
        tmp_path / "demo", now=datetime(2026, 11, 26, 10, 0, tzinfo=UTC), zone=ZoneInfo("UTC")
    )
    snapshots = tmp_path / "snapshots"
    db = open_database(demo.db_path)
    try:
        start = datetime(2026, 11, 19, 21, 21, tzinfo=UTC)
        assert evaluate(db, start).baseline
        found = evaluate(db, datetime(2026, 11, 19, 21, 31, tzinfo=UTC), snapshot_dir=snapshots)
        events = [e for _, e in outbox.events_after(db, 0, "9999")]
        loop = AlertLoop(demo.db_path, [], threading.Event(), lambda line: None)
        loop.write_snapshots(db, found.found)
    finally:
        db.conn.close()
    (bundle,) = snapshots.iterdir()
    opened_event = next(e for e in events if e.kind == "drift_opened")
    assert str(bundle) == opened_event.details["snapshot"]
    assert bundle.name == "drift-20261119T212400Z-prod-eu1-payments-deployment-api.tar.gz"
    import tarfile

    with tarfile.open(bundle) as tar:
        name = next(n for n in tar.getnames() if n.endswith("snapshot.json"))
        inside = json.loads(tar.extractfile(name).read())  # type: ignore[union-attr]
    assert inside["at"] == "2026-11-19T21:24:00Z"
    assert opened_event.details["export"].startswith(
        "timetravel export --cluster prod-eu1 --at 2026-11-19T21:24:00Z"
    )
    opened = [e for e in events if e.kind == "drift_opened"]
    assert [(e.resource["kind"], e.resource["name"], e.at) for e in opened] == [
        ("Deployment", "api", "2026-11-19T21:24:00Z")
    ]
    manual = [e for e in events if e.kind == "manual_change"]
    assert [(e.actor, e.summary) for e in manual] == [("alice@acme.io", "replicas 3 → 6 (+1)")]


def test_a_drift_opened_by_hand_and_closed_by_a_sync(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from timetravel.demo.build import build

    demo = build(
        tmp_path / "demo", now=datetime(2026, 11, 26, 10, 0, tzinfo=UTC), zone=ZoneInfo("UTC")
    )
    db = open_database(demo.db_path)
    try:
        evaluate(db, datetime(2026, 11, 18, 14, 51, tzinfo=UTC))
        for minute in (1, 11):  # two passes: the second sees the close
            evaluate(db, datetime(2026, 11, 18, 15, minute, tzinfo=UTC))
        events = [e for _, e in outbox.events_after(db, 0, "9999") if e.kind.startswith("drift")]
    finally:
        db.conn.close()
    assert [(e.kind, e.resource["name"], e.at) for e in events] == [
        ("drift_opened", "checkout", "2026-11-18T15:00:00Z"),
        ("drift_closed", "checkout", "2026-11-18T15:02:00Z"),
    ]


def test_the_json_body_follows_its_schema() -> None:
    import jsonschema

    from timetravel.domain.alerts import json_body

    schema = json.loads((Path(__file__).parent.parent / "docs" / "alert.schema.json").read_text())
    event = AlertEvent(
        "drift_opened",
        "k",
        "2026-11-19T21:24:00Z",
        "prod",
        "x drifted",
        {"kind": "Deployment", "namespace": None, "name": "x"},
    )
    jsonschema.validate(json_body("tt-1", [event]), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json_body("tt-1", []), schema)  # a message carries events


def test_record_notify_sends_a_manual_change_signed(tmp_path: Path, receiving: Receiving) -> None:
    import os
    import signal
    import subprocess

    from .apidouble import ApiDouble
    from .recording import wait_for

    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET.decode() + "\n")
    db_path = tmp_path / "tt.db"
    api = deployment(3, "argocd-controller", T0)
    del api["metadata"]["managedFields"]
    with ApiDouble(bookmark_interval=0.1) as double:
        double.create(api, manager="argocd-controller")
        kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "timetravel",
                "record",
                "--db",
                str(db_path),
                "--kubeconfig",
                str(kubeconfig),
                "--resources",
                "deployments",
                "--status-every",
                "0",
                "--notify",
                receiving.url,
                "--notify-secret-file",
                str(secret_file),
                "--notify-grace",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        try:
            wait_for(lambda: db_path.exists(), what="the store")
            time.sleep(3)  # the first pass: the baseline, nothing sent

            def scale(o: dict[str, Any]) -> None:
                o["spec"]["replicas"] = 6

            double.patch("apps/v1", "Deployment", "payments", "api", scale, manager="kubectl-edit")
            wait_for(lambda: bool(receiving.got), timeout=30, what="an alert")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()
    assert b"alerts to http://127.0.0.1" in stderr
    headers, body = receiving.got[0]
    assert (
        headers["X-Timetravel-Signature"]
        == "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    )
    (event,) = json.loads(body)["events"]
    assert (event["kind"], event["summary"], event["actor"]) == (
        "manual_change",
        "replicas 3 → 6",
        "kubectl-edit",
    )
    assert receiving.url.encode() not in stderr  # the URL may be a credential: never logged


def test_a_notify_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "record",
            "--db",
            str(tmp_path / "tt.db"),
            "--repo",
            str(tmp_path),
            "--notify",
            "file:///etc/passwd",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr == "timetravel: error: --notify file://: expected an http:// or https:// URL\n"
    )


def test_what_an_application_ignores_opens_no_drift_alert(tmp_path: Path) -> None:
    from timetravel.recorder.clock import MonotonicClock
    from timetravel.recorder.git import GitSource

    from .gitrepo import GitOpsRepo
    from .test_ignore_drift import application, live

    repo = GitOpsRepo(tmp_path / "gitops")
    repo.write("payments/api.yaml", live(3, "api:1.0"))
    repo.commit("api", T0 - timedelta(days=1))
    db_path = tmp_path / "tt.db"
    GitSource(db_path, repo.path, clock=MonotonicClock(), progress=False).sync()
    app = application([{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}])
    record(
        db_path,
        [
            Observation("default", "ADDED", app, to_stored(T0)),
            Observation("default", "ADDED", live(3, "api:1.0"), to_stored(T0)),
        ],
    )
    db = open_database(db_path)
    try:
        evaluate(db, T0 + timedelta(minutes=2))
        scaled = live(9, "api:1.0")
        record(
            db_path,
            [Observation("default", "MODIFIED", scaled, to_stored(T0 + timedelta(minutes=3)))],
        )
        evaluate(db, T0 + timedelta(minutes=5))
        retagged = live(9, "api:2.0")
        record(
            db_path,
            [Observation("default", "MODIFIED", retagged, to_stored(T0 + timedelta(minutes=6)))],
        )
        evaluate(db, T0 + timedelta(minutes=8))
        kinds = [
            (e.kind, e.at)
            for _, e in outbox.events_after(db, 0, "9999")
            if e.kind.startswith("drift")
        ]
    finally:
        db.conn.close()
    # The replicas Argo CD ignores drift nothing; the image it does not, does.
    assert kinds == [("drift_opened", "2026-11-19T21:06:00Z")]

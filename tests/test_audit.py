"""Audit events: parsing real API-server output, `timetravel import-audit`, and the queries."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.audit import (
    AuditEvent,
    BadLine,
    guess_resource,
    parse_audit_line,
    parse_audit_records,
    read_audit,
)
from timetravel.domain.times import to_stored
from timetravel.errors import UserError
from timetravel.store.db import open_database
from timetravel.store.runs import audit_events_between, audit_events_for, insert_audit_events

from .conftest import SHARED, needs_shared


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every test here runs against both engines (a file, a PostgreSQL database)."""
    return any_db


AUDIT = SHARED / "testdata" / "k8s-audit"
FALCO = AUDIT / "falco"
DEMO = AUDIT / "audit2rbac" / "demo.log"
ALL_FILES = sorted(p for p in AUDIT.rglob("*") if p.is_file() and p.name != "README.md")


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timetravel", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def falco_event(name: str, line: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FALCO / name).read_text().splitlines()[line])
    return event


def stored_rows(db_path: Path | str) -> list[dict[str, Any]]:
    db = open_database(db_path, readonly=True)
    try:
        cursor = db.conn.execute("SELECT * FROM audit_events ORDER BY id")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        db.conn.close()


# -- every real file, through the CLI ---------------------------------------------------


def expected_counts(paths: list[Path]) -> tuple[int, int, set[str]]:
    """(read-only events, bad lines, audit ids of kept events), judged independently."""
    read_only = bad = 0
    kept: set[str] = set()
    for path in paths:
        for text in path.read_text().splitlines():
            if not text.strip():
                continue
            value = json.loads(text)
            if not isinstance(value, dict) or value.get("kind") != "Event":
                bad += 1
            elif value["verb"] in ("get", "list", "watch"):
                read_only += 1
            else:
                kept.add(value["auditID"])
    return read_only, bad, kept


@needs_shared
def test_every_shared_audit_file_imports(db_path: Path) -> None:
    assert len(ALL_FILES) >= 40  # the shared samples are where the test expects them
    result = run_cli("import-audit", "--db", str(db_path), *map(str, ALL_FILES))
    assert "Traceback" not in result.stderr
    read_only, bad, kept = expected_counts(ALL_FILES)
    assert bad == 1
    assert result.returncode == 1, result.stderr  # fal_01_003.json is `{"kind": 0}`
    summary = result.stderr.splitlines()[0]
    assert summary.startswith(f"imported {len(kept)} audit events (")
    assert f"{read_only} skipped (read-only verbs), 1 bad line" in summary
    assert f"{FALCO / 'fal_01_003.json'} line 1: kind is 0, not an audit Event" in result.stderr
    assert {r["audit_id"] for r in stored_rows(db_path)} == kept


@needs_shared
def test_single_bad_file(db_path: Path) -> None:
    result = run_cli("import-audit", "--db", str(db_path), str(FALCO / "fal_01_003.json"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "imported 0 audit events (0 changes), 0 skipped (read-only verbs), 1 bad line",
        "  line 1: kind is 0, not an audit Event",  # one file: no file name needed
    ]


@needs_shared
def test_audit2rbac_demo_impersonation() -> None:
    events = [e for e in read_audit(DEMO.read_bytes().splitlines()) if isinstance(e, AuditEvent)]
    assert len(events) == 37
    impersonated = [e for e in events if e.impersonated_user is not None]
    assert impersonated, "the demo log is all impersonated requests"
    first = events[0]
    assert first.user == "system:admin"
    assert first.user_groups == ("system:masters", "system:authenticated")
    assert first.impersonated_user == "bob"
    assert first.acting_user == "bob"
    assert first.response_code == 403
    assert first.stage_at == to_stored(datetime(2017, 9, 11, 19, 55, 5, tzinfo=UTC))  # v1
    assert all(e.read_only for e in events)


@needs_shared
def test_audit2rbac_demo_via_cli_counts_read_only(db_path: Path) -> None:
    result = run_cli("import-audit", "--db", str(db_path), str(DEMO))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        "imported 0 audit events (0 changes), 37 skipped (read-only verbs), 0 bad lines"
    )


@needs_shared
def test_impersonated_write_is_stored(db_path: Path) -> None:
    # The demo's requests, made as writes, keep both identities through the store.
    line = json.loads(DEMO.read_text().splitlines()[0])
    line.update(verb="create", auditID="imp-1")
    line["objectRef"]["name"] = "web"
    line["responseStatus"] = {"code": 201}
    event = parse_audit_line(json.dumps(line))
    assert isinstance(event, AuditEvent) and event.is_change
    db = open_database(db_path)
    assert tuple(insert_audit_events(db, [event])) == (1, 0)
    [row] = stored_rows(db_path)
    assert (row["user"], row["impersonated_user"]) == ("system:admin", "bob")
    assert json.loads(row["user_groups"]) == ["system:masters", "system:authenticated"]
    when = event.stage_at
    [back] = audit_events_for(db, "pods", "default", "web", when, when)
    assert back == event  # every field survives the round trip


# -- fields ------------------------------------------------------------------------------


@needs_shared
def test_field_manager_from_request_uri(db_path: Path, tmp_path: Path) -> None:
    event = falco_event("modify_cluster_role_node_problem_detector.json")
    event["requestURI"] += "?fieldManager=kubectl-edit&timeout=10s"
    parsed = parse_audit_line(json.dumps(event))
    assert isinstance(parsed, AuditEvent)
    assert parsed.field_manager == "kubectl-edit"
    assert parsed.verb == "patch"
    assert parsed.name == "system:node-problem-detector"
    assert parsed.namespace == ""  # cluster-scoped
    assert parsed.api_group == "rbac.authorization.k8s.io"
    assert parsed.is_change

    encoded = dict(event, auditID="enc-1")
    encoded["requestURI"] = (
        "/apis/apps/v1/namespaces/payments/deployments/api?fieldManager=argocd%2Dcontroller%20x"
    )
    src = tmp_path / "fm.log"
    src.write_text(json.dumps(event) + "\n" + json.dumps(encoded) + "\n")
    assert run_cli("import-audit", "--db", str(db_path), str(src)).returncode == 0
    managers = {r["audit_id"]: r["field_manager"] for r in stored_rows(db_path)}
    assert managers == {event["auditID"]: "kubectl-edit", "enc-1": "argocd-controller x"}


@needs_shared
def test_no_field_manager_when_absent() -> None:
    parsed = parse_audit_line(json.dumps(falco_event("create_deployment.json")))
    assert isinstance(parsed, AuditEvent)
    assert parsed.field_manager is None
    assert (parsed.api_group, parsed.api_version, parsed.resource) == (
        "extensions",
        "v1beta1",
        "deployments",
    )
    assert (parsed.namespace, parsed.name, parsed.response_code) == (
        "default",
        "nginx-deployment",
        201,
    )
    assert parsed.user_agent is None  # this sample has none


@needs_shared
def test_metadata_level_secret_create() -> None:
    parsed = parse_audit_line(json.dumps(falco_event("create_secret.json")))
    assert isinstance(parsed, AuditEvent)
    assert parsed.level == "Metadata"
    assert parsed.user_agent == "kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960"
    assert (parsed.api_group, parsed.resource, parsed.namespace, parsed.name) == (
        "",
        "secrets",
        "default",
        "example-secret",
    )
    assert parsed.stage_at == to_stored(datetime(2020, 4, 21, 17, 57, 5, 548299, tzinfo=UTC))


@needs_shared
def test_generate_name_create_takes_name_from_response() -> None:
    parsed = parse_audit_line(json.dumps(falco_event("create_nginx_pod_privileged.json")))
    assert isinstance(parsed, AuditEvent)
    assert parsed.name == "nginx-deployment-5cdcc99dbf-rgw6z"


@needs_shared
def test_generate_name_create_without_response_has_no_name() -> None:
    event = falco_event("create_nginx_pod_privileged.json")
    del event["responseObject"]
    parsed = parse_audit_line(json.dumps(event))
    assert isinstance(parsed, AuditEvent)
    assert parsed.name is None  # generateName is a prefix, not a name: don't invent one


@needs_shared
def test_stages_and_connect_requests() -> None:
    exec_event = parse_audit_line(json.dumps(falco_event("exec_pod.json")))
    assert isinstance(exec_event, AuditEvent)
    assert exec_event.stage == "ResponseStarted"
    assert not exec_event.done
    assert exec_event.subresource == "exec"
    assert not exec_event.is_change

    finished = falco_event("exec_pod.json")
    finished.update(stage="ResponseComplete")
    parsed = parse_audit_line(json.dumps(finished))
    assert isinstance(parsed, AuditEvent)
    assert parsed.done and not parsed.is_change  # exec opens a stream, changes no object

    no_stage = falco_event("create_configmap.json")
    del no_stage["stage"]
    parsed = parse_audit_line(json.dumps(no_stage))
    assert isinstance(parsed, AuditEvent)
    assert parsed.stage is None and parsed.done and parsed.is_change


@needs_shared
def test_forbidden_write_is_not_a_change() -> None:
    event = falco_event("create_configmap.json")
    event["responseStatus"] = {"code": 403, "reason": "Forbidden"}
    parsed = parse_audit_line(json.dumps(event))
    assert isinstance(parsed, AuditEvent)
    assert parsed.done and not parsed.succeeded and not parsed.is_change


@needs_shared
def test_timestamp_fallbacks() -> None:
    event = falco_event("create_configmap.json")
    del event["stageTimestamp"]
    parsed = parse_audit_line(json.dumps(event))
    assert isinstance(parsed, AuditEvent)
    assert parsed.stage_at == to_stored(datetime.fromisoformat(event["requestReceivedTimestamp"]))
    del event["requestReceivedTimestamp"]
    event["timestamp"] = "2018-10-26T13:07:36Z"
    parsed = parse_audit_line(json.dumps(event))
    assert isinstance(parsed, AuditEvent)
    assert parsed.stage_at == to_stored(datetime(2018, 10, 26, 13, 7, 36, tzinfo=UTC))


@needs_shared
def test_event_list_and_blank_lines() -> None:
    items = [falco_event("create_configmap.json"), falco_event("delete_configmap.json")]
    listing = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}
    records = parse_audit_records(json.dumps(listing), 7)
    assert [r.verb for r in records if isinstance(r, AuditEvent)] == ["create", "delete"]
    assert parse_audit_line("   \n") is None
    single = parse_audit_line(json.dumps(dict(listing, items=items[:1])))
    assert isinstance(single, AuditEvent)
    many = parse_audit_line(json.dumps(listing), 7)
    assert isinstance(many, BadLine) and many.line_no == 7


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"kind": 0}', "kind is 0, not an audit Event"),
        ("{not json", "invalid JSON"),
        ("[1]", "expected a JSON object, found int"),
        ('"text"', "expected a JSON object, found str"),
        (
            '{"kind": "Event", "verb": "create", "stageTimestamp": "2020-01-01T00:00:00Z"}',
            "auditID",
        ),
        ('{"kind": "Event", "auditID": "x", "stageTimestamp": "2020-01-01T00:00:00Z"}', "verb"),
        ('{"kind": "Event", "auditID": "x", "verb": "create"}', "stageTimestamp"),
        (
            '{"kind": "Event", "auditID": "x", "verb": "create", "stageTimestamp": "yesterday"}',
            "RFC 3339",
        ),
        ('{"kind": "Event", "apiVersion": "v1", "auditID": "x", "verb": "create"}', "audit.k8s.io"),
        ('{"kind": "EventList", "items": 3}', "items"),
    ],
)
def test_bad_lines(text: str, reason: str) -> None:
    parsed = parse_audit_line(text, 12)
    assert isinstance(parsed, BadLine)
    assert parsed.line_no == 12
    assert reason in parsed.reason


def test_not_utf8_is_bad() -> None:
    parsed = parse_audit_line(b"\xff\xfe{}", 3)
    assert parsed == BadLine(3, "not UTF-8 text")


@needs_shared
def test_bad_lines_reported_rest_imported(db_path: Path, tmp_path: Path) -> None:
    good = falco_event("create_configmap.json")
    text = "\n".join(
        [
            json.dumps(good),
            "{truncated",
            "",
            '{"kind": "Event"}',
            json.dumps(falco_event("delete_configmap.json")),
        ]
    )
    src = tmp_path / "mixed.log"
    src.write_text(text + "\n")
    result = run_cli("import-audit", "--db", str(db_path), str(src))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("imported 2 audit events (2 changes), 0 skipped")
    assert lines[0].endswith("2 bad lines")
    assert lines[1].startswith("  line 2: invalid JSON")
    assert lines[2] == "  line 4: missing auditID"
    assert len(stored_rows(db_path)) == 2


def test_guess_resource() -> None:
    assert [
        guess_resource(k)
        for k in ("Deployment", "Ingress", "NetworkPolicy", "Endpoints", "Gateway", "ConfigMap")
    ] == ["deployments", "ingresses", "networkpolicies", "endpoints", "gateways", "configmaps"]


# -- secrets never reach the database ---------------------------------------------------

SECRET_VALUE = "c3VwZXItc2VjcmV0LXBhc3N3b3JkLTQy"  # base64 of a made-up password


@needs_shared
def test_request_bodies_never_stored(file_db: Path) -> None:
    db_path = file_db  # the bytes on disk are read: a file
    # The shared create_secret sample is Metadata level (no body); a RequestResponse
    # version of the same request is what a verbose audit policy writes.
    secret = falco_event("create_secret.json")
    body = {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {"name": "example-secret", "namespace": "default"},
        "data": {"password": SECRET_VALUE},
        "stringData": {"token": "plain-text-token-value"},
    }
    verbose = dict(
        secret,
        auditID="verbose-secret",
        level="RequestResponse",
        requestObject=body,
        responseObject=body,
    )
    src = db_path.parent / "secrets.log"
    src.write_text(json.dumps(secret) + "\n" + json.dumps(verbose) + "\n")
    configmaps = FALCO / "create_configmap_sensitive_values.json"
    assert "MY-KEY" in configmaps.read_text()
    result = run_cli("import-audit", "--db", str(db_path), str(src), str(configmaps))
    assert result.returncode == 0, result.stderr
    rows = stored_rows(db_path)
    assert {r["audit_id"] for r in rows} >= {secret["auditID"], "verbose-secret"}
    assert len(rows) == 8
    blob = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert b"example-secret" in blob  # the metadata is there ...
    for needle in (SECRET_VALUE, "plain-text-token-value", "MY-KEY", "aws_secret_access_key"):
        assert needle.encode() not in blob, needle  # ... the bodies are not


# -- stages, duplicates and the store queries -------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def make_event(audit_id: str, stage: str | None, when: str, **fields: Any) -> AuditEvent:
    base: dict[str, Any] = {
        "verb": "patch",
        "user": "alice@example.com",
        "api_group": "apps",
        "api_version": "v1",
        "resource": "deployments",
        "namespace": "payments",
        "name": "api",
        "response_code": 200,
    }
    base.update(fields)
    return AuditEvent(audit_id=audit_id, stage=stage, stage_at=to_stored(at(when)), **base)


def test_later_stage_replaces_earlier_and_reimport_is_duplicate(db_path: Path) -> None:
    db = open_database(db_path)
    received = make_event(
        "req-1", "RequestReceived", "2026-11-19T21:30:00+00:00", response_code=None
    )
    complete = make_event("req-1", "ResponseComplete", "2026-11-19T21:30:01+00:00")
    result = insert_audit_events(db, [received, complete])
    assert (result.inserted, result.duplicates, result.changes) == (2, 0, 1)
    inserted, duplicates = insert_audit_events(db, [complete, received])
    assert (inserted, duplicates) == (0, 2)
    [row] = audit_events_between(db, "2026-11-19T21:00:00.000000Z", "2026-11-19T22:00:00.000000Z")
    assert row.stage == "ResponseComplete" and row.response_code == 200
    assert row.stage_at == to_stored(at("2026-11-19T21:30:01+00:00"))


def test_audit_events_for_one_object(db_path: Path) -> None:
    db = open_database(db_path)
    insert_audit_events(
        db,
        [
            make_event("a", "ResponseComplete", "2026-11-19T21:00:00+00:00"),
            make_event(
                "b", "ResponseComplete", "2026-11-19T21:30:00+00:00", field_manager="kubectl-edit"
            ),
            make_event("c", "ResponseComplete", "2026-11-19T21:31:00+00:00", name="worker"),
            make_event("d", "ResponseComplete", "2026-11-19T21:32:00+00:00", subresource="scale"),
            make_event("e", "ResponseComplete", "2026-11-19T21:33:00+00:00", response_code=409),
            make_event(
                "f", "ResponseComplete", "2026-11-19T21:34:00+00:00", api_group="extensions"
            ),
            make_event("g", "ResponseComplete", "2026-11-19T23:00:00+00:00"),
        ],
    )
    window = ("2026-11-19T21:15:00.000000Z", to_stored(at("2026-11-19T22:00:00+00:00")))
    found = audit_events_for(db, "deployments", "payments", "api", *window)
    assert [e.audit_id for e in found] == ["b", "d", "e", "f"]
    assert found[0].field_manager == "kubectl-edit"
    assert found[0].user == "alice@example.com"
    changes = audit_events_for(
        db, "deployments", "payments", "api", *window, api_group="apps", changes_only=True
    )
    assert [e.audit_id for e in changes] == ["b", "d"]
    assert audit_events_for(db, "deployments", "", "api", *window) == []
    assert len(audit_events_between(db, *window)) == 5


@needs_shared
def test_cluster_scoped_query(db_path: Path) -> None:
    text = (FALCO / "delete_cluster_role_kube_aggregator.json").read_bytes()
    db = open_database(db_path)
    insert_audit_events(db, [e for e in read_audit([text]) if isinstance(e, AuditEvent)])
    found = audit_events_for(
        db,
        "clusterroles",
        "",
        "system:kube-aggregator",
        "2018-01-01T00:00:00.000000Z",
        "2019-01-01T00:00:00.000000Z",
    )
    assert [(e.verb, e.user, e.is_change) for e in found] == [("delete", "minikube-user", True)]


@needs_shared
def test_stdin_and_gzip(db_path: Path, tmp_path: Path) -> None:
    data = (FALCO / "create_configmap_sensitive_values.json").read_bytes()
    result = run_cli("import-audit", "--db", str(db_path), "-", stdin=data)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("imported 6 audit events (6 changes)")
    rotated = tmp_path / "audit-2026-11-19.log.gz"
    rotated.write_bytes(gzip.compress((FALCO / "delete_configmap.json").read_bytes()))
    result = run_cli("import-audit", "--db", str(db_path), str(rotated))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("imported 1 audit events (1 changes)")
    assert len(stored_rows(db_path)) == 7


@needs_shared
def test_unreadable_file_is_a_user_error(db_path: Path, tmp_path: Path) -> None:
    result = run_cli(
        "import-audit",
        "--db",
        str(db_path),
        str(FALCO / "create_secret.json"),
        str(tmp_path / "missing.log"),
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "missing.log: cannot read (No such file or directory)" in result.stderr
    # Nothing half-imported: the missing file was found before the first one was read.
    try:
        rows = stored_rows(db_path)
    except UserError:  # never created
        rows = []
    assert rows == []

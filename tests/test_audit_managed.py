"""Audit logs as managed clusters export them (issue 21, item 6): GKE Cloud Logging entries,
AKS diagnostic records, EKS CloudWatch log events and pretty-printed JSON, unwrapped and
imported, every record accounted for, on both engines."""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.domain.audit import AuditEvent, BadLine, audit_records
from timetravel.domain.audit_managed import gke_event, without_export_time
from timetravel.domain.times import to_stored
from timetravel.recorder.audit import import_audit_lines, read_audit_records
from timetravel.store.db import open_database

from .conftest import SHARED, needs_shared
from .test_attribution import T0, Cluster, changes, set_replicas


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every test here that stores runs against both engines."""
    return any_db


MORE = SHARED / "testdata" / "k8s-audit-more"
MORE_FILES = sorted(p for p in MORE.glob("*") if p.is_file() and p.name != "README.md")
ELASTIC = MORE / "elastic-test-audit.log"
AKS_STRING = MORE / "elastic-test-kube-audit.log"
READ_ONLY = {"get", "list", "watch"}


def elastic_lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in ELASTIC.read_text().splitlines()]


def gke_sample() -> dict[str, Any]:
    entry = elastic_lines()[3]
    assert "protoPayload" in entry
    return entry


def aks_sample() -> dict[str, Any]:
    record = elastic_lines()[4]
    assert isinstance(record["properties"]["log"], dict)
    return record


# -- an independent count of what each file holds ------------------------------------------


def json_values(text: str) -> list[Any]:
    """Every top-level JSON value of a text, one per line or pretty-printed, by the
    standard library's decoder (not the importer's reader)."""
    decoder = json.JSONDecoder()
    values, at = [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return values
        value, at = decoder.raw_decode(text, at)
        values.append(value)


def inner_event(record: dict[str, Any]) -> dict[str, Any] | None:
    """The audit Event a record carries, judged by its documented shape; None for GKE."""
    if "protoPayload" in record:
        return None
    if "properties" in record:
        log = record["properties"]["log"]
        return json.loads(log) if isinstance(log, str) else log
    if "message" in record:
        return json.loads(record["message"])
    return record


def expected(paths: list[Path]) -> tuple[int, int, set[str]]:
    """(records, read-only records, audit ids of the records kept) of these files."""
    records = read_only = 0
    kept: set[str] = set()
    for path in paths:
        for value in json_values(path.read_text()):
            for record in value if isinstance(value, list) else [value]:
                records += 1
                event = inner_event(record)
                if event is None:  # GKE: the verb ends the method, the auditID is the operation's
                    verb = record["protoPayload"]["methodName"].rsplit(".", 1)[-1]
                    audit_id = record["operation"]["id"]
                else:
                    verb, audit_id = event["verb"], event["auditID"]
                if verb in READ_ONLY:
                    read_only += 1
                else:
                    kept.add(audit_id)
    return records, read_only, kept


def summary_counts(summary: str) -> dict[str, int]:
    """The figures of import-audit's summary line."""
    found = re.fullmatch(
        r"imported ([\d,]+) audit events \(([\d,]+) changes\), ([\d,]+) skipped \(read-only "
        r"verbs\), ([\d,]+) bad lines?(?:, ([\d,]+) already in the database)?",
        summary,
    )
    assert found, summary
    imported, changed, read_only, bad, duplicates = (
        int((g or "0").replace(",", "")) for g in found.groups()
    )
    return {
        "imported": imported,
        "changes": changed,
        "read_only": read_only,
        "bad": bad,
        "duplicates": duplicates,
    }


def import_audit(db_path: Path | str, *paths: Path | str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["import-audit", "--db", str(db_path), "-q", *map(str, paths)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stderr.splitlines()


def stored_ids(db_path: Path | str) -> set[str]:
    db = open_database(db_path, readonly=True)
    try:
        return {str(r[0]) for r in db.conn.execute("SELECT audit_id FROM audit_events")}
    finally:
        db.conn.close()


@needs_shared
def test_the_shared_managed_cluster_samples_are_where_the_test_expects_them() -> None:
    assert [p.name for p in MORE_FILES] == [
        "apisnoop-audit_event.json",
        "apisnoop-audit_event_bad_verb.json",
        "apisnoop-audit_event_dummy_request.json",
        "apisnoop-audit_event_part_count_too_high.json",
        "apisnoop-bad_audit_event.json",
        "elastic-test-audit.log",
        "elastic-test-kube-audit.log",
    ]
    assert expected([ELASTIC]) == (5, 4, {"abcde12345"})  # 3 Events, a GKE and an AKS record
    assert len(ELASTIC.read_text().splitlines()) == 5


@needs_shared
@pytest.mark.parametrize("name", [p.name for p in MORE_FILES])
def test_every_record_of_each_file_is_accounted_for(db_path: Path | str, name: str) -> None:
    path = MORE / name
    records, read_only, kept = expected([path])
    code, lines = import_audit(db_path, path)
    assert code == 0, lines  # every sample is readable: no bad record
    counts = summary_counts(lines[0])
    assert counts["bad"] == 0 and lines[1:] == []
    assert counts["read_only"] == read_only
    assert counts["imported"] == len(kept)
    assert counts["imported"] + counts["duplicates"] + counts["read_only"] == records
    assert stored_ids(db_path) == kept
    # Again: every record is one already in the database or a read-only one.
    code, lines = import_audit(db_path, path)
    again = summary_counts(lines[0])
    assert (again["imported"], again["duplicates"], again["read_only"]) == (
        0,
        records - read_only,
        read_only,
    )


@needs_shared
def test_every_file_at_once_in_one_store(db_path: Path | str) -> None:
    records, read_only, kept = expected(MORE_FILES)
    assert records == 11  # five apisnoop Events, five elastic lines, one AKS line
    code, lines = import_audit(db_path, *MORE_FILES)
    assert code == 0, lines
    counts = summary_counts(lines[0])
    # apisnoop's two "calebiscool" requests share an auditID: one of them is a duplicate.
    assert counts == {
        "imported": len(kept),
        "changes": 2,  # the AKS updates of a Lease
        "read_only": read_only,
        "bad": 0,
        "duplicates": records - read_only - len(kept),
    }
    assert counts["duplicates"] == 1
    assert stored_ids(db_path) == kept


# -- what each wrapper maps to -------------------------------------------------------------


@needs_shared
def test_a_gke_entry_maps_to_the_audit_fields() -> None:
    [event] = audit_records(gke_sample(), 4)
    assert isinstance(event, AuditEvent)
    assert event.audit_id == "1234abcd"  # operation.id
    assert event.verb == "get" and event.read_only  # the last word of io.k8s.get
    assert event.user == "system:gke-master-healthcheck"  # authenticationInfo.principalEmail
    assert event.user_agent == "gke-master-healthcheck"
    assert event.stage == "ResponseComplete"  # operation.first and .last: one entry
    assert event.stage_at == "2025-07-13T08:38:39.127266Z"
    assert event.response_code == 200  # status.code 0 (OK)
    assert event.resource is None and event.request_uri == "/readyz"  # no resource: a path


def gke_patch(
    audit_id: str = "gke-patch-1",
    at: str = "2026-11-19T21:04:59.5Z",
    user: str = "alice@example.com",
    *,
    resource_name: str = "apps/v1/namespaces/payments/deployments/api",
    method: str = "io.k8s.apps.v1.deployments.patch",
) -> dict[str, Any]:
    entry = copy.deepcopy(gke_sample())
    entry["protoPayload"].update(
        methodName=method,
        resourceName=resource_name,
        authenticationInfo={"principalEmail": user},
        requestMetadata={"callerIp": "203.0.113.7", "callerSuppliedUserAgent": "kubectl/v1.31.0"},
        request={"spec": {"replicas": 6}},
        response={"kind": "Deployment", "metadata": {"name": "api", "namespace": "payments"}},
    )
    entry["operation"]["id"] = audit_id
    entry["timestamp"] = at
    entry["logName"] = "projects/elastic-siem/logs/cloudaudit.googleapis.com%2Factivity"
    return entry


@needs_shared
def test_a_gke_patch_names_its_object() -> None:
    event = gke_event(gke_patch())
    assert event.event is not None
    [parsed] = audit_records(gke_patch(), 1)
    assert isinstance(parsed, AuditEvent) and parsed.is_change
    assert (parsed.api_group, parsed.api_version, parsed.resource) == ("apps", "v1", "deployments")
    assert (parsed.namespace, parsed.name, parsed.subresource) == ("payments", "api", None)
    assert (parsed.user, parsed.user_agent, parsed.verb) == (
        "alice@example.com",
        "kubectl/v1.31.0",
        "patch",
    )


@needs_shared
@pytest.mark.parametrize(
    ("method", "resource_name", "ref"),
    [
        (
            "io.k8s.core.v1.pods.exec.create",
            "core/v1/namespaces/shop/pods/api-1/exec",
            ("", "v1", "pods", "shop", "api-1", "exec"),
        ),
        (
            "io.k8s.authorization.rbac.v1.clusterroles.update",
            "rbac.authorization.k8s.io/v1/clusterroles/viewer",
            ("rbac.authorization.k8s.io", "v1", "clusterroles", "", "viewer", None),
        ),
        (
            "io.k8s.core.v1.namespaces.status.update",
            "core/v1/namespaces/payments/status",
            ("", "v1", "namespaces", "payments", "payments", "status"),
        ),
        (
            "io.k8s.core.v1.configmaps.create",
            "core/v1/namespaces/payments/configmaps",
            ("", "v1", "configmaps", "payments", "api", None),  # the name from the response
        ),
        # Without a resource name: group, version, resource from the method alone.
        ("io.k8s.networking.v1.ingresses.delete", "", ("networking.k8s.io", "v1", "ingresses")),
        (
            "io.argoproj.v1alpha1.applications.patch",
            "",
            ("argoproj.io", "v1alpha1", "applications"),
        ),
        ("io.k8s.apps.v1.deployments.scale.patch", "", ("apps", "v1", "deployments")),
    ],
)
def test_gke_resource_names_are_split_as_the_api_server_splits_a_path(
    method: str, resource_name: str, ref: tuple[Any, ...]
) -> None:
    [parsed] = audit_records(gke_patch(method=method, resource_name=resource_name), 1)
    assert isinstance(parsed, AuditEvent)
    got = (
        parsed.api_group,
        parsed.api_version,
        parsed.resource,
        parsed.namespace,
        parsed.name,
        parsed.subresource,
    )
    assert got[: len(ref)] == ref
    if method.endswith("scale.patch"):
        assert parsed.subresource == "scale"


@needs_shared
def test_gke_stages_and_failures() -> None:
    started = gke_patch()
    started["operation"].update(first=True, last=False)
    [parsed] = audit_records(started, 1)
    assert isinstance(parsed, AuditEvent) and parsed.stage == "ResponseStarted"
    assert not parsed.is_change  # not finished: no effect yet
    denied = gke_patch()
    denied["protoPayload"]["status"] = {"code": 7, "message": "PERMISSION_DENIED"}
    del denied["protoPayload"]["response"]
    [parsed] = audit_records(denied, 1)
    assert isinstance(parsed, AuditEvent) and parsed.response_code == 403
    assert not parsed.is_change
    conflict = gke_patch()
    conflict["protoPayload"]["status"] = {"code": 10}
    conflict["protoPayload"]["response"] = {"kind": "Status", "code": 409, "reason": "Conflict"}
    [parsed] = audit_records(conflict, 1)
    assert isinstance(parsed, AuditEvent) and parsed.response_code == 409


@needs_shared
def test_aks_records_with_the_event_as_object_or_text_and_in_batches() -> None:
    [as_object] = audit_records(aks_sample(), 5)
    [as_text] = audit_records(json.loads(AKS_STRING.read_text()), 1)
    for event in (as_object, as_text):
        assert isinstance(event, AuditEvent) and event.is_change
        assert (event.verb, event.user, event.resource, event.namespace) == (
            "update",
            "aksService",
            "leases",
            "kube-system",
        )
    assert isinstance(as_text, AuditEvent)
    assert as_text.audit_id == "ad26f7bc-f1c6-4097-90f1-e0924e12f257"
    assert as_text.user_groups == ("system:masters", "system:authenticated")
    batch = {"records": [aks_sample(), json.loads(AKS_STRING.read_text())]}
    assert [e.audit_id for e in audit_records(batch, 1) if isinstance(e, AuditEvent)] == [
        "abcde12345",
        "ad26f7bc-f1c6-4097-90f1-e0924e12f257",
    ]


def eks_message(event: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return {
        "id": f"3789{i:04d}",
        "timestamp": 1_763_587_800_000 + i,
        "message": json.dumps(event, separators=(",", ":")),
    }


@needs_shared
def test_eks_cloudwatch_events_in_every_export_shape() -> None:
    event = json.loads(AKS_STRING.read_text())["properties"]["log"]
    event = json.loads(event)
    subscription = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/eks/prod/cluster",
        "logStream": "kube-apiserver-audit-0123456789abcdef",
        "subscriptionFilters": ["audit"],
        "logEvents": [eks_message(event, 0), eks_message(dict(event, auditID="second"), 1)],
    }
    cli_output = {"events": [dict(eks_message(event), logStreamName="kube-apiserver-audit-1")]}
    for value in (subscription, cli_output, eks_message(event)):
        found = list(audit_records(value, 1))
        assert found and all(isinstance(e, AuditEvent) and e.verb == "update" for e in found)
    # An S3 export: each message after its time.
    line = b"2025-10-07T16:19:19.647Z " + json.dumps(event).encode()
    assert without_export_time(line) == json.dumps(event).encode()
    [parsed] = read_audit_records([line + b"\n"])
    assert isinstance(parsed, AuditEvent) and parsed.audit_id == event["auditID"]


@needs_shared
def test_pretty_printed_streams_and_arrays(tmp_path: Path) -> None:
    # What `gcloud logging read --format=json` prints: an array, pretty-printed.
    entries = [gke_patch("g1"), gke_patch("g2", at="2026-11-19T21:06:00Z"), gke_sample()]
    text = json.dumps(entries, indent=2) + "\n"
    found = list(read_audit_records(text.splitlines(keepends=True)))
    assert [e.audit_id for e in found if isinstance(e, AuditEvent)] == ["g1", "g2", "1234abcd"]
    # Concatenated pretty values (jq . of a log), of every shape, each from its first line.
    values = [aks_sample(), gke_patch("g3"), {"logEvents": [eks_message(elastic_lines()[0])]}]
    text = "".join(json.dumps(v, indent=4) + "\n" for v in values)
    found = list(read_audit_records(text.splitlines(keepends=True)))
    assert all(isinstance(e, AuditEvent) for e in found), found
    assert [e.audit_id for e in found if isinstance(e, AuditEvent)] == [
        "abcde12345",
        "g3",
        "abcde12345",
    ]


# -- wrappers that cannot be read say what they are ----------------------------------------


def bad_reason(value: Any) -> str:
    [found] = audit_records(value, 3)
    assert isinstance(found, BadLine), found
    assert found.line_no == 3
    return found.reason


@needs_shared
def test_unreadable_wrappers_say_what_they_are() -> None:
    no_method = gke_sample()
    del no_method["protoPayload"]["methodName"]
    assert bad_reason(no_method) == "a GKE log entry without protoPayload.methodName"
    no_operation = gke_sample()
    del no_operation["operation"]
    assert bad_reason(no_operation) == (
        "a GKE log entry without operation.id (the request's auditID)"
    )
    gke_api = gke_sample()
    gke_api["protoPayload"]["serviceName"] = "container.googleapis.com"
    assert "of service 'container.googleapis.com', not the Kubernetes API" in bad_reason(gke_api)
    bad_time = gke_patch(at="yesterday")
    assert bad_reason(bad_time) == (
        "the Event in a GKE log entry: timestamp is not RFC 3339: 'yesterday'"
    )

    aks_text = aks_sample()
    aks_text["properties"]["log"] = '{"kind": "Event", "auditID": '
    assert bad_reason(aks_text).startswith(
        "an AKS diagnostic record whose properties.log is not JSON ("
    )
    aks_no_id = aks_sample()
    del aks_no_id["properties"]["log"]["auditID"]
    assert bad_reason(aks_no_id) == "the Event in an AKS diagnostic record: missing auditID"
    aks_other = dict(aks_sample(), category="kube-apiserver")
    aks_other["properties"] = {"log": "I1119 21:30:00.000000 1 trace.go:236] ..."}
    assert bad_reason(aks_other) == (
        "an AKS diagnostic record of category 'kube-apiserver', not kube-audit or kube-audit-admin"
    )
    assert bad_reason({"category": "kube-audit", "properties": {}}) == (
        "an AKS diagnostic record without properties.log"
    )

    cloudwatch = {"timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health"}
    assert bad_reason(cloudwatch).startswith("a CloudWatch log event whose message is not JSON")
    assert bad_reason({"timestamp": 1, "message": "[1]"}) == (
        "a CloudWatch log event whose message is list, not an Event"
    )
    # Something else altogether (a Log Analytics row of AKSAudit) says what it has.
    assert bad_reason({"TimeGenerated": "2026-11-19T21:30:00Z", "AuditId": "x", "Verb": "get"}) == (
        "not an audit Event, nor a GKE, AKS or EKS record of one (its keys: AuditId, "
        "TimeGenerated, Verb)"
    )
    # An item of a batch says where it is.
    batch = {"records": [aks_sample(), aks_no_id]}
    found = list(audit_records(batch, 9))
    assert isinstance(found[0], AuditEvent)
    assert found[1] == BadLine(
        9, "the Event in an AKS diagnostic record: missing auditID (item 2 of 2 in records)"
    )


@needs_shared
def test_bad_records_among_good_are_listed_by_the_command(
    db_path: Path | str, tmp_path: Path
) -> None:
    no_method = gke_sample()
    del no_method["protoPayload"]["methodName"]
    log = tmp_path / "mixed.log"
    log.write_text(
        "\n".join(json.dumps(v) for v in (gke_patch("p1"), no_method, aks_sample())) + "\n"
    )
    code, lines = import_audit(db_path, log)
    assert code == 1
    counts = summary_counts(lines[0])
    assert (counts["imported"], counts["bad"]) == (2, 1)
    assert lines[1:] == ["  line 2: a GKE log entry without protoPayload.methodName"]


# -- attribution from imported managed-cluster logs ------------------------------------------


def managed_record(shape: str, at: str, user: str) -> dict[str, Any]:
    """A patch of Deployment payments/api by ``user`` at ``at``, as each provider exports it."""
    if shape == "gke":
        return gke_patch(f"{shape}-{user}", at, user)
    event = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"{shape}-{user}",
        "stage": "ResponseComplete",
        "requestURI": "/apis/apps/v1/namespaces/payments/deployments/api?fieldManager=kubectl-edit",
        "verb": "patch",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "objectRef": {
            "resource": "deployments",
            "namespace": "payments",
            "name": "api",
            "apiGroup": "apps",
            "apiVersion": "v1",
        },
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": at,
        "stageTimestamp": at,
    }
    if shape == "aks":
        record = aks_sample()
        record["properties"]["log"] = json.dumps(event)
        return record
    return {"logEvents": [eks_message(event)]}


@needs_shared
@pytest.mark.parametrize("shape", ["gke", "aks", "eks"])
def test_a_manual_change_is_explained_by_the_imported_user(db_path: Path | str, shape: str) -> None:
    db = open_database(db_path)
    cluster = Cluster(db)
    edit_at = T0 + timedelta(minutes=5)
    cluster.write(edit_at, "kubectl-edit", ("spec.replicas",), mutate=set_replicas(6))
    assert changes(db)[-1]["actor"] == "kubectl-edit"  # a tool's name, until the log says who
    record = managed_record(shape, to_stored(edit_at - timedelta(seconds=1)), "dana@example.com")
    report = import_audit_lines(db, (json.dumps(record, indent=2) + "\n").splitlines(True))
    assert (report.inserted, report.changes, report.bad) == (1, 1, [])
    [edit] = [c for c in changes(db) if c["type"] == "updated"]
    assert (edit["cause"], edit["actor"]) == ("manual", "dana@example.com")

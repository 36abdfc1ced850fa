"""``timetravel get``: objects as recorded at a moment, printed as kubectl prints them.

Every expectation is read from the store itself (the demo, built through the real ingest
paths) or from the demo's story, never from the command's own code: the objects must come
out as they went in. Each test runs on both engines: the demo as SQLite, and copied into
a real PostgreSQL server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner, Result

from timetravel.cli import cli
from timetravel.demo.build import Demo, build
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_stored
from timetravel.query.desired import DesiredState
from timetravel.query.selectors import SelectorError, parse_selector
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

from .demo_store import demo_on

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # the demo is built as if it were then
INCIDENT = "2026-11-19T21:30:00Z"  # the demo's incident: api runs the bad image 2.4.0
BEFORE = "2026-11-19T20:00:00Z"  # Thursday evening, before the bad deploy (2.3.0)
AFTER = "2026-11-26T10:00:00Z"  # the demo's now: rolled back to 2.3.0, alice's edits stay
CLUSTER = "prod-eu1"
API = ResourceKey(CLUSTER, "apps", "Deployment", "payments", "api")
SECRET_VALUES = ["czNjcjN0LXBhc3N3b3JkLTIwMjY=", "cjB0YXQzZC1wYXNzd29yZC0yMDI2LTEy"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("demo") / "demo", now=NOW, zone=ZoneInfo("UTC"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, demo: Demo) -> Iterator[str]:
    """The demo store on each engine: its SQLite file, or a copy in a PostgreSQL server."""
    yield from demo_on(request, demo)


@pytest.fixture(autouse=True)
def no_kubeconfig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No kubeconfig: without -n the namespace is kubectl's ``default``."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


def get(store: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["get", "--db", store, *args], prog_name="timetravel", env=env)


def recorded(store: str, at: str) -> list[Any]:
    """Every live revision at ``at``, read straight from the store."""
    db = open_database(store, readonly=True)
    try:
        return Reader(db).state_at(to_stored(datetime.fromisoformat(at)))
    finally:
        db.conn.close()


def recorded_obj(store: str, key: ResourceKey, at: str) -> dict[str, Any]:
    db = open_database(store, readonly=True)
    try:
        record = Reader(db).object_at(key, to_stored(datetime.fromisoformat(at)))
        assert record is not None and record.obj is not None
        return record.obj
    finally:
        db.conn.close()


def table_rows(text: str) -> list[list[str]]:
    """A kubectl table split into cells (columns are three or more spaces apart)."""
    import re

    return [re.split(r"\s{3,}", line.strip()) for line in text.splitlines() if line.strip()]


def image(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


# -- tables --------------------------------------------------------------------------------


def test_default_table_lists_a_namespaces_deployments_as_recorded(store: str) -> None:
    result = get(store, "deploy", "-n", "payments", "--at", INCIDENT)
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    expected = sorted(
        r.key.name
        for r in recorded(store, INCIDENT)
        if r.key.kind == "Deployment" and r.key.namespace == "payments"
    )
    assert [row[0] for row in rows[1:]] == expected == ["api", "worker"]
    api = recorded_obj(store, API, INCIDENT)
    row = dict(zip(rows[0], rows[1], strict=True))
    # READY is status.readyReplicas/spec.replicas as kubectl prints it: 2/6 after alice's
    # edit to 6 replicas while the bad image kept most of them from starting.
    assert row["READY"] == f"{api['status']['readyReplicas']}/{api['spec']['replicas']}"
    assert row["UP-TO-DATE"] == str(api["status"]["updatedReplicas"])
    # Created by the Monday 08:03 sync; at Thursday 21:30 that is 3 days 13 h 27 min,
    # which kubectl's HumanDuration writes as 3d13h.
    assert row["AGE"] == "3d13h"


@pytest.mark.parametrize(
    "typed", ["deploy", "deployment", "deployments", "Deployment", "deployments.apps"]
)
def test_kinds_by_short_name_plural_and_group_give_the_same_answer(store: str, typed: str) -> None:
    canonical = get(store, "Deployment", "-A", "--at", INCIDENT)
    result = get(store, typed, "-A", "--at", INCIDENT)
    assert result.exit_code == 0
    assert result.stdout == canonical.stdout
    assert len(table_rows(result.stdout)) == 6  # header and the five deployments


def test_cm_svc_and_ns_short_names(store: str) -> None:
    configmaps = table_rows(get(store, "cm", "-n", "payments", "--at", AFTER).stdout)
    assert configmaps[0] == ["NAME", "DATA", "AGE"]
    config = recorded_obj(
        store, ResourceKey(CLUSTER, "", "ConfigMap", "payments", "payments-config"), AFTER
    )
    assert configmaps[1][:2] == ["payments-config", str(len(config["data"]))]
    services = table_rows(get(store, "svc", "-n", "payments", "--at", AFTER).stdout)
    assert services[0][:5] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]
    assert services[1][0] == "api"
    # Namespaces are cluster-scoped: -n does not hide them, and -A adds no NAMESPACE column.
    namespaces = table_rows(get(store, "ns", "-n", "payments", "--at", AFTER).stdout)
    assert namespaces[0] == ["NAME", "STATUS", "AGE"]
    expected = sorted(r.key.name for r in recorded(store, AFTER) if r.key.kind == "Namespace")
    assert [row[0] for row in namespaces[1:]] == expected


def test_all_namespaces_adds_the_namespace_column(store: str) -> None:
    result = get(store, "deploy", "-A", "--at", INCIDENT)
    rows = table_rows(result.stdout)
    assert rows[0][:2] == ["NAMESPACE", "NAME"]
    expected = sorted(
        (r.key.namespace, r.key.name)
        for r in recorded(store, INCIDENT)
        if r.key.kind == "Deployment"
    )
    assert [(row[0], row[1]) for row in rows[1:]] == expected
    assert len({namespace for namespace, _ in expected}) == 4
    only = table_rows(get(store, "deploy", "-n", "frontend", "--at", INCIDENT).stdout)
    assert [row[0] for row in only[1:]] == ["web"]


def test_without_a_namespace_kubectls_default_or_the_kubeconfig_contexts(
    store: str, tmp_path: Path
) -> None:
    empty = get(store, "deploy", "--at", INCIDENT)
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert empty.stderr == "No resources found in default namespace.\n"
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "prod",
                "contexts": [
                    {"name": "staging", "context": {"cluster": "s", "namespace": "checkout"}},
                    {"name": "prod", "context": {"cluster": "p", "namespace": "frontend"}},
                ],
            }
        )
    )
    result = get(store, "deploy", "--at", INCIDENT, env={"KUBECONFIG": str(config)})
    assert [row[0] for row in table_rows(result.stdout)[1:]] == ["web"]


def test_wide_adds_containers_images_and_selector(store: str) -> None:
    rows = table_rows(
        get(store, "deploy", "api", "-n", "payments", "-o", "wide", "--at", INCIDENT).stdout
    )
    assert rows[0] == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    api = recorded_obj(store, API, INCIDENT)
    assert rows[1][5:] == ["api", image(api), "app=api"]
    assert image(api).endswith(":2.4.0")  # the incident's bad image


def test_at_moves_through_the_images_the_api_ran(store: str) -> None:
    def wide_image(at: str) -> str:
        out = get(store, "deploy/api", "-n", "payments", "-o", "wide", "--at", at).stdout
        return table_rows(out)[1][6]

    assert [wide_image(at) for at in (BEFORE, INCIDENT, AFTER)] == [
        image(recorded_obj(store, API, at)) for at in (BEFORE, INCIDENT, AFTER)
    ]
    assert [wide_image(at).rsplit(":", 1)[1] for at in (BEFORE, INCIDENT, AFTER)] == [
        "2.3.0",
        "2.4.0",
        "2.3.0",
    ]


def test_several_kinds_print_a_table_each_with_kind_prefixed_names(store: str) -> None:
    result = get(store, "deploy,svc", "-n", "payments", "--at", AFTER)
    tables = result.stdout.split("\n\n")
    assert len(tables) == 2
    assert [row[0] for row in table_rows(tables[0])] == [
        "NAME",
        "deployment.apps/api",
        "deployment.apps/worker",
    ]
    assert [row[0] for row in table_rows(tables[1])] == ["NAME", "service/api"]


# -- selectors -----------------------------------------------------------------------------


def _labels(record: Any) -> dict[str, str]:
    return dict((record.obj or {}).get("metadata", {}).get("labels") or {})


@pytest.mark.parametrize(
    ("selector", "keep"),
    [
        ("app=api", lambda labels: labels.get("app") == "api"),
        ("app==web", lambda labels: labels.get("app") == "web"),
        ("app!=api", lambda labels: labels.get("app") != "api"),
        ("app in (api,web)", lambda labels: labels.get("app") in ("api", "web")),
        ("app notin (api, web)", lambda labels: labels.get("app") not in ("api", "web")),
        ("app", lambda labels: "app" in labels),
        ("!app", lambda labels: "app" not in labels),
        ("app,app!=worker", lambda labels: "app" in labels and labels["app"] != "worker"),
    ],
)
def test_label_selectors_pick_what_the_labels_say(store: str, selector: str, keep: Any) -> None:
    result = get(store, "deploy,svc,cm", "-A", "-l", selector, "--at", AFTER, "-o", "name")
    assert result.exit_code == 0, result.output
    prefix = {"Deployment": "deployment.apps", "Service": "service", "ConfigMap": "configmap"}
    expected = [
        f"{prefix[r.key.kind]}/{r.key.name}"
        for kind in ("Deployment", "Service", "ConfigMap")
        for r in sorted(recorded(store, AFTER), key=lambda r: (r.key.namespace, r.key.name))
        if r.key.kind == kind and keep(_labels(r))
    ]
    assert result.stdout.splitlines() == expected


def test_selector_semantics_of_the_api_server() -> None:
    labels = {"app": "api", "tier": "web", "release": "3"}
    cases = {
        "app=api": True,
        "app=web": False,
        "team!=payments": True,  # != also matches objects without the label
        "tier in (web,db)": True,
        "team in (x)": False,  # in needs the label
        "team notin (x)": True,
        "app notin (api)": False,
        "!team": True,
        "!app": False,
        "release>2": True,
        "release<3": False,
        "app=api,tier=db": False,
        "": True,
    }
    for text, admitted in cases.items():
        assert parse_selector(text).admits(labels) is admitted, text
    for bad in ("app in (api", "app in api", "=api", "app=a b", "app,", "app==(x)", "-bad-=x"):
        with pytest.raises(SelectorError):
            parse_selector(bad)


# -- output formats ------------------------------------------------------------------------


def test_json_and_yaml_of_one_object_are_the_recorded_object(store: str) -> None:
    api = recorded_obj(store, API, INCIDENT)
    as_json = get(store, "deploy/api", "-n", "payments", "-o", "json", "--at", INCIDENT)
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == api
    as_yaml = get(store, "deploy", "api", "-n", "payments", "-o", "yaml", "--at", INCIDENT)
    assert yaml.safe_load(as_yaml.stdout) == api
    assert as_yaml.stdout.startswith("apiVersion: apps/v1\nkind: Deployment\n")


def test_json_and_yaml_of_a_list_are_a_kubectl_list(store: str) -> None:
    expected = [
        r.obj
        for r in sorted(recorded(store, AFTER), key=lambda r: r.key.name)
        if r.key.kind == "Deployment" and r.key.namespace == "payments"
    ]
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        result = get(store, "deploy", "-n", "payments", "-o", fmt, "--at", AFTER)
        document = load(result.stdout)
        assert document["kind"] == "List"
        assert document["apiVersion"] == "v1"
        assert document["items"] == expected
        assert len(expected) == 2
    # kubectl's -o=yaml and -oyaml spellings
    assert get(store, "deploy", "-n", "payments", "-o=yaml", "--at", AFTER).stdout == (
        get(store, "deploy", "-n", "payments", "-oyaml", "--at", AFTER).stdout
    )


def test_name_output_is_kind_group_slash_name(store: str) -> None:
    result = get(store, "deploy,hpa,cm", "-n", "payments", "-o", "name", "--at", AFTER)
    assert result.stdout.splitlines() == [
        "deployment.apps/api",
        "deployment.apps/worker",
        "horizontalpodautoscaler.autoscaling/worker",
        "configmap/payments-config",
    ]


def test_secrets_stay_redacted(store: str) -> None:
    result = get(store, "secret", "payments-db", "-n", "payments", "-o", "json", "--at", AFTER)
    secret = json.loads(result.stdout)
    assert set(secret["data"]) == {"password", "username"}
    assert all(value.startswith("redacted:") for value in secret["data"].values())
    for value in SECRET_VALUES:
        assert value not in result.stdout
        assert base64.b64decode(value).decode() not in result.stdout


# -- desired -------------------------------------------------------------------------------


def test_desired_prints_what_git_declared_which_differs_for_the_drifted_api(store: str) -> None:
    actual = json.loads(
        get(store, "deploy/api", "-n", "payments", "-o", "json", "--at", AFTER).stdout
    )
    result = get(store, "deploy/api", "-n", "payments", "-o", "json", "--at", AFTER, "--desired")
    desired = json.loads(result.stdout)
    db = open_database(store, readonly=True)
    try:
        _, declared = DesiredState(db).merged_at(to_stored(datetime.fromisoformat(AFTER)))
    finally:
        db.conn.close()
    assert desired == declared[("apps", "Deployment", "payments", "api")].obj
    # alice's hand edit during the incident (6 replicas, DEBUG=true) is still live; git
    # says 3 replicas and no DEBUG: the drift the demo leaves behind.
    assert (actual["spec"]["replicas"], desired["spec"]["replicas"]) == (6, 3)
    env = {
        side: [e["name"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]]
        for side, obj in (("actual", actual), ("desired", desired))
    }
    assert "DEBUG" in env["actual"] and "DEBUG" not in env["desired"]
    assert image(actual) == image(desired)  # the rollback went through git and the pipeline


def test_desired_table_has_no_status_to_show(store: str) -> None:
    rows = table_rows(get(store, "deploy", "-n", "payments", "--at", AFTER, "--desired").stdout)
    assert rows[1][:2] == ["api", "-/3"]  # git declares 3 replicas and has no status
    assert rows[1][-1] == "<unknown>"  # a manifest has no creationTimestamp


# -- errors --------------------------------------------------------------------------------


def test_not_found_is_kubectls_one_line_with_the_moment_and_exit_1(store: str) -> None:
    result = get(store, "deploy/nope", "-n", "payments", "--at", INCIDENT)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        'Error from server (NotFound): deployments.apps "nope" not found at 2026-11-19T21:30:00Z\n'
    )
    both = get(store, "deploy", "api", "nope", "-n", "payments", "--at", INCIDENT)
    assert both.exit_code == 1
    assert [row[0] for row in table_rows(both.stdout)] == ["NAME", "api"]
    assert both.stderr.count("\n") == 1 and '"nope" not found' in both.stderr


def test_not_found_says_what_the_store_knows_of_it(store: str) -> None:
    early = get(store, "deploy/api", "-n", "payments", "--at", "2026-11-15T00:00:00Z")
    assert early.exit_code == 1
    assert early.stderr.strip().endswith("(first recorded at 2026-11-16T08:03:00Z)")
    elsewhere = get(store, "deploy/api", "-n", "checkout", "--at", INCIDENT)
    assert elsewhere.exit_code == 1
    assert "it was in namespace payments" in elsewhere.stderr
    assert elsewhere.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["deploy", "-o", "foo"], "unknown output format 'foo'"),
        (["deploy", "-o", "jsonpath={.items}"], "unknown output format"),
        (["deploy", "-l", "app in (api"], "bad selector"),
        (["deploy", "-A", "-n", "payments"], "-A and -n"),
        (["widgets"], 'no resource type "widgets"'),
        (["deploy/api", "svc"], "KIND/NAME"),
        (["deploy", "api/x"], "resource/name form"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(store: str, args: list[str], says: str) -> None:
    result = get(store, *args, "--at", INCIDENT)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("timetravel: error: ") and says in result.stderr


def test_no_resources_is_kubectls_message_and_exit_0(store: str) -> None:
    # The demo records the Pods of payments and frontend (issue 23), none of monitoring.
    result = get(store, "po", "-n", "monitoring", "--at", INCIDENT)
    assert result.exit_code == 0
    assert result.stderr == "No resources found in monitoring namespace.\n"
    listed = get(store, "po", "-n", "monitoring", "--at", INCIDENT, "-o", "json")
    assert json.loads(listed.stdout)["items"] == []


# -- ui KIND/NAME ------------------------------------------------------------------------------


def test_ui_opens_on_a_resource_through_the_screens_jump(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timetravel.tui import app as tui_app

    seen: dict[str, Any] = {}
    original = tui_app.TimetravelApp.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(tui_app.TimetravelApp, "__init__", init)
    monkeypatch.setattr(tui_app.TimetravelApp, "run", lambda self: None)
    args = ["ui", "deploy/api", "-n", "payments", "--no-record", "--db", str(demo.db_path)]
    result = CliRunner().invoke(cli, args, prog_name="timetravel")
    assert result.exit_code == 0, result.output
    assert seen["jump"] == "deploy/api payments"
    # k9s passes an empty $NAMESPACE for cluster-scoped kinds
    result = CliRunner().invoke(
        cli, ["ui", "ns/payments", "-n", "", "--no-record", "--db", str(demo.db_path)]
    )
    assert result.exit_code == 0, result.output
    assert seen["jump"] == "ns/payments"
    bad = CliRunner().invoke(cli, ["ui", "deploy/a/b", "--no-record", "--db", str(demo.db_path)])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1


# -- a team store of several clusters --------------------------------------------------------


def test_a_store_of_several_clusters_reads_the_one_named(tmp_path: Path) -> None:
    from tests.fixtures.sample import build_two_cluster_store

    store = str(build_two_cluster_store(tmp_path / "two.db"))
    at = "2026-11-19T21:30:00Z"
    unnamed = get(store, "deploy/api", "-n", "payments", "--at", at)
    assert unnamed.exit_code == 2
    assert unnamed.stderr.splitlines() == [
        "timetravel: error: this store holds 2 clusters (prod, staging): "
        "choose one with --cluster NAME"
    ]
    images = {}
    for cluster in ("prod", "staging"):
        result = get(
            store, "deploy/api", "-n", "payments", "--at", at, "-o", "json", "--cluster", cluster
        )
        assert result.exit_code == 0, result.output
        images[cluster] = image(json.loads(result.stdout))
        expected = recorded_obj(
            store, ResourceKey(cluster, "apps", "Deployment", "payments", "api"), at
        )
        assert json.loads(result.stdout) == expected
    assert images["prod"] != images["staging"]
    for cluster in ("prod", "staging"):
        history = CliRunner().invoke(
            cli,
            [
                "history",
                "--db",
                store,
                "deploy/api",
                "-n",
                "payments",
                "--cluster",
                cluster,
                "-o",
                "json",
            ],
        )
        assert history.exit_code == 0, history.output
        document = json.loads(history.stdout)
        db = open_database(store, readonly=True)
        try:
            reader = Reader(db)
            key = ResourceKey(cluster, "apps", "Deployment", "payments", "api")
            latest = reader.object_at(key, "9999-12-31T23:59:59.999999Z")
            assert latest is not None
            count = len(reader.history(latest.resource_id, with_body=False))
        finally:
            db.conn.close()
        assert document["cluster"] == cluster
        assert len(document["revisions"]) == count


def test_hostile_text_reaches_no_terminal_raw(tmp_path: Path) -> None:
    """Names and values are whatever was recorded: escapes stay visible, and -o json and
    -o yaml still read back to the recorded text."""
    from timetravel.recorder.events import import_events

    name = "evil\x1b[2J\u202e"
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "x"}},
        "data": {"motd": "\x1b]0;pwned\x07\x9b31m"},
    }
    line = json.dumps({"type": "ADDED", "object": obj, "observed_at": "2026-11-19T21:00:00Z"})
    store = tmp_path / "hostile.db"
    db = open_database(store)
    try:
        import_events(db, [line], cluster="c")
    finally:
        db.conn.close()
    for fmt in ((), ("-o", "name"), ("-o", "wide"), ("-o", "json"), ("-o", "yaml")):
        result = get(str(store), "cm", "--at", INCIDENT, *fmt)
        assert result.exit_code == 0, result.output
        for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert raw not in result.stdout, (fmt, result.stdout)
    table = get(str(store), "cm", "--at", INCIDENT).stdout
    assert "evil\\x1b[2J\\u202e" in table
    as_json = json.loads(get(str(store), "cm", name, "--at", INCIDENT, "-o", "json").stdout)
    as_yaml = yaml.safe_load(get(str(store), "cm", name, "--at", INCIDENT, "-o", "yaml").stdout)
    assert as_json["metadata"]["name"] == as_yaml["metadata"]["name"] == name
    assert as_json["data"] == as_yaml["data"] == obj["data"]


def test_not_found_after_a_deletion_says_when(tmp_path: Path) -> None:
    from timetravel.recorder.events import import_events

    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "flags", "namespace": "web", "uid": "u1"},
        "data": {"a": "1"},
    }
    lines = [
        json.dumps({"type": event, "object": obj, "observed_at": at})
        for event, at in (("ADDED", "2026-11-19T21:00:00Z"), ("DELETED", "2026-11-19T21:10:00Z"))
    ]
    store = tmp_path / "deleted.db"
    db = open_database(store)
    try:
        import_events(db, lines, cluster="c")
    finally:
        db.conn.close()
    live = get(str(store), "cm/flags", "-n", "web", "--at", "2026-11-19T21:05:00Z", "-o", "name")
    assert (live.exit_code, live.stdout) == (0, "configmap/flags\n")
    gone = get(str(store), "cm/flags", "-n", "web", "--at", INCIDENT)
    assert gone.exit_code == 1
    assert gone.stderr == (
        'Error from server (NotFound): configmaps "flags" not found at 2026-11-19T21:30:00Z '
        "(deleted at 2026-11-19T21:10:00Z)\n"
    )

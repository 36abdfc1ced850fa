"""``timetravel diff``: two moments of a cluster, two clusters at one moment, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from timetravel.cli import cli
from timetravel.demo.build import Demo, build
from timetravel.domain.model import Observation
from timetravel.domain.normalize import strip_status
from timetravel.domain.times import to_stored
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
BEFORE, AFTER = "2026-11-19T21:20:00Z", "2026-11-19T21:30:00Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("demo") / "demo", now=NOW, zone=ZoneInfo("UTC"))


def diff(db: str | Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["diff", "--db", str(db), *args], prog_name="timetravel")


def changed_by_hand(db: Path, a: str, b: str) -> dict[str, set[tuple[str, str, str]]]:
    """The differences worked out directly: every object's body compared, status aside."""

    def state(at: str) -> dict[tuple[str, str, str], dict[str, Any]]:
        handle = open_database(db, readonly=True)
        try:
            records = Reader(handle).state_at(to_stored(datetime.fromisoformat(at)))
            return {(r.key.kind, r.key.namespace, r.key.name): strip_status(r.obj) for r in records}
        finally:
            handle.conn.close()

    left, right = state(a), state(b)
    return {
        "added": right.keys() - left.keys(),
        "removed": left.keys() - right.keys(),
        "changed": {k for k in left.keys() & right.keys() if left[k] != right[k]},
    }


def test_two_moments_list_what_changed_as_worked_out_directly(demo: Demo) -> None:
    result = diff(demo.db_path, "--from", BEFORE, "--to", AFTER, "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    found: dict[str, set[tuple[str, str, str]]] = {
        "added": set(),
        "removed": set(),
        "changed": set(),
    }
    for d in data["differences"]:
        side = d["b"] or d["a"]
        found[d["change"]].add((d["kind"], side["namespace"] or "", side["name"]))
    assert found == changed_by_hand(demo.db_path, BEFORE, AFTER)
    assert found["changed"], "the incident's window holds changes"
    api = next(
        d for d in data["differences"] if d["kind"] == "Deployment" and d["b"]["name"] == "api"
    )
    assert api["fields"][0]["path"] == "spec.replicas"  # the most telling field first
    text = diff(demo.db_path, "--from", BEFORE, "--to", AFTER, "-n", "payments")
    assert text.exit_code == 0
    header, *rows = text.stdout.splitlines()
    assert header.split() == ["CHANGE", "KIND", "NAMESPACE", "NAME", "FIELDS"]
    assert any(
        row.split()[:4] == ["changed", "Deployment", "payments", "api"] and "replicas 3 → 6" in row
        for row in rows
    )
    assert all(row.split()[2] == "payments" for row in rows)


def test_exit_code_says_whether_anything_differs(demo: Demo) -> None:
    assert diff(demo.db_path, "--from", BEFORE, "--to", AFTER, "--exit-code").exit_code == 1
    same = diff(demo.db_path, "--from", AFTER, "--to", AFTER, "--exit-code")
    assert same.exit_code == 0 and same.stdout.startswith("no differences between")
    markdown = diff(demo.db_path, "--from", BEFORE, "--to", AFTER, "-o", "markdown")
    assert markdown.stdout.startswith("# Differences: 2026-11-19T21:20:00Z → 2026-11-19T21:30:00Z")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--at", "now", "--from", "1h ago"], "not both"),
        (["--at", "now", "--cluster", "prod-eu1"], "--cluster twice"),
        ([], "say what to compare"),
        (["--from", AFTER, "--to", BEFORE], "--to is before --from"),
        (["--from", BEFORE, "--map-namespace", "a=b"], "use it with --at"),
        (["--at", "now", "--cluster", "prod-eu1", "--cluster", "nope"], "no cluster 'nope'"),
        (
            ["--at", "now", "--cluster", "a", "--cluster", "b", "--map-namespace", "ab"],
            "expected A=B",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(demo: Demo, args: list[str], says: str) -> None:
    result = diff(demo.db_path, *args)
    assert result.exit_code == 2
    assert says in result.stderr and result.stderr.count("\n") == 1, result.stderr


def workload(namespace: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": namespace, "labels": {"app": "api"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {"spec": {"containers": [{"name": "api", "image": image}]}},
        },
    }


def pod(namespace: str, name: str, image: str, digest: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"pod-template-hash": "abc"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "api-abc",
                    "uid": "u",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "api", "image": image}]},
        "status": {
            "containerStatuses": [
                {
                    "name": "api",
                    "imageID": f"{image.split(':')[0]}@{digest}",
                    "state": {"running": {}},
                }
            ]
        },
    }


def test_two_clusters_through_a_namespace_map_compare_workloads_by_digest(
    tmp_path: Path, any_db: Path | str
) -> None:
    image = "registry.example.com/payments/api:2.4.0"
    when = to_stored(datetime(2026, 11, 19, 21, 0, tzinfo=UTC))
    db = open_database(any_db)
    try:
        writer = RevisionWriter(db)
        writer.write(
            [
                Observation("prod", "ADDED", workload("payments", image), when),
                Observation(
                    "prod", "ADDED", pod("payments", "api-abc-1", image, "sha256:" + "1" * 64), when
                ),
                Observation(
                    "prod",
                    "ADDED",
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "flags", "namespace": "payments"},
                        "data": {"a": "1"},
                    },
                    when,
                ),
                Observation("staging", "ADDED", workload("payments-staging", image), when),
                # The same tag, another binary: re-pushed between the two deploys.
                Observation(
                    "staging",
                    "ADDED",
                    pod("payments-staging", "api-abc-9", image, "sha256:" + "2" * 64),
                    when,
                ),
            ]
        )
    finally:
        db.conn.close()
    args = ["--at", "2026-11-19T22:00:00Z", "--cluster", "prod", "--cluster", "staging"]
    mapped = diff(any_db, *args, "--map-namespace", "payments=payments-staging", "-o", "json")
    assert mapped.exit_code == 0, mapped.output
    differences = json.loads(mapped.stdout)["differences"]
    by_change = {(d["change"], d["kind"]) for d in differences}
    assert by_change == {("changed", "Deployment"), ("removed", "ConfigMap")}  # no Pods
    (api,) = [d for d in differences if d["kind"] == "Deployment"]
    assert api["fields"] == [
        {
            "path": "running digests",
            "before": ["sha256:" + "1" * 64],
            "after": ["sha256:" + "2" * 64],
        }
    ]
    assert (api["a"]["namespace"], api["b"]["namespace"]) == ("payments", "payments-staging")
    unmapped = diff(any_db, *args, "-o", "json", "--exit-code")
    assert unmapped.exit_code == 1
    changes = {(d["change"], d["kind"]) for d in json.loads(unmapped.stdout)["differences"]}
    assert changes == {("removed", "Deployment"), ("added", "Deployment"), ("removed", "ConfigMap")}

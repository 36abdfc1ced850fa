"""``timetravel history``: each revision of one resource with its cause, actor and fields.

Expectations come from the store (every revision recorded) and from the demo's story
(which pipeline run deployed which image, who edited by hand), on both engines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from timetravel.cli import cli
from timetravel.demo.build import Demo, build
from timetravel.domain.model import ResourceKey
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

from .demo_store import demo_on

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
CLUSTER = "prod-eu1"
API = ResourceKey(CLUSTER, "apps", "Deployment", "payments", "api")
# The revert goes back to the image that ran before the bad rollout.
OLD, BAD, FIXED = (f"registry.example.com/payments/api:{v}" for v in ("2.3.0", "2.4.0", "2.3.0"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("demo") / "demo", now=NOW, zone=ZoneInfo("UTC"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, demo: Demo) -> Iterator[str]:
    yield from demo_on(request, demo)


@pytest.fixture(autouse=True)
def utc_and_no_kubeconfig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


def history(store: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["history", "--db", store, *args], prog_name="timetravel")


def revisions(store: str, key: ResourceKey) -> list[Any]:
    """Every revision of ``key`` in the store, oldest first."""
    db = open_database(store, readonly=True)
    try:
        reader = Reader(db)
        latest = reader.object_at(key, "9999-12-31T23:59:59.999999Z")
        assert latest is not None
        return list(reversed(reader.history(latest.resource_id, with_body=False)))
    finally:
        db.conn.close()


def as_json(store: str, *args: str) -> dict[str, Any]:
    result = history(store, *args, "-o", "json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_every_recorded_revision_is_listed_oldest_first(store: str) -> None:
    document = as_json(store, "deploy/api", "-n", "payments")
    recorded = revisions(store, API)
    assert len(recorded) == 9
    assert [r["at"] for r in document["revisions"]] == [r.observed_at[:19] + "Z" for r in recorded]
    assert [r["type"] for r in document["revisions"]] == [r.change for r in recorded]
    assert (document["kind"], document["namespace"], document["name"]) == (
        "Deployment",
        "payments",
        "api",
    )


def test_the_bad_image_is_the_pipeline_runs_and_the_hand_edit_is_alices(store: str) -> None:
    document = as_json(store, "deploy/api", "-n", "payments")
    images = [
        (r, f)
        for r in document["revisions"]
        for f in r["fields"]
        if f["path"] == "spec.template.spec.containers[api].image"
    ]
    assert [(f["before"], f["after"]) for _, f in images] == [(OLD, BAD), (BAD, FIXED)]
    deploys = [r for r, _ in images]
    assert [r["cause"] for r in deploys] == ["pipeline", "pipeline"]
    assert [r["pipeline_run"]["run_id"] for r in deploys] == ["5121", "5122"]
    assert {r["pipeline_run"]["pipeline"] for r in deploys} == {"deploy-payments"}
    assert {r["pipeline_run"]["actor"] for r in deploys} == {"carol"}
    manual = [r for r in document["revisions"] if r["cause"] == "manual"]
    assert len(manual) == 1
    assert manual[0]["actor"] == "alice@acme.io"
    assert {f["path"]: f["after"] for f in manual[0]["fields"]}["spec.replicas"] == 6


def test_text_lists_time_change_cause_actor_and_fields(store: str) -> None:
    result = history(store, "deploy/api", "-n", "payments")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0]) == ["TIME", "CHANGE", "CAUSE", "ACTOR", "FIELDS"]
    assert len(lines) == 1 + len(revisions(store, API))
    bad = next(line for line in lines if "#5121" in line)
    cells = re.split(r"\s{3,}", bad)
    assert cells[0] == "Thu 2026-11-19 21:04:00 UTC"
    assert cells[1:4] == ["updated", "pipeline", "carol via github-actions deploy-payments#5121"]
    # Summed up by its most telling field first: the image, not the annotation.
    assert cells[4].startswith("api image payments/api:2.3.0 → 2.4.0; ")
    assert OLD.endswith(":2.3.0") and BAD.endswith(":2.4.0")
    edit = re.split(r"\s{3,}", next(line for line in lines if "alice" in line))
    assert edit[1:4] == ["updated", "manual", "alice@acme.io"]
    assert edit[4].startswith("replicas 3 → 6")
    assert re.split(r"\s{3,}", lines[1])[1:3] == ["created", "gitops"]
    assert all("(status)" in line for line in lines if "kube-controller-manager" in line)


def test_since_keeps_later_revisions_and_their_fields(store: str) -> None:
    document = as_json(store, "deploy/api", "-n", "payments", "--since", "2026-11-19T21:20:00Z")
    cut = "2026-11-19T21:20:00.000000Z"
    later = [r for r in revisions(store, API) if r.observed_at >= cut]
    assert [r["at"] for r in document["revisions"]] == [r.observed_at[:19] + "Z" for r in later]
    assert len(later) == 4
    # The first one listed is still compared with the revision before the window.
    first = document["revisions"][0]
    assert first["cause"] == "manual"
    assert {f["path"]: f["before"] for f in first["fields"]}["spec.replicas"] == 3
    # A duration counts back from now: the demo's week is long past.
    assert as_json(store, "deploy/api", "-n", "payments", "--since", "1h")["revisions"] == []


@pytest.mark.parametrize(
    "spelling",
    [["deployment/api"], ["deployments.apps/api"], ["Deployment/api"], ["deploy", "api"]],
)
def test_kinds_as_kubectl_types_them(store: str, spelling: list[str]) -> None:
    canonical = history(store, "deploy/api", "-n", "payments")
    result = history(store, *spelling, "-n", "payments")
    assert result.exit_code == 0
    assert result.stdout == canonical.stdout


def test_cluster_scoped_and_inferred_changes(store: str) -> None:
    namespace = as_json(store, "ns/payments")
    assert [r["type"] for r in namespace["revisions"]] == ["created"]
    config = history(store, "cm/payments-config", "-n", "payments")
    # Changed while the recorder was down: seen by the relist after the gap.
    assert "updated (after a gap)" in config.stdout
    assert 'data.timeout_ms "800" → "1500"' in config.stdout


def test_not_found_and_bad_input(store: str) -> None:
    missing = history(store, "deploy/nope", "-n", "payments")
    assert missing.exit_code == 1
    assert missing.stdout == ""
    assert missing.stderr.count("\n") == 1
    assert missing.stderr.startswith('Error from server (NotFound): deployments.apps "nope"')
    wrong_namespace = history(store, "deploy/api")  # kubectl's default namespace
    assert wrong_namespace.exit_code == 1
    assert wrong_namespace.stderr.count("\n") == 1
    assert "(it was recorded in namespace payments: -n payments)" in wrong_namespace.stderr
    for args in (["deploy/api", "-o", "yaml"], ["deploy"], ["a/b/c"], ["deploy/api", "x"]):
        result = history(store, *args)
        assert result.exit_code == 2, args
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("timetravel: error:")

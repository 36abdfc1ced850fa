"""Drift intervals in the exports (issue 24, item 8): a snapshot carries every drift that
overlaps its window, the same intervals `timetravel drift` gives for that window, in the
JSON (valid against docs/snapshot.schema.json) and as a section of the Markdown and HTML
reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.demo.build import Demo, build

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "snapshot.schema.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("demo") / "demo", now=NOW, zone=ZoneInfo("UTC"))


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("window", ["2h", "1d", "5d"])
def test_the_snapshot_holds_the_drift_timetravel_drift_finds_in_its_window(
    demo: Demo, window: str
) -> None:
    at = "2026-11-25T12:00:00Z"
    snapshot = json.loads(
        _run("export", "--db", str(demo.db_path), "--at", at, "--window", window, "-o", "json")
    )
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(snapshot)
    listed = json.loads(
        _run(
            "drift",
            "--db",
            str(demo.db_path),
            "--since",
            snapshot["window"]["from"],
            "--until",
            snapshot["window"]["to"],
            "-o",
            "json",
        )
    )["drifts"]
    assert snapshot["drift"] == listed
    if window == "5d":
        assert snapshot["drift"], "the demo's week holds drift"
    for d in snapshot["drift"]:
        assert d["opened_at"] <= snapshot["window"]["to"]
        assert d["closed_at"] is None or d["closed_at"] >= snapshot["window"]["from"]


def test_the_reports_have_a_drift_section(demo: Demo) -> None:
    at = "2026-11-25T12:00:00Z"
    args = ("export", "--db", str(demo.db_path), "--at", at, "--window", "5d")
    drift = json.loads(_run(*args, "-o", "json"))["drift"]
    assert drift
    markdown = _run(*args, "-o", "markdown")
    assert "Drift intervals" in markdown
    assert all(d["name"] in markdown for d in drift)
    html = _run(*args, "-o", "html")
    assert "Drift intervals" in html and drift[0]["name"] in html


def test_what_an_ignore_rule_covers_opens_no_drift_interval(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `[drift] ignore` rule covering the fields a drift differed in: that resource has
    no drift interval in `timetravel drift` or in the export; the others keep theirs."""
    since, until = "2026-11-16T00:00:00Z", "2026-11-27T00:00:00Z"
    base = ("drift", "--db", str(demo.db_path), "--since", since, "--until", until, "-o", "json")
    before = json.loads(_run(*base))["drifts"]
    first = before[0]
    opened = json.loads(
        _run("export", "--db", str(demo.db_path), "--at", first["opened_at"], "-o", "json")
    )
    resource = next(
        r
        for r in opened["resources"]
        if (r["kind"], r["namespace"], r["name"])
        == (first["kind"], first["namespace"], first["name"])
    )
    assert resource["state"] == "drifted" and resource["diff"]
    paths = sorted({d["path"] for d in resource["diff"]})
    config = tmp_path / "timetravel.toml"
    config.write_text(
        "[[drift.ignore]]\n"
        f'kind = "{first["kind"]}"\n'
        f'namespace = "{first["namespace"]}"\n'
        f'name = "{first["name"]}"\n'
        f"paths = {json.dumps(paths)}\n"
    )
    monkeypatch.setenv("TIMETRAVEL_CONFIG", str(config))
    after = json.loads(_run(*base))["drifts"]
    same = [(d["kind"], d["namespace"], d["name"]) for d in after]
    assert (first["kind"], first["namespace"], first["name"]) not in same
    others = [d for d in before if d["name"] != first["name"]]
    assert [d for d in after if d["name"] != first["name"]] == others
    exported = json.loads(
        _run("export", "--db", str(demo.db_path), "--at", until, "--window", "5d", "-o", "json")
    )["drift"]
    assert first["name"] not in {d["name"] for d in exported}

"""`timetravel import-events` on the shapes kubectl prints, and on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from timetravel.store.db import open_database
from timetravel.store.reader import Reader

from .conftest import deployment


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    """Every test here runs against both engines (a file, a PostgreSQL database)."""
    return any_db


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "timetravel", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
    )


def event(kind: str, obj: dict, observed_at: str | None = None) -> dict:
    out = {"type": kind, "object": obj}
    if observed_at:
        out["observed_at"] = observed_at
    return out


def test_one_per_line_pretty_and_list(tmp_path: Path, db_path: Path) -> None:
    first = deployment(rv="1")
    second = deployment(rv="2", replicas=4)
    listing = {
        "apiVersion": "v1",
        "kind": "ConfigMapList",
        "metadata": {"resourceVersion": "9"},
        "items": [
            {
                "metadata": {"name": "settings", "namespace": "payments", "resourceVersion": "3"},
                "data": {"mode": "fast"},
            },
        ],
    }
    text = (
        json.dumps(event("ADDED", first, "2026-11-19T21:00:00Z"))
        + "\n"
        + json.dumps(event("MODIFIED", second, "2026-11-19T21:10:00Z"), indent=2)
        + "\n"
        + json.dumps(listing, indent=4)
        + "\n"
    )
    source = tmp_path / "events.json"
    source.write_text(text)
    result = run_cli("import-events", "--db", str(db_path), "--cluster", "prod", str(source))
    assert result.returncode == 0, result.stderr
    reader = Reader(open_database(db_path, readonly=True))
    at_0905 = {r.key.name: r for r in reader.state_at("2026-11-19T21:05:00.000000Z")}
    assert at_0905["api"].obj["spec"]["replicas"] == 2
    assert "settings" not in at_0905, "the List had no observed_at: it was imported now"
    latest = {r.key.name: r for r in reader.state_at("2099-01-01T00:00:00.000000Z")}
    assert latest["api"].obj["spec"]["replicas"] == 4
    assert latest["settings"].key.kind == "ConfigMap"
    assert latest["settings"].key.cluster == "prod"


def test_bad_and_truncated_records_are_reported_and_the_rest_kept(
    tmp_path: Path, db_path: Path
) -> None:
    good = [deployment(name=f"app{i}", uid=f"u{i}", rv=str(i)) for i in range(3)]
    lines = [
        json.dumps(event("ADDED", good[0], "2026-11-19T21:00:00Z")),
        "this is not json",
        json.dumps(event("ADDED", good[1], "2026-11-19T21:00:01Z")),
        json.dumps(event("ADDED", {"kind": "Deployment"}, "2026-11-19T21:00:02Z")),
        json.dumps(event("ADDED", good[2], "not a time")),
        json.dumps(event("ADDED", good[2], "2026-11-19T21:00:03Z"))[:-20],
    ]
    source = tmp_path / "events.json"
    source.write_text("\n".join(lines))
    result = run_cli("import-events", "--db", str(db_path), str(source))
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    assert "4 skipped" in stderr
    for line_no in ("line 2:", "line 4:", "line 5:", "line 6:"):
        assert line_no in stderr
    names = {
        r.key.name for r in Reader(open_database(db_path)).state_at("2099-01-01T00:00:00.000000Z")
    }
    assert names == {"app0", "app1"}


def test_stdin_and_unreadable_file(tmp_path: Path, db_path: Path) -> None:
    data = json.dumps(event("ADDED", deployment(rv="1"), "2026-11-19T21:00:00Z")).encode()
    assert run_cli("import-events", "--db", str(db_path), "-", stdin=data).returncode == 0
    missing = run_cli("import-events", "--db", str(db_path), str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert missing.stderr.decode().count("\n") == 1
    assert "cannot read" in missing.stderr.decode()


def test_not_a_timetravel_database_is_one_line_exit_2(tmp_path: Path) -> None:
    foreign = tmp_path / "other.db"
    foreign.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    data = json.dumps(event("ADDED", deployment(rv="1"))).encode()
    result = run_cli("import-events", "--db", str(foreign), "-", stdin=data)
    assert result.returncode == 2
    assert result.stderr.decode().startswith("timetravel: error:")
    assert "Traceback" not in result.stderr.decode()

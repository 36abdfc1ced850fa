"""A Grafana URL pasted as export's --at: its end is the moment, its range the window."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from timetravel.cli import cli
from timetravel.demo.build import build

URL = "https://grafana.example.com/d/abc/payments?orgId=1&from=1795122000000&to=1795123800000"


def test_a_dashboard_url_gives_the_moment_and_the_window(tmp_path) -> None:
    demo = build(
        tmp_path / "demo", now=datetime(2026, 11, 26, 10, 0, tzinfo=UTC), zone=ZoneInfo("UTC")
    )
    base = ["export", "--db", str(demo.db_path), "-o", "json", "--at", URL]
    from_url = json.loads(CliRunner().invoke(cli, base).stdout)
    # 1795123800 is 2026-11-19T21:30:00Z; the range is 30 minutes.
    assert from_url["at"] == "2026-11-19T21:30:00Z"
    assert from_url["window"] == {"from": "2026-11-19T21:00:00Z", "to": "2026-11-19T22:00:00Z"}
    given = json.loads(CliRunner().invoke(cli, [*base, "--window", "2h"]).stdout)
    assert given["window"] == {"from": "2026-11-19T19:30:00Z", "to": "2026-11-19T23:30:00Z"}
    plain = json.loads(CliRunner().invoke(cli, [*base[:-1], "2026-11-19T21:30:00Z"]).stdout)
    assert plain["window"] == {"from": "2026-11-19T20:30:00Z", "to": "2026-11-19T22:30:00Z"}


def test_exit_code_gates_on_drift(tmp_path) -> None:
    demo = build(
        tmp_path / "demo", now=datetime(2026, 11, 26, 10, 0, tzinfo=UTC), zone=ZoneInfo("UTC")
    )
    base = ["export", "--db", str(demo.db_path), "-o", "json", "--exit-code"]
    drifted = CliRunner().invoke(cli, [*base, "--at", "2026-11-19T21:30:00Z"])
    document = json.loads(drifted.stdout)
    assert any(r["state"] == "drifted" for r in document["resources"])
    assert drifted.exit_code == 1
    calm = CliRunner().invoke(cli, [*base, "--at", "2026-11-19T21:30:00Z", "-n", "kube-system"])
    assert not any(
        r["state"] in ("drifted", "missing") for r in json.loads(calm.stdout)["resources"]
    )
    assert calm.exit_code == 0

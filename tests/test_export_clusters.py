"""``export --cluster``: a team store holds several clusters, a snapshot is of one.

Stores are written through the real ingest path (watch events), one recorder per cluster,
into one SQLite file or one PostgreSQL database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from tests.fixtures.sample import (
    SAMPLE_GAP,
    SAMPLE_NOW,
    add_staging,
    build_sample_store,
    build_two_cluster_store,
    sample_events,
)
from timetravel.cli import cli
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.store.writer import RevisionWriter

AT = "2026-11-19T21:30:00Z"


# Every store here hashes Secret values with one key, as a team's recorders do: the
# same facts then give the same bytes whichever store holds them.
KEY = "ab" * 32


@pytest.fixture(autouse=True)
def shared_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMETRAVEL_SECRET_KEY", KEY)


@pytest.fixture(scope="module")
def two_clusters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIMETRAVEL_SECRET_KEY", KEY)
        return build_two_cluster_store(tmp_path_factory.mktemp("two") / "two.db")


def export(db: Path | str, *args: str, window: str = "1d") -> Any:
    """``timetravel export`` as run by hand: the result of the command line."""
    return CliRunner().invoke(
        cli, ["export", "--db", str(db), "--at", AT, "--window", window, *args]
    )


def snapshot(db: Path | str, cluster: str | None, **kw: str) -> dict[str, Any]:
    result = export(db, *(["--cluster", cluster] if cluster else []), **kw)
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    found.pop("generated_at")
    return found


def clusters_in(found: dict[str, Any]) -> set[str]:
    """Every cluster a snapshot's objects, changes and gaps name."""
    named = {r["cluster"] for r in found["resources"]}
    named |= {c["cluster"] for c in found["changes"]}
    named |= {e["cluster"] for e in found["errors"] if e.get("kind") == "gap"}
    return named


def test_each_cluster_exports_only_its_own_objects(two_clusters: Path) -> None:
    prod = snapshot(two_clusters, "prod")
    staging = snapshot(two_clusters, "staging")
    assert [c["name"] for c in prod["clusters"]] == ["prod"]
    assert [c["name"] for c in staging["clusters"]] == ["staging"]
    assert clusters_in(prod) == {"prod"}
    assert clusters_in(staging) == {"staging"}
    # Both run payments/api: each export holds its own.
    images = {
        name: next(
            r["actual"]["spec"]["template"]["spec"]["containers"][0]["image"]
            for r in found["resources"]
            if r["kind"] == "Deployment" and r["name"] == "api"
        )
        for name, found in (("prod", prod), ("staging", staging))
    }
    assert images == {
        "prod": "registry.example.com/payments/api:1.5.1",
        "staging": "registry.example.com/payments/api:1.6.0-rc1",
    }
    assert {r["name"] for r in staging["resources"]} == {"api", "canary", "staging-flags"}
    assert [g["reason"] for g in staging["errors"]] == ["staging recorder restarted"]


def test_prod_of_a_team_store_is_prod_recorded_alone(two_clusters: Path, tmp_path: Path) -> None:
    alone = build_sample_store(tmp_path / "prod.db")
    assert snapshot(two_clusters, "prod") == snapshot(alone, None)
    assert snapshot(alone, "prod") == snapshot(alone, None)


def test_several_clusters_and_no_choice_is_one_line_listing_them(two_clusters: Path) -> None:
    result = export(two_clusters)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "timetravel: error: this store holds 2 clusters (prod, staging): "
        "choose one with --cluster NAME"
    ]


def test_an_unknown_cluster_is_one_line_naming_the_known_ones(two_clusters: Path) -> None:
    result = export(two_clusters, "--cluster", "qa", "--format", "markdown")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "timetravel: error: no cluster 'qa' in this store; it holds: prod, staging"
    ]


def test_reports_name_the_cluster_exported(two_clusters: Path) -> None:
    result = export(two_clusters, "--cluster", "staging", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "staging" in result.stdout
    assert "payments/Deployment/canary" in result.stdout or "canary" in result.stdout
    assert "checkout" not in result.stdout  # a prod namespace


def test_postgres_team_store_exports_each_cluster_as_sqlite_does(
    pg_url: str, two_clusters: Path
) -> None:
    """Two recorders, prod and staging, write into one PostgreSQL database; each cluster's
    export is the same bytes as from a SQLite store of the same facts."""
    db = open_database(pg_url)
    lines = [orjson.dumps(e).decode() for e in sample_events()]
    import_events(db, lines, cluster="prod", clock=lambda: SAMPLE_NOW)
    RevisionWriter(db).record_gap(SAMPLE_GAP)
    add_staging(db)
    db.conn.close()
    for cluster in ("prod", "staging"):
        found = snapshot(pg_url, cluster)
        assert clusters_in(found) == {cluster}
        assert found == snapshot(two_clusters, cluster)
    assert export(pg_url).exit_code == 2

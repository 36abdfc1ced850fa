"""The benchmark stores are written in bulk (bench/bulk.py: the recorder's writer, each
segment written once when full). What they hold must be what a recorder would have written,
or every figure measured on them measures another store: one generated history written
both ways gives the same rows in every table, segments' bytes included."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))


@pytest.mark.parametrize("seed", [5, 11])
def test_a_bulk_written_history_is_the_recorders_row_for_row(tmp_path: Path, seed: int) -> None:
    from bench import bulk

    assert bulk.check(tmp_path, live=200, revisions=3000, seed=seed) == []
    # Not an empty comparison: both stores hold the history.
    tables = bulk._tables(tmp_path / "bulk.db")
    assert len(tables["revisions"]) >= 3000 and len(tables["segments"]) > 200


def test_the_check_sees_a_difference(tmp_path: Path) -> None:
    """The comparison can fail: a store one revision short differs."""
    from bench import bulk

    bulk.build(tmp_path / "a.db", bulk=False, live=50, revisions=400, seed=3)
    bulk.build(tmp_path / "b.db", bulk=True, live=50, revisions=401, seed=3)
    a, b = bulk._tables(tmp_path / "a.db"), bulk._tables(tmp_path / "b.db")
    assert a["revisions"] != b["revisions"]


def test_a_late_revision_is_refused_not_misplaced(tmp_path: Path) -> None:
    from bench.bulk import BulkWriter
    from timetravel.domain.model import Observation
    from timetravel.store.db import open_database

    db = open_database(tmp_path / "late.db")
    writer = BulkWriter(db)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}}
    writer.write([Observation("c", "ADDED", {**cm, "data": {"v": "1"}}, "2026-11-02T10:00:00Z")])
    late = Observation("c", "MODIFIED", {**cm, "data": {"v": "2"}}, "2026-11-01T10:00:00Z")
    with pytest.raises(RuntimeError):
        writer.write([late])

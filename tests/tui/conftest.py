from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sample import (
    INCIDENT,
    SAMPLE_NOW,
    build_sample_store,
    build_two_cluster_store,
)
from timetravel.config import UiSettings
from timetravel.demo.build import build
from timetravel.query.screen import ScreenData
from timetravel.tui.app import TimetravelApp

# No animations, no cursor blink: screenshots must not depend on timing.
os.environ["TEXTUAL_ANIMATIONS"] = "none"


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded week, built once per test session (read-only users share it)."""
    return build_sample_store(tmp_path_factory.mktemp("sample") / "sample.db")


@pytest.fixture(scope="session")
def two_cluster_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded week of ``prod`` and a smaller ``staging`` in one store (read-only users)."""
    return build_two_cluster_store(tmp_path_factory.mktemp("two") / "two.db")


@pytest.fixture
def own_store(sample_store: Path, tmp_path: Path) -> Path:
    """A private copy for tests that write to the store."""
    target = tmp_path / "own.db"
    shutil.copy(sample_store, target)
    return target


@pytest.fixture
def make_app(sample_store: Path, tmp_path: Path) -> Iterator[Any]:
    def make(**kwargs: Any) -> TimetravelApp:
        db = kwargs.pop("db", sample_store)
        notable = kwargs.pop("notable", None)
        cluster = kwargs.pop("cluster", None)
        data = (
            ScreenData(db, now=SAMPLE_NOW, notable=notable, cluster=cluster)
            if notable
            else ScreenData(db, now=SAMPLE_NOW, cluster=cluster)
        )
        kwargs.setdefault("at", INCIDENT)
        kwargs.setdefault("now", SAMPLE_NOW)
        kwargs.setdefault("tz", UTC)
        kwargs.setdefault("export_dir", tmp_path)
        # Never the user's timetravel.toml: a file of the test's own (none unless written).
        kwargs.setdefault(
            "settings",
            UiSettings(config=tmp_path / "timetravel.toml", state=tmp_path / "state" / "ui.toml"),
        )
        app = TimetravelApp(data, **kwargs)
        return app

    yield make


DEMO_NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's week (git, drift, causes), built once per test session, read-only."""
    return build(tmp_path_factory.mktemp("demo"), now=DEMO_NOW, zone=UTC).db_path

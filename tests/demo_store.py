"""The demo store on either engine, for read commands' tests (get, history)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from timetravel.demo.build import Demo
from timetravel.store.copy import copy_store
from timetravel.store.db import open_database

from .fixtures.postgres import PostgresServer

# The end of the demo's recorded week as the tests of moments on both engines build it
# (tests/conftest.py's ``demo``).
DEMO_NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def demo_on(request: pytest.FixtureRequest, demo: Demo) -> Iterator[str]:
    """``request.param`` is the engine: the demo's SQLite file, or a copy of it in a
    PostgreSQL server."""
    if request.param == "sqlite":
        yield str(demo.db_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database()
    src, dst = open_database(demo.db_path, readonly=True), open_database(url)
    try:
        copy_store(src, dst)
    finally:
        src.conn.close()
        dst.conn.close()
    yield url

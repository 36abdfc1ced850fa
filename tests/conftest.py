from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from tests.demo_store import DEMO_NOW, demo_on
from tests.fixtures.postgres import PostgresServer, running_server, unavailable
from timetravel.demo.build import Demo, build

# The real-world test data (audit logs, GitOps histories) lies beside the checkout, as CI
# lays it out; a user's clone has none, and the tests that need it skip, saying why.
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
ROOT = Path(__file__).resolve().parent.parent
needs_shared = pytest.mark.skipif(
    not (SHARED / "testdata").is_dir(),
    reason=f"the shared real-world test data is not at {SHARED} (CI lays it beside the checkout)",
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tt.db"


def deployment(
    name: str = "api",
    namespace: str = "payments",
    *,
    image: str = "registry.example.com/payments/api:1.0.0",
    replicas: int = 2,
    rv: str | None = None,
    uid: str = "uid-api",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Deployment as the API server returns it (bookkeeping and status included)."""
    env_list = [{"name": k, "value": v} for k, v in (env or {"LOG_LEVEL": "info"}).items()]
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "generation": 1,
            "creationTimestamp": "2026-11-16T08:00:00Z",
            "labels": {"app": name},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "managedFields": [
                {
                    "manager": "argocd-controller",
                    "operation": "Apply",
                    "apiVersion": "apps/v1",
                    "time": "2026-11-16T08:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "env": env_list,
                            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                        }
                    ]
                },
            },
        },
        "status": {"replicas": replicas, "readyReplicas": replicas},
    }
    if rv is not None:
        obj["metadata"]["resourceVersion"] = rv
    return obj


def with_changes(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    for dotted, value in changes.items():
        target = out
        parts = dotted.split("__")
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return out


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this test process (see tests/fixtures/postgres.py)."""
    try:
        with running_server() as server:
            yield server
    except RuntimeError as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium for playwright, installed by the setup where it can be (as root with
    apt-get); else the test skips, saying why, or fails with TIMETRAVEL_REQUIRE_BROWSER=1."""
    from tests.browser import chromium as find_or_install

    return find_or_install()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty PostgreSQL database."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A new, empty store of each engine: a SQLite file path, a PostgreSQL URL. A test
    module that takes it as its ``db_path`` runs against both."""
    if request.param == "sqlite":
        return tmp_path / "tt.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def file_db(tmp_path: Path) -> Path:
    """A SQLite database file, for what only a file has (modes, bytes on disk)."""
    return tmp_path / "tt.db"


# -- shared by the tests of moments on both engines (incremental, glimpse, provenance) ----
@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server")  # skips (or fails in CI) without one
    return str(request.param)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("demo"), now=DEMO_NOW, zone=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_db(request: pytest.FixtureRequest, demo: Demo) -> Iterator[str]:
    yield from demo_on(request, demo)

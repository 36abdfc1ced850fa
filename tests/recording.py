"""Helpers for recorder tests: a recorder over the API double, run in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from timetravel.errors import UserError
from timetravel.recorder.cluster import Recorder
from timetravel.sources.kube import Kube, connect
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.records import RevisionRecord

from .apidouble import ApiDouble


def configmap(name: str, namespace: str = "payments", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data or {"k": "v"},
    }


def make_recorder(double: ApiDouble, db_path: Path, tmp: Path, **options: Any) -> Recorder:
    kubeconfig = double.write_kubeconfig(tmp / "kubeconfig")
    kube = Kube(connect(str(kubeconfig)), read_timeout=options.pop("read_timeout", 3.0))
    options.setdefault("status_every", 0)
    options.setdefault("rediscover_every", 0.5)
    options.setdefault("heartbeat_every", 0.2)
    options.setdefault("watch_timeout", 20)
    return Recorder(db_path, kube, **options)


@contextmanager
def recording(
    double: ApiDouble, db_path: Path, tmp: Path, *, listed: bool = True, **options: Any
) -> Iterator[Recorder]:
    """A recorder in a thread; with ``listed``, entered once every first list is done, so a
    change the test makes next arrives by watch (observed), never by a late list (inferred)."""
    open_database(db_path).conn.close()  # as `timetravel record` does before connecting
    recorder = make_recorder(double, db_path, tmp, **options)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            recorder.run()
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while listed and not recorder.ready.wait(0.05) and thread.is_alive():
            assert time.monotonic() < deadline, "the recorder never finished its first lists"
        yield recorder
    finally:
        recorder.stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive(), "recorder did not stop"
        if errors:
            raise errors[0]


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def revisions(db_path: Path) -> list[tuple[str, str, str, str, int]]:
    """(kind, namespace, name, change, inferred) of every stored revision, in write order."""
    try:
        db = open_database(db_path, readonly=True)
    except UserError:  # a recorder process is still creating it
        return []
    try:
        records = stored(db)
    finally:
        db.conn.close()
    return [(r.key.kind, r.key.namespace, r.key.name, r.change, int(r.inferred)) for r in records]


def stored(db: Any, *, with_body: bool = False) -> list[RevisionRecord]:
    """Every stored revision, in write order (by id)."""
    records = Reader(db).changes_between(
        "1970-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", with_body=with_body
    )
    return sorted(records, key=lambda r: r.id)


def count(db_path: Path, sql: str) -> int:
    try:
        db = open_database(db_path, readonly=True)
    except UserError:  # a recorder process is still creating it
        return 0
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.conn.close()

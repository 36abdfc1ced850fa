"""Property: explaining a change from the managers stored with it (no managedFields read)
gives the answer that reading its managedFields gives."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timetravel.domain.attribution import primary_touch
from timetravel.domain.model import Observation
from timetravel.query.causes import CauseFinder, _sole_writer, _touched
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter

START = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
MANAGERS = ["argocd-controller", "kubectl-edit", "kube-controller-manager", "helm"]

# One write: which managers write (with subresource status or not), and whether it is a
# deletion or a replacement (a new uid under the name).
write = st.tuples(
    st.lists(
        st.tuples(st.sampled_from(MANAGERS), st.sampled_from(["Update", "Apply"]), st.booleans()),
        min_size=0,
        max_size=3,
    ),
    st.sampled_from(["MODIFIED", "MODIFIED", "MODIFIED", "DELETED", "REPLACED"]),
)


def _obj(version: int, uid: str, entries: dict[tuple[str, str, bool], str]) -> dict[str, Any]:
    managed = [
        {
            "manager": manager,
            "operation": operation,
            "apiVersion": "apps/v1",
            "time": time,
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
            **({"subresource": "status"} if status else {}),
        }
        for (manager, operation, status), time in sorted(entries.items())
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api",
            "namespace": "payments",
            "uid": uid,
            "resourceVersion": str(version),
            "managedFields": managed,
        },
        "spec": {"replicas": version},
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(write, min_size=1, max_size=12))
def test_sole_writer_answers_as_the_managed_fields_do(writes: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp) / "tt.db")
        writer = RevisionWriter(db)
        entries: dict[tuple[str, str, bool], str] = {}
        generation, alive = 0, False
        for version, (writers, event) in enumerate(writes, start=1):
            at = START + timedelta(seconds=version)
            for entry in writers:
                entries[entry] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            if event == "REPLACED" or not alive:
                generation += 1
                entries = {entry: at.strftime("%Y-%m-%dT%H:%M:%SZ") for entry in writers}
                event = "ADDED"
            obj = _obj(version, f"uid-{generation}", entries)
            writer.write([Observation("c", event, obj, at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))])
            alive = event != "DELETED"
        records = Reader(db).history(1)
        assert records
        causes = CauseFinder(db)
        checked = 0
        for record in records:
            stored = _sole_writer(record, None)
            if stored is None:
                continue
            checked += 1
            touched = _touched(record, None)
            assert stored == tuple(dict.fromkeys(t.manager for t in touched))
            primary = primary_touch(touched, record.status_only)
            assert (stored[0] if stored else None) == (primary.manager if primary else None)
            # And the whole answer is the one given when the managedFields are read.
            with patch("timetravel.query.causes._sole_writer", lambda record, previous: None):
                slow = CauseFinder(db).explain(record, None)
            assert causes.explain(record, None) == slow
        assert checked or all(r.change == "created" or len(r.managers) > 1 for r in records)
        db.conn.close()

"""`timetravel demo --live`: the demo environment keeps changing while the screen follows.

The autoscaler moves the recorded worker on: the object as last recorded (its uid, labels,
annotations and field managers), with only its replicas changed, as a real autoscaler would
change it. A worker built afresh here had another uid and none of what git and Argo CD had
set, so the first move read as the worker deleted and created again.
"""

from __future__ import annotations

import copy
import json
import random
import threading
from pathlib import Path
from typing import Any

from timetravel.demo.story import CLUSTER
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_rfc3339, to_stored, utc_now
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

WORKER = ResourceKey(CLUSTER, "apps", "Deployment", "payments", "worker")
# Above every resourceVersion the demo's week used.
FIRST_RV = 900_000


class LiveDemo:
    """Every few seconds the autoscaler moves the worker, as it would in the real cluster."""

    def __init__(self, db_path: Path, *, every: float = 3.0, seed: int = 7) -> None:
        self.db_path = db_path
        self.every = every
        self.random = random.Random(seed)
        self.stop = threading.Event()
        self.rv = FIRST_RV

    def _worker(self, recorded: dict[str, Any], replicas: int) -> dict[str, Any]:
        """The recorded worker scaled to ``replicas`` by kube-controller-manager, now."""
        obj = copy.deepcopy(recorded)
        now = to_rfc3339(utc_now())
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        obj["spec"]["replicas"] = replicas
        status = obj.setdefault("status", {})
        status.update({"replicas": replicas, "readyReplicas": replicas})
        for entry in obj["metadata"].get("managedFields") or []:
            if entry.get("manager") == "kube-controller-manager":
                entry["time"] = now[:19] + "Z"
        return obj

    def recorded_worker(self, db: Any) -> dict[str, Any] | None:
        """The worker as last recorded, with the bookkeeping a server would serve."""
        record = Reader(db).object_at(WORKER, to_stored(utc_now()))
        if record is None or record.deleted or record.obj is None:
            return None
        obj = copy.deepcopy(record.obj)
        meta = obj.setdefault("metadata", {})
        if record.uid:
            meta["uid"] = record.uid
        managed = record.managed_fields
        if managed:
            meta["managedFields"] = copy.deepcopy(managed)
        return obj

    def run(self) -> None:
        db = open_database(self.db_path)
        try:
            recorded = self.recorded_worker(db)
            if recorded is None:
                return  # no worker to scale: nothing to feed
            while not self.stop.wait(self.every):
                obj = self._worker(recorded, self.random.randint(2, 8))
                line = json.dumps(
                    {"type": "MODIFIED", "object": obj, "observed_at": to_rfc3339(utc_now())}
                )
                import_events(db, [line], cluster=CLUSTER)
                recorded = obj
        finally:
            db.conn.close()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name="tt-demo-live")
        thread.start()
        return thread

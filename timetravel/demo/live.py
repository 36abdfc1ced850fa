"""`timetravel demo --live`: the demo environment keeps changing while the screen follows."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

from timetravel.demo import objects as o
from timetravel.demo.story import CLUSTER
from timetravel.domain.times import to_rfc3339, utc_now
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database


class LiveDemo:
    """Every few seconds the autoscaler moves the worker, as it would in the real cluster."""

    def __init__(self, db_path: Path, *, every: float = 3.0, seed: int = 7) -> None:
        self.db_path = db_path
        self.every = every
        self.random = random.Random(seed)
        self.stop = threading.Event()
        self.rv = 900_000

    def _worker(self, replicas: int) -> dict[str, object]:
        base = o.deployment(
            "payments",
            "worker",
            f"{o.REGISTRY}/payments/worker:2.3.0",
            None,
            env={"QUEUE": "payments"},
        )
        live = o.Live(o.with_server_defaults(base), "7f3c0002-demo-worker")
        live.obj["spec"]["replicas"] = replicas
        live.obj["status"] = {"replicas": replicas, "readyReplicas": replicas}
        self.rv += 1
        return live.write(
            self.rv,
            to_rfc3339(utc_now()),
            "kube-controller-manager",
            ("spec.replicas",),
            subresource="scale",
        )

    def run(self) -> None:
        db = open_database(self.db_path)
        try:
            while not self.stop.wait(self.every):
                obj = self._worker(self.random.randint(2, 8))
                line = json.dumps(
                    {"type": "MODIFIED", "object": obj, "observed_at": to_rfc3339(utc_now())}
                )
                import_events(db, [line], cluster=CLUSTER)
        finally:
            db.conn.close()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name="tt-demo-live")
        thread.start()
        return thread

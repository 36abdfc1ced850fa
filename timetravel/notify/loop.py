"""The alerts' loop beside a recorder: evaluate, gather, deliver; never stop the recorder.

Runs in a thread of ``timetravel record`` on a connection of its own: every
``evaluate_every`` a pass over what was recorded (:mod:`.evaluate`), every second the
messages due (:mod:`.deliver`). A failure of the store or of a receiver is reported on the
status stream once per kind of failure and tried again on the next turn; the recording
goes on whatever happens here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from timetravel.domain.alerts import AlertEvent
from timetravel.domain.ignore import RuleSet
from timetravel.domain.times import utc_now
from timetravel.errors import UserError
from timetravel.export import write_export, write_file
from timetravel.notify.deliver import Receiver, deliver, make_messages
from timetravel.notify.evaluate import evaluate
from timetravel.query.drift_report import with_drift_intervals
from timetravel.query.moment import build_snapshot
from timetravel.store import Database
from timetravel.store.db import open_database
from timetravel.store.location import Location

Report = Callable[[str], None]


class AlertLoop(threading.Thread):
    def __init__(
        self,
        location: Location,
        receivers: Sequence[Receiver],
        stop: threading.Event,
        report: Report,
        *,
        evaluate_every: float = 10.0,
        deliver_every: float = 1.0,
        group_window: timedelta = timedelta(seconds=10),
        grace: timedelta = timedelta(seconds=60),
        snapshot_dir: Path | None = None,
        ignore: RuleSet | None = None,
    ) -> None:
        super().__init__(name="alerts", daemon=True)
        self.location = location
        self.receivers = list(receivers)
        self.stop = stop
        self.report = report
        self.evaluate_every = evaluate_every
        self.deliver_every = deliver_every
        self.group_window = group_window
        self.grace = grace
        self.snapshot_dir = snapshot_dir
        self.ignore = ignore  # timetravel.toml's [drift] ignore rules
        self._said: set[str] = set()  # failures reported, so each is said once

    def _say_once(self, what: str, line: str) -> None:
        if what not in self._said:
            self._said.add(what)
            self.report(line)

    def write_snapshots(self, db: Database, events: Sequence[AlertEvent]) -> None:
        """Write the incident bundle each drift opening names, once: a bundle is a
        function of the record, so one written before a crash is the one to keep."""
        for event in events:
            target = event.details.get("snapshot")
            if event.kind != "drift_opened" or not target or Path(target).exists():
                continue
            try:
                at = datetime.fromisoformat(event.at.replace("Z", "+00:00"))
                snapshot = build_snapshot(db, at, cluster=event.cluster, ignore=self.ignore)
                snapshot = with_drift_intervals(db, snapshot, ignore=self.ignore)
                write_file(Path(target), write_export(snapshot, "bundle"))
            except Exception as exc:  # a bundle that cannot be written leaves the alert be
                self._say_once(f"snapshot:{target}", f"alerts: cannot write {target}: {exc}")

    def run(self) -> None:
        db = None
        since_evaluation = self.evaluate_every  # evaluate on the first turn
        while not self.stop.is_set():
            try:
                if db is None:
                    db = open_database(self.location)
                if since_evaluation >= self.evaluate_every:
                    since_evaluation = 0.0
                    found = evaluate(db, utc_now(), self.grace, self.snapshot_dir, self.ignore)
                    self._said.discard("store")
                    self.write_snapshots(db, found.found)
                for receiver in self.receivers:
                    now = utc_now()
                    make_messages(db, receiver, now, self.group_window)
                    sent = deliver(db, receiver, now)
                    if sent.failed:
                        self._say_once(
                            receiver.name,
                            f"alerts: {receiver.shown} does not take messages yet; retrying",
                        )
                    elif sent.delivered:
                        self._said.discard(receiver.name)
            except Exception as exc:  # the loop outlives any failure: it is tried again
                reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
                self._say_once("store", f"alerts: {reason}; trying again")
                if db is not None:
                    with contextlib.suppress(Exception):  # a broken connection goes anyway
                        db.conn.close()
                db = None
            self.stop.wait(self.deliver_every)
            since_evaluation += self.deliver_every
        if db is not None:
            db.conn.close()

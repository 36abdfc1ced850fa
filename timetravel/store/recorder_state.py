"""A recorder's liveness: its ``recorder_state`` row (start, heartbeats, stop), the gap a
restart finds, and the latest time it wrote, which a restarted recorder holds its clock after.
"""

from __future__ import annotations

from typing import Any

from timetravel.domain.model import Gap
from timetravel.domain.times import to_micros
from timetravel.store import codec
from timetravel.store import segments as seg
from timetravel.store.handle import StoreDB


class RecorderState:
    """Heartbeats of one recorder source, and the gap a restart finds."""

    def __init__(self, db: StoreDB, source: str) -> None:
        self.conn = db.conn
        self.source = source

    def start(self, now: str, detail: str | None = None) -> Gap | None:
        """Mark the source started; return the gap since its last heartbeat, if it ran before."""
        row = self.conn.execute(
            "SELECT heartbeat_at, stopped_at FROM recorder_state WHERE source = ?",
            (self.source,),
        ).fetchone()
        gap = None
        if row is not None:
            heartbeat, stopped = row
            reason = "recorder stopped" if stopped else "recorder ended without stopping (killed?)"
            since = stopped or heartbeat
            if since < now:
                gap = Gap(
                    cluster=self.source.split(":", 1)[-1],
                    source=self.source,
                    started_at=since,
                    ended_at=now,
                    reason=reason,
                )
        with self.conn:
            self.conn.execute(
                "INSERT INTO recorder_state (source, started_at, heartbeat_at, stopped_at, detail)"
                " VALUES (?, ?, ?, NULL, ?) ON CONFLICT(source) DO UPDATE SET "
                "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
                "stopped_at = NULL, detail = excluded.detail",
                (self.source, now, now, detail),
            )
        return gap

    def beat(self, now: str) -> None:
        """Record that the source is alive at ``now`` (committed at once)."""
        with self.conn:
            self.conn.execute(
                "UPDATE recorder_state SET heartbeat_at = ? WHERE source = ?", (now, self.source)
            )

    def stop(self, now: str) -> None:
        """Record that the source stopped cleanly at ``now`` (committed at once)."""
        with self.conn:
            self.conn.execute(
                "UPDATE recorder_state SET heartbeat_at = ?, stopped_at = ? WHERE source = ?",
                (now, now, self.source),
            )


def latest_time(db: StoreDB, cluster: str, source: str) -> str | None:
    """The latest time a recorder source has written for ``cluster``, or None.

    A restarted recorder holds its clock after it, so observed times stay monotonic per
    source even when the system clock stepped back while it was down. Only what the
    recorder itself wrote counts (its heartbeat, watch and list revisions, Warning events,
    gaps): imported facts carry times of other clocks.
    """
    conn = db.conn
    times: list[str] = []
    row = conn.execute(
        "SELECT heartbeat_at, stopped_at FROM recorder_state WHERE source = ?", (source,)
    ).fetchone()
    if row is not None:
        times.extend(t for t in row if t)
    for sql in (
        "SELECT observed_at FROM observations WHERE cluster = ? AND kind = 'k8s-event' "
        "ORDER BY observed_at DESC LIMIT 1",
        "SELECT max(ended_at) FROM gaps WHERE cluster = ?",
    ):
        found = conn.execute(sql, (cluster,)).fetchone()
        if found is not None and found[0]:
            times.append(str(found[0]))
    recorded = _latest_recorded(conn, cluster, max(times, default=""))
    if recorded is not None:
        times.append(recorded)
    return max(times) if times else None


def _latest_recorded(conn: Any, cluster: str, floor: str) -> str | None:
    """The newest watch or list revision of ``cluster`` later than ``floor``: newest first
    along the time index, so it stops at the first one (or at ``floor``: older ones cannot
    raise the answer)."""
    plain = codec.keyframe_context()
    rows = conn.execute(
        "SELECT rv.id, s.body, k.body FROM revisions rv "
        "JOIN segments s ON s.id = rv.segment_id JOIN resources res ON res.id = s.resource_id "
        "JOIN keyframes k ON k.id = s.keyframe_id "
        "WHERE rv.observed_us > ? AND res.cluster = ? ORDER BY rv.observed_us DESC, rv.id DESC",
        (to_micros(floor) if floor else -(2**62), cluster),
    )
    while True:
        chunk = rows.fetchmany(200)
        if not chunk:
            return None
        for revision_id, body, keyframe_blob in chunk:
            entries, _ = seg.decode(body, seg.decompressor(plain.decompress(keyframe_blob)))
            for entry in entries:
                if entry[seg.ID] == revision_id and entry[seg.SOURCE] in ("watch", "list"):
                    return str(entry[seg.OBSERVED_AT])

"""Whether a reflector is receiving, and what a break in receiving makes of what comes after.

A watch resumed from its resourceVersion after a break (the connection cut, the API server
down, the recorder backing off) loses nothing: the server sends every change made
meanwhile. But it sends them late, so the break is a gap, whether or not the watch had
to relist, and those changes are not observed live: each is placed at the server's own
time of the write where that falls in the gap, else at the gap's end, and keeps the gap's
bounds ("happened between A and B", ``domain.placement``).

Which events are that backlog: when the resumed watch delivers its first event (or
bookmark), the reflector asks the server for its resourceVersion now (a list of one
object: ``Kube.current_version``). Every event at or before it was made before that
answer, that is in the gap [last moment known receiving, answer]; the first later event,
or a bookmark at or after it, shows the watch has caught up. Asking after the first
delivery, not when the watch is accepted, keeps a server that accepts a watch but sends
nothing (a stall) inside the gap.

A server closes every watch at its timeout and the reflector watches again at once: on
the API double the next watch is accepted 1.4-4.9 ms after the last one ended (five
renewals measured; a real server over a network, a few ms more), and nothing is missed,
so it is no gap. A renewal slower than ``RENEWAL_GRACE`` is one, as is any break
that raised an error (and so waited for the backoff).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from timetravel.domain.model import Gap, HappenedBetween, Observation

RENEWAL_GRACE = 1.0  # seconds from a watch's clean end to the next one being accepted


def _rv_number(rv: object) -> int | None:
    text = str(rv) if rv else ""
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class Cut:
    """A span in which one reflector did not receive, and the watch resumed from its
    resourceVersion without a relist (which records its own gap)."""

    gap: Gap


@dataclass
class CatchUp:
    """A watch resumed after a gap, until it has delivered what happened in the gap.

    ``rv`` is the server's resourceVersion when the recorder asked after the watch's first
    delivery; without numeric resourceVersions (kube-apiserver's are etcd revisions) the
    first bookmark ends the catch-up and an event's gap ends when it arrived.
    """

    start: str
    end: str
    rv: int | None

    def covers(self, rv: object) -> bool:
        """Whether an event at ``rv`` was made before the watch caught up."""
        number = _rv_number(rv)
        return self.rv is None or number is None or number <= self.rv

    def caught_up_by(self, bookmark_rv: object) -> bool:
        """Whether a bookmark at ``bookmark_rv`` ends the catch-up: the server has sent
        every event up to it."""
        number = _rv_number(bookmark_rv)
        return self.rv is None or (number is not None and number >= self.rv)

    def mark(self, obs: Observation) -> Observation:
        """``obs`` (observed when it arrived) as a change that happened in the gap: at its
        end, which the writer moves to the server's time of the write when that lies in
        it (it knows the object's previous version, so which managedFields entry the
        write advanced, and where that version is: ``domain.placement``)."""
        end = self.end if self.rv is not None else max(self.end, obs.observed_at)
        return replace(obs, observed_at=end, happened_between=HappenedBetween(self.start, end))


class Reception:
    """One reflector's reception: the last moment it was known to receive, and since when
    it has not, while it does not."""

    def __init__(self, clock: Callable[[], str], *, grace: float = RENEWAL_GRACE) -> None:
        self.clock = clock
        self.grace = grace
        self.last = clock()  # the last moment known receiving: a delivery, a clean end, a list
        self.cut_since: str | None = None  # not receiving since then: a gap to record
        self.why = ""
        self.catch_up: CatchUp | None = None
        self._ended: float | None = None  # time.monotonic() of the last clean end

    def heard(self) -> str:
        """Something arrived on the watch; returns the moment."""
        self.last = self.clock()
        return self.last

    def broke(self, why: str) -> None:
        """The watch failed, or a request to resume it did: not receiving since the last
        moment known. A catch-up not finished keeps its start: what it had not delivered
        yet happened in that earlier gap."""
        if self.cut_since is None:
            self.cut_since = self.catch_up.start if self.catch_up is not None else self.last
            self.why = why
        self._ended = None

    def ended(self) -> None:
        """The server ended the watch cleanly (its timeout)."""
        self.last = self.clock()
        self._ended = time.monotonic()

    def opened(self) -> None:
        """A watch was accepted; a renewal slower than the grace is a gap too."""
        ended, self._ended = self._ended, None
        if self.cut_since is None and ended is not None:
            took = time.monotonic() - ended
            if took > self.grace:
                self.cut_since = self.last
                self.why = f"renewing the watch took {took:.1f} s"

    def relisted(self) -> None:
        """A (re)list was read: it records its own gap and infers what changed."""
        self.cut_since = None
        self.catch_up = None
        self._ended = None
        self.last = self.clock()

    def resume(self, server_rv: str, cluster: str, source: str, watched_from: str | None) -> Cut:
        """The resumed watch delivered, and the server's resourceVersion is ``server_rv``:
        the gap ends now, and what the watch delivers up to that version is placed in it."""
        assert self.cut_since is not None
        start, end = self.cut_since, self.clock()
        self.catch_up = CatchUp(start, end, _rv_number(server_rv))
        self.cut_since = None
        reason = (
            f"not receiving ({self.why}); the watch resumed from resourceVersion "
            f"{watched_from or '?'} without a relist: the changes in between arrived late, "
            "each placed at the server's time of the write when it falls in the gap, "
            "else at its end"
        )
        return Cut(Gap(cluster, source, start, end, reason))

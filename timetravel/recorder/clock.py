"""Time as a recorder keeps it: a UTC clock that never steps back, and retry backoff.

Every fact a recorder writes carries its ``observed_at``; a system clock that steps back
(NTP, a suspended VM) must not reorder facts, so one clock per recorder holds the order.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from timetravel.domain.times import TICK, from_stored, to_stored, utc_now


class MonotonicClock:
    """UTC now that never goes backwards for one recorder; a step back is reported once.

    After the system clock steps back, times are held just after the latest one given
    until the clock catches up: order is kept, and the step (recorded as a gap) says
    which span of times was held.
    """

    def __init__(self, now: Callable[[], datetime] = utc_now) -> None:
        self._now = now
        self._last: datetime | None = None  # the latest time given
        self._raw: datetime | None = None  # the system clock when last read
        self._lock = threading.Lock()
        self.steps: list[tuple[datetime, datetime]] = []

    def hold_after(self, stored: str) -> None:
        """Never return ``stored`` (a time already written by this source) or earlier.

        A restart calls it with the latest time the source wrote, so a clock that stepped
        back while the recorder was down is held monotonic, and reported, too.
        """
        at = from_stored(stored)
        with self._lock:
            current = self._now()
            if current < at - timedelta(seconds=1):
                self.steps.append((at, current))
            self._raw = current
            if self._last is None or at > self._last:
                self._last = at

    def __call__(self) -> str:
        with self._lock:
            current = self._now()
            # A step is the system clock itself going back, compared with its own last
            # reading: while it is merely still behind the held time, that is the same step.
            if self._raw is not None and self._raw - current > timedelta(seconds=1):
                self.steps.append((self._last or self._raw, current))
            self._raw = current
            if self._last is not None and current <= self._last:
                current = self._last + TICK
            self._last = current
            return to_stored(current)


class Backoff:
    """Exponential backoff with jitter: 0.2 s doubling to 30 s, each wait +-20% and never
    over 30 s, so many reflectors that lost the same server do not come back in step.

    It starts again from ``first`` only after ``healthy_after`` seconds in which nothing
    failed and something worked (:meth:`ok`): a server that accepts a watch and drops it
    at once, again and again, is not hammered every 0.2 s.
    """

    def __init__(
        self,
        first: float = 0.2,
        cap: float = 30.0,
        *,
        healthy_after: float = 60.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first, self.cap, self.current = first, cap, first
        self.healthy_after = healthy_after
        self._now = now
        self._ok_since: float | None = None  # the first success after the last failure

    def next(self) -> float:
        """A failure: how long to wait before trying again."""
        if self._ok_since is not None and self._now() - self._ok_since >= self.healthy_after:
            self.current = self.first
        self._ok_since = None
        delay = self.current
        self.current = min(self.cap, self.current * 2)
        return min(self.cap, delay * random.uniform(0.8, 1.2))

    def ok(self) -> None:
        """Something worked; the healthy period runs from the first success after a failure."""
        if self._ok_since is None:
            self._ok_since = self._now()

    def reset(self) -> None:
        self.current = self.first

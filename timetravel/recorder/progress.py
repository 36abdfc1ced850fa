"""Progress for long work: a live line on a terminal, a periodic summary otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Report ``done`` of ``total`` units; quiet when ``enabled`` is false.

    On a terminal the line redraws in place at most ten times a second; elsewhere (logs,
    CI) one line is written every ``interval`` seconds and one at the end.
    """

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "items",
        stream: TextIO | None = None,
        enabled: bool = True,
        interval: float = 5.0,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.interval = 0.1 if self.tty else interval
        self.started = time.monotonic()
        self._last_draw = self.started
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw(final=False)

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            width = 24
            bar = "#" * int(share * width)
            return (
                f"{self.label} [{bar:<{width}}] {self.done:,}/{self.total:,} {self.unit}"
                f" ({rate:,.0f}/s)"
            )
        return f"{self.label}: {self.done:,} {self.unit} ({rate:,.0f}/s, {elapsed:.1f}s)"

    def _draw(self, *, final: bool) -> None:
        if self.tty:
            end = "\n" if final else ""
            self.stream.write("\r\x1b[2K" + self._line() + end)
        else:
            self.stream.write(self._line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and (self.tty or time.monotonic() - self.started >= self.interval):
            self._draw(final=True)


def with_rest(shown: list[str], total: int) -> list[str]:
    """``shown`` (the first of ``total`` skipped records, one line each), then how many
    more there were."""
    if total > len(shown):
        return [*shown, f"  ... and {total - len(shown):,} more"]
    return shown

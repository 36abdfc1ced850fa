"""The header: the cluster shown, repo@branch, recorder status, cursor time (local and
UTC), LIVE."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from timetravel.domain.printable import printable
from timetravel.domain.timeparse import format_local


class StatusHeader(Widget):
    """One line; parts that do not fit are dropped, least important first."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--title",
        "header--live",
        "header--status",
        "header--gap",
        "header--time",
        "header--dim",
        "header--cluster",
    }

    def __init__(self, tz: tzinfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz = tz
        self.cluster: str | None = None  # the cluster shown
        self.clusters: Sequence[str] = ()  # every cluster of the store
        self.repos: Sequence[str] = ()
        self.recorder = "read-only"
        self.cursor_at: datetime | None = None
        self.live = False
        self.gaps = 0
        self.in_gap = False
        self.kept_from: datetime | None = None  # history before it was pruned
        self.zoom = ""

    def update_state(self, **values: object) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.refresh()

    def _cluster_part(self) -> tuple[int, str, str]:
        """``prod``, or ``prod (1/3)`` in a store of several, kept longer then: which of
        them the screen shows matters as much as the time."""
        name = self.cluster
        if name is None:
            return (2, "no cluster", "dim")
        if len(self.clusters) < 2:
            return (2, name, "dim")
        position = list(self.clusters).index(name) + 1 if name in self.clusters else 0
        return (1, f"{name} ({position}/{len(self.clusters)})", "cluster")

    def _kept_part(self, at: datetime | None) -> tuple[int, str, str]:
        """Where kept history starts: said loudly with the cursor before it (nothing is
        known there), quietly after."""
        kept = self.kept_from
        if kept is None:
            return (9, "", "dim")
        since = format_local(kept, self.tz)
        if at is not None and at < kept:
            return (1, f"pruned: history kept from {since}", "gap")
        return (4, f"kept from {since}", "dim")

    def _style(self, name: str):  # type: ignore[no-untyped-def]
        return self.get_component_rich_style(f"header--{name}", partial=True)

    def render(self) -> Text:
        width = self.size.width
        at = self.cursor_at
        local = format_local(at, self.tz) if at else "—"
        utc = f"{at.astimezone(UTC):%H:%M:%SZ}" if at else ""
        # (priority, text, style): lower priority numbers survive a narrow terminal.
        parts: list[tuple[int, str, str]] = [
            (0, "⏱ timetravel", "title"),
            (1, "LIVE" if self.live else "", "live"),
            (0, local, "time"),
            (2, utc, "dim"),
            (1, f"● {self.recorder}", "status"),
            (3, "in a gap" if self.in_gap else (f"gaps {self.gaps}" if self.gaps else ""), "gap"),
            self._kept_part(at),
            self._cluster_part(),
            (4, ",".join(self.repos) or "no repo", "dim"),
            (5, self.zoom, "dim"),
        ]
        # Cluster and repository names are recorded text; the recorder's status may quote it.
        parts = [(p[0], printable(p[1]), p[2]) for p in parts if p[1]]
        while parts and sum(len(p[1]) + 3 for p in parts) > width and len(parts) > 2:
            worst = max(range(len(parts)), key=lambda i: (parts[i][0], i))
            parts.pop(worst)
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (_, piece, style) in enumerate(parts):
            if index:
                text.append(" │ ", self._style("dim"))
            text.append(f" {piece} " if style == "live" else piece, self._style(style))
        return text

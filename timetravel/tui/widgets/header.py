"""The header: the cluster shown, repo@branch, recorder status, cursor time (local and
UTC), LIVE."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
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
        self.first_at: datetime | None = None  # the first record
        self.zoom = ""
        self.mark = ""  # the moment marked to compare with, or the cluster compared (m, x)

    def update_state(self, **values: object) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.refresh()

    def _cluster_part(self) -> tuple[int, str, str, str]:
        """``prod``, or ``prod (1/3)`` in a store of several, kept longer then: which of
        them the screen shows matters as much as the time."""
        name = self.cluster
        if name is None:
            return (2, "no cluster", "dim", "no cluster")
        if len(self.clusters) < 2:
            return (1, name, "dim", _cut(name, 20))
        position = list(self.clusters).index(name) + 1 if name in self.clusters else 0
        whole = f"{name} ({position}/{len(self.clusters)})"
        return (1, whole, "cluster", whole)

    def _kept_part(self, at: datetime | None) -> tuple[int, str, str, str]:
        """Where kept history starts: said loudly with the cursor before it (nothing is
        known there), quietly after."""
        kept = self.kept_from
        if kept is None:
            return (9, "", "dim", "")
        since = format_local(kept, self.tz)
        if at is not None and at < kept:
            return (1, f"pruned: history kept from {since}", "gap", "pruned before here")
        return (4, f"kept from {since}", "dim", "")

    def _style(self, name: str):  # type: ignore[no-untyped-def]
        return self.get_component_rich_style(f"header--{name}", partial=True)

    def render(self) -> Text:
        width = self.size.width
        at = self.cursor_at
        local = format_local(at, self.tz) if at else "—"
        brief = at.astimezone(self.tz).strftime("%a %m-%d %H:%M:%S") if at else "—"
        utc = f"{at.astimezone(UTC):%H:%M:%SZ}" if at else ""
        if at is not None and at.astimezone(self.tz).utcoffset() == timedelta(0):
            utc = ""  # the local time is UTC already
        status = printable(self.recorder)
        repos = printable(",".join(self.repos) or "no repo")
        # (priority, text, style, shorter text): lower priority numbers survive a narrow
        # terminal; a part is first shortened (least important first), then dropped.
        parts: list[tuple[int, str, str, str]] = [
            (3, "⏱ timetravel", "title", "⏱"),
            (1, "LIVE" if self.live else "", "live", "LIVE" if self.live else ""),
            (0, local, "time", brief),
            (4, utc, "dim", ""),
            (1, f"● {short_status(status, 40)}", "status", f"● {short_status(status, 30)}"),
            (
                3,
                "in a gap" if self.in_gap else (f"gaps {self.gaps}" if self.gaps else ""),
                "gap",
                "",
            ),
            self._kept_part(at),
            (1, "before the first record", "gap", "before any record")
            if at is not None and self.first_at is not None and at < self.first_at
            else (9, "", "dim", ""),
            self._cluster_part(),
            (1, self.mark, "cluster", self.mark),
            (2, repos, "dim", _cut(repos, 16)),
            (5, self.zoom, "dim", ""),
        ]
        # Cluster and repository names are recorded text; the recorder's status may quote it.
        parts = [(p[0], printable(p[1]), p[2], printable(p[3])) for p in parts if p[1]]

        def total() -> int:
            return sum(len(p[1]) + 3 for p in parts) - 3

        # Shortened in this order: the title, the time (seconds and year go), the repo, the
        # recorder's reason, the rest by priority.
        first = {"title": 0, "time": 1, "dim": 2, "status": 3}
        for index in sorted(
            range(len(parts)), key=lambda i: (first.get(parts[i][2], 4), -parts[i][0], i)
        ):
            if total() <= width:
                break
            priority, _, style, shorter = parts[index]
            parts[index] = (priority, shorter, style, shorter)
        parts = [p for p in parts if p[1]]
        while parts and total() > width and len(parts) > 2:
            worst = max(range(len(parts)), key=lambda i: (parts[i][0], i))
            parts.pop(worst)
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (_, piece, style, _short) in enumerate(parts):
            if index:
                text.append(" │ ", self._style("dim"))
            text.append(f" {piece} " if style == "live" else piece, self._style(style))
        return text


# Why a recorder cannot record, in the few words a header has room for (the whole reason
# is in a toast and the recorder's log): the first that matches.
_REASONS = (
    (
        (
            "refused",
            "unreachable",
            "cannot reach",
            "timed out",
            "timeout",
            "max retries",
            "no route",
            "name or service not known",
            "connection",
        ),
        "cluster unreachable",
    ),
    (("unauthorized", "forbidden", "401", "403", "credentials", "token"), "not authorized"),
    (("kubeconfig", "context"), "no usable kubeconfig"),
    (("lease", "recorded by"), "another recorder holds it"),
)


def short_status(status: str, limit: int) -> str:
    """``git-only (cluster unreachable)`` for ``git-only (cannot reach ... refused)``:
    the recorder's state whole, its reason in a few words, within ``limit``."""
    if len(status) <= limit:
        return status
    head, paren, reason = status.partition(" (")
    if not paren:
        return _cut(status, limit)
    lowered = reason.lower()
    brief = next((words for keys, words in _REASONS if any(k in lowered for k in keys)), None)
    if brief is None:
        brief = reason.rstrip(")").split(": ")[0]
    text = f"{head} ({brief})"
    if len(text) <= limit:
        return text
    room = limit - len(head) - 3
    return f"{head} ({_cut(brief, room)})" if room >= 6 else _cut(head, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"

"""The cause panel: the selected resource's changes up to the cursor, newest first.

Actors, commit subjects, run names, URLs, paths and values are recorded text: each piece is
made printable before it joins the panel's :class:`~rich.text.Text`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import tzinfo
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from timetravel.domain.attribution import claimed_by_content
from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.times import from_stored
from timetravel.query.detail import Detail
from timetravel.tui.widgets.linelist import TIME_KEYS
from timetravel.tui.widgets.resource_list import CAUSE_GLYPHS

if TYPE_CHECKING:
    from timetravel.query.detail import CommitRecord

SHOWN = 40


def _value(value: object) -> str:
    text = "∅" if value is None else printable(str(value).replace("\n", "⏎"))
    return text if len(text) <= 48 else text[:47] + "…"


class CausePanel(VerticalScroll, can_focus=True):
    """Why the resource is as it is: time, cause, actor, commit, pipeline run, fields."""

    BINDINGS: ClassVar[list[BindingType]] = TIME_KEYS
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        f"cause--{c}" for c in ("pipeline", "gitops", "manual", "controller", "unknown")
    }

    def __init__(self, tz: tzinfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz = tz
        self.body = Static(id="cause-body")
        self.commits: dict[str, CommitRecord] = {}

    def compose(self) -> Iterator[Static]:
        yield self.body

    def show(self, detail: Detail | None) -> None:
        self.border_title = "Cause"
        text = Text()
        if detail is None:
            self.body.update(Text("no resource selected", "dim"))
            return
        self.border_title = f"Cause · {len(detail.changes)} changes to cursor"
        self.commits = detail.commits
        if detail.drift is not None:
            opened = detail.drift
            who = opened.opened_by or opened.opened_cause or "?"
            text.append("drift open ", "bold")
            text.append(f"since {self._time(opened.opened_at)} by {printable(who)}\n")
        if detail.view is None and detail.deleted_at:
            text.append(f"deleted at {self._time(detail.deleted_at)}\n", "bold")
        for change in detail.changes[:SHOWN]:
            self._change(text, change)
        if len(detail.changes) > SHOWN:
            text.append(f"… {len(detail.changes) - SHOWN} older changes", "dim")
        if not detail.changes:
            text.append("no changes recorded up to the cursor", "dim")
        self.body.update(text)

    def _cause_style(self, cause: str) -> Style:
        return self.get_component_rich_style(f"cause--{cause}", partial=True, default=Style())

    def _time(self, stamp: str) -> str:
        return from_stored(stamp).astimezone(self.tz).strftime("%a %m-%d %H:%M")

    def _seconds(self, stamp: str) -> str:
        return from_stored(stamp).astimezone(self.tz).strftime("%m-%d %H:%M:%S")

    def _change(self, text: Text, change: ChangeView) -> None:
        glyph = CAUSE_GLYPHS.get(change.cause, "·")
        text.append(self._time(change.at), "bold")
        text.append(f" {glyph} {printable(change.cause)}", self._cause_style(change.cause))
        text.append(f" {printable(change.actor or '?')}")
        text.append(f" {printable(change.type)}")
        flags = [
            f
            for f, on in (
                ("inferred", change.inferred),
                ("not seen live", change.happened_between is not None),
                ("status", change.status_only),
            )
            if on
        ]
        if flags:
            text.append(f"  [{', '.join(flags)}]", "dim")
        text.append("\n")
        between = change.happened_between
        if between is not None:
            # Delivered after a recording gap: the time above is placed, not seen.
            where = (
                f"shown at the server's time ({printable(between.placed_by)})"
                if between.placed_by
                else "shown at the end"
            )
            text.append(
                f"    happened between {self._seconds(between.start)} and "
                f"{self._seconds(between.end)}; {where}\n",
                "italic",
            )
        if change.commit:
            commit = self.commits.get(change.commit)
            line = f"    commit {change.commit[:12]}"
            if commit is not None:
                subject = commit.message.strip().splitlines()[0] if commit.message else ""
                line += f" {subject} ({commit.author or '?'})"
            text.append(printable(line) + "\n")
        run = change.pipeline_run
        if run is not None:
            line = f"    run {run.provider} {run.pipeline} #{run.run_id} {run.status or ''}"
            text.append(printable(line.rstrip()) + "\n")
            if run.url:
                text.append(f"    {printable(run.url)}\n", "underline")
            if claimed_by_content(change.evidence):
                text.append(f"    {printable(change.evidence or '')}\n", "dim")
        for field in change.fields[:6]:
            text.append(f"    {printable(field.path)}: ", "dim")
            text.append(f"{_value(field.before)} → {_value(field.after)}\n")
        if len(change.fields) > 6:
            text.append(f"    … {len(change.fields) - 6} more fields\n", "dim")

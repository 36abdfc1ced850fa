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
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from timetravel.domain.attribution import claimed_by_content
from timetravel.domain.notes import Note
from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.times import from_stored, to_stored
from timetravel.domain.values import by_telling, describe, short_value
from timetravel.query.detail import Detail
from timetravel.query.workload_artifacts import WorkloadArtifacts
from timetravel.tui.widgets.artifacts import chain_lines
from timetravel.tui.widgets.linelist import TIME_KEYS
from timetravel.tui.widgets.resource_list import CAUSE_GLYPHS

if TYPE_CHECKING:
    from timetravel.query.detail import CommitRecord

SHOWN = 40
# Fields shown under one change; the rest are counted ("enter" shows them all).
FIELDS_SHOWN = 4


def _value(value: object) -> str:
    """A value as the user wrote it (compact JSON, never Python's repr), made printable."""
    return printable(short_value(value, 48))


class CausePanel(VerticalScroll, can_focus=True):
    """Why the resource is as it is: time, cause, actor, commit, pipeline run, fields."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "app.values", "Whole values", show=False, id="cause.values"),
        *TIME_KEYS,
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        f"cause--{c}" for c in ("pipeline", "gitops", "manual", "controller", "unknown", "drift")
    }

    def __init__(self, tz: tzinfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz = tz
        self.body = Static(id="cause-body")
        self.commits: dict[str, CommitRecord] = {}
        self.shown: tuple[Detail | None, bool] | None = None
        # What the selected workload runs at the cursor (None: not read, or no workload).
        self.artifacts: WorkloadArtifacts | None = None

    def compose(self) -> Iterator[Static]:
        yield self.body

    def show(self, detail: Detail | None, *, noise: bool = False) -> None:
        """The drift's opening change first (who, and what they changed), then the others
        newest first; status reports (what controllers say back) only with ``noise``."""
        self.border_title = "Cause"
        self.shown = (detail, noise)
        text = Text()
        if detail is None:
            self.body.update(Text("no resource selected", "dim"))
            return
        self.commits = detail.commits
        shown = [c for c in detail.changes if noise or not c.status_only]
        hidden = len(detail.changes) - len(shown)
        self.border_title = f"Cause · {len(detail.changes)} changes" + (
            f" ({hidden} status)" if hidden else ""
        )
        artifacts = self.artifacts
        if (
            artifacts is not None
            and artifacts.key == detail.key
            and artifacts.at == to_stored(detail.at)
        ):
            chain_lines(text, artifacts, time=self._time, fit=self._fit, warn=self._state_style())
        opener = detail.drift_since
        if detail.drift is not None:
            opened = detail.drift
            who = opened.opened_by or opened.opened_cause or "?"
            text.append("≠ drift since ", self._state_style())
            text.append(f"{self._time(opened.opened_at)} by ")
            text.append(printable(who) + "\n", "bold")
        for note in detail.notes:  # notes people pinned (t): about it, else the moment
            self._note(text, note)
        if detail.view is None and detail.deleted_at:
            text.append(f"deleted at {self._time(detail.deleted_at)}\n", "bold")
        if opener is not None:
            self._change(text, opener)
        rest = [c for c in shown if c is not opener]
        for change in rest[:SHOWN]:
            self._change(text, change)
        if len(rest) > SHOWN:
            text.append(f"… {len(rest) - SHOWN} older changes\n", "dim")
        later = [t for t in detail.change_times if t > detail.at]
        if not detail.changes and detail.view is None and later:
            when = later[0].astimezone(self.tz).strftime("%a %m-%d %H:%M")
            text.append(f"not created yet: first recorded {when} (] goes there)", "dim")
        elif not detail.changes:
            text.append("no changes recorded up to the cursor", "dim")
        elif hidden and not noise:
            text.append(f"{hidden} status reports hidden (z shows them)", "dim")
        self.body.update(text)

    def show_artifacts(self, artifacts: WorkloadArtifacts | None) -> None:
        """The chain of what the selected workload runs, shown above its changes."""
        self.artifacts = artifacts
        if self.shown is not None:
            self.show(self.shown[0], noise=self.shown[1])

    def _cause_style(self, cause: str) -> Style:
        return self.get_component_rich_style(f"cause--{cause}", partial=True, default=Style())

    def _fit(self, line: str, indent: int = 0) -> str:
        """One line cut to the panel (enter shows it whole): a wrapped value reads badly."""
        # The content's width less a scrollbar's column whether one shows or not: a line
        # cut before the scrollbar appeared would be cut differently after.
        width = self.size.width - 1 - indent
        if width < 10 or len(line) <= width:
            return line
        return line[: width - 1] + "…"

    def on_resize(self) -> None:
        if self.shown is not None:
            self.show(self.shown[0], noise=self.shown[1])

    def warn_style(self) -> Style:
        """The style of what needs a look (drift, unknown provenance)."""
        return self._state_style()

    def _state_style(self) -> Style:
        return self.get_component_rich_style("cause--drift", partial=True, default=Style())

    def _time(self, stamp: str) -> str:
        """``21:24`` on the cursor's day, ``Wed 18:03`` before it."""
        when = from_stored(stamp).astimezone(self.tz)
        shown = self.shown[0] if self.shown else None
        if shown is not None and shown.at.astimezone(self.tz).date() == when.date():
            return when.strftime("%H:%M")
        return when.strftime("%a %H:%M")

    def _note(self, text: Text, note: Note) -> None:
        """``¶ 21:30 alice: incident started`` (a note about the moment says so)."""
        text.append(f"¶ {self._time(note.at)} ", "bold")
        author = note.author.split(" <", 1)[0]
        about = "" if note.resource else " (the moment)"
        line = f"{author}{about}: {note.text}"
        # Wrapped, never cut: what a person wrote is read whole.
        text.append(printable(" ".join(line.split())) + "\n", "italic")

    def _seconds(self, stamp: str) -> str:
        return from_stored(stamp).astimezone(self.tz).strftime("%m-%d %H:%M:%S")

    def _change(self, text: Text, change: ChangeView) -> None:
        """A change in as few lines as say it: when, how and who (a pipeline change by its
        run), what it did (most telling field first), then its commit, run and link."""
        glyph = CAUSE_GLYPHS.get(change.cause, "·")
        run = change.pipeline_run
        text.append(self._time(change.at), "bold")
        # The glyph says the cause (the timeline's legend and help name it); the word only
        # where no actor or run follows.
        word = "" if run is not None or change.actor else f" {printable(change.cause)}"
        text.append(f" {glyph}{word}", self._cause_style(change.cause))
        if run is not None:
            # An id that is not a number (Argo CD's is the sync's start time) says little.
            number = f" #{run.run_id}" if run.run_id.isdigit() or len(run.run_id) <= 16 else ""
            text.append(f" {printable(run.pipeline + number)}", "bold")
            who = run.actor or change.actor
            if run.status and run.status.lower() not in ("success", "succeeded"):
                text.append(f" {printable(run.status)}", "bold" if _failed(run.status) else "")
            if who:
                text.append(f" by {printable(who)}")
        else:
            text.append(f" {printable(change.actor or '?')}", "bold")
            managers = [m for m in change.field_managers if m and m != change.actor]
            if managers and change.cause == "manual":
                text.append(f" ({printable(', '.join(managers))})")
        if change.type != "updated":
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
                f"  happened between {self._seconds(between.start)} and "
                f"{self._seconds(between.end)}; {where}\n",
                "italic",
            )
        if run is not None and run.url:
            text.append(f"  {printable(run.url)}\n", "underline")
        if not change.status_only:  # a status report's fields are the controller's
            fields = by_telling(change.fields)
            for field in fields[:FIELDS_SHOWN]:
                text.append(f"  {self._fit(printable(describe(field, 48)), 2)}\n")
            if len(fields) > FIELDS_SHOWN:
                text.append(f"  … {len(fields) - FIELDS_SHOWN} more fields (enter)\n", "dim")
        if change.commit:
            commit = self.commits.get(change.commit)
            line = f"  commit {change.commit[:7]}"
            if commit is not None:
                subject = commit.message.strip().splitlines()[0] if commit.message else ""
                author = (commit.author or "?").split(" <", 1)[0]
                line += f" {subject} ({author})"
            text.append(self._fit(printable(line)) + "\n", "dim")
        if run is not None and claimed_by_content(change.evidence):
            text.append(f"  {printable(change.evidence or '')}\n", "dim")


def _failed(status: str) -> bool:
    return status.lower() in ("failed", "failure", "error", "errored", "cancelled", "canceled")

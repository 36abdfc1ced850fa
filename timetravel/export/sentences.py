"""The words both reports use for a change, its cause, a commit, a run and a resource's state.

Written once over a small markup (how a report escapes text and writes code, a link, an absent
value, a cause), so that the Markdown and HTML reports say the same thing and cannot drift
apart. Everything from the cluster or git goes through :meth:`Sentences.text` or
:meth:`Sentences.code`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from timetravel.domain.snapshot import ChangeView, PipelineRunView
from timetravel.export.report import Affected, Report
from timetravel.export.wording import actor_text, plural, run_failed, run_label, short_value


class Sentences(ABC):
    """A report's sentences; a subclass gives the markup."""

    absent: str  # a value that is not there
    field_separator: str  # between the fields of one change
    inferred_mark: str  # after a change found by a relist

    def __init__(self, report: Report) -> None:
        self.r = report
        self.out: list[str] = []

    # --- markup ------------------------------------------------------------------------------

    @abstractmethod
    def text(self, value: Any) -> str:
        """``value`` as text, escaped."""

    @abstractmethod
    def code(self, value: Any) -> str:
        """``value`` as code, escaped."""

    @abstractmethod
    def link(self, label: str, url: str | None) -> str:
        """``label`` (markup) linked to ``url`` when it is a safe http(s) URL."""

    @abstractmethod
    def cause_label(self, cause: str) -> str:
        """A cause's name, marked as one."""

    @abstractmethod
    def evidence(self, evidence: str) -> str:
        """Why a cause, after it."""

    @abstractmethod
    def failed(self, status: str) -> str:
        """A failed run's status (already escaped), marked."""

    # --- sentences ---------------------------------------------------------------------------

    def sha(self, sha: str | None) -> str:
        if not sha:
            return ""
        return self.link(self.code(sha[:7]), self.r.commit_urls.get(sha))

    def run(self, run: PipelineRunView, *, provider: bool = True) -> str:
        label = self.text(f"{run.provider} {run_label(run)}" if provider else run_label(run))
        return self.link(label, run.url)

    def status(self, run: PipelineRunView) -> str:
        status = self.text(run.status or "unknown")
        return self.failed(status) if run_failed(run) else status

    def cause(self, change: ChangeView, *, evidence: bool) -> str:
        out = self.cause_label(change.cause)
        if change.pipeline_run is not None:
            out += " " + self.run(change.pipeline_run, provider=False)
        elif change.commit:
            out += " " + self.sha(change.commit)
        if evidence and change.evidence and change.pipeline_run is None:
            out += self.evidence(change.evidence)
        return out

    def change_word(self, change: ChangeView) -> str:
        word = self.text(change.type)
        if change.status_only:
            word += " (status)"
        if change.inferred:
            word += self.inferred_mark
        return word

    def value(self, item: Any, limit: int) -> str:
        """A value inline, cut at ``limit`` characters."""
        return self.absent if item is None else self.code(short_value(item, limit))

    def fields(self, change: ChangeView, *, count: int, limit: int) -> str:
        if change.type != "updated":
            return "whole object"
        if not change.fields:
            return "no field changed"
        parts = []
        for field in change.fields[:count]:
            path = self.code(field.path)
            if field.before is None:
                parts.append(f"{path} added {self.value(field.after, limit)}")
            elif field.after is None:
                parts.append(f"{path} removed (was {self.value(field.before, limit)})")
            else:
                before, after = self.value(field.before, limit), self.value(field.after, limit)
                parts.append(f"{path} {before} → {after}")
        if len(change.fields) > count:
            parts.append(f"+{len(change.fields) - count} more")
        return self.field_separator.join(parts)

    def state_sentence(self, a: Affected) -> str:
        r = self.r
        res = a.resource
        assert res is not None
        at = self.text(r.clock(r.at))
        if res.state == "drifted":
            differ = plural(len(res.diff), "field differs", "fields differ")
            return f"Drifted at {at}: {self.text(differ)} from git."
        if res.state == "missing":
            sentence = f"Missing: declared in git, not live at {at}."
            last = res.last_change
            if last is not None and last.type == "deleted":
                who = actor_text(last)
                sentence += (
                    f" Deleted at {self.text(r.clock(last.at))} "
                    f"({self.cause(last, evidence=False)}"
                    + (f", {self.text(who)}" if who else "")
                    + ")."
                )
            return sentence
        if res.state == "unmanaged":
            return "Unmanaged: live, not declared in git, so there is no desired state to compare."
        return f"In sync with git at {at}."

    def setter(self, change: ChangeView | None) -> str:
        """Who last set a differing field: the change's time, cause and actor."""
        r = self.r
        if change is None:
            return f"not in the window (before {self.text(r.clock(r.start))})"
        who = actor_text(change)
        return f"{self.text(r.clock(change.at))} {self.cause(change, evidence=False)}" + (
            f", {self.text(who)}" if who else ""
        )

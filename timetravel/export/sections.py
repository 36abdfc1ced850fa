"""The sections both reports have, in order: summary, commits and runs, timeline, affected
resources (one part each) and recording gaps and errors.

:class:`Sections` writes each section once, as sentences, table rows and notes; a report gives
the layout through small hooks (a section's heading, a list, a table, a note) and may add
what only it can show (the HTML report's cards, drawing and side-by-side diff) through the
hooks that do nothing here. So the Markdown and HTML reports list the same facts in the same
order, and a sentence changed here changes in both.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any

from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.snapshot import ChangeView, RepoView
from timetravel.export.drift import lasted_text
from timetravel.export.report import Affected, Event, trim
from timetravel.export.sentences import Sentences
from timetravel.export.wording import (
    STATE_WORDS,
    actor_text,
    first_line,
    plural,
    run_failed,
    running,
    short_value,
)

# A resource's field diff longer than this many rows is folded (where the layout folds).
FOLD_ROWS = 10


class Sections(Sentences):
    """A report's sections over a layout that a subclass gives."""

    # --- layout ------------------------------------------------------------------------------

    @abstractmethod
    def open_section(self, anchor: str, title: str) -> None:
        """Start a section titled ``title`` (markup), with id ``anchor`` where ids exist."""

    @abstractmethod
    def close_section(self) -> None:
        """End the section :meth:`open_section` started."""

    @abstractmethod
    def paragraph(self, markup: str) -> None:
        """A paragraph of its own."""

    @abstractmethod
    def note(self, markup: str) -> None:
        """A remark on what was left out, set apart from the content."""

    @abstractmethod
    def subheading(self, markup: str) -> None:
        """The title of the table that follows, within a resource's part."""

    @abstractmethod
    def item(self, markup: str, style: str = "") -> str:
        """One point of a list (``style``: a class of the stylesheet, where styles exist)."""

    @abstractmethod
    def bullets(self, items: Iterable[str]) -> None:
        """A list of points, each made by :meth:`item`."""

    @abstractmethod
    def table(self, head: Iterable[str], rows: Iterable[str], style: str = "") -> None:
        """A table: its column names (markup) and rows, each made by :meth:`table_row`."""

    @abstractmethod
    def table_row(self, *cells: str, style: str = "") -> str:
        """A row of cells (markup)."""

    @abstractmethod
    def moment_row(self, when: str, width: int, what: str = "") -> str:
        """The row that marks the snapshot moment in a table of ``width`` columns: ``when``
        first and ``what`` in the last column."""

    @abstractmethod
    def diff_row(self, entry: dict[str, Any], setter: ChangeView | None) -> str:
        """A row of a resource's field diff: path, desired, actual, and who set it last."""

    @abstractmethod
    def open_resource(self, a: Affected) -> None:
        """Start a resource's part, titled with its name and state."""

    @abstractmethod
    def close_resource(self) -> None:
        """End the part :meth:`open_resource` started."""

    @abstractmethod
    def stresses(self, state: str, n: int) -> bool:
        """Whether the summary's count of resources in ``state`` (``n`` of them) is bold."""

    # --- what only one report shows (nothing, unless a subclass adds it) -----------------------

    def at_a_glance(self) -> None:
        """Before the summary's points: the counts, to take in at a glance."""

    def timeline_figure(self) -> None:
        """Before the timeline table: the window drawn."""

    def manifest_diff(self, a: Affected) -> None:
        """After a resource's field diff: the diff in the manifest's own lines."""

    def fold(self, summary: str) -> bool:
        """Before a long table: start a part the reader opens (``summary``: plain words, no
        markup), and say whether it did; :meth:`unfold` ends it."""
        return False

    def unfold(self) -> None:
        """End the part :meth:`fold` started."""

    # --- sections ----------------------------------------------------------------------------

    def sections(self) -> None:
        """Every section, in the order both reports have them."""
        self.summary()
        self.git()
        self.timeline()
        self.notes()
        self.drift()
        self.affected()
        self.images()
        self.problems()

    def summary(self) -> None:
        """The situation in a few points, before any detail."""
        self.open_section("summary", "Summary")
        self.at_a_glance()
        self.bullets(self.summary_items())
        self.close_section()

    def summary_items(self) -> list[str]:
        """The summary's points: the resources by state, where each branch pointed, the
        changes by cause, the commits and runs, the recording, the errors, what is affected
        and what is only counted."""
        r, s = self.r, self.r.snapshot
        text, strong = self.text, self.strong
        items = [self.item(self.states_sentence())]
        items += [self.item(self.repo_sentence(repo)) for repo in s.repos]
        items.append(self.item(self.changes_sentence()))
        items.append(self.item(self.runs_sentence()))
        for gap in r.gaps:
            items.append(
                self.item(
                    f"{strong('Recording gap:')} {self.code(gap.get('cluster', ''))} from "
                    f"{text(r.clock(gap.get('from')))} to {text(r.clock(gap.get('to')))}, "
                    f"{text(gap.get('reason', 'reason unknown'))}. What changed in it is known "
                    "only from the relist after it.",
                    "warn",
                )
            )
        if not r.gaps:
            items.append(self.item(f"{strong('Recording:')} no gaps in the window."))
        if r.problems:
            errors = strong(text(plural(len(r.problems), "error")))
            below = self.internal_link("below", "problems")
            items.append(self.item(f"{errors} while reading the state: see {below}."))
        if r.affected:
            shown = ", ".join(f"{self.ref(a.key)} ({text(a.label)})" for a in r.affected[:5])
            more = f", and {len(r.affected) - 5:,} more" if len(r.affected) > 5 else ""
            many = text(plural(len(r.affected), "resource"))
            items.append(self.item(f"{strong('Affected:')} {many}: {shown}{more}."))
        else:
            nothing = "none; nothing drifted, went missing or changed."
            items.append(self.item(f"{strong('Affected:')} {nothing}"))
        quiet = {k: v for k, v in r.counted_only.items() if v}
        if quiet:
            words = ", ".join(f"{v:,} {text(STATE_WORDS[k])}" for k, v in quiet.items())
            items.append(self.item(f"{strong('Counted, not detailed:')} {words}."))
        return items

    def states_sentence(self) -> str:
        """How many resources there were at the moment, by state."""
        r = self.r

        def count(state: str, words: str) -> str:
            n = r.counts.get(state, 0)
            return self.strong(f"{n:,} {words}") if self.stresses(state, n) else f"{n:,} {words}"

        resources = self.strong(self.text(plural(len(r.snapshot.resources), "resource")))
        return (
            f"{resources} at {self.text(r.clock(r.at))}: "
            f"{count('in_sync', 'in sync with git')}, {count('drifted', 'drifted')}, "
            f"{count('missing', 'missing')} (declared, not live), "
            f"{count('unmanaged', 'unmanaged')} (live, not in git)."
        )

    def repo_sentence(self, repo: RepoView) -> str:
        """Where a tracked branch pointed at the moment."""
        where = f"{self.strong('Git:')} {self.code(repo.branch)} of {self.code(repo.path)}"
        if not repo.commit:
            return f"{where}: no commit known at that moment."
        title = first_line(repo.message)
        return (
            f"{where} pointed to {self.sha(repo.commit)}"
            + (f" “{self.text(title)}”" if title else "")
            + (
                f", committed {self.text(self.r.clock(repo.commit_time))}."
                if repo.commit_time
                else "."
            )
        )

    def changes_sentence(self) -> str:
        """How many changes the window holds, to how many resources, and by which causes."""
        r, text = self.r, self.text
        n = len(r.snapshot.changes)
        if not n:
            return f"{self.strong('No changes')} in the window."
        causes = ", ".join(
            f"{k:,} {self.mark(text(c), f'cause cause-{c}')}" for c, k in r.causes.items() if k
        )
        line = (
            f"{self.strong(text(plural(n, 'change')))} to "
            f"{text(plural(r.changed_resources, 'resource'))} in the window, by cause: {causes}"
        )
        if r.status_only:
            line += f" ({r.status_only:,} of them to status only)"
        line += "."
        if r.inferred:
            line += (
                f" {text(plural(r.inferred, 'change was', 'changes were'))} inferred after a "
                "recording gap."
            )
        if r.late:
            line += (
                f" {text(plural(r.late, 'change', 'changes'))} arrived late after a recording "
                "gap: not seen live."
            )
        return line

    def runs_sentence(self) -> str:
        """How many commits became a branch head and how many pipeline runs ran (and failed)."""
        s, text = self.r.snapshot, self.text
        failed = [run for run in s.pipeline_runs if run_failed(run)]
        runs = self.strong(text(plural(len(s.pipeline_runs), "pipeline run")))
        if failed:
            count = self.mark(f"{len(failed):,} failed", "fail")
            runs += f" ({count}: " + ", ".join(self.run(f) for f in failed) + ")"
        commits = self.strong(text(plural(len(s.commits), "commit")))
        return f"{commits} became a branch head and {runs} ran in the window."

    def git(self) -> None:
        """Every commit that became a branch head and every pipeline run in the window."""
        r, s, text = self.r, self.r.snapshot, self.text
        limit = r.limits.value_chars
        self.open_section("git", "Commits and pipeline runs")
        if s.commits:
            self.table(
                ("time", "commit", "author", "message"),
                (
                    self.table_row(
                        text(r.clock(c.at)),
                        self.sha(c.sha),
                        text(c.author or ""),
                        text(short_value(first_line(c.message), limit)),
                    )
                    for c in s.commits
                ),
            )
        else:
            self.paragraph("No commit became the head of a tracked branch in the window.")
        if s.pipeline_runs:
            self.table(
                ("started", "finished", "run", "status", "actor", "commit"),
                (
                    self.table_row(
                        text(r.clock(run.started_at)),
                        text(r.clock(run.finished_at)),
                        self.run(run),
                        self.status(run),
                        text(run.actor or ""),
                        self.sha(run.commit),
                    )
                    for run in s.pipeline_runs
                ),
            )
        else:
            self.paragraph("No pipeline run was recorded in the window.")
        self.close_section()

    def timeline(self) -> None:
        """The window's events in order, the moment among them, within the timeline limit."""
        r = self.r
        events, note = r.timeline()
        self.open_section("timeline", "Timeline")
        self.timeline_figure()
        self.table(
            (f"time ({self.text(r.zone)})", "event", "resource", "cause", "by", "what"),
            [self.event_row(e) for e in events],
            "events",
        )
        if note:
            self.note(f"{self.text(note)}.")
        self.close_section()

    def event_row(self, event: Event) -> str:
        """A row of the timeline: the moment, a gap, a commit, a pipeline run or a change."""
        r, text = self.r, self.text
        limit = min(r.limits.value_chars, 60)
        item = event.item
        when = text(r.clock(event.at))
        if event.kind == "moment":
            return self.moment_row(when, 6, "the state in this report")
        if event.kind == "gap":
            until = f"until {text(r.clock(item.get('to')))}: {text(item.get('reason', ''))}"
            cluster = self.code(item.get("cluster", ""))
            gap = self.strong("recording gap")
            return self.table_row(when, gap, cluster, "", "", until, style="gap")
        if event.kind == "commit":
            message = text(short_value(first_line(item.message), limit))
            author = text(item.author or "")
            return self.table_row(when, "commit", "", "", author, f"{self.sha(item.sha)} {message}")
        if event.kind == "run":
            run: PipelineRun = item
            span = text(r.span(run.started_at, run.finished_at))
            what = f"{self.run(run)}: {self.status(run)}, {span}"
            if run.commit:
                what += f", commit {self.sha(run.commit)}"
            return self.table_row(when, "pipeline run", "", "", text(run.actor or ""), what)
        change: ChangeView = item
        return self.table_row(
            when,
            self.change_word(change),
            self.ref(change.key),
            self.cause(change, evidence=False),
            text(actor_text(change)),
            self.fields(change, count=3, limit=limit),
            style="status" if change.status_only else "",
        )

    def affected(self) -> None:
        """A table of the affected resources, then a part for each, within the limits."""
        r = self.r
        self.open_section("affected", f"Affected resources ({len(r.affected):,})")
        if not r.affected:
            self.paragraph("Nothing drifted, went missing, or changed in the window.")
            self.close_section()
            return
        self.paragraph("Drifted, missing, or changed in the window; drift first.")
        rows = r.limits.resource_rows
        detailed = r.limits.resources
        at = self.text(r.clock(r.at))
        self.table(
            ("resource", f"state at {at}", "fields differing", "changes in window"),
            (
                # only the resources with a part of their own have somewhere to link to
                self.table_row(
                    self.ref(a.key, linked=i < detailed),
                    self.text(a.label),
                    f"{len(a.diff):,}",
                    a.counted,
                )
                for i, a in enumerate(r.affected[:rows])
            ),
        )
        if len(r.affected) > rows:
            self.note(
                f"{len(r.affected) - rows:,} more affected resources left out of this table "
                f"(limit {rows:,}); every resource is in the JSON snapshot."
            )
        for a in r.affected[:detailed]:
            self.resource(a)
        if len(r.affected) > detailed:
            self.note(
                f"Sections for {len(r.affected) - detailed:,} more affected resources left out "
                f"(limit {detailed:,}); they are in the table above and in the JSON snapshot."
            )
        self.close_section()

    def resource(self, a: Affected) -> None:
        """A resource's part: its facts, its field diff and its changes in the window."""
        self.open_resource(a)
        self.bullets(self.resource_items(a))
        if a.diff:
            self.diff_table(a)
        self.ignored_differences(a)
        self.manifest_diff(a)
        if a.changes:
            self.changes_table(a)
        self.close_resource()

    def ignored_differences(self, a: Affected) -> None:
        """The differences ignore rules cover: not drift, and never hidden."""
        ignored = a.resource.ignored if a.resource is not None else ()
        if not ignored:
            return
        text = self.text
        parts = [f"{self.code(d['path'])} ({text(d.get('ignored_by', ''))})" for d in ignored[:10]]
        more = f"; and {len(ignored) - 10:,} more" if len(ignored) > 10 else ""
        self.note(
            f"{text(plural(len(ignored), 'difference'))} from git ignored by a rule: "
            + "; ".join(parts)
            + f"{more}."
        )

    def resource_items(self, a: Affected) -> list[str]:
        """Where a resource is declared, its state at the moment and what it ran."""
        r, res, code = self.r, a.resource, self.code
        facts = [f"apiVersion {code(a.api_version)}", f"cluster {code(a.key.cluster)}"]
        if res is not None and res.source:
            facts.insert(
                0,
                f"declared in {code(res.source.get('path', ''))} of "
                f"{code(res.source.get('repo', ''))}",
            )
        items = [self.item(" · ".join(facts))]
        at = self.text(r.clock(r.at))
        if res is None:
            gone = f"Neither live nor declared in git at {at}; it came or went in the window."
            return [*items, self.item(gone)]
        items.append(self.item(self.state_sentence(a)))
        images, replicas, ready = running(res.actual)
        if images or replicas is not None:
            parts = [f"{code(name)} {code(image)}" for name, image in images[:6]]
            if len(images) > 6:
                parts.append(f"+{len(images) - 6} more")
            if replicas is not None:
                parts.append(f"{self.text(replicas)} replicas, {self.text(ready)} ready")
            items.append(self.item(f"Running at {at}: " + "; ".join(parts)))
        return items

    def diff_table(self, a: Affected) -> None:
        """A resource's differing fields, desired against actual, within the limit."""
        shown = a.diff[: self.r.limits.diff_rows]
        # A table longer than a screen is folded where the layout folds (Markdown's
        # <details>): the resource's facts above it stay in view.
        folded = len(shown) > FOLD_ROWS and self.fold(
            f"{plural(len(a.diff), 'differing field')}: desired (git) against actual"
        )
        self.table(
            ("field", "desired (git)", "actual (cluster)", "last set by"),
            (self.diff_row(entry, setter) for entry, setter in zip(shown, a.setters, strict=False)),
        )
        if folded:
            self.unfold()
        if len(a.diff) > len(shown):
            self.note(
                f"{len(a.diff) - len(shown):,} more differing fields left out "
                f"(limit {len(shown):,}); all are in the JSON snapshot."
            )

    def changes_table(self, a: Affected) -> None:
        """A resource's changes in the window, the moment marked among them."""
        r, text = self.r, self.text
        changes, note = trim(
            list(a.changes), r.limits.changes, r.at, when=r.when, minor=lambda c: c.status_only
        )
        self.subheading(f"Changes in the window: {text(a.counted)}")
        rows = []
        marked = False
        for change in changes:
            if not marked and r.when(change) > r.at:
                rows.append(self.moment_row(text(r.clock(r.at)), 5))
                marked = True
            rows.append(
                self.table_row(
                    text(r.clock(change.at)),
                    self.change_word(change),
                    self.cause(change, evidence=True),
                    text(actor_text(change)),
                    self.fields(change, count=5, limit=min(r.limits.value_chars, 60)),
                    style="status" if change.status_only else "",
                )
            )
        self.table(("time", "change", "cause", "by", "fields"), rows, "events")
        if note:
            self.note(f"{text(note)}; every change is in the JSON snapshot.")

    def notes(self) -> None:
        """What people pinned to moments of the window; no section when nothing was."""
        r, text = self.r, self.text
        notes = r.snapshot.notes
        if not notes:
            return
        self.open_section("notes", "Notes")
        self.table(
            ("time", "about", "by", "note"),
            (
                self.table_row(
                    text(r.clock(n["at"])),
                    self.code(_about(n["resource"])) if n.get("resource") else text("the cluster"),
                    text(n["author"]),
                    text(n["text"]),
                )
                for n in notes
            ),
        )
        self.close_section()

    def drift(self) -> None:
        """Each drift that overlaps the window: when it opened and by whom, when and how it
        closed, how long it lasted; no section when there was none."""
        r, text = self.r, self.text
        intervals = r.snapshot.drift
        if not intervals:
            return
        self.open_section("drift", "Drift intervals")
        self.table(
            ("resource", "opened", "by", "closed", "how", "lasted"),
            (
                self.table_row(
                    self.code(_about(d)),
                    text(r.clock(d["opened_at"])),
                    text(" ".join(x for x in (d["opened_cause"], d["opened_by"]) if x) or "-"),
                    text(r.clock(d["closed_at"])) if d["closed_at"] else text("-"),
                    text(d["closed_how"] or "-"),
                    text(lasted_text(d["lasted_seconds"])),
                )
                for d in intervals[: r.limits.resource_rows]
            ),
        )
        if len(intervals) > r.limits.resource_rows:
            left = len(intervals) - r.limits.resource_rows
            later = text(plural(left, "later drift"))
            self.note(f"{later} left out; all are in the JSON snapshot.")
        self.close_section()

    def images(self) -> None:
        """The image digests running at the moment, per workload, with their builds; those
        of unknown provenance first. No section when no Pod was recorded running."""
        r, text = self.r, self.text
        artifacts = sorted(
            r.snapshot.artifacts,
            key=lambda a: (a["provenance"] == "built", _about(a["workload"]), a["digest"]),
        )
        if not artifacts:
            return
        unknown = [a for a in artifacts if a["provenance"] != "built"]
        self.open_section("images", "Running images")
        if unknown:
            self.paragraph(
                f"{self.mark(text(plural(len(unknown), 'image')), 'fail')} of unknown "
                "provenance: no recorded build produced "
                f"{'it' if len(unknown) == 1 else 'them'} (timetravel record-build)."
            )
        rows = []
        for a in artifacts[: r.limits.resource_rows]:
            build = a.get("build") or {}
            source = build.get("commit") or ""
            where = build.get("source_repo") or ""
            made = (
                f"{self.sha(source)} {text(where)}".strip()
                if source
                else text(
                    "unknown provenance" if a["provenance"] == "unknown" else "node-local image"
                )
            )
            retag = f" ({text('tag re-pushed')})" if a.get("retagged") else ""
            rows.append(
                self.table_row(
                    self.code(_about(a["workload"])),
                    self.code(", ".join(a["images"])) + retag,
                    self.code(a["digest"][:19]),
                    made,
                    text(plural(len(a["pods"]), "pod")),
                    style="fail" if a["provenance"] != "built" else "",
                )
            )
        self.table(("workload", "image", "digest", "built from", "running"), rows)
        if len(artifacts) > r.limits.resource_rows:
            more = plural(len(artifacts) - r.limits.resource_rows, "more image")
            self.note(f"{text(more)} in the JSON snapshot.")
        self.close_section()

    def problems(self) -> None:
        """The recording gaps and errors; no section when there were none."""
        items = self.problem_items()
        if items:
            self.open_section("problems", "Recording gaps and errors")
            self.bullets(items)
            self.close_section()

    def problem_items(self) -> list[str]:
        """The recording gaps, the changes inferred after them, and every other error; none
        when the recording was whole."""
        r, text, strong = self.r, self.text, self.strong
        items = []
        for gap in r.gaps:
            where = self.code(gap.get("source") or gap.get("cluster", ""))
            items.append(
                self.item(
                    f"{strong('Gap')} in {where}: nothing was recorded from "
                    f"{text(r.clock(gap.get('from')))} to {text(r.clock(gap.get('to')))}: "
                    f"{text(gap.get('reason', 'reason unknown'))}."
                )
            )
        if r.inferred:
            items.append(
                self.item(
                    f"{text(plural(r.inferred, 'change was', 'changes were'))} found by a relist "
                    f"after a gap ({self.em('inferred')}): each shows at the time it was found; "
                    "it happened earlier."
                )
            )
        if r.late:
            items.append(
                self.item(
                    f"{text(plural(r.late, 'change', 'changes'))} arrived after a gap, every "
                    f"version in order but {self.em('not seen live')}: each says between which "
                    "times it happened, and shows at the server's time of the write when that "
                    "falls in the gap, else at the gap's end."
                )
            )
        for problem in r.problems:
            if problem.get("kind") == "damaged":
                # Stored bytes that failed their checksum: what is left out, and when.
                items.append(
                    self.item(
                        f"{strong('Damaged record')}: the stored versions of "
                        f"{self.code(str(problem.get('resource', '')))} in "
                        f"{self.code(str(problem.get('cluster', '')))} from "
                        # In UTC with the date: the span may lie days from the moment.
                        f"{text(problem.get('from', ''))} to {text(problem.get('to', ''))} "
                        "cannot be read and are left out "
                        f"of this report; {self.code('timetravel check')} lists the damaged "
                        "frames."
                    )
                )
                continue
            details = ", ".join(
                f"{text(k)}: {self.code(short_value(v, r.limits.value_chars))}"
                for k, v in problem.items()
                if k != "kind"
            )
            kind = text(problem.get("kind", "error"))
            items.append(self.item(f"{strong(f'{kind} error')}: {details}"))
        return items


def _about(resource: dict[str, Any] | None) -> str:
    """``namespace/Kind/name`` of a resource as the JSON names it."""
    if not resource:
        return ""
    return f"{resource.get('namespace') or '-'}/{resource.get('kind')}/{resource.get('name')}"

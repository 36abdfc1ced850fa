"""The incident report in Markdown: paste-ready for an incident document or a GitHub issue.

Layout: a headline (what ran, drift, changes by cause), commits and pipeline runs with links,
a timeline table of the window, then one short section per affected resource with its field
diff (desired against actual, and the change that last set each field) and who changed what.
Past the limits in :class:`~timetravel.export.Limits` it summarizes and says what it left out.

Everything from the cluster or git is escaped: code spans get a fence longer than any run of
backticks inside, table cells escape ``|``, text escapes Markdown and HTML characters, and
only http(s) URLs become links.
"""

from __future__ import annotations

import re
from typing import Any

from timetravel.domain.snapshot import ChangeView, PipelineRunView, Snapshot
from timetravel.export.options import ExportOptions
from timetravel.export.report import Affected, Event, build_report, trim
from timetravel.export.sentences import Sentences
from timetravel.export.wording import (
    STATE_WORDS,
    actor_text,
    first_line,
    plural,
    run_failed,
    running,
    safe_url,
    short_value,
)

_ESCAPE = re.compile(r"([\\`*_\[\]<>~&$])")
_BACKTICKS = re.compile(r"`+")


def text(value: Any) -> str:
    """Text from the cluster or git as inline Markdown: one line, special characters escaped."""
    return _ESCAPE.sub(r"\\\1", " ".join(str(value).split()))


def code(value: Any) -> str:
    """A code span that holds ``value`` exactly, on one line (``row`` escapes its pipes)."""
    raw = str(value).replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
    if not raw:
        return "*empty*"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(raw)), default=0) + 1)
    if raw[0] == "`" or raw[-1] == "`" or (raw[0] == " " and raw[-1] == " " and raw.strip()):
        raw = f" {raw} "
    return f"{fence}{raw}{fence}"


def link(label: str, url: str | None) -> str:
    """``[label](url)`` for a safe http(s) URL; the label alone otherwise (already Markdown)."""
    safe = safe_url(url)
    return f"[{label}]({safe})" if safe else label


def row(*cells: str) -> str:
    """A table row. Every ``|`` in a cell is content (links never hold one), so all are
    escaped here, inside code spans too: GFM splits cells before it reads code spans."""
    return "| " + " | ".join(cell.replace("|", "\\|") or " " for cell in cells) + " |"


def header(*names: str) -> list[str]:
    return [row(*names), "|" + "|".join("---" for _ in names) + "|"]


def render_markdown(snapshot: Snapshot, options: ExportOptions | None = None) -> bytes:
    report = build_report(snapshot, options or ExportOptions())
    return _Markdown(report).render().encode("utf-8", "backslashreplace")


class _Markdown(Sentences):
    absent = "*absent*"
    field_separator = "; "
    inferred_mark = " (inferred)"

    def render(self) -> str:
        self.title()
        self.summary()
        self.git()
        self.timeline()
        self.affected()
        self.problems()
        self.footer()
        return "\n".join(self.out).rstrip("\n") + "\n"

    def add(self, *lines: str) -> None:
        self.out.extend(lines)

    # --- markup ------------------------------------------------------------------------------

    def text(self, value: Any) -> str:
        return text(value)

    def code(self, value: Any) -> str:
        return code(value)

    def link(self, label: str, url: str | None) -> str:
        return link(label, url)

    def cause_label(self, cause: str) -> str:
        return f"**{text(cause)}**"

    def evidence(self, evidence: str) -> str:
        return ": " + text(evidence)

    def failed(self, status: str) -> str:
        return f"**{status}**"

    # --- sections ----------------------------------------------------------------------------

    def title(self) -> None:
        r, s = self.r, self.r.snapshot
        clusters = ", ".join(str(c.get("name", "")) for c in s.clusters) or "no cluster"
        lede = (
            f"What was running at **{text(s.at)}**, what git declared, and every change from "
            f"{r.clock(r.start)} to {r.clock(r.end)}. Times are {text(r.zone)}."
        )
        if r.options.namespaces:
            lede += " Namespaces: " + ", ".join(code(n) for n in r.options.namespaces) + "."
        if r.options.only == "drifted":
            lede += " Details only for drifted and missing resources (`--only drifted`)."
        elif r.options.only == "changed":
            lede += " Details only for resources changed in the window (`--only changed`)."
        self.add(f"# Incident snapshot: {text(clusters)} at {text(r.moment())}", "", lede, "")

    def summary(self) -> None:
        r, s = self.r, self.r.snapshot
        counts = r.counts

        def count(state: str, words: str) -> str:
            n = counts.get(state, 0)
            return (
                f"**{n:,} {words}**"
                if n and state in ("drifted", "missing")
                else (f"{n:,} {words}")
            )

        self.add("## Summary", "")
        self.add(
            f"- **{plural(len(s.resources), 'resource')}** at {r.clock(r.at)}: "
            f"{count('in_sync', 'in sync with git')}, {count('drifted', 'drifted')}, "
            f"{count('missing', 'missing')} (declared, not live), "
            f"{count('unmanaged', 'unmanaged')} (live, not in git)."
        )
        for repo in s.repos:
            if repo.commit:
                title = first_line(repo.message)
                self.add(
                    f"- **Git:** {code(repo.branch)} of {code(repo.path)} pointed to "
                    f"{self.sha(repo.commit)}"
                    + (f" “{text(title)}”" if title else "")
                    + (f", committed {r.clock(repo.commit_time)}." if repo.commit_time else ".")
                )
            else:
                self.add(
                    f"- **Git:** {code(repo.branch)} of {code(repo.path)}: no commit known at "
                    "that moment."
                )
        n = len(s.changes)
        if n:
            causes = ", ".join(f"{k:,} {text(c)}" for c, k in r.causes.items() if k)
            line = (
                f"- **{plural(n, 'change')}** to {plural(r.changed_resources, 'resource')} in "
                f"the window, by cause: {causes}"
            )
            if r.status_only:
                line += f" ({r.status_only:,} of them to status only)"
            line += "."
            if r.inferred:
                line += (
                    f" {plural(r.inferred, 'change was', 'changes were')} inferred after a "
                    "recording gap."
                )
            self.add(line)
        else:
            self.add("- **No changes** in the window.")
        failed = [run for run in s.pipeline_runs if run_failed(run)]
        runs = f"**{plural(len(s.pipeline_runs), 'pipeline run')}**"
        if failed:
            runs += f" ({len(failed):,} failed: " + ", ".join(self.run(f) for f in failed) + ")"
        self.add(
            f"- **{plural(len(s.commits), 'commit')}** became a branch head and {runs} "
            "ran in the window."
        )
        if r.gaps:
            for gap in r.gaps:
                self.add(
                    f"- **Recording gap:** {code(gap.get('cluster', ''))} from "
                    f"{r.clock(gap.get('from'))} to {r.clock(gap.get('to'))}, "
                    f"{text(gap.get('reason', 'reason unknown'))}. What changed in it is "
                    "known only from the relist after it."
                )
        else:
            self.add("- **Recording:** no gaps in the window.")
        if r.problems:
            self.add(
                f"- **{plural(len(r.problems), 'error')}** while reading the state: see below."
            )
        if r.affected:
            shown = ", ".join(f"{code(r.name(a.key))} ({text(a.label)})" for a in r.affected[:5])
            more = f", and {len(r.affected) - 5:,} more" if len(r.affected) > 5 else ""
            self.add(f"- **Affected:** {plural(len(r.affected), 'resource')}: {shown}{more}.")
        else:
            self.add("- **Affected:** none; nothing drifted, went missing or changed.")
        quiet = {k: v for k, v in r.counted_only.items() if v}
        if quiet:
            words = ", ".join(f"{v:,} {text(STATE_WORDS[k])}" for k, v in quiet.items())
            self.add(f"- **Counted, not detailed:** {words}.")
        self.add("")

    def git(self) -> None:
        r, s = self.r, self.r.snapshot
        limit = r.limits.value_chars
        self.add("## Commits and pipeline runs", "")
        if s.commits:
            self.add(*header("time", "commit", "author", "message"))
            for commit in s.commits:
                self.add(
                    row(
                        r.clock(commit.at),
                        self.sha(commit.sha),
                        text(commit.author or ""),
                        text(short_value(first_line(commit.message), limit)),
                    )
                )
        else:
            self.add("No commit became the head of a tracked branch in the window.")
        self.add("")
        if s.pipeline_runs:
            self.add(*header("started", "finished", "run", "status", "actor", "commit"))
            for run in s.pipeline_runs:
                self.add(
                    row(
                        r.clock(run.started_at),
                        r.clock(run.finished_at),
                        self.run(run),
                        self.status(run),
                        text(run.actor or ""),
                        self.sha(run.commit),
                    )
                )
        else:
            self.add("No pipeline run was recorded in the window.")
        self.add("")

    def timeline(self) -> None:
        r = self.r
        events, note = r.timeline()
        self.add("## Timeline", "")
        self.add(*header(f"time ({text(r.zone)})", "event", "resource", "cause", "by", "what"))
        for event in events:
            self.add(self.event_row(event))
        if note:
            self.add("", f"*{text(note)}.*")
        self.add("")

    def event_row(self, event: Event) -> str:
        r = self.r
        limit = min(r.limits.value_chars, 60)
        item = event.item
        when = r.clock(event.at)
        if event.kind == "moment":
            return row(f"**{when}**", "**snapshot moment**", "", "", "", "the state in this report")
        if event.kind == "gap":
            return row(
                when,
                "**recording gap**",
                code(item.get("cluster", "")),
                "",
                "",
                f"until {r.clock(item.get('to'))}: {text(item.get('reason', ''))}",
            )
        if event.kind == "commit":
            return row(
                when,
                "commit",
                "",
                "",
                text(item.author or ""),
                f"{self.sha(item.sha)} {text(short_value(first_line(item.message), limit))}",
            )
        if event.kind == "run":
            run: PipelineRunView = item
            span = r.span(run.started_at, run.finished_at)
            what = f"{self.run(run)}: {self.status(run)}, {span}"
            if run.commit:
                what += f", commit {self.sha(run.commit)}"
            return row(when, "pipeline run", "", "", text(run.actor or ""), what)
        change: ChangeView = item
        return row(
            when,
            self.change_word(change),
            code(r.name(change.key)),
            self.cause(change, evidence=False),
            text(actor_text(change)),
            self.fields(change, count=3, limit=limit),
        )

    def affected(self) -> None:
        r = self.r
        self.add(f"## Affected resources ({len(r.affected):,})", "")
        if not r.affected:
            self.add("Nothing drifted, went missing, or changed in the window.", "")
            return
        self.add("Drifted, missing, or changed in the window; drift first.", "")
        self.add(
            *header(
                "resource", f"state at {r.clock(r.at)}", "fields differing", "changes in window"
            )
        )
        rows = r.limits.resource_rows
        for a in r.affected[:rows]:
            changes = a.counted
            self.add(row(code(r.name(a.key)), text(a.label), f"{len(a.diff):,}", changes))
        if len(r.affected) > rows:
            self.add(
                "",
                f"*{len(r.affected) - rows:,} more affected resources left out of this table "
                f"(limit {rows:,}); every resource is in the JSON snapshot.*",
            )
        self.add("")
        detailed = r.limits.resources
        for a in r.affected[:detailed]:
            self.resource(a)
        if len(r.affected) > detailed:
            self.add(
                f"*Sections for {len(r.affected) - detailed:,} more affected resources left out "
                f"(limit {detailed:,}); they are in the table above and in the JSON snapshot.*",
                "",
            )

    def resource(self, a: Affected) -> None:
        r = self.r
        limit = r.limits.value_chars
        res = a.resource
        self.add(f"### {code(r.name(a.key))} · {text(a.label)}", "")
        facts = [f"apiVersion {code(a.api_version)}", f"cluster {code(a.key.cluster)}"]
        if res is not None and res.source:
            facts.insert(
                0,
                f"declared in {code(res.source.get('path', ''))} of "
                f"{code(res.source.get('repo', ''))}",
            )
        self.add("- " + " · ".join(facts))
        if res is not None:
            self.add("- " + self.state_sentence(a))
            images, replicas, ready = running(res.actual)
            if images or replicas is not None:
                parts = [f"{code(name)} {code(image)}" for name, image in images[:6]]
                if len(images) > 6:
                    parts.append(f"+{len(images) - 6} more")
                if replicas is not None:
                    parts.append(f"{replicas} replicas, {ready} ready")
                self.add(f"- Running at {r.clock(r.at)}: " + "; ".join(parts))
        else:
            self.add(
                f"- Neither live nor declared in git at {r.clock(r.at)}; it came or went in "
                "the window."
            )
        self.add("")
        if a.diff:
            shown = a.diff[: r.limits.diff_rows]
            self.add(*header("field", "desired (git)", "actual (cluster)", "last set by"))
            for entry, setter in zip(shown, a.setters, strict=False):
                self.add(
                    row(
                        code(entry.get("path", "")),
                        self.value(entry.get("desired"), limit),
                        self.value(entry.get("actual"), limit),
                        self.setter(setter),
                    )
                )
            if len(a.diff) > len(shown):
                self.add(
                    "",
                    f"*{len(a.diff) - len(shown):,} more differing fields left out "
                    f"(limit {len(shown):,}); all are in the JSON snapshot.*",
                )
            self.add("")
        if a.changes:
            changes, note = trim(
                list(a.changes),
                r.limits.changes,
                r.at,
                when=r.when,
                minor=lambda c: c.status_only,
            )
            self.add(
                f"Changes in the window: {a.counted}:",
                "",
            )
            self.add(*header("time", "change", "cause", "by", "fields"))
            marked = False
            for change in changes:
                if not marked and r.when(change) > r.at:
                    self.add(row(f"**{r.clock(r.at)}**", "**snapshot moment**", "", "", ""))
                    marked = True
                self.add(
                    row(
                        r.clock(change.at),
                        self.change_word(change),
                        self.cause(change, evidence=True),
                        text(actor_text(change)),
                        self.fields(change, count=5, limit=min(limit, 60)),
                    )
                )
            if note:
                self.add("", f"*{text(note)}; every change is in the JSON snapshot.*")
            self.add("")

    def problems(self) -> None:
        r = self.r
        if not r.gaps and not r.problems and not r.inferred:
            return
        self.add("## Recording gaps and errors", "")
        for gap in r.gaps:
            self.add(
                f"- **Gap** in {code(gap.get('source') or gap.get('cluster', ''))}: nothing was "
                f"recorded from {r.clock(gap.get('from'))} to {r.clock(gap.get('to'))}: "
                f"{text(gap.get('reason', 'reason unknown'))}."
            )
        if r.inferred:
            self.add(
                f"- {plural(r.inferred, 'change was', 'changes were')} found by a relist after a "
                "gap (*inferred*): each shows at the time it was found; it happened earlier."
            )
        for problem in r.problems:
            details = ", ".join(
                f"{text(k)}: {code(short_value(v, r.limits.value_chars))}"
                for k, v in problem.items()
                if k != "kind"
            )
            self.add(f"- **{text(problem.get('kind', 'error'))} error**: {details}")
        self.add("")

    def footer(self) -> None:
        s = self.r.snapshot
        self.add(
            "---",
            "",
            f"*Generated by timetravel at {text(s.generated_at)} from a "
            f"{code('timetravel.snapshot/v1')} snapshot. Secret values never appear: they show "
            "as `redacted:<hash>`, which changes when the value does.*",
        )

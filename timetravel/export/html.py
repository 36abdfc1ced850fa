"""The incident report as one self-contained HTML file.

The same content as the Markdown report, plus a drawn timeline of the window (inline SVG)
and side-by-side diffs. No script, no network, no external asset: the stylesheet is inline,
reads in light and dark (``prefers-color-scheme``) and prints (``@media print``). Every text
from the cluster or git goes through :func:`html.escape`; only http(s) URLs become links.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import ChangeView, PipelineRunView, Snapshot
from timetravel.domain.times import parse_rfc3339
from timetravel.export.manifest_diff import drift_texts
from timetravel.export.options import ExportOptions
from timetravel.export.report import Affected, Event, Report, build_report, trim
from timetravel.export.sentences import Sentences
from timetravel.export.wording import (
    CAUSES,
    STATE_WORDS,
    actor_text,
    first_line,
    plural,
    run_failed,
    run_label,
    running,
    safe_url,
    short_value,
)
from timetravel.export.yaml_writer import to_yaml

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;
--panel:#f6f8fa;--link:#0969da;--del:#ffebe9;--add:#dafbe1;--warn:#fff8c5;--warn-line:#d4a72c;
--pipeline:#0969da;--gitops:#1a7f37;--manual:#bc4c00;--controller:#6e7781;--unknown:#8250df;
--ok:#1a7f37;--fail:#cf222e;--drift:#cf222e;--gap:#bf8700}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--line:#3d444d;--panel:#151b23;--link:#4493f8;--del:#3c1618;--add:#12261e;--warn:#272115;
--warn-line:#9e6a03;--pipeline:#4493f8;--gitops:#3fb950;--manual:#f0883e;--controller:#9198a1;
--unknown:#ab7df8;--ok:#3fb950;--fail:#f85149;--drift:#f85149;--gap:#d29922}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1280px;padding:24px;background:var(--bg);color:var(--fg);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
h1{font-size:24px;margin:0 0 6px}
h2{font-size:19px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:0 0 8px}
h4{font-size:14px;margin:14px 0 4px}
h3 code{font-size:15px}
code.res{overflow-wrap:normal}
a{color:var(--link)}
code,pre,.sbs td{font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{background:var(--panel);padding:1px 4px;border-radius:4px;overflow-wrap:anywhere}
pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:8px 0 12px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600}
ul{padding-left:22px}
.lede,.muted,.note{color:var(--muted)}
.note{font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:6px 14px;min-width:104px;
background:var(--panel)}
.card b{display:block;font-size:22px;line-height:1.3}
.card.bad b{color:var(--drift)}
.warn{background:var(--warn);border-left:4px solid var(--warn-line);padding:6px 10px;margin:8px 0}
.badge{display:inline-block;padding:0 8px;border-radius:10px;border:1px solid var(--line);
font-size:12px;font-weight:600;vertical-align:middle}
.badge.bad{color:var(--drift);border-color:var(--drift)}
.cause{font-weight:600}
.cause-pipeline{color:var(--pipeline)}.cause-gitops{color:var(--gitops)}
.cause-manual{color:var(--manual)}.cause-controller{color:var(--controller)}
.cause-unknown{color:var(--unknown)}
.fail{color:var(--fail);font-weight:600}
.resource{border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:16px 0}
.resource>ul{margin:0 0 8px}
td.del{background:var(--del)}td.add{background:var(--add)}td.absent{color:var(--muted)}
table.events td:first-child{white-space:nowrap}
tr.moment td{background:var(--warn);font-weight:600}
tr.status td{color:var(--muted)}
tr.gap td{background:var(--warn)}
.sbs{table-layout:fixed}
.sbs td{border:none;border-left:1px solid var(--line);padding:0 6px;white-space:pre-wrap;
overflow-wrap:anywhere}
.sbs td.ln{color:var(--muted);text-align:right;width:3.5em;border-left:none}
.sbs th.ln{width:3.5em}
.sbs tr.hunk td{background:var(--panel);color:var(--muted);border-top:1px solid var(--line)}
figure{margin:8px 0}
svg.timeline{width:100%;height:auto;display:block;border:1px solid var(--line);
border-radius:6px}
svg text{fill:var(--fg);font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg text.tick{fill:var(--muted)}
svg text.now{fill:var(--drift);font-weight:700;paint-order:stroke;stroke:var(--bg);stroke-width:4px}
svg .grid{stroke:var(--line);stroke-width:1}
svg .band{fill:var(--panel)}
svg .moment{stroke:var(--drift);stroke-width:2}
svg .gap{fill:url(#tt-hatch);stroke:var(--gap);stroke-width:1;opacity:.8}
svg .hatch{stroke:var(--gap);stroke-width:2}
svg .commit{fill:var(--fg)}
svg .run-ok{fill:var(--ok)}svg .run-fail{fill:var(--fail)}svg .run-other{fill:var(--controller)}
svg .c-pipeline{fill:var(--pipeline);stroke:var(--pipeline)}
svg .c-gitops{fill:var(--gitops);stroke:var(--gitops)}
svg .c-manual{fill:var(--manual);stroke:var(--manual)}
svg .c-controller{fill:var(--controller);stroke:var(--controller)}
svg .c-unknown{fill:var(--unknown);stroke:var(--unknown)}
svg .status{fill:var(--bg);stroke-width:2}
svg .inferred{stroke-dasharray:3 3;stroke-width:2;fill:none}
.legend{font-size:12px;color:var(--muted)}
.legend span{margin-right:14px;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;
vertical-align:-1px;border:2px solid transparent}
.sw.pipeline{background:var(--pipeline)}.sw.gitops{background:var(--gitops)}
.sw.manual{background:var(--manual)}.sw.controller{background:var(--controller)}
.sw.unknown{background:var(--unknown)}.sw.status{background:var(--bg);border-color:var(--muted)}
.sw.commit{background:var(--fg);border-radius:0;transform:rotate(45deg);width:8px;height:8px}
.sw.run{border-radius:2px;background:var(--ok);width:16px}
.sw.gap{border-radius:0;background:var(--gap);opacity:.5;width:16px}
footer{margin-top:32px;border-top:1px solid var(--line);padding-top:8px;font-size:12px;
color:var(--muted)}
@media print{:root{--bg:#fff;--fg:#000;--muted:#555;--line:#bbb;--panel:#f2f2f2;--link:#000;
--del:#ffe3e0;--add:#dcf5e0;--warn:#fff5c2;--warn-line:#c49000;--pipeline:#0550ae;
--gitops:#116329;--manual:#953800;--controller:#555;--unknown:#6639ba;--ok:#116329;
--fail:#a40e26;--drift:#a40e26;--gap:#9a6700}
body{max-width:none;padding:0;font-size:10pt}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
h2{break-after:avoid}
.resource,tr,figure{break-inside:avoid}
a{text-decoration:none}}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def link(label_html: str, url: str | None) -> str:
    safe = safe_url(url)
    if not safe:
        return label_html
    return f'<a href="{esc(safe)}" rel="noopener noreferrer">{label_html}</a>'


def code(value: Any) -> str:
    return f"<code>{esc(value)}</code>"


def render_html(snapshot: Snapshot, options: ExportOptions | None = None) -> bytes:
    report = build_report(snapshot, options or ExportOptions())
    return _Html(report).render().encode("utf-8", "backslashreplace")


class _Html(Sentences):
    absent = "<em>absent</em>"
    field_separator = "<br>"
    inferred_mark = ' <abbr title="found by a relist after a recording gap">(inferred)</abbr>'

    def __init__(self, report: Report) -> None:
        super().__init__(report)
        self.anchors = {a.key: f"r{i + 1}" for i, a in enumerate(report.affected)}

    def add(self, *parts: str) -> None:
        self.out.extend(parts)

    def render(self) -> str:
        r, s = self.r, self.r.snapshot
        clusters = ", ".join(str(c.get("name", "")) for c in s.clusters) or "no cluster"
        title = f"Incident snapshot: {clusters} at {r.moment()}"
        self.add(
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="timetravel">',
            '<meta name="color-scheme" content="light dark">',
            f"<title>{esc(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            f"<header><h1>{esc(title)}</h1>",
        )
        self.lede()
        self.add("</header>", "<main>")
        self.summary()
        self.git()
        self.timeline()
        self.affected()
        self.problems()
        self.add("</main>")
        self.add(
            f"<footer>Generated by timetravel at {esc(s.generated_at)} from a "
            f"{code('timetravel.snapshot/v1')} snapshot. Secret values never appear: they "
            f"show as {code('redacted:<hash>')}, which changes when the value does.</footer>",
            "</body>",
            "</html>",
        )
        return "\n".join(self.out) + "\n"

    # --- pieces ------------------------------------------------------------------------------

    def res(self, key: ResourceKey) -> str:
        """A resource's name in code, breakable only after its slashes."""
        parts = self.r.name(key).split("/")
        return '<code class="res">' + "/<wbr>".join(esc(p) for p in parts) + "</code>"

    # --- markup ------------------------------------------------------------------------------

    def text(self, value: Any) -> str:
        return esc(value)

    def code(self, value: Any) -> str:
        return code(value)

    def link(self, label: str, url: str | None) -> str:
        return link(label, url)

    def cause_label(self, cause: str) -> str:
        name = cause if cause in CAUSES else "unknown"
        return f'<span class="cause cause-{name}">{esc(cause)}</span>'

    def evidence(self, evidence: str) -> str:
        return f'<br><span class="muted">{esc(evidence)}</span>'

    def failed(self, status: str) -> str:
        return f'<span class="fail">{status}</span>'

    def block(self, value: Any) -> str:
        """A table cell's value: scalars on one line, maps and lists as (cut) YAML."""
        limit = self.r.limits.value_chars
        if not isinstance(value, dict | list) or not value:
            return f"<pre>{esc(short_value(value, limit * 2))}</pre>"
        lines = to_yaml(value).splitlines()
        if len(lines) > 12:
            lines = [*lines[:12], f"… {len(lines) - 12} more lines"]
        return "<pre>" + esc("\n".join(line[: limit * 2] for line in lines)) + "</pre>"

    def table(self, head: Iterable[str], rows: Iterable[str], cls: str = "") -> None:
        attr = f' class="{cls}"' if cls else ""
        self.add(f"<table{attr}><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
        self.add("</thead><tbody>", *rows, "</tbody></table>")

    # --- sections ----------------------------------------------------------------------------

    def lede(self) -> None:
        r, s = self.r, self.r.snapshot
        lede = (
            f"What was running at <strong>{esc(s.at)}</strong>, what git declared, and every "
            f"change from {esc(r.clock(r.start))} to {esc(r.clock(r.end))}. "
            f"Times are {esc(r.zone)}."
        )
        if r.options.namespaces:
            lede += " Namespaces: " + ", ".join(code(n) for n in r.options.namespaces) + "."
        if r.options.only == "drifted":
            lede += f" Details only for drifted and missing resources ({code('--only drifted')})."
        elif r.options.only == "changed":
            lede += f" Details only for resources changed in the window ({code('--only changed')})."
        self.add(f'<p class="lede">{lede}</p>')

    def summary(self) -> None:
        r, s = self.r, self.r.snapshot
        self.add('<section id="summary"><h2>Summary</h2>', '<div class="cards">')
        cards = [
            ("resources", len(s.resources), False),
            ("in sync", r.counts["in_sync"], False),
            ("drifted", r.counts["drifted"], True),
            ("missing", r.counts["missing"], True),
            ("unmanaged", r.counts["unmanaged"], False),
            ("changes in window", len(s.changes), False),
            ("pipeline runs", len(s.pipeline_runs), False),
        ]
        for label, n, bad in cards:
            cls = "card bad" if bad and n else "card"
            self.add(f'<div class="{cls}"><b>{n:,}</b>{esc(label)}</div>')
        self.add("</div>", "<ul>")
        self.add(
            f"<li><strong>{esc(plural(len(s.resources), 'resource'))}</strong> at "
            f"{esc(r.clock(r.at))}: {r.counts['in_sync']:,} in sync with git, "
            f"<strong>{r.counts['drifted']:,} drifted</strong>, {r.counts['missing']:,} missing "
            f"(declared, not live), {r.counts['unmanaged']:,} unmanaged (live, not in git).</li>"
        )
        for repo in s.repos:
            if repo.commit:
                title = first_line(repo.message)
                self.add(
                    f"<li><strong>Git:</strong> {code(repo.branch)} of {code(repo.path)} pointed "
                    f"to {self.sha(repo.commit)}"
                    + (f" “{esc(title)}”" if title else "")
                    + (
                        f", committed {esc(r.clock(repo.commit_time))}."
                        if repo.commit_time
                        else "."
                    )
                    + "</li>"
                )
            else:
                self.add(
                    f"<li><strong>Git:</strong> {code(repo.branch)} of {code(repo.path)}: no "
                    "commit known at that moment.</li>"
                )
        n = len(s.changes)
        if n:
            causes = ", ".join(
                f'{k:,} <span class="cause cause-{c}">{esc(c)}</span>'
                for c, k in r.causes.items()
                if k
            )
            line = (
                f"<li><strong>{esc(plural(n, 'change'))}</strong> to "
                f"{esc(plural(r.changed_resources, 'resource'))} in the window, by cause: {causes}"
            )
            if r.status_only:
                line += f" ({r.status_only:,} of them to status only)"
            line += "."
            if r.inferred:
                line += (
                    f" {esc(plural(r.inferred, 'change was', 'changes were'))} inferred after a "
                    "recording gap."
                )
            self.add(line + "</li>")
        else:
            self.add("<li><strong>No changes</strong> in the window.</li>")
        failed = [run for run in s.pipeline_runs if run_failed(run)]
        runs = f"<strong>{esc(plural(len(s.pipeline_runs), 'pipeline run'))}</strong>"
        if failed:
            runs += (
                f' (<span class="fail">{len(failed):,} failed</span>: '
                + ", ".join(self.run(f) for f in failed)
                + ")"
            )
        self.add(
            f"<li><strong>{esc(plural(len(s.commits), 'commit'))}</strong> became a branch head "
            f"and {runs} ran in the window.</li>"
        )
        if r.gaps:
            for gap in r.gaps:
                self.add(
                    f'<li class="warn"><strong>Recording gap:</strong> '
                    f"{code(gap.get('cluster', ''))} from {esc(r.clock(gap.get('from')))} to "
                    f"{esc(r.clock(gap.get('to')))}, {esc(gap.get('reason', 'reason unknown'))}. "
                    "What changed in it is known only from the relist after it.</li>"
                )
        else:
            self.add("<li><strong>Recording:</strong> no gaps in the window.</li>")
        if r.problems:
            self.add(
                f"<li><strong>{esc(plural(len(r.problems), 'error'))}</strong> while reading the "
                'state: see <a href="#problems">below</a>.</li>'
            )
        if r.affected:
            shown = ", ".join(
                f'<a href="#{self.anchors[a.key]}">{self.res(a.key)}</a> ({esc(a.label)})'
                for a in r.affected[:5]
            )
            more = f", and {len(r.affected) - 5:,} more" if len(r.affected) > 5 else ""
            self.add(
                f"<li><strong>Affected:</strong> {esc(plural(len(r.affected), 'resource'))}: "
                f"{shown}{more}.</li>"
            )
        else:
            self.add(
                "<li><strong>Affected:</strong> none; nothing drifted, went missing or "
                "changed.</li>"
            )
        quiet = {k: v for k, v in r.counted_only.items() if v}
        if quiet:
            words = ", ".join(f"{v:,} {esc(STATE_WORDS[k])}" for k, v in quiet.items())
            self.add(f"<li><strong>Counted, not detailed:</strong> {words}.</li>")
        self.add("</ul>", "</section>")

    def git(self) -> None:
        r, s = self.r, self.r.snapshot
        limit = r.limits.value_chars
        self.add('<section id="git"><h2>Commits and pipeline runs</h2>')
        if s.commits:
            self.table(
                ("time", "commit", "author", "message"),
                (
                    f"<tr><td>{esc(r.clock(c.at))}</td><td>{self.sha(c.sha)}</td>"
                    f"<td>{esc(c.author or '')}</td>"
                    f"<td>{esc(short_value(first_line(c.message), limit))}</td></tr>"
                    for c in s.commits
                ),
            )
        else:
            self.add("<p>No commit became the head of a tracked branch in the window.</p>")
        if s.pipeline_runs:
            self.table(
                ("started", "finished", "run", "status", "actor", "commit"),
                (
                    f"<tr><td>{esc(r.clock(run.started_at))}</td>"
                    f"<td>{esc(r.clock(run.finished_at))}</td><td>{self.run(run)}</td>"
                    f"<td>{self.status(run)}</td><td>{esc(run.actor or '')}</td>"
                    f"<td>{self.sha(run.commit)}</td></tr>"
                    for run in s.pipeline_runs
                ),
            )
        else:
            self.add("<p>No pipeline run was recorded in the window.</p>")
        self.add("</section>")

    def timeline(self) -> None:
        r = self.r
        events, note = r.timeline()
        self.add('<section id="timeline"><h2>Timeline</h2>')
        self.add(_Drawing(r).svg())
        self.add(
            '<p class="legend">'
            + "".join(f'<span><i class="sw {c}"></i>{esc(c)}</span>' for c in CAUSES)
            + '<span><i class="sw status"></i>status only</span>'
            + '<span><i class="sw commit"></i>commit</span>'
            + '<span><i class="sw run"></i>pipeline run (red: failed)</span>'
            + '<span><i class="sw gap"></i>recording gap</span>'
            + "</p>"
        )
        rows = [self.event_row(e) for e in events]
        self.table(
            (f"time ({esc(r.zone)})", "event", "resource", "cause", "by", "what"), rows, "events"
        )
        if note:
            self.add(f'<p class="note">{esc(note)}.</p>')
        self.add("</section>")

    def event_row(self, event: Event) -> str:
        r = self.r
        limit = min(r.limits.value_chars, 60)
        item = event.item
        when = esc(r.clock(event.at))

        def tr(cls: str, *cells: str) -> str:
            attr = f' class="{cls}"' if cls else ""
            return f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

        if event.kind == "moment":
            return tr("moment", when, "snapshot moment", "", "", "", "the state in this report")
        if event.kind == "gap":
            return tr(
                "gap",
                when,
                "<strong>recording gap</strong>",
                code(item.get("cluster", "")),
                "",
                "",
                f"until {esc(r.clock(item.get('to')))}: {esc(item.get('reason', ''))}",
            )
        if event.kind == "commit":
            return tr(
                "",
                when,
                "commit",
                "",
                "",
                esc(item.author or ""),
                f"{self.sha(item.sha)} {esc(short_value(first_line(item.message), limit))}",
            )
        if event.kind == "run":
            run: PipelineRunView = item
            what = (
                f"{self.run(run)}: {self.status(run)}, "
                f"{esc(r.span(run.started_at, run.finished_at))}"
            )
            if run.commit:
                what += f", commit {self.sha(run.commit)}"
            return tr("", when, "pipeline run", "", "", esc(run.actor or ""), what)
        change: ChangeView = item
        anchor = self.anchors.get(change.key)
        name = self.res(change.key)
        return tr(
            "status" if change.status_only else "",
            when,
            self.change_word(change),
            f'<a href="#{anchor}">{name}</a>' if anchor else name,
            self.cause(change, evidence=False),
            esc(actor_text(change)),
            self.fields(change, count=3, limit=limit),
        )

    def affected(self) -> None:
        r = self.r
        self.add(f'<section id="affected"><h2>Affected resources ({len(r.affected):,})</h2>')
        if not r.affected:
            self.add("<p>Nothing drifted, went missing, or changed in the window.</p>")
            self.add("</section>")
            return
        self.add("<p>Drifted, missing, or changed in the window; drift first.</p>")
        rows = r.limits.resource_rows
        detailed = r.limits.resources
        body = []
        for i, a in enumerate(r.affected[:rows]):
            name = self.res(a.key)
            if i < detailed:
                name = f'<a href="#{self.anchors[a.key]}">{name}</a>'
            changes = a.counted
            body.append(
                f"<tr><td>{name}</td><td>{esc(a.label)}</td><td>{len(a.diff):,}</td>"
                f"<td>{changes}</td></tr>"
            )
        self.table(
            ("resource", f"state at {esc(r.clock(r.at))}", "fields differing", "changes in window"),
            body,
        )
        if len(r.affected) > rows:
            self.add(
                f'<p class="note">{len(r.affected) - rows:,} more affected resources left out of '
                f"this table (limit {rows:,}); every resource is in the JSON snapshot.</p>"
            )
        for a in r.affected[:detailed]:
            self.resource(a)
        if len(r.affected) > detailed:
            self.add(
                f'<p class="note">Sections for {len(r.affected) - detailed:,} more affected '
                f"resources left out (limit {detailed:,}); they are in the table above and in "
                "the JSON snapshot.</p>"
            )
        self.add("</section>")

    def resource(self, a: Affected) -> None:
        r = self.r
        res = a.resource
        bad = " bad" if a.state in ("drifted", "missing") else ""
        self.add(
            f'<article class="resource" id="{self.anchors[a.key]}">',
            f'<h3>{self.res(a.key)} <span class="badge{bad}">{esc(a.label)}</span></h3>',
            "<ul>",
        )
        facts = [f"apiVersion {code(a.api_version)}", f"cluster {code(a.key.cluster)}"]
        if res is not None and res.source:
            facts.insert(
                0,
                f"declared in {code(res.source.get('path', ''))} of "
                f"{code(res.source.get('repo', ''))}",
            )
        self.add("<li>" + " · ".join(facts) + "</li>")
        if res is not None:
            self.add(f"<li>{self.state_sentence(a)}</li>")
            images, replicas, ready = running(res.actual)
            if images or replicas is not None:
                parts = [f"{code(name)} {code(image)}" for name, image in images[:6]]
                if len(images) > 6:
                    parts.append(f"+{len(images) - 6} more")
                if replicas is not None:
                    parts.append(f"{esc(replicas)} replicas, {esc(ready)} ready")
                self.add(f"<li>Running at {esc(r.clock(r.at))}: " + "; ".join(parts) + "</li>")
        else:
            self.add(
                f"<li>Neither live nor declared in git at {esc(r.clock(r.at))}; it came or went "
                "in the window.</li>"
            )
        self.add("</ul>")
        if a.diff:
            shown = a.diff[: r.limits.diff_rows]
            rows = []
            for entry, setter in zip(shown, a.setters, strict=False):
                desired, actual = entry.get("desired"), entry.get("actual")
                rows.append(
                    f"<tr><td>{code(entry.get('path', ''))}</td>"
                    + (
                        '<td class="absent"><em>absent</em></td>'
                        if desired is None
                        else f'<td class="del">{self.block(desired)}</td>'
                    )
                    + (
                        '<td class="absent"><em>absent</em></td>'
                        if actual is None
                        else f'<td class="add">{self.block(actual)}</td>'
                    )
                    + f"<td>{self.setter(setter)}</td></tr>"
                )
            self.table(("field", "desired (git)", "actual (cluster)", "last set by"), rows)
            if len(a.diff) > len(shown):
                self.add(
                    f'<p class="note">{len(a.diff) - len(shown):,} more differing fields left '
                    f"out (limit {len(shown):,}); all are in the JSON snapshot.</p>"
                )
        if res is not None and res.state == "drifted":
            self.side_by_side(a)
        if a.changes:
            changes, note = trim(
                list(a.changes),
                r.limits.changes,
                r.at,
                when=r.when,
                minor=lambda c: c.status_only,
            )
            self.add(f"<h4>Changes in the window: {esc(a.counted)}</h4>")
            rows = []
            marked = False
            for change in changes:
                if not marked and r.when(change) > r.at:
                    rows.append(
                        f'<tr class="moment"><td>{esc(r.clock(r.at))}</td>'
                        '<td colspan="4">snapshot moment</td></tr>'
                    )
                    marked = True
                cls = ' class="status"' if change.status_only else ""
                rows.append(
                    f"<tr{cls}><td>{esc(r.clock(change.at))}</td>"
                    f"<td>{self.change_word(change)}</td>"
                    f"<td>{self.cause(change, evidence=True)}</td>"
                    f"<td>{esc(actor_text(change))}</td>"
                    f"<td>{self.fields(change, count=5, limit=min(r.limits.value_chars, 60))}</td>"
                    "</tr>"
                )
            self.table(("time", "change", "cause", "by", "fields"), rows, "events")
            if note:
                self.add(f'<p class="note">{esc(note)}; every change is in the JSON snapshot.</p>')
        self.add("</article>")

    def side_by_side(self, a: Affected) -> None:
        assert a.resource is not None
        texts = drift_texts(a.resource)
        if texts is None:
            return
        desired, other, placed = texts
        left, right = desired.splitlines(), other.splitlines()
        source = (a.resource.source or {}).get("path", "")
        right_title = (
            "actual: the drifted fields, in the manifest"
            if placed
            else "actual: the whole live object"
        )
        self.add(
            "<h4>In the manifest</h4>",
            '<table class="sbs"><thead><tr>'
            f'<th class="ln"></th><th>desired (git) {code(source) if source else ""}</th>'
            f'<th class="ln"></th><th>{esc(right_title)}</th></tr></thead><tbody>',
        )
        budget = self.r.limits.context_lines
        shown = 0
        matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
        for group in matcher.get_grouped_opcodes(3):
            if shown >= budget:
                break
            first, last = group[0], group[-1]
            self.add(
                f'<tr class="hunk"><td class="ln"></td><td>lines {first[1] + 1}–{last[2]}</td>'
                f'<td class="ln"></td><td>lines {first[3] + 1}–{last[4]}</td></tr>'
            )
            for tag, i1, i2, j1, j2 in group:
                for k in range(max(i2 - i1, j2 - j1)):
                    if shown >= budget:
                        break
                    shown += 1
                    li, ri = i1 + k, j1 + k
                    has_left, has_right = li < i2, ri < j2
                    lcls = "" if tag == "equal" else (' class="del"' if has_left else "")
                    rcls = "" if tag == "equal" else (' class="add"' if has_right else "")
                    self.add(
                        f'<tr><td class="ln">{li + 1 if has_left else ""}</td>'
                        f"<td{lcls}>{esc(left[li]) if has_left else ''}</td>"
                        f'<td class="ln">{ri + 1 if has_right else ""}</td>'
                        f"<td{rcls}>{esc(right[ri]) if has_right else ''}</td></tr>"
                    )
        self.add("</tbody></table>")
        if shown >= budget:
            self.add(
                f'<p class="note">The diff is cut at {budget:,} lines; the bundle holds it whole '
                "(diffs/).</p>"
            )

    def problems(self) -> None:
        r = self.r
        if not r.gaps and not r.problems and not r.inferred:
            return
        self.add('<section id="problems"><h2>Recording gaps and errors</h2><ul>')
        for gap in r.gaps:
            self.add(
                f"<li><strong>Gap</strong> in {code(gap.get('source') or gap.get('cluster', ''))}"
                f": nothing was recorded from {esc(r.clock(gap.get('from')))} to "
                f"{esc(r.clock(gap.get('to')))}: {esc(gap.get('reason', 'reason unknown'))}.</li>"
            )
        if r.inferred:
            self.add(
                f"<li>{esc(plural(r.inferred, 'change was', 'changes were'))} found by a relist "
                "after a gap (<em>inferred</em>): each shows at the time it was found; it "
                "happened earlier.</li>"
            )
        for problem in r.problems:
            details = ", ".join(
                f"{esc(k)}: {code(short_value(v, r.limits.value_chars))}"
                for k, v in problem.items()
                if k != "kind"
            )
            self.add(
                f"<li><strong>{esc(problem.get('kind', 'error'))} error</strong>: {details}</li>"
            )
        self.add("</ul></section>")


class _Drawing:
    """The window as an SVG: lanes for commits, each pipeline and each affected resource."""

    WIDTH = 1000
    LABEL = 210
    RIGHT = 30
    TOP = 44
    LANE = 24

    def __init__(self, report: Report) -> None:
        self.r = report
        self.span = max((report.end - report.start).total_seconds(), 1.0)

    def x(self, when: datetime) -> float:
        seconds = (when - self.r.start).total_seconds()
        seconds = min(max(seconds, 0.0), self.span)
        return self.LABEL + seconds / self.span * (self.WIDTH - self.LABEL - self.RIGHT)

    def lanes(self) -> tuple[list[tuple[str, str, list[Any]]], int]:
        """(label, kind, items) per lane, and how many resource lanes were left out."""
        r, s = self.r, self.r.snapshot
        lanes: list[tuple[str, str, list[Any]]] = []
        if s.commits:
            lanes.append(("commits", "commit", list(s.commits)))
        pipelines: dict[tuple[str, str], list[PipelineRunView]] = {}
        for run in s.pipeline_runs:
            pipelines.setdefault((run.provider, run.pipeline), []).append(run)
        for (provider, pipeline), runs in pipelines.items():
            lanes.append((f"{provider} {pipeline}", "run", list(runs)))
        changed = [a for a in r.affected if a.changes]
        for a in changed[: r.limits.lanes]:
            lanes.append((r.name(a.key), "change", list(a.changes)))
        return lanes, max(len(changed) - r.limits.lanes, 0)

    def ticks(self) -> list[tuple[datetime, str]]:
        r = self.r
        tz = r.options.tz
        steps = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
        step = next((s for s in steps if self.span / s <= 10), 86400 * 7)
        local = r.start.astimezone(tz)
        base = local.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = (local.replace(tzinfo=None) - base.replace(tzinfo=None)).total_seconds()
        k = int(-(-offset // step))
        out: list[tuple[datetime, str]] = []
        while len(out) < 40:
            naive = base.replace(tzinfo=None) + timedelta(seconds=k * step)
            when = naive.replace(tzinfo=tz).astimezone(UTC)
            if when > r.end:
                break
            if when >= r.start:
                if step >= 86400:
                    label = f"{_DAYS[naive.weekday()]} {naive.month:02d}-{naive.day:02d}"
                elif r.one_day:
                    label = f"{naive.hour:02d}:{naive.minute:02d}"
                else:
                    label = f"{_DAYS[naive.weekday()]} {naive.hour:02d}:{naive.minute:02d}"
                out.append((when, label))
            k += 1
        return out

    def svg(self) -> str:
        r = self.r
        lanes, left_out = self.lanes()
        bottom = self.TOP + max(len(lanes), 1) * self.LANE
        height = bottom + (22 if left_out else 8)
        w = self.WIDTH
        out = [
            f'<figure><svg class="timeline" viewBox="0 0 {w} {height}" role="img" '
            f'aria-label="Timeline from {esc(r.clock(r.start))} to {esc(r.clock(r.end))}" '
            'xmlns="http://www.w3.org/2000/svg">',
            '<defs><pattern id="tt-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><line class="hatch" x1="0" y1="0" x2="0" y2="6"/>'
            "</pattern></defs>",
        ]
        for i in range(len(lanes)):
            if i % 2 == 0:
                top = self.TOP + i * self.LANE
                out.append(f'<rect class="band" x="0" y="{top}" width="{w}" height="{self.LANE}"/>')
        for when, label in self.ticks():
            x = self.x(when)
            out.append(
                f'<line class="grid" x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{bottom}"/>'
                f'<text class="tick" x="{x:.1f}" y="14" text-anchor="middle">{esc(label)}</text>'
            )
        for gap in r.gaps:
            start = _parse(gap.get("from")) or r.start
            end = _parse(gap.get("to")) or r.end
            x1, x2 = self.x(start), self.x(end)
            out.append(
                f'<rect class="gap" x="{x1:.1f}" y="20" width="{max(x2 - x1, 2):.1f}" '
                f'height="{bottom - 20}"><title>recording gap {esc(r.clock(start))}–'
                f"{esc(r.clock(end))}: {esc(gap.get('reason', ''))}</title></rect>"
            )
        for i, (label, kind, items) in enumerate(lanes):
            y = self.TOP + i * self.LANE + self.LANE / 2
            short = label if len(label) <= 32 else label[:31] + "…"
            out.append(
                f'<text x="8" y="{y + 4:.1f}"><title>{esc(label)}</title>{esc(short)}</text>'
            )
            for item in items:
                out.append(self.mark(kind, item, y))
        x = self.x(r.at)
        out.append(
            f'<line class="moment" x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{bottom}"/>'
            f'<text class="now" x="{x:.1f}" y="32" text-anchor="middle">'
            f"{esc(r.clock(r.at))}</text>"
        )
        if left_out:
            out.append(
                f'<text class="tick" x="8" y="{bottom + 15}">{left_out:,} more changed resources '
                "are not drawn (see the table)</text>"
            )
        out.append("</svg></figure>")
        return "".join(out)

    def mark(self, kind: str, item: Any, y: float) -> str:
        r = self.r
        if kind == "commit":
            x = self.x(_parse(item.at) or r.at)
            title = f"{r.clock(item.at)} commit {item.sha[:7]} {first_line(item.message)}"
            return (
                f'<polygon class="commit" points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} '
                f'{x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}"><title>{esc(title)}</title></polygon>'
            )
        if kind == "run":
            run: PipelineRunView = item
            start = _parse(run.started_at) or _parse(run.finished_at) or r.at
            end = _parse(run.finished_at) or r.end
            x1, x2 = self.x(start), self.x(end)
            status = (run.status or "").lower()
            cls = (
                "run-fail"
                if run_failed(run)
                else (
                    "run-ok" if status in ("success", "succeeded", "passed", "ok") else "run-other"
                )
            )
            title = (
                f"{run.provider} {run_label(run)}: {run.status or 'unknown'}, "
                f"{r.span(run.started_at, run.finished_at)}"
            )
            return (
                f'<rect class="{cls}" x="{x1:.1f}" y="{y - 5:.1f}" width="{max(x2 - x1, 4):.1f}" '
                f'height="10" rx="2"><title>{esc(title)}</title></rect>'
            )
        change: ChangeView = item
        x = self.x(_parse(change.at) or r.at)
        cause = change.cause if change.cause in CAUSES else "unknown"
        classes = [f"c-{cause}"]
        if change.status_only:
            classes.append("status")
        fields = ", ".join(f.path for f in change.fields[:4])
        if len(change.fields) > 4:
            fields += f", +{len(change.fields) - 4} more"
        title = (
            f"{r.clock(change.at)} {change.type}{' (status)' if change.status_only else ''} "
            f"by {actor_text(change) or 'unknown'} ({change.cause})"
            + (f": {fields}" if fields else "")
        )
        circle = (
            f'<circle class="{" ".join(classes)}" cx="{x:.1f}" cy="{y:.1f}" r="5">'
            f"<title>{esc(title)}</title></circle>"
        )
        if not change.inferred:
            return circle
        # Found by the relist after a gap: it happened at some time since the gap began.
        found = _parse(change.at) or r.at
        starts = []
        for gap in r.gaps:
            began = _parse(gap.get("from"))
            if (
                began is not None
                and began <= found
                and gap.get("cluster") in (None, change.key.cluster)
            ):
                starts.append(began)
        since = self.x(max(starts)) if starts else x - 12
        return (
            f'<line class="c-{cause} inferred" x1="{since:.1f}" y1="{y:.1f}" x2="{x:.1f}" '
            f'y2="{y:.1f}"><title>{esc(title)} (happened during the gap)</title></line>' + circle
        )


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None

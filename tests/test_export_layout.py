"""How the export package is laid out: the HTML stylesheet is package data, the timeline is
drawn by a module of its own, and the Markdown and HTML reports say the same sentences (one
template, two markups). The bytes themselves are checked by the golden files in
tests/test_export_formats.py.
"""

from __future__ import annotations

import html
import re
from importlib.resources import files

from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import (
    ChangeView,
    CommitView,
    FieldChange,
    RepoView,
    ResourceView,
    Snapshot,
)
from timetravel.export import ExportOptions, build_report, write_export
from timetravel.export.html import stylesheet
from timetravel.export.timeline_svg import draw_timeline, legend

KEY = ResourceKey("c1", "apps", "Deployment", "payments", "api")
RUN = PipelineRun(
    "github-actions",
    "deploy",
    "7",
    "a" * 40,
    url="https://github.com/acme/gitops/actions/runs/7",
    status="failed",
    actor="ci-bot",
    started_at="2026-11-19T21:00:00Z",
    finished_at="2026-11-19T21:04:00Z",
)


def _snapshot() -> Snapshot:
    """A small window with one of everything the reports talk about."""
    change = ChangeView(
        at="2026-11-19T21:10:00Z",
        key=KEY,
        api_version="apps/v1",
        type="updated",
        cause="manual",
        actor="alice",
        fields=(FieldChange("spec.replicas", 2, 5),),
    )
    resource = ResourceView(
        key=KEY,
        api_version="apps/v1",
        state="drifted",
        desired={"kind": "Deployment", "spec": {"replicas": 2}},
        actual={"kind": "Deployment", "spec": {"replicas": 5}, "status": {"readyReplicas": 5}},
        diff=({"path": "spec.replicas", "desired": 2, "actual": 5},),
        source={"repo": "https://github.com/acme/gitops", "path": "payments/api.yaml"},
        last_change=change,
    )
    return Snapshot(
        at="2026-11-19T21:30:00Z",
        window_from="2026-11-19T20:30:00Z",
        window_to="2026-11-19T22:30:00Z",
        generated_at="2026-11-26T10:00:00Z",
        clusters=({"name": "c1"},),
        repos=(RepoView("https://github.com/acme/gitops", "main", "a" * 40, message="Scale"),),
        resources=(resource,),
        changes=(change,),
        pipeline_runs=(RUN,),
        commits=(CommitView("a" * 40, "2026-11-19T20:58:00Z", "Scale api", author="bob"),),
        errors=(
            {
                "kind": "gap",
                "cluster": "c1",
                "from": "2026-11-19T20:40:00Z",
                "to": "2026-11-19T20:45:00Z",
                "reason": "watch expired",
            },
            {"kind": "manifest", "path": "payments/bad.yaml", "error": "not YAML"},
        ),
    )


def _plain_md(markup: str) -> str:
    """Markdown as the words it shows: links to their labels, emphasis and code marks gone."""
    markup = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markup)
    return re.sub(r"\\(.)", r"\1", markup.replace("**", "").replace("*", "").replace("`", ""))


def _plain_html(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _md_section(page: str, title: str) -> str:
    return page.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _html_section(page: str, anchor: str) -> str:
    return page.split(f'<section id="{anchor}">', 1)[1].split("</section>", 1)[0]


def test_the_page_inlines_the_packaged_stylesheet() -> None:
    css = files("timetravel.export").joinpath("report.css").read_text(encoding="utf-8")
    assert css.startswith(":root{") and css.endswith("}\n")
    assert stylesheet() == css
    page = write_export(_snapshot(), "html").decode()
    assert page.count("<style>") == 1
    assert f"<style>\n{css}</style>" in page


def test_the_timeline_drawing_is_one_figure_in_the_page() -> None:
    report = build_report(_snapshot(), ExportOptions())
    figure = draw_timeline(report)
    assert figure.startswith('<figure><svg class="timeline"') and figure.endswith("</svg></figure>")
    assert "\n" not in figure
    # in the page, the legend sits inside the figure: printed, no page break parts them
    captioned = draw_timeline(report, legend())
    assert captioned == figure.removesuffix("</figure>") + legend() + "</figure>"
    assert f"\n{captioned}\n" in write_export(_snapshot(), "html").decode()


def test_both_reports_say_the_same_points_in_the_same_order() -> None:
    md = write_export(_snapshot(), "markdown").decode()
    page = write_export(_snapshot(), "html").decode()
    for title, anchor in (("Summary", "summary"), ("Recording gaps and errors", "problems")):
        md_points = [
            _plain_md(line[2:]) for line in _md_section(md, title).splitlines() if line[:2] == "- "
        ]
        html_points = [
            _plain_html(point)
            for point in re.findall(r"<li[^>]*>(.*?)</li>", _html_section(page, anchor))
        ]
        assert md_points and md_points == html_points, title
    assert "see below" in md and 'see <a href="#problems">below</a>' in page


def test_both_timelines_have_the_same_rows() -> None:
    md = write_export(_snapshot(), "markdown").decode()
    page = write_export(_snapshot(), "html").decode()
    md_lines = [line for line in _md_section(md, "Timeline").splitlines() if line[:2] == "| "]
    md_rows = [  # the first is the head's
        [_plain_md(cell.strip()) for cell in line.strip("|").split(" | ")] for line in md_lines[1:]
    ]
    html_rows = [
        [_plain_html(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", _html_section(page, "timeline"))
    ]
    html_rows = [row for row in html_rows if row]  # the head's row has no <td>
    kinds = [row[1] for row in md_rows]
    assert kinds == ["recording gap", "commit", "pipeline run", "updated", "snapshot moment"]
    assert md_rows == html_rows

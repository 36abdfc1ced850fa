"""Exports where they are shared: `-o` as kubectl has it, Markdown as GitHub renders it and
within a comment's size, and no local path of the machine that wrote them.

The Markdown goes through markdown-it-py's ``gfm-like`` preset (CommonMark with GitHub's
tables, strikethrough and autolinks, raw HTML allowed as GitHub allows ``<details>``).
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from timetravel.cli import cli
from timetravel.demo.build import Demo, build
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
from timetravel.export import GITHUB_COMMENT_LIMIT, hide_local_paths, write_export
from timetravel.export.markdown_fit import size

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
AT = "2026-11-19T21:30:00Z"
GFM = MarkdownIt("gfm-like")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("demo") / "demo", now=NOW, zone=ZoneInfo("UTC"))


def _export(demo: Demo, *args: str) -> Any:
    runner = CliRunner()
    return runner.invoke(cli, ["export", "--db", str(demo.db_path), "--at", AT, *args])


# --- -o is the format ------------------------------------------------------------------------


def test_o_names_the_format_as_in_kubectl(demo: Demo, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    result = _export(demo, "-o", "json")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("{") and '"timetravel.snapshot/v1.1"' in result.stdout
    assert not (tmp_path / "json").exists()  # the old trap: a file named json
    for value in ("md", "markdown", "--output=markdown"):
        args = [value] if value.startswith("--") else ["-o", value]
        result = _export(demo, *args)
        assert result.exit_code == 0 and result.stdout.startswith("# Incident snapshot"), value
    result = _export(demo, "-o", "html")
    assert result.stdout.startswith("<!DOCTYPE html>")
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_output_file_and_its_suffix_can_choose(demo: Demo, tmp_path: Path) -> None:
    for name, start in (("r.md", b"# Incident"), ("r.html", b"<!DOCTYPE"), ("r.json", b"{")):
        result = _export(demo, "--output-file", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert result.stderr == f"wrote {tmp_path / name}\n"
        assert (tmp_path / name).read_bytes().startswith(start)
    # a format given wins over the suffix
    result = _export(demo, "-o", "json", "--output-file", str(tmp_path / "odd.md"))
    assert (tmp_path / "odd.md").read_bytes().startswith(b"{")
    result = _export(demo, "-o", "bundle", "--output-file", str(tmp_path / "b.tar.gz"))
    assert result.exit_code == 0 and tarfile.is_tarfile(tmp_path / "b.tar.gz")


def test_o_with_a_path_still_works_for_one_release_with_a_warning(
    demo: Demo, tmp_path: Path
) -> None:
    target = tmp_path / "incident.md"
    result = _export(demo, "--format", "markdown", "-o", str(target))
    assert result.exit_code == 0, result.output
    warning, wrote = result.stderr.splitlines()
    assert warning.startswith("timetravel: warning: -o PATH is deprecated")
    assert f"--output-file {target}" in warning and wrote == f"wrote {target}"
    assert target.read_bytes().startswith(b"# Incident snapshot")
    bundle = tmp_path / "b"
    result = _export(demo, "--format", "bundle", "-o", f"{bundle}/")
    assert result.exit_code == 0 and (bundle / "report.md").is_file()
    assert result.stderr.count("deprecated") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-o", "yaml"],
            "-o yaml: not an output format (use one of json, markdown, html, bundle, md)",
        ),
        (["-o", "wide"], "a file is --output-file PATH"),
        (["-o", "json", "--format", "html"], "-o json and --format html disagree"),
        (["-o", "html", "--max-size"], "--max-size applies to -o markdown, not to -o html"),
        (["-o", "md", "--max-size", "100"], "100 is not in the range x>=2000"),
        (["-o", "bundle"], "-o bundle needs --output-file PATH"),
    ],
)
def test_what_is_not_a_format_is_a_mistake(
    demo: Demo, tmp_path: Path, monkeypatch: Any, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _export(demo, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert list(tmp_path.iterdir()) == []  # no file named yaml or wide


# --- no local paths ----------------------------------------------------------------------------


def _texts(data: bytes) -> str:
    if data[:2] == b"\x1f\x8b":
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
            return "\n".join(
                tar.extractfile(m).read().decode()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            )
    return data.decode()


def test_no_local_path_in_any_format_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home" / "alice"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    demo = build(home / "src" / "demo", now=NOW, zone=ZoneInfo("UTC"))
    runner = CliRunner()
    base = ["export", "--db", str(demo.db_path), "--at", AT]
    for fmt in ("json", "markdown", "html", "bundle"):
        target = tmp_path / f"out.{fmt}"
        result = runner.invoke(cli, [*base, "-o", fmt, "--output-file", str(target)])
        assert result.exit_code == 0, result.output
        text = _texts(target.read_bytes())
        assert str(tmp_path) not in text and str(home) not in text, fmt
        assert "/tmp/" not in text and "/home/" not in text, fmt
        assert "gitops" in text, fmt  # the repository, by its directory's name
        kept = runner.invoke(
            cli, [*base, "-o", fmt, "--output-file", str(target), "--include-paths"]
        )
        assert kept.exit_code == 0, kept.output
        assert str(demo.repo_path) in _texts(target.read_bytes()), fmt


def test_local_paths_become_names_urls_stay() -> None:
    key = ResourceKey("c1", "apps", "Deployment", "ns", "api")
    snap = _snapshot(
        repos=(
            RepoView("/home/alice/src/gitops", "main", "a" * 40),
            RepoView("/srv/mirror/gitops.git", "main", "b" * 40),
            RepoView("https://github.com/acme/infra.git", "main", "c" * 40),
            RepoView("git@github.com:acme/apps.git", "main", "d" * 40),
        ),
        resources=(
            ResourceView(
                key, "apps/v1", "in_sync", {}, {}, source={"repo": "/srv/mirror/gitops.git", "path": "a.yaml"}
            ),
        ),
        errors=(
            {"kind": "gap", "source": "repo:/home/alice/src/gitops#main", "reason": "x"},
            {"kind": "manifest", "repo": "/home/alice/src/gitops", "path": "b.yaml",
             "error": "cannot read /home/alice/src/gitops/b.yaml; see /home/alice/.cache and /home/alicex"},
        ),
    )  # fmt: skip
    hidden = hide_local_paths(snap, home="/home/alice")
    assert [r.path for r in hidden.repos] == [
        "gitops",
        "gitops (2)",
        "https://github.com/acme/infra.git",
        "git@github.com:acme/apps.git",
    ]
    assert hidden.resources[0].source == {"repo": "gitops (2)", "path": "a.yaml"}
    assert hidden.errors[0]["source"] == "repo:gitops#main"
    assert hidden.errors[1]["repo"] == "gitops"
    # a path component is whole or not at all: /home/alicex is someone else's
    assert hidden.errors[1]["error"] == "cannot read gitops/b.yaml; see ~/.cache and /home/alicex"
    assert hide_local_paths(snap, home="/home/alice") == hidden  # same input, same output


# --- Markdown as GitHub renders it ----------------------------------------------------------


def _snapshot(**parts: Any) -> Snapshot:
    return Snapshot(
        at=AT,
        window_from="2026-11-19T20:30:00Z",
        window_to="2026-11-19T22:30:00Z",
        generated_at="2026-11-26T10:00:00Z",
        clusters=({"name": "c1"},),
        **parts,
    )


def _big(resources: int, diffs: int, changes: int, runs: int = 0) -> Snapshot:
    """A busy store's moment: drifted resources with long diffs (pipes and HTML in their
    values), many changes, commits and runs."""
    views = []
    for i in range(resources):
        key = ResourceKey("c1", "apps", "Deployment", f"ns{i % 9}", f"app|{i:05d}")
        desired = {"spec": {f"f{j}": f"v{j} | <b>{j}</b>" for j in range(diffs)}}
        actual = {"spec": {f"f{j}": f"v{j + 1} | `x`" for j in range(diffs)}}
        diff = tuple(
            {"path": f"spec.f{j}", "desired": f"v{j} | <b>{j}</b>", "actual": f"v{j + 1} | `x`"}
            for j in range(diffs)
        )
        views.append(ResourceView(key, "apps/v1", "drifted", desired, actual, diff=diff))
    all_changes = []
    for j in range(changes):
        second = j * 7200 // max(changes, 1)
        when = datetime(2026, 11, 19, 20, 30, tzinfo=UTC) + timedelta(seconds=second)
        all_changes.append(
            ChangeView(
                at=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                key=views[j % len(views)].key,
                api_version="apps/v1",
                type="updated",
                cause=("manual", "controller", "gitops")[j % 3],
                actor=f"user|{j}",
                status_only=j % 4 == 3,
                fields=(FieldChange("spec.replicas", j, j + 1),),
            )
        )
    commits = tuple(
        CommitView(f"{k:040x}", f"2026-11-19T21:{k % 60:02d}:00Z", f"fix | {k}", author="a|b")
        for k in range(runs)
    )
    pipeline_runs = tuple(
        PipelineRun("github-actions", "deploy", str(k), f"{k:040x}", status="success",
                    started_at=f"2026-11-19T21:{k % 60:02d}:00Z")
        for k in range(runs)
    )  # fmt: skip
    return _snapshot(
        resources=tuple(views),
        changes=tuple(all_changes),
        commits=commits,
        pipeline_runs=pipeline_runs,
    )


def _check_renders(md: str) -> str:
    """The Markdown through the GFM renderer: every table row as wide as its header, no
    markup from the data, folds closed; returns the HTML."""
    page = GFM.render(md)
    tables = re.findall(r"<table>.*?</table>", page, re.S)
    for table in tables:
        head = re.search(r"<thead>\s*<tr>(.*?)</tr>", table, re.S)
        assert head is not None
        width = len(re.findall(r"<th\b", head.group(1)))
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
            assert len(re.findall(r"<t[dh]\b", row)) == width, row
    # only the report's own tags: no <b>, <script>, <img> from the data
    tags = set(re.findall(r"<([a-z0-9]+)", page))
    assert tags <= {
        "h1", "h2", "h3", "p", "ul", "li", "strong", "em", "code", "a", "table", "thead",
        "tbody", "tr", "th", "td", "details", "summary", "pre", "hr",
    }, tags  # fmt: skip
    assert page.count("<details>") == page.count("</details>")
    assert md.count("<details>") == md.count("</details>")
    return page


def test_tables_stay_intact_and_pipes_stay_data() -> None:
    md = write_export(_big(resources=3, diffs=4, changes=20, runs=3), "markdown").decode()
    page = _check_renders(md)
    assert "<td><code>v1 | `x`</code></td>" in page  # the pipe is the value's, escaped
    assert "<code>ns0/Deployment/app|00000</code>" in page
    assert "<td>user|0</td>" in page and "&lt;b&gt;0&lt;/b&gt;" in page


def test_long_diffs_are_folded() -> None:
    md = write_export(_big(resources=2, diffs=14, changes=4), "markdown").decode()
    page = _check_renders(md)
    folds = re.findall(r"<details><summary>(.*?)</summary>(.*?)</details>", page, re.S)
    tables = [body for summary, body in folds if summary.startswith("14 differing fields")]
    assert len(tables) == 2 and all("<table>" in t for t in tables)
    diffs = [body for summary, body in folds if summary.startswith("The drift in the manifest")]
    assert len(diffs) == 2
    assert all('<pre><code class="language-diff">' in d for d in diffs)
    assert "-  f0: &quot;v0 | &lt;b&gt;0&lt;/b&gt;&quot;" in diffs[0]  # the cluster's text, as code
    # a short diff table stays open
    short = write_export(_big(resources=1, diffs=3, changes=2), "markdown").decode()
    assert "differing fields: desired" not in short


def test_a_fence_is_longer_than_any_backticks_in_the_diff() -> None:
    snap = _big(resources=1, diffs=1, changes=0)
    view = snap.resources[0]
    fenced = ResourceView(
        view.key,
        "apps/v1",
        "drifted",
        {"data": {"a": "```\n````\nend"}},
        {"data": {"a": "x"}},
        diff=({"path": "data.a", "desired": "```\n````\nend", "actual": "x"},),
    )
    md = write_export(_snapshot(resources=(fenced,)), "markdown").decode()
    page = _check_renders(md)
    assert "`````diff" in md
    block = re.search(r'<code class="language-diff">(.*?)</code>', page, re.S)
    assert block is not None and "````" in block.group(1) and "</details>" not in block.group(1)


@pytest.mark.parametrize("limit", [2_000, 8_000, 30_000, GITHUB_COMMENT_LIMIT])
def test_max_size_keeps_a_big_report_under_the_limit(limit: int) -> None:
    snap = _big(resources=300, diffs=30, changes=3_000, runs=120)
    full = write_export(snap, "markdown").decode()
    assert size(full) > 4 * GITHUB_COMMENT_LIMIT  # far too long for a comment
    started = time.monotonic()
    md = write_export(snap, "markdown", max_chars=limit).decode()
    took = time.monotonic() - started
    assert size(md) <= limit, (size(md), limit)
    assert len(md) + md.count("\n") <= limit  # CRLF line breaks and all
    _check_renders(md)
    assert md.startswith("# Incident snapshot") and "## Summary" in md
    cut = md[md.index("## Left out to fit") :]
    assert f"To stay under {limit:,} characters" in cut
    assert "- " in cut and md.rstrip().endswith("which changes when the value does.*")
    assert took < 20, took  # a few renders of the report, not one per row


def test_max_size_cuts_the_least_important_first(demo: Demo) -> None:
    full = _export(demo, "-o", "md").stdout
    assert "Left out to fit" not in full
    same = _export(demo, "-o", "md", "--max-size").stdout  # 65,536: the demo fits whole
    assert same.replace("\n", "")[:200] == full.replace("\n", "")[:200]
    assert "Left out to fit" not in same and size(same) <= GITHUB_COMMENT_LIMIT
    smaller = size(full) - 1_500
    md = _export(demo, "-o", "md", "--max-size", str(smaller)).stdout
    assert size(md) <= smaller
    # the drawn manifest diff goes first; the field tables, timeline and summary stay
    assert "The drift in the manifest" not in md and "`spec.replicas`" in md
    assert "## Timeline" in md and "Commits and pipeline runs" in md
    assert "- the drift drawn in each manifest (the tables of differing fields stay)" in md
    assert "timeline rows" not in md.split("## Left out to fit")[1]  # only what was cut
    _check_renders(md)


def test_when_even_the_summary_is_too_long_its_end_goes() -> None:
    gaps = tuple(
        {"kind": "gap", "cluster": "c1", "source": "cluster:c1", "reason": f"outage | {i}",
         "from": f"2026-11-19T21:{i % 60:02d}:00Z", "to": f"2026-11-19T21:{i % 60:02d}:30Z"}
        for i in range(200)
    )  # fmt: skip
    md = write_export(_snapshot(errors=gaps), "markdown", max_chars=4_000).decode()
    assert size(md) <= 4_000
    _check_renders(md)
    assert re.search(r"\*The summary is cut here: [0-9,]+ more points left out to fit\.\*", md)
    assert "- the list of recording gaps and errors" in md and "- the section Timeline" in md
    assert re.search(r"^- the summary.s last [0-9,]+ points$", md, re.M)

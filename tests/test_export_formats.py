"""The incident exports people read and share: Markdown, HTML and the bundle.

Golden files live in tests/data/golden/export/. After an intended change, regenerate them
with ``TIMETRAVEL_UPDATE_GOLDEN=1 pytest tests/test_export_formats.py`` and read the diff.
They are made from the demo store (deterministic for a fixed ``now``), with two things that
differ between builds normalized: the per-database redaction key (``redacted:<hex>`` becomes
``redacted:xxxx...`` of the same length) and the repository's temporary path.
"""

from __future__ import annotations

import base64
import dataclasses
import difflib
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

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
from timetravel.export import (
    Limits,
    drift_texts,
    guard_secrets,
    to_yaml,
    write_bundle_dir,
    write_export,
)
from timetravel.export.markdown import code, row
from timetravel.query.moment import build_snapshot
from timetravel.store.db import open_database

from .conftest import ROOT

GOLDEN = Path(__file__).parent / "data" / "golden" / "export"
UPDATE = os.environ.get("TIMETRAVEL_UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
GENERATED = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
INCIDENT = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)
WEEK = (datetime(2026, 11, 21, 12, 0, tzinfo=UTC), timedelta(days=2))
REPO = "/srv/gitops"
SECRET_VALUES = [
    "czNjcjN0LXBhc3N3b3JkLTIwMjY=",  # payments-db password before the rotation
    "cjB0YXQzZC1wYXNzd29yZC0yMDI2LTEy",  # after
    "cGF5bWVudHM=",  # username
]
_HASH = re.compile(rb"redacted:([0-9a-f]{6,64})")


def forbidden() -> list[bytes]:
    out = []
    for value in SECRET_VALUES:
        out += [value.encode(), value.rstrip("=").encode()]
        decoded = base64.b64decode(value)
        if decoded != b"payments":  # the username is also the namespace's name
            out.append(decoded)
    return out


def normalized(data: bytes) -> bytes:
    """The redaction hashes (keyed per database) as ``x``s of the same length."""
    return _HASH.sub(lambda m: b"redacted:" + b"x" * len(m.group(1)), data)


def relocated(snapshot: Snapshot, old: str) -> Snapshot:
    """The snapshot with the demo repository's temporary path replaced by ``REPO``."""

    def fix(resource: ResourceView) -> ResourceView:
        if resource.source and resource.source.get("repo") == old:
            return dataclasses.replace(resource, source={**resource.source, "repo": REPO})
        return resource

    return dataclasses.replace(
        snapshot,
        repos=tuple(
            dataclasses.replace(r, path=REPO) if r.path == old else r for r in snapshot.repos
        ),
        resources=tuple(fix(r) for r in snapshot.resources),
    )


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    data = normalized(data)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert path.exists(), f"no golden file {path}: run with TIMETRAVEL_UPDATE_GOLDEN=1"
    expected = path.read_bytes()
    if data != expected:
        diff = difflib.unified_diff(
            expected.decode().splitlines(),
            data.decode().splitlines(),
            f"golden/{name}",
            "rendered",
            lineterm="",
        )
        pytest.fail("\n".join(list(diff)[:80]) + "\n(TIMETRAVEL_UPDATE_GOLDEN=1 regenerates)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build(tmp_path_factory.mktemp("demo") / "demo", now=NOW, zone=ZoneInfo("UTC"))


def snapshot_of(demo: Demo, at: datetime, window: timedelta, **kw: Any) -> Snapshot:
    db = open_database(demo.db_path, readonly=True)
    try:
        snap = build_snapshot(db, at, window=window, generated_at=GENERATED, **kw)
    finally:
        db.conn.close()
    return relocated(snap, str(demo.repo_path))


@pytest.fixture(scope="module")
def incident(demo: Demo) -> Snapshot:
    assert demo.story.incident == INCIDENT
    return snapshot_of(demo, INCIDENT, timedelta(hours=1))


@pytest.fixture(scope="module")
def week(demo: Demo) -> Snapshot:
    return snapshot_of(demo, *WEEK)


def members(archive: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        out = []
        for info in tar.getmembers():
            handle = tar.extractfile(info) if info.isfile() else None
            out.append((info, handle.read() if handle else b""))
        return out


def listing(archive: bytes) -> bytes:
    """The archive's gzip header and every member's header and content digest, as text."""
    head = archive[:10]
    lines = [
        f"gzip: magic {head[:2].hex()} method {head[2]} flags {head[3]} "
        f"mtime {int.from_bytes(head[4:8], 'little')}",
        "type mode uid gid uname gname mtime size sha256(content, hashes normalized) name",
    ]
    for info, data in members(archive):
        digest = hashlib.sha256(normalized(data)).hexdigest()[:16] if info.isfile() else "-"
        lines.append(
            f"{'d' if info.isdir() else 'f'} {info.mode:04o} {info.uid} {info.gid} "
            f"{info.uname or '-'} {info.gname or '-'} {info.mtime} {info.size} {digest} "
            f"{info.name}"
        )
    return ("\n".join(lines) + "\n").encode()


# --- golden files --------------------------------------------------------------------------


def test_markdown_golden(incident: Snapshot, week: Snapshot) -> None:
    check_golden("incident.md", write_export(incident, "markdown"))
    check_golden("week.md", write_export(week, "markdown"))


def test_html_golden(incident: Snapshot, week: Snapshot) -> None:
    check_golden("incident.html", write_export(incident, "html"))
    check_golden("week.html", write_export(week, "html"))


def test_bundle_golden(incident: Snapshot) -> None:
    archive = write_export(incident, "bundle")
    check_golden("incident-bundle.txt", listing(archive))
    by_name = {
        info.name.split("/", 1)[1]: data for info, data in members(archive) if "/" in info.name
    }
    check_golden("incident-bundle-README.md", by_name["README.md"])
    check_golden(
        "incident-bundle-api.diff", by_name["diffs/prod-eu1/payments/Deployment.apps/api.diff"]
    )


# --- what each format holds ----------------------------------------------------------------


def test_markdown_tells_the_incident(incident: Snapshot) -> None:
    md = write_export(incident, "markdown").decode()
    assert md.startswith("# Incident snapshot: prod-eu1 at Thu 2026-11-19 21:30:00 UTC\n")
    # The Pods' changes count too (issue 23: the demo records Pods): the rollout's new Pod
    # and its status by the controllers, an old Pod's deletion by no one recorded.
    assert "**1 drifted**" in md and (
        "by cause: 2 pipeline, 2 gitops, 1 manual, 14 controller, 2 unknown" in md
    )
    # the pipeline run and the commit, with links
    assert (
        "[github-actions deploy-payments #5121](https://github.com/acme/gitops/actions/runs/5121)"
        in md
    )
    assert re.search(
        r"\[`d234f7c`\]\(https://github\.com/acme/gitops/commit/d234f7c[0-9a-f]{33}\)", md
    )
    # the drift, with who set each field
    row = next(line for line in md.splitlines() if line.startswith("| `spec.replicas`"))
    assert "`3`" in row and "`6`" in row and "alice@acme.io" in row and "**manual**" in row
    assert "`spec.template.spec.containers[api].env[DEBUG]` | *absent* |" in md
    # the timeline marks the moment between alice's edit and the revert
    timeline = md[md.index("## Timeline") : md.index("## Affected")]
    assert (
        timeline.index("alice@acme.io")
        < timeline.index("snapshot moment")
        < timeline.index("Revert")
    )
    assert "Counted, not detailed:** 14 in sync, 11 unmanaged." in md


def test_html_is_one_self_contained_file(incident: Snapshot) -> None:
    page = write_export(incident, "html").decode()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<svg" in page and "@media print" in page and "prefers-color-scheme:dark" in page
    assert 'class="sbs"' in page  # the side-by-side manifest diff
    parser = _Tags()
    parser.feed(page)
    assert not parser.problems, parser.problems
    # nothing fetched: no script, no external stylesheet, image or font
    assert {"script", "link", "img", "iframe", "object", "embed"}.isdisjoint(parser.tags)
    assert "url(http" not in page and "@import" not in page
    assert all(h.startswith(("#", "https://")) for h in parser.hrefs), parser.hrefs


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name == "href":
                self.hrefs.append(value or "")
            if name in ("src", "srcset", "action", "formaction"):
                self.problems.append(f"<{tag} {name}={value}>")


def test_bundle_members_match_the_formats(incident: Snapshot) -> None:
    archive = write_export(incident, "bundle")
    assert archive[:2] == b"\x1f\x8b" and archive[3] == 0 and archive[4:8] == b"\0\0\0\0"
    files = {info.name: data for info, data in members(archive) if info.isfile()}
    root = "timetravel-20261119T213000Z/"
    assert list(files)[:4] == [
        root + n for n in ("README.md", "snapshot.json", "report.md", "report.html")
    ]
    assert files[root + "snapshot.json"] == write_export(incident, "json")
    assert files[root + "report.md"] == write_export(incident, "markdown")
    assert files[root + "report.html"] == write_export(incident, "html")
    snapshot = json.loads(files[root + "snapshot.json"])
    for resource in snapshot["resources"]:
        kind = resource["kind"] + (
            "." + resource["apiVersion"].split("/")[0] if "/" in resource["apiVersion"] else ""
        )
        path = f"{resource['cluster']}/{resource['namespace'] or '_cluster'}/{kind}/{resource['name']}.yaml"
        for side in ("desired", "actual"):
            member = files.get(f"{root}{side}/{path}")
            if resource[side] is None:
                assert member is None
            else:
                assert member is not None, path
                assert yaml.safe_load(member) == resource[side]
    diffs = [n for n in files if "/diffs/" in n]
    assert diffs == [root + "diffs/prod-eu1/payments/Deployment.apps/api.diff"]


def test_bundle_directory_holds_the_archive_files(incident: Snapshot, tmp_path: Path) -> None:
    count = write_bundle_dir(incident, tmp_path / "out")
    archived = {
        info.name.split("/", 1)[1]: data
        for info, data in members(write_export(incident, "bundle"))
        if info.isfile()
    }
    written = {
        str(p.relative_to(tmp_path / "out")): p.read_bytes()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }
    assert count == len(written) and written == archived


def test_json_still_follows_the_schema_with_only(incident: Snapshot) -> None:
    schema = json.loads((ROOT / "docs" / "snapshot.schema.json").read_text())
    for only in (None, "drifted", "changed"):
        data = json.loads(write_export(incident, "json", only=only))
        jsonschema.Draft202012Validator(schema).validate(data)
    drifted = json.loads(write_export(incident, "json", only="drifted"))
    assert [r["name"] for r in drifted["resources"]] == ["api"]
    assert {c["name"] for c in drifted["changes"]} == {"api"}
    changed = json.loads(write_export(incident, "json", only="changed"))
    # The 2.4.0 Pod the rollout created at 21:04 (its image never pulled) changed too.
    assert sorted(r["name"] for r in changed["resources"]) == [
        "api",
        "api-6f7d9c-x2x4k",
        "payments",
    ]


def test_only_narrows_what_the_reports_detail(incident: Snapshot) -> None:
    drifted = write_export(incident, "markdown", only="drifted").decode()
    assert "### `payments/Deployment/api`" in drifted
    assert "### `argocd/Application/payments`" not in drifted
    assert "**1 drifted**" in drifted and "Counted, not detailed:** 15 in sync" in drifted
    changed = write_export(incident, "markdown", only="changed").decode()
    assert "### `argocd/Application/payments`" in changed
    archive = write_export(incident, "bundle", only="drifted")
    names = [info.name for info, _ in members(archive) if info.isfile()]
    assert [n for n in names if "/desired/" in n or "/actual/" in n] == [
        "timetravel-20261119T213000Z/desired/prod-eu1/payments/Deployment.apps/api.yaml",
        "timetravel-20261119T213000Z/actual/prod-eu1/payments/Deployment.apps/api.yaml",
    ]


def test_week_shows_gap_inferred_change_and_rotation(week: Snapshot) -> None:
    md = write_export(week, "markdown").decode()
    assert "**Recording gap:** `prod-eu1` from 11-20 02:10:00 to 11-20 04:40:00" in md
    assert "updated (inferred)" in md
    rotation = next(line for line in md.splitlines() if "`data.password`" in line)
    before, after = re.findall(r"redacted:([0-9a-f]{12})", rotation)
    assert before != after  # the rotation shows, its values do not


# --- deterministic ---------------------------------------------------------------------------


def test_same_store_same_bytes_except_generated_at(demo: Demo) -> None:
    first = snapshot_of(demo, INCIDENT, timedelta(hours=1))
    later = dataclasses.replace(
        snapshot_of(demo, INCIDENT, timedelta(hours=1)), generated_at="2030-01-01T00:00:00Z"
    )
    for fmt in ("json", "markdown", "html"):
        a, b = write_export(first, fmt), write_export(later, fmt)
        changed = [(x, y) for x, y in zip(a.splitlines(), b.splitlines(), strict=True) if x != y]
        assert len(changed) == 1 and b"2030-01-01T00:00:00Z" in changed[0][1], fmt
    assert write_export(first, "bundle") == write_export(first, "bundle")
    tar_a = {i.name: (i.mtime, i.size) for i, _ in members(write_export(first, "bundle"))}
    tar_b = {i.name: (i.mtime, i.size) for i, _ in members(write_export(later, "bundle"))}
    assert tar_a == tar_b


def test_zone_changes_only_the_readable_times(incident: Snapshot) -> None:
    berlin = write_export(incident, "markdown", tz=ZoneInfo("Europe/Berlin")).decode()
    assert "at Thu 2026-11-19 22:30:00 CET" in berlin and "Times are CET (UTC+01:00)." in berlin
    assert "| 22:24:00 | updated |" in berlin  # alice's edit at 21:24Z
    assert write_export(incident, "json", tz=ZoneInfo("Europe/Berlin")) == write_export(
        incident, "json"
    )


# --- redacted everywhere ---------------------------------------------------------------------


def test_no_secret_value_in_any_format(demo: Demo, week: Snapshot) -> None:
    assert any(c.key.kind == "Secret" for c in week.changes), "the rotation is in the window"
    outputs: dict[str, bytes] = {}
    for only in (None, "changed"):
        for fmt in ("json", "markdown", "html", "bundle"):
            data = write_export(week, fmt, only=only)
            outputs[f"{fmt}/{only}"] = data
            if fmt == "bundle":
                outputs[f"{fmt}/{only}/tar"] = gzip.decompress(data)
                for info, content in members(data):
                    outputs[f"{fmt}/{only}/{info.name}"] = content
    assert any(b"/actual/prod-eu1/payments/Secret/payments-db.yaml" in k.encode() for k in outputs)
    for name, data in outputs.items():
        for needle in forbidden():
            assert needle not in data, f"{needle!r} in {name}"


def _leaky_secret() -> Snapshot:
    """A snapshot as a redaction bug upstream would make it: plain values everywhere."""
    key = ResourceKey("c1", "", "Secret", "ns", "db")
    applied = json.dumps({"kind": "Secret", "data": {"password": "bGVha2VkLXZhbHVl"}})
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "ns",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied},
        },
        "data": {"password": "bGVha2VkLXZhbHVl", "ok": "redacted:abc123"},
        "stringData": {"token": "leaked-token"},
    }
    change = ChangeView(
        at="2026-11-19T21:10:00Z",
        key=key,
        api_version="v1",
        type="updated",
        fields=(
            FieldChange("data.password", "b2xkLWxlYWtlZA==", "bGVha2VkLXZhbHVl"),
            FieldChange("data", None, {"password": "bGVha2VkLXZhbHVl"}),
            FieldChange(
                'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]',
                None,
                applied,
            ),
        ),
    )
    resource = ResourceView(
        key=key,
        api_version="v1",
        state="drifted",
        desired={**obj, "data": {"password": "ZGVzaXJlZC1sZWFr"}},
        actual=obj,
        diff=(
            {"path": "data.password", "desired": "ZGVzaXJlZC1sZWFr", "actual": "bGVha2VkLXZhbHVl"},
        ),
        last_change=change,
    )
    return _snapshot(resources=(resource,), changes=(change,))


def test_a_leaked_secret_value_is_still_withheld() -> None:
    snapshot = _leaky_secret()
    leaks = [
        b"bGVha2VkLXZhbHVl",
        b"leaked-value",
        b"leaked-token",
        b"b2xkLWxlYWtlZA==",
        b"ZGVzaXJlZC1sZWFr",
    ]
    for fmt in ("json", "markdown", "html", "bundle"):
        data = write_export(snapshot, fmt)
        blobs = [data] if fmt != "bundle" else [gzip.decompress(data)]
        for blob in blobs:
            for leak in leaks:
                assert leak not in blob, (fmt, leak)
    guarded = guard_secrets(snapshot).resources[0]
    assert guarded.actual is not None
    assert guarded.actual["data"] == {"password": "redacted:withheld", "ok": "redacted:abc123"}


# --- escaping and links ----------------------------------------------------------------------


def _snapshot(**parts: Any) -> Snapshot:
    return Snapshot(
        at="2026-11-19T21:30:00Z",
        window_from="2026-11-19T20:30:00Z",
        window_to="2026-11-19T22:30:00Z",
        generated_at="2026-11-26T10:00:00Z",
        clusters=({"name": "c1"},),
        **parts,
    )


def _hostile() -> Snapshot:
    key = ResourceKey("c1", "apps", "Deployment", "ns", "evil|name`x<b>")
    run = PipelineRun("github-actions", "deploy|<i>x</i>", "7", "a" * 40, url="javascript:alert(1)")
    quoted = PipelineRun(
        "jenkins", "job", "8", "b" * 40, url='https://ci.example.com/8"onmouseover="alert(1)'
    )
    fine = PipelineRun("jenkins", "job", "9", "b" * 40, url="https://ci.example.org/job/9")
    change = ChangeView(
        at="2026-11-19T21:10:00Z",
        key=key,
        api_version="apps/v1",
        type="updated",
        cause="manual",
        actor="*bold* _it_ <script>alert(1)</script> | pipe",
        pipeline_run=run,
        fields=(FieldChange("spec.x", "a|b", "``tick`` <img src=x onerror=alert(1)>"),),
        evidence="evidence with [link](javascript:alert(2)) and <svg onload=alert(3)>",
    )
    resource = ResourceView(
        key=key,
        api_version="apps/v1",
        state="drifted",
        desired={"spec": {"x": "a|b"}},
        actual={"spec": {"x": "``tick`` <img src=x onerror=alert(1)>"}},
        diff=(
            {
                "path": 'metadata.annotations["a|b`c"]',
                "desired": "<script>x</script>",
                "actual": "|`|",
            },
        ),
        source={"repo": "repo|<b>", "path": "a`b|c.yaml"},
        last_change=change,
    )
    commit = CommitView(
        "c" * 40,
        "2026-11-19T21:00:00Z",
        "fix <img src=x onerror=alert(1)> | [x](javascript:alert(1)) `code` $math$\nsecond line",
        author="Mallory <m@x> | `",
    )
    return _snapshot(
        repos=(RepoView("javascript:alert(1)", "main|x", "c" * 40, message="m <b>"),),
        resources=(resource,),
        changes=(change,),
        pipeline_runs=(run, quoted, fine),
        commits=(commit,),
        errors=({"kind": "manifest", "repo": "r", "path": "x|y.yaml", "error": "<b>bad</b>"},),
    )


def _tables(md: str) -> list[list[str]]:
    tables: list[list[str]] = []
    current: list[str] = []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_markdown_escapes_what_comes_from_the_cluster_and_git() -> None:
    md = write_export(_hostile(), "markdown").decode()
    # HTML in a code span is shown as text; anywhere else a < must be escaped
    code_span = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")
    # the one markup the report writes itself: a fold, around a long diff (words of its own)
    fold = re.compile(r"^<details><summary>[\w ,:()]*</summary>$|^</details>$")
    for line in md.splitlines():
        outside = code_span.sub("", fold.sub("", line))
        assert not re.search(r"(?<!\\)<", outside), line
    links = re.findall(r"(?<!\\)\]\(([^)]*)\)", md)
    assert set(links) == {"https://ci.example.org/job/9"}, links
    unescaped_pipe = re.compile(r"(?<!\\)\|")
    for table in _tables(md):
        widths = {len(unescaped_pipe.findall(row)) for row in table}
        assert len(widths) == 1, table
    assert code("a`b") == "``a`b``" and code("`x") == "`` `x ``" and code("a|b") == "`a|b`"
    assert row(code("a|b"), "c") == "| `a\\|b` | c |"


def test_markdown_renders_as_written(incident: Snapshot) -> None:
    """Through a CommonMark + tables parser: rows keep their width, values come out exact."""
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    for snapshot in (incident, _hostile()):
        page = parser.render(write_export(snapshot, "markdown").decode())
        for table in re.findall(r"<table>.*?</table>", page, re.S):
            rows = re.findall(r"<tr>.*?</tr>", table, re.S)
            assert len({len(re.findall(r"<t[dh]>", r)) for r in rows}) == 1, table
        assert not re.search(r"<(script|img|svg|i)\b", page)
    cell = "<td><code>metadata.annotations[&quot;a|b`c&quot;]</code></td>"
    assert (
        cell in page and "<code>a`b|c.yaml</code>" in page and "<td><code>|`|</code></td>" in page
    )


def test_html_escapes_and_links_only_http() -> None:
    page = write_export(_hostile(), "html").decode()
    parser = _Tags()
    parser.feed(page)
    assert not parser.problems, parser.problems
    assert parser.tags.isdisjoint({"script", "img"})
    assert "<svg onload" not in page and "deploy|<i>" not in page
    assert "deploy|&lt;i&gt;x&lt;/i&gt;" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert {h for h in parser.hrefs if not h.startswith("#")} == {"https://ci.example.org/job/9"}


# --- large outputs stay readable -------------------------------------------------------------


def _large(resources: int, diffs: int, changes: int) -> Snapshot:
    views = []
    all_changes = []
    for i in range(resources):
        key = ResourceKey("c1", "apps", "Deployment", f"ns{i % 7}", f"app-{i:05d}")
        diff = tuple({"path": f"spec.f{j}", "desired": j, "actual": j + 1} for j in range(diffs))
        views.append(ResourceView(key, "apps/v1", "drifted", {"spec": {}}, {"spec": {}}, diff=diff))
    key = views[0].key
    for j in range(changes):
        minute = j % 120
        all_changes.append(
            ChangeView(
                at=f"2026-11-19T{20 + (30 + minute) // 60:02d}:{(30 + minute) % 60:02d}:00Z",
                key=key,
                api_version="apps/v1",
                type="updated",
                cause="controller",
                status_only=j % 2 == 1,
                fields=(FieldChange("spec.replicas", j, j + 1),),
            )
        )
    all_changes.sort(key=lambda c: c.at)
    return _snapshot(resources=tuple(views), changes=tuple(all_changes))


def test_beyond_the_limits_reports_summarize_and_say_so() -> None:
    limits = Limits(resources=5, resource_rows=12, diff_rows=3, changes=7, timeline=20)
    snapshot = _large(resources=30, diffs=10, changes=100)
    md = write_export(snapshot, "markdown", limits=limits).decode()
    assert md.count("\n### ") == 5
    assert "*18 more affected resources left out of this table (limit 12)" in md
    assert "*Sections for 25 more affected resources left out (limit 5)" in md
    assert "*7 more differing fields left out (limit 3)" in md
    assert "left out: 50 status-only changes" in md  # the timeline drops status first
    timeline = md[md.index("## Timeline") : md.index("## Affected")]
    assert len([row for row in timeline.splitlines() if row.startswith("| ")]) == 1 + 20
    page = write_export(snapshot, "html", limits=limits).decode()
    assert page.count('<article class="resource"') == 5
    assert "18 more affected resources left out of this table (limit 12)" in page


# --- the command -----------------------------------------------------------------------------


def test_export_command_writes_every_format(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    runner = CliRunner()
    base = ["export", "--db", str(demo.db_path), "--at", "2026-11-19T21:30:00Z"]
    result = runner.invoke(cli, [*base, "-o", "markdown", "--only", "drifted"])
    assert result.exit_code == 0, result.output
    assert "### `payments/Deployment/api`" in result.stdout
    out = tmp_path / "bundle"
    result = runner.invoke(cli, [*base, "-o", "bundle", "--output-file", f"{out}/"])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and (out / "diffs").is_dir()
    again = runner.invoke(cli, [*base, "-o", "bundle", "--output-file", f"{out}/"])
    assert again.exit_code == 2 and "not empty" in again.output
    archive = tmp_path / "incident.tar.gz"
    result = runner.invoke(cli, [*base, "--output-file", str(archive)])  # bundle by its suffix
    assert result.exit_code == 0 and tarfile.is_tarfile(archive)
    missing = runner.invoke(cli, [*base, "-o", "bundle"])
    assert missing.exit_code == 2 and "needs --output-file" in missing.output


# --- YAML and drift placement ----------------------------------------------------------------

TRICKY = [
    "",
    " ",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "true",
    "1",
    "1.5",
    "1e3",
    "0x1F",
    "0o17",
    "012",
    "+1",
    "-1",
    ".5",
    ".inf",
    "-.inf",
    ".nan",
    "2026-11-19",
    "2026-11-19T21:30:00Z",
    "12:30",
    "1:20:30",
    "a: b",
    "a:b",
    "a:",
    "a #b",
    "#x",
    "- x",
    "-x",
    "?x",
    "*x",
    "&x",
    "!x",
    "%x",
    "@x",
    "`x",
    "|x",
    ">x",
    "'x",
    '"x',
    "{x",
    "[x",
    "x]",
    "x,y",
    "=",
    "<<",
    "line\nline",
    "line\n",
    "line\n\n",
    "\nlead",
    "  indented\nx",
    "trailing ",
    "tab\tx",
    "a\u2028b",
    "é",
    "日本",
    "\x00",
    "\x7f",
    "x\r\ny",
    "line\n  \nz",
    "a\n#b\n- c",
    "https://a.b/c?d=e#f",
    "/dev/null",
    "250m",
    "25%",
    "Y",
    "_x",
    "x y",
    "a\\b",
]


def test_yaml_reads_back_equal() -> None:
    value = {
        "strings": TRICKY,
        "map": {s: s for s in TRICKY},
        "numbers": [0, -1, 1.0, 1e20, 1e-5, -0.5, 3.25, True, False, None],
        "nested": [[1, [2, []]], {}, [], [{"a": [{"b": {}}]}]],
        "": {"a.b/c": {"x": []}},
    }
    assert yaml.safe_load(to_yaml(value)) == value
    assert to_yaml({"a": {"b": [1, {"c": "d"}]}}) == "a:\n  b:\n  - 1\n  - c: d\n"


_json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json_like)
def test_yaml_property(value: Any) -> None:
    assert yaml.safe_load(to_yaml(value)) == value


def test_drift_is_placed_in_the_manifest(incident: Snapshot) -> None:
    api = next(r for r in incident.resources if r.state == "drifted")
    texts = drift_texts(api)
    assert texts is not None
    desired, placed, exact = texts
    assert exact
    got = yaml.safe_load(placed)
    assert got["spec"]["replicas"] == 6
    env = got["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[-1] == {"name": "DEBUG", "value": "true"}
    assert yaml.safe_load(desired) == api.desired
    key = ResourceKey("c1", "", "Service", "ns", "s")
    resource = ResourceView(
        key,
        "v1",
        "drifted",
        {"spec": {"ports": [{"port": 80}, {"port": 81}, {"port": 82}], "x": 1}},
        {"spec": {"ports": [{"port": 80}]}},
        diff=(
            {"path": "spec.ports[1]", "desired": {"port": 81}, "actual": None},
            {"path": "spec.ports[2]", "desired": {"port": 82}, "actual": None},
            {"path": "spec.x", "desired": 1, "actual": None},
            {"path": 'metadata.labels["app.kubernetes.io/name"]', "desired": None, "actual": "s"},
        ),
    )
    texts = drift_texts(resource)
    assert texts is not None and texts[2]
    assert yaml.safe_load(texts[1]) == {
        "spec": {"ports": [{"port": 80}]},
        "metadata": {"labels": {"app.kubernetes.io/name": "s"}},
    }

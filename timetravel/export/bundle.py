"""The incident bundle: everything about one moment in one archive (or directory).

Members, in this order::

    README.md                how to read the bundle
    snapshot.json            the snapshot (schema timetravel.snapshot/v1.1)
    report.md, report.html   the incident report
    desired/<path>.yaml      per resource: the manifest git declared at the moment
    actual/<path>.yaml       per resource: the live object, server bookkeeping removed
    diffs/<path>.diff        per drifted or missing resource: a unified diff

``<path>`` is ``CLUSTER/NAMESPACE/KIND[.GROUP]/NAME`` (``_cluster`` for cluster-scoped
resources). The archive is deterministic: members in that order, each with mode 0644 (0755
for directories), uid/gid 0, no user or group name, and the snapshot's moment as mtime; the
gzip header carries no name and mtime 0. Same snapshot, same bytes.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ResourceView, Snapshot, count_states
from timetravel.domain.times import parse_rfc3339
from timetravel.domain.yaml_writer import to_yaml
from timetravel.errors import UserError
from timetravel.export.html import render_html
from timetravel.export.json_export import render_json
from timetravel.export.manifest_diff import drift_texts, unified_diff
from timetravel.export.markdown import render_markdown
from timetravel.export.options import ExportOptions
from timetravel.export.report import narrow
from timetravel.export.wording import plural

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _component(text: str) -> str:
    """One path component made of safe characters, never ``.``/``..`` or empty."""
    safe = _UNSAFE.sub("_", text)[:120]
    return safe if safe.strip(".") else "_" + safe


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")  # a lone surrogate must not end the export


def _comment(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def resource_path(key: ResourceKey) -> str:
    """``prod-eu1/payments/Deployment.apps/api``: where a resource's files go."""
    kind = f"{key.kind}.{key.group}" if key.group else key.kind
    parts = (key.cluster, key.namespace or "_cluster", kind, key.name)
    return "/".join(_component(p) for p in parts)


def _paths(resources: tuple[ResourceView, ...]) -> list[str]:
    """A distinct path per resource (a suffix where two keys make the same safe path)."""
    seen: dict[str, int] = {}
    out = []
    for resource in resources:
        path = resource_path(resource.key)
        n = seen.get(path.lower(), 0)
        seen[path.lower()] = n + 1
        out.append(path if n == 0 else f"{path}~{n + 1}")
    return out


def bundle_members(snapshot: Snapshot, options: ExportOptions) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every file in the bundle, in the bundle's order."""
    narrowed = narrow(snapshot, options.only)
    resources = narrowed.resources
    paths = _paths(resources)
    diffable = [
        i
        for i, r in enumerate(resources)
        if r.desired is not None and r.state in ("drifted", "missing")
    ]
    yield (
        "README.md",
        _utf8(_readme(snapshot, narrowed, options, paths, len(diffable))),
    )
    yield "snapshot.json", render_json(narrowed)
    yield "report.md", render_markdown(snapshot, options)
    yield "report.html", render_html(snapshot, options)
    at = snapshot.at
    for resource, path in zip(resources, paths, strict=True):
        if resource.desired is not None:
            source = resource.source or {}
            head = _comment(
                f"# desired: {source.get('path', '?')} in {source.get('repo', '?')}, "
                f"as git declared it at {at}"
            )
            yield (
                f"desired/{path}.yaml",
                _utf8(f"{head}\n{to_yaml(resource.desired)}"),
            )
    for resource, path in zip(resources, paths, strict=True):
        if resource.actual is not None:
            head = _comment(
                f"# actual: live in {resource.key.cluster} at {at} ({resource.state}); "
                "server bookkeeping removed"
            )
            yield (
                f"actual/{path}.yaml",
                _utf8(f"{head}\n{to_yaml(resource.actual)}"),
            )
    for i in diffable:
        resource, path = resources[i], paths[i]
        texts = drift_texts(resource)
        if texts is None:
            continue
        desired, other, placed = texts
        if resource.state == "missing":
            note, target = f"not live at {at}", "/dev/null"
        elif placed:
            note, target = (
                "the drifted fields' live values, placed in the manifest",
                (f"actual/{path}.yaml"),
            )
        else:
            note, target = "the whole live object", f"actual/{path}.yaml"
        head = _comment(
            f"# {resource.key.display()}: {resource.state} at {at}; "
            f"{plural(len(resource.diff), 'field differs', 'fields differ')}. "
            f"- lines: git; + lines: {note}."
        )
        lines = unified_diff(desired, other, f"desired/{path}.yaml", target)
        yield (
            f"diffs/{path}.diff",
            _utf8(head + "\n" + "\n".join(lines) + "\n"),
        )


def _readme(
    snapshot: Snapshot,
    narrowed: Snapshot,
    options: ExportOptions,
    paths: list[str],
    diffs: int,
) -> str:
    counts = count_states(snapshot.resources)
    resources = narrowed.resources
    desired = sum(1 for r in resources if r.desired is not None)
    actual = sum(1 for r in resources if r.actual is not None)
    clusters = ", ".join(str(c.get("name", "")) for c in snapshot.clusters) or "no cluster"
    only = {
        "drifted": "Only drifted and missing resources are included (`--only drifted`).\n",
        "changed": "Only resources changed in the window are included (`--only changed`).\n",
    }.get(options.only or "", "")
    namespaces = (
        "Namespaces: " + printable(", ".join(options.namespaces)) + ".\n"
        if options.namespaces
        else ""
    )
    both = [p for r, p in zip(resources, paths, strict=True) if r.desired and r.actual]
    drifted = [p for r, p in zip(resources, paths, strict=True) if r.state == "drifted"]
    example = (drifted or both or ["prod/payments/Deployment.apps/api"])[0]
    return f"""# timetravel incident bundle

What was running in {_comment(clusters)} at {snapshot.at}, what git declared, and every
change from {snapshot.window_from} to {snapshot.window_to}.
Generated by timetravel at {snapshot.generated_at}.
{namespaces}{only}
At that moment: {plural(len(snapshot.resources), "resource")}: {counts["in_sync"]:,} in sync, \
{counts["drifted"]:,} drifted, {counts["missing"]:,} missing, {counts["unmanaged"]:,} unmanaged.
In the window: {plural(len(snapshot.changes), "change")}, \
{plural(len(snapshot.commits), "commit")}, {plural(len(snapshot.pipeline_runs), "pipeline run")}.

Start with `report.html` (any browser, works offline) or `report.md`.

| file | what it holds |
|---|---|
| `snapshot.json` | the snapshot, machine-readable (JSON schema `timetravel.snapshot/v1.1`) |
| `report.md`, `report.html` | the incident report |
| `desired/` | {plural(desired, "manifest")} as git declared them at the moment |
| `actual/` | {plural(actual, "live object")}, server bookkeeping (uid, managedFields...) removed |
| `diffs/` | {plural(diffs, "unified diff")}, one per drifted or missing resource |

Paths below `desired/`, `actual/` and `diffs/` are `CLUSTER/NAMESPACE/KIND[.GROUP]/NAME`,
for example `{example}`; cluster-scoped resources are under `_cluster`.

## Reading a diff

`-` lines are what git declared; `+` lines are the live values. A diff shows the drift only:
each field that differs is set to its live value inside the desired manifest, so server
defaults (`imagePullPolicy`, `strategy`, ...) and `status`, which are not drift, stay out of it.
To see every difference, compare the two files yourself:

    diff -u desired/{example}.yaml actual/{example}.yaml

For a missing resource (declared in git, not live) the diff removes the whole manifest.

## States

- in sync: declared in git and live, no difference.
- drifted: declared and live, with a difference (a `kubectl edit`, a failed sync, ...).
- missing: declared in git, not live at the moment.
- unmanaged: live, not declared in git (no desired file, no diff).

## Secrets

No Secret value appears anywhere in this bundle. Each value of a Secret's `data` and
`stringData` (and any copy, such as the last-applied-configuration annotation) is
`redacted:<hash>`, a keyed hash: two bundles from one database show the same hash for the
same value, so a rotation is still visible.
"""


def _tar_info(name: str, size: int, mtime: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mtime = mtime
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def archive_root(snapshot: Snapshot) -> str:
    """``timetravel-20261119T213000Z``: the directory the archive unpacks into."""
    at = parse_rfc3339(snapshot.at)
    return f"timetravel-{at.strftime('%Y%m%dT%H%M%SZ')}"


def render_bundle(snapshot: Snapshot, options: ExportOptions) -> bytes:
    """The bundle as a deterministic ``.tar.gz``."""
    root = archive_root(snapshot)
    mtime = int(parse_rfc3339(snapshot.at).timestamp())
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        made = {root}
        tar.addfile(_tar_info(root + "/", 0, mtime, directory=True))
        for name, data in bundle_members(snapshot, options):
            parts = name.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join([root, *parts[:depth]])
                if folder not in made:
                    made.add(folder)
                    tar.addfile(_tar_info(folder + "/", 0, mtime, directory=True))
            tar.addfile(_tar_info(f"{root}/{name}", len(data), mtime), io.BytesIO(data))
    return buffer.getvalue()


def write_bundle_directory(snapshot: Snapshot, directory: Path, options: ExportOptions) -> int:
    """Write the bundle's files under ``directory`` (new or empty); returns the file count.

    The bundle is built in a temporary sibling directory and renamed into place when whole,
    so a failure (a full disk) leaves no half bundle. Directories are 0700 and files 0600,
    whatever the umask: the bundle carries what the cluster ran.
    """
    from timetravel.export import DIRECTORY_MODE, FILE_MODE, sync_directory

    directory = Path(directory)
    if directory.exists():
        if not directory.is_dir():
            raise UserError(f"{directory}: exists and is not a directory")
        if any(directory.iterdir()):
            raise UserError(
                f"{directory}: not empty; choose a new or empty directory for the bundle"
            )
    name = directory.absolute().name or "bundle"
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{name}.", suffix=".tmp"))
    except OSError as exc:
        raise UserError(f"{directory}: cannot write the bundle ({exc.strerror})") from None
    written = 0
    made: set[Path] = {building}
    try:
        os.chmod(building, DIRECTORY_MODE)
        for member, data in bundle_members(snapshot, options):
            path = building / member
            for folder in reversed(path.parents):
                if folder not in made and building in folder.parents:
                    folder.mkdir(exist_ok=True)
                    os.chmod(folder, DIRECTORY_MODE)  # mkdir's mode is subject to the umask
                    made.add(folder)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                os.fchmod(fd, FILE_MODE)
                out.write(data)
                out.flush()
                os.fsync(fd)
            written += 1
        for folder in made:
            sync_directory(folder)
        os.replace(building, directory)  # a new name, or over an empty directory
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise UserError(f"{directory}: cannot write the bundle ({exc.strerror})") from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    sync_directory(directory.parent)
    return written

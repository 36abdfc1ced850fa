"""Local filesystem paths kept out of what an export writes, unless asked for.

A report is pasted into a ticket or a GitHub issue, a bundle mailed to a vendor: the
checkout a repository was recorded from (``/home/alice/src/gitops``) says who ran the
recorder and how their machine is laid out, and nothing a reader of the report needs. So by
default a local repository is named by its directory (``gitops``), everywhere the snapshot
holds it (the repositories, each resource's source, gap sources such as
``repo:<path>#main``, manifest errors), and the home directory is written ``~`` in the
errors' text. A URL (``https://...``, ``ssh://...``, ``git@host:org/repo``) is no local
path and stays as it is. ``timetravel export --include-paths`` keeps the paths.

Pure: the home directory is an argument, the caller reads it.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from typing import Any

from timetravel.domain.snapshot import ResourceView, Snapshot

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP = re.compile(r"^[^/\s:]+@[^/\s:]+:")  # git@github.com:org/repo.git


def is_local(path: str) -> bool:
    """Whether a repository's location is a path on this machine (not a URL)."""
    return bool(path) and not _URL.match(path) and not _SCP.match(path)


def _labels(snapshot: Snapshot) -> dict[str, str]:
    """Each local repository path, and the name it goes by in the export: its directory's
    name, with ``(2)``, ``(3)``... when two repositories share one."""
    paths = {r.path for r in snapshot.repos}
    paths |= {str(r.source.get("repo", "")) for r in snapshot.resources if r.source}
    paths |= {str(e["repo"]) for e in snapshot.errors if isinstance(e.get("repo"), str)}
    labels: dict[str, str] = {}
    taken: dict[str, int] = {}
    for path in sorted(p for p in paths if is_local(p)):
        name = posixpath.basename(path.rstrip("/")) or "repository"
        name = name.removesuffix(".git") or name
        taken[name] = taken.get(name, 0) + 1
        labels[path] = name if taken[name] == 1 else f"{name} ({taken[name]})"
    return labels


class _Replacer:
    """Replaces the local paths (longest first, whole path components only) and the home
    directory inside any text."""

    def __init__(self, labels: dict[str, str], home: str | None) -> None:
        self.labels = labels
        table = dict(labels)
        if home and home.rstrip("/") and home.rstrip("/") not in table:
            table[home.rstrip("/")] = "~"
        self.table = table
        alternatives = "|".join(re.escape(p) for p in sorted(table, key=len, reverse=True))
        # a path ends where a path component cannot go on (/home/al is not /home/alice)
        self.pattern = re.compile(f"(?:{alternatives})(?![^/\\s\"'`#:;,)\\]}}])") if table else None

    def text(self, value: str) -> str:
        if value in self.labels:
            return self.labels[value]
        if self.pattern is None:
            return value
        return self.pattern.sub(lambda m: self.table[m.group()], value)

    def any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.any(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.any(v) for v in value)
        return value


def hide_local_paths(snapshot: Snapshot, *, home: str | None = None) -> Snapshot:
    """The snapshot with every local repository path named by its directory and ``home``
    written ``~`` in the errors (see the module's docstring); the snapshot itself when it
    holds none."""
    labels = _labels(snapshot)
    if not labels and not home:
        return snapshot
    replace = _Replacer(labels, home)

    def resource(view: ResourceView) -> ResourceView:
        if not view.source:
            return view
        source = {k: replace.text(v) if isinstance(v, str) and k == "repo" else v
                  for k, v in view.source.items()}  # fmt: skip
        return dataclasses.replace(view, source=source)

    return dataclasses.replace(
        snapshot,
        repos=tuple(dataclasses.replace(r, path=replace.text(r.path)) for r in snapshot.repos),
        resources=tuple(resource(r) for r in snapshot.resources),
        errors=tuple(replace.any(e) for e in snapshot.errors),
    )

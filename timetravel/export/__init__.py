"""Writers that turn a snapshot into files people read and share.

:func:`write_export` is the entry point for every format. The Markdown and HTML reports read
one :class:`Report` (``report.py``: what is affected, who last set each drifted field, the
timeline, what was left out) and share their wording (``wording.py``), so both say the same
thing; the bundle holds both, the JSON, and YAML (``yaml_writer.py``) and diffs
(``manifest_diff.py``) per resource.

Everything here is a pure function of the snapshot and the options: same input, same bytes.
Nothing from the cluster or git is trusted as markup: the writers escape it, and link only
``http(s)`` URLs. :func:`guard_secrets` runs first, so that a Secret value that reached the
snapshot by a bug upstream is still withheld from every format.

Local filesystem paths (the checkout a repository was recorded from, the home directory)
stay out of every format unless asked for (``include_paths``; ``local_paths.py``): a report
is pasted where others read it.

Files are the exception to purity, and live in :func:`write_file` and the bundle's
directory writer: a report is written whole or not at all (a temporary file beside it,
synced, then renamed over the old one, so a full disk leaves the old report as it was),
and, since it carries cluster details, it is private like the database: files 0600 and
bundle directories 0700 whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, tzinfo
from pathlib import Path

from timetravel.domain.snapshot import Snapshot
from timetravel.domain.yaml_writer import to_yaml
from timetravel.errors import UserError
from timetravel.export.local_paths import hide_local_paths
from timetravel.export.manifest_diff import drift_texts
from timetravel.export.options import (
    FORMATS,
    GITHUB_COMMENT_LIMIT,
    MIN_MAX_SIZE,
    ONLY,
    ExportOptions,
    Limits,
)
from timetravel.export.report import Affected, Event, Report, build_report, narrow
from timetravel.export.secrets import guard_secrets
from timetravel.host import collector_paused

__all__ = [
    "FORMATS",
    "GITHUB_COMMENT_LIMIT",
    "MIN_MAX_SIZE",
    "ONLY",
    "Affected",
    "Event",
    "ExportOptions",
    "Limits",
    "Report",
    "build_report",
    "drift_texts",
    "guard_secrets",
    "hide_local_paths",
    "narrow",
    "to_yaml",
    "write_bundle_dir",
    "write_export",
    "write_file",
]

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def write_export(
    snapshot: Snapshot,
    fmt: str,
    *,
    only: str | None = None,
    tz: tzinfo | None = None,
    namespaces: Iterable[str] = (),
    limits: Limits | None = None,
    include_paths: bool = False,
    max_chars: int | None = None,
) -> bytes:
    """The bytes of ``snapshot`` in format ``fmt`` (json, markdown, html, bundle = .tar.gz).

    ``include_paths``: keep local filesystem paths (see ``local_paths.py``). ``max_chars``
    (markdown only): keep the report under that many characters, each line break counted
    as two (see ``markdown.fit``), cutting the least important parts first.
    """
    options = _options(only, tz, namespaces, limits)
    if max_chars is not None and fmt != "markdown":
        raise UserError(f"--max-size applies to markdown, not to {fmt}")
    with collector_paused():
        shared = _shareable(guard_secrets(snapshot), include_paths)
        return _render(shared, fmt, options, max_chars)


def _shareable(snapshot: Snapshot, include_paths: bool) -> Snapshot:
    if include_paths:
        return snapshot
    home = os.path.expanduser("~")
    return hide_local_paths(snapshot, home=home if home.startswith("/") else None)


def _render(
    snapshot: Snapshot, fmt: str, options: ExportOptions, max_chars: int | None = None
) -> bytes:
    if fmt == "json":
        from timetravel.export.json_export import render_json

        return render_json(narrow(snapshot, options.only))
    if fmt == "markdown":
        from timetravel.export.markdown import render_markdown

        return render_markdown(snapshot, options, max_chars=max_chars)
    if fmt == "html":
        from timetravel.export.html import render_html

        return render_html(snapshot, options)
    if fmt == "bundle":
        from timetravel.export.bundle import render_bundle

        return render_bundle(snapshot, options)
    raise UserError(f"--format {fmt}: unknown format (use one of {', '.join(FORMATS)})")


def write_bundle_dir(
    snapshot: Snapshot,
    directory: Path,
    *,
    only: str | None = None,
    tz: tzinfo | None = None,
    namespaces: Iterable[str] = (),
    limits: Limits | None = None,
    include_paths: bool = False,
) -> int:
    """Write the bundle's files into ``directory`` (new or empty); returns how many."""
    from timetravel.export.bundle import write_bundle_directory

    options = _options(only, tz, namespaces, limits)
    with collector_paused():
        shared = _shareable(guard_secrets(snapshot), include_paths)
        return write_bundle_directory(shared, directory, options)


def _options(
    only: str | None, tz: tzinfo | None, namespaces: Iterable[str], limits: Limits | None
) -> ExportOptions:
    if only is not None and only not in ONLY:
        raise UserError(f"--only {only}: use one of {', '.join(ONLY)}")
    return ExportOptions(
        only=only, tz=tz or UTC, namespaces=tuple(namespaces), limits=limits or Limits()
    )


def write_file(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` whole or not at all, mode 0600.

    The bytes go to a temporary file in the same directory, are synced, and then replace
    ``target`` in one rename: a failed write (a full disk, a size limit) raises a UserError
    and leaves an earlier file at ``target`` as it was, and no partial file behind.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise UserError(f"{target}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)  # mkstemp's 0600 is subject to the umask
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UserError(
            f"{target}: cannot write ({exc.strerror}); an earlier file there is left as it was"
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    sync_directory(target.parent)


def sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: not every system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

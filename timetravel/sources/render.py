"""Render Kustomize directories and Helm charts with the tools installed on this machine.

The tools are optional: a machine without them still records plain manifests, and each
directory that could not be rendered becomes one clear error instead of a wrong desired state.
Tools run with argument lists (no shell), no stdin and a timeout; their output is parsed with
the same strict parser as manifest files. A directory of a git tree is rendered from a temporary
copy of exactly the files it can reach (:func:`render_copy`), so nothing else can leak in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from timetravel.domain.manifests import parse_manifest_file
from timetravel.domain.repopaths import ROOT

RENDER_TIMEOUT_S = 60.0
# A rendered directory may legitimately be much larger than one manifest file (a vendored
# operator with its CRDs), but not without bound.
MAX_RENDER_OUTPUT_BYTES = 64 * 1024 * 1024
_MAX_MESSAGE = 2000
_MAX_COPY_BYTES = 256 * 1024 * 1024
_MAX_COPY_MESSAGE = 500

Renderers = Mapping[str, str | None]
RenderResult = tuple[tuple[dict[str, Any], ...], str | None]

KUSTOMIZE_MISSING = "kustomize directory not rendered: neither kubectl nor kustomize found"
HELM_MISSING = "helm chart not rendered: helm not found"
TIMED_OUT = "timed out after"


def available_renderers() -> dict[str, str | None]:
    """The full path of each rendering tool on ``PATH``, or ``None`` when it is absent."""
    return {name: shutil.which(name) for name in ("kubectl", "kustomize", "helm")}


def kustomize_command(directory: str, renderers: Renderers | None = None) -> list[str] | None:
    """The command that renders ``directory``, preferring kubectl's built-in kustomize."""
    tools = available_renderers() if renderers is None else renderers
    if kubectl := tools.get("kubectl"):
        return [kubectl, "kustomize", directory]
    if kustomize := tools.get("kustomize"):
        return [kustomize, "build", directory]
    return None


def render_kustomize(
    directory: str | os.PathLike[str],
    *,
    renderers: Renderers | None = None,
    timeout: float = RENDER_TIMEOUT_S,
) -> RenderResult:
    """Render a kustomization directory: ``(objects, None)`` or ``(objects, error)``.

    No plugins, no ``--enable-helm``: rendering must not run code from the repository.
    """
    command = kustomize_command(os.fspath(directory), renderers)
    if command is None:
        return (), KUSTOMIZE_MISSING
    return _run(command, "kustomize build", timeout)


def render_helm(
    chart_dir: str | os.PathLike[str],
    release_name: str,
    *,
    namespace: str | None = None,
    renderers: Renderers | None = None,
    timeout: float = RENDER_TIMEOUT_S,
) -> RenderResult:
    """Render a chart with its default values: ``(objects, None)`` or ``(objects, error)``."""
    tools = available_renderers() if renderers is None else renderers
    helm = tools.get("helm")
    if not helm:
        return (), HELM_MISSING
    # --include-crds: the chart's crds/ are part of what Argo CD or Flux applies.
    command = [helm, "template", release_name, os.fspath(chart_dir), "--include-crds"]
    if namespace:
        command += ["--namespace", namespace]
    return _run(command, "helm template", timeout)


def render_copy(
    directory: str,
    files: Mapping[str, str],
    directories: Iterable[str],
    *,
    read: Callable[[str], bytes],
    size: Callable[[str], int],
    run: Callable[[str], RenderResult],
) -> RenderResult:
    """Render ``directory`` (a repository path) from a temporary copy of exactly ``files``
    (``{repository path: blob id}``) and ``directories`` (kept even when empty): ``run`` gets
    the copy of ``directory`` and its result comes back with repository paths in the error.

    ``read`` and ``size`` give a blob's bytes and length. Files over 256 MiB in all are not
    copied, and the error says so; names that could leave the copy (``..``, ``.git``) are left
    out.
    """
    with tempfile.TemporaryDirectory(prefix="timetravel-render-") as workdir:
        problem = _copy(workdir, files, directories, read, size)
        if problem is not None:
            return (), problem
        target = workdir if directory == ROOT else os.path.join(workdir, *directory.split("/"))
        objects, error = run(target)
    if error is None:
        return objects, None
    # Messages name files in the temporary copy; show them as repository paths.
    message = error.replace(workdir + os.sep, "").replace(workdir, ROOT)
    if len(message) > _MAX_COPY_MESSAGE:
        message = message[: _MAX_COPY_MESSAGE - 1] + "…"
    return objects, message


def _copy(
    workdir: str,
    files: Mapping[str, str],
    directories: Iterable[str],
    read: Callable[[str], bytes],
    size: Callable[[str], int],
) -> str | None:
    total = 0
    for file, sha in sorted(files.items()):
        parts = file.split("/")
        if any(p in ("", ".", "..", ".git") for p in parts):
            continue  # git refuses such names; a crafted tree must not escape workdir
        total += size(sha)
        if total > _MAX_COPY_BYTES:
            return "not rendered: its files exceed 256 MiB"
        destination = os.path.join(workdir, *parts)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        with open(destination, "wb") as handle:
            handle.write(read(sha))
    for path in directories:  # an empty directory still has to exist to be rendered
        os.makedirs(
            workdir if path == ROOT else os.path.join(workdir, *path.split("/")), exist_ok=True
        )
    return None


# kubectl, kustomize and helm are Go programs that live for a fraction of a second: their
# garbage collector only costs CPU then. Off, with a soft memory limit that turns it back on,
# a render of microservices-demo's test roots takes 0.21 s of CPU instead of 0.32 s, and
# 122 MB instead of 80 MB at most (BENCHMARKS.md, "Backfill of kustomize trees"). A GOGC or
# GOMEMLIMIT of the caller's environment is kept.
_GO_ENV = {"GOGC": "off", "GOMEMLIMIT": "256MiB"}


def _tool_env() -> dict[str, str]:
    return {**_GO_ENV, **os.environ}


def _run(command: list[str], what: str, timeout: float) -> RenderResult:
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
            env=_tool_env(),
        )
    except subprocess.TimeoutExpired:
        return (), f"{what} {TIMED_OUT} {timeout:g} s"
    except OSError as exc:
        return (), f"{what} could not run: {exc.strerror or exc}"
    if done.returncode != 0:
        return (), f"{what} failed: {_tool_error(done.stderr)}"
    parsed = parse_manifest_file("rendered.yaml", done.stdout, max_bytes=MAX_RENDER_OUTPUT_BYTES)
    if parsed.errors:
        return parsed.objects, f"{what} output: {'; '.join(parsed.errors)}"
    return parsed.objects, None


# kubectl logs through klog: `E1126 10:16:22.746805 4290 run.go:72] "command failed" err="..."`.
_KLOG_ERR = re.compile(r'\berr="((?:[^"\\]|\\.)*)"')


def _tool_error(stderr: bytes) -> str:
    text = stderr.decode("utf-8", errors="replace")
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip("# ").lower().startswith("warning")
    ]
    if not lines:
        return "no error output"
    last = lines[-1]
    if match := _KLOG_ERR.search(last):
        last = match.group(1).replace('\\"', '"')
    last = last.removeprefix("Error: ").removeprefix("error: ")
    return last if len(last) <= _MAX_MESSAGE else last[: _MAX_MESSAGE - 1] + "…"

"""Small wording both reports share: labels, counts, values on one line, safe links."""

from __future__ import annotations

import re
from typing import Any

from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.printable import is_printable
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.values import short_value as short_value  # the screen words values so too

CAUSES = ("pipeline", "gitops", "manual", "controller", "unknown")
STATE_WORDS = {
    "in_sync": "in sync",
    "drifted": "drifted",
    "missing": "missing",
    "unmanaged": "unmanaged",
    "gone": "not live",
}
FAILED_STATUSES = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled"})
SAFE_URL = re.compile(r"^https?://[^\s<>()\[\]{}\"'`\\|^]+$")


def safe_url(url: Any) -> str | None:
    """``url`` when it is a plain http(s) URL that is safe to link, else None (one with a
    control or bidi character in it is not: reports write links as they are)."""
    if isinstance(url, str) and len(url) <= 2048 and SAFE_URL.match(url) and is_printable(url):
        return url
    return None


def run_label(run: PipelineRun) -> str:
    """``deploy-payments #5121``; a long id that is not a number (Argo CD's are the sync's
    start time, shown beside it anyway) is left to the JSON."""
    run_id = run.run_id
    if run_id.isdigit():
        return f"{run.pipeline} #{run_id}"
    return f"{run.pipeline} {run_id}" if len(run_id) <= 16 else run.pipeline


def run_failed(run: PipelineRun) -> bool:
    return (run.status or "").lower() in FAILED_STATUSES


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def actor_text(change: ChangeView) -> str:
    """The actor, with the field manager when it adds something (``alice (kubectl-edit)``)."""
    actor = change.actor or ""
    managers = [m for m in change.field_managers if m and m != actor]
    if actor and managers:
        return f"{actor} ({', '.join(managers)})"
    return actor or ", ".join(managers)


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def running(obj: dict[str, Any] | None) -> tuple[list[tuple[str, str]], Any, Any]:
    """What a workload ran: (container, image) pairs, desired replicas, ready replicas."""
    kind = _dig(obj, "kind")
    if kind == "Pod":
        pod = _dig(obj, "spec")
    elif kind == "CronJob":
        pod = _dig(obj, "spec", "jobTemplate", "spec", "template", "spec")
    else:
        pod = _dig(obj, "spec", "template", "spec")
    images: list[tuple[str, str]] = []
    for group in ("initContainers", "containers"):
        containers = _dig(pod, group)
        for container in containers if isinstance(containers, list) else []:
            if isinstance(container, dict) and container.get("image"):
                images.append((str(container.get("name") or "?"), str(container["image"])))
    replicas = ready = None
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = _dig(obj, "spec", "replicas")
        ready = _dig(obj, "status", "readyReplicas") or 0
    elif kind == "DaemonSet":
        replicas = _dig(obj, "status", "desiredNumberScheduled")
        ready = _dig(obj, "status", "numberReady")
    return images, replicas, ready

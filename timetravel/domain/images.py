"""Image references and the digests container runtimes report.

A tag names what someone meant to run and can move; the digest in a container's
``status.containerStatuses[].imageID`` names what the node really ran. Runtimes write it
in different forms, normalized here to one ``sha256:<hex>`` and the repository:

- containerd and CRI-O: ``registry.example.com/payments/api@sha256:<hex>`` (the manifest
  digest, as a registry serves it), or a bare ``sha256:<hex>`` for an image that was loaded
  or pulled by ID (the image's config digest, which no registry names);
- Docker (dockershim, cri-dockerd): ``docker-pullable://payments/api@sha256:<hex>``, or
  ``docker://sha256:<hex>`` for an image built on the node (again a config digest).

A config digest cannot be matched with a build's manifest digest, so it is kept apart
(:attr:`RunningImage.repo_digest` is false): it says which image ran, not where from.
Docker Hub's short names are spelled out as the runtimes do (``nginx`` is
``docker.io/library/nginx``), so one image has one repository name whichever form named it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DIGEST = re.compile(r"^(?P<algo>sha256|sha512):(?P<hex>[0-9a-f]{64}|[0-9a-f]{128})$")
DOCKER_HUB = "docker.io"
# What an image reference may hold (the distribution spec's grammar, loosely).
_REFERENCE_CHARS = re.compile(r"^[A-Za-z0-9._/:@-]+$")
_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into repository (normalized), tag and digest."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class RunningImage:
    """What a runtime says a container ran."""

    digest: str  # sha256:<hex>
    repository: str | None  # None: the runtime gave a bare image ID
    repo_digest: bool  # a registry's manifest digest (else an image config ID)


def normalize_repository(name: str) -> str:
    """``nginx`` -> ``docker.io/library/nginx``; ``acme/api`` -> ``docker.io/acme/api``;
    a name whose first part is a host (has a dot or a port, or is localhost) stays."""
    first, slash, rest = name.partition("/")
    if not slash:
        return f"{DOCKER_HUB}/library/{name}"
    if first in _HUB_ALIASES:
        first = DOCKER_HUB
        name = f"{first}/{rest}"
    if "." in first or ":" in first or first == "localhost":
        if first == DOCKER_HUB and "/" not in rest:
            return f"{DOCKER_HUB}/library/{rest}"
        return name
    return f"{DOCKER_HUB}/{name}"


def parse_image(ref: str) -> ImageRef | None:
    """An image reference as a pod spec or a build names it; None for one that is not."""
    text = ref.strip()
    if not _REFERENCE_CHARS.match(text):
        return None  # empty, spaces, control characters: no registry names an image so
    name, at, digest = text.partition("@")
    if at and not DIGEST.match(digest):
        return None
    tag = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not tag:
            return None
    if not name or name.endswith("/"):
        return None
    return ImageRef(normalize_repository(name), tag, digest or None)


def running_image(image_id: str) -> RunningImage | None:
    """The digest a container status's ``imageID`` names, in any runtime's form; None when
    there is none yet (an empty imageID: the image is still being pulled)."""
    text = image_id.strip()
    for scheme in ("docker-pullable://", "docker://", "containerd://", "cri-o://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    if DIGEST.match(text):
        return RunningImage(text, None, repo_digest=False)
    name, at, digest = text.partition("@")
    if not at or not DIGEST.match(digest) or not name:
        return None
    return RunningImage(digest, normalize_repository(name), repo_digest=True)


@dataclass(frozen=True)
class ContainerRun:
    """One running container of a Pod object, as its status says: the digest it runs."""

    name: str
    init: bool
    image: str  # as the Pod's spec names it (a tag, which can move)
    found: RunningImage
    repository: str | None  # the digest's, else (a bare image ID) the spec's image's
    started_at: str | None  # the container's own startedAt (RFC 3339), when recorded


def container_runs(pod: dict[str, Any]) -> list[ContainerRun]:
    """The running containers of one Pod object, in status order (containers, then init
    containers): those whose state is ``running`` and whose ``imageID`` names a digest."""
    spec_images = {
        str(c.get("name")): str(c.get("image") or "")
        for part in ("containers", "initContainers")
        for c in ((pod.get("spec") or {}).get(part) or [])
        if isinstance(c, dict)
    }
    status = pod.get("status") or {}
    out = []
    for part, init in (("containerStatuses", False), ("initContainerStatuses", True)):
        for cs in status.get(part) or []:
            if not isinstance(cs, dict):
                continue
            running = (cs.get("state") or {}).get("running")
            found = running_image(str(cs.get("imageID") or ""))
            if not isinstance(running, dict) or found is None:
                continue
            name = str(cs.get("name") or "")
            image = spec_images.get(name) or str(cs.get("image") or "")
            repository = found.repository
            if repository is None:  # a bare image ID: the spec names the repository
                ref = parse_image(image)
                repository = ref.repository if ref else None
            started = running.get("startedAt")
            out.append(
                ContainerRun(
                    name,
                    init,
                    image,
                    found,
                    repository,
                    started if isinstance(started, str) else None,
                )
            )
    return out

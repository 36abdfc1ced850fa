"""Builds: which image (repository and manifest digest) a build job made, from what source.

A build is reported from the job that pushed the image (``timetravel record-build``), with
flags, the CI system's environment, or an in-toto/SLSA provenance statement
(:mod:`timetravel.domain.provenance`); reports of one image (same repository and digest)
merge, a later one filling in what an earlier one did not say, as pipeline runs do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from timetravel.domain.times import stored_to_rfc3339


def _rfc3339(stored: str | None) -> str | None:
    return stored_to_rfc3339(stored) if stored else None


@dataclass(frozen=True)
class BuildFacts:
    """One report of a build, as written."""

    repository: str  # normalized (domain.images.normalize_repository)
    digest: str  # sha256:<hex>, the manifest digest a registry serves
    reported_at: datetime
    source: str = "record-build"  # record-build | provenance
    tags: tuple[str, ...] = ()
    source_repo: str | None = None
    commit: str | None = None
    commit_at: datetime | None = None  # the source commit's committer time
    commit_author: str | None = None
    commit_subject: str | None = None
    provider: str | None = None
    pipeline: str | None = None
    run_id: str | None = None
    url: str | None = None
    actor: str | None = None
    built_at: datetime | None = None
    provenance: dict[str, Any] | None = None  # Provenance.summary()


@dataclass(frozen=True)
class Build:
    """A build as stored (times in the store's text form)."""

    repository: str
    digest: str
    tags: tuple[str, ...] = ()
    source_repo: str | None = None
    commit: str | None = None
    commit_at: str | None = None
    commit_author: str | None = None
    commit_subject: str | None = None
    provider: str | None = None
    pipeline: str | None = None
    run_id: str | None = None
    url: str | None = None
    actor: str | None = None
    built_at: str | None = None
    provenance: dict[str, Any] | None = None
    reported_at: str | None = None
    source: str = "record-build"

    @property
    def image(self) -> str:
        return f"{self.repository}@{self.digest}"

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "digest": self.digest,
            "tags": list(self.tags),
            "source_repo": self.source_repo,
            "commit": self.commit,
            "commit_at": _rfc3339(self.commit_at),
            "commit_author": self.commit_author,
            "commit_subject": self.commit_subject,
            "provider": self.provider,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "url": self.url,
            "actor": self.actor,
            "built_at": _rfc3339(self.built_at),
            "provenance": self.provenance,
        }

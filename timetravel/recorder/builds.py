"""Builds reported by CI (``timetravel record-build``): what a report says, checked and
completed, before it meets the store.

Values come, in order of trust, from the flags, from a provenance statement (``--provenance``:
in-toto with SLSA v0.2 or v1, bare, in a DSSE envelope or a Sigstore bundle; signatures
counted, not verified), and from the CI system's environment (the same detection as
``record-run``: the job that builds is the run that built). One report may name several
images (a statement with several subjects): each is its own build.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from timetravel.domain.builds import BuildFacts
from timetravel.domain.ci_env import DetectedRun, detect_run
from timetravel.domain.images import DIGEST, normalize_repository, parse_image
from timetravel.domain.provenance import Provenance, ProvenanceError, read_provenance, run_url
from timetravel.errors import UserError
from timetravel.sources.commit_info import commit_info
from timetravel.store import Database
from timetravel.store.builds import upsert_build

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
# Where each CI system says which repository it checked out (the build's source).
_SOURCE_REPO_ENV = {
    "gitlab-ci": ("CI_PROJECT_URL",),
    "jenkins": ("GIT_URL",),
    "buildkite": ("BUILDKITE_REPO",),
    "circleci": ("CIRCLE_REPOSITORY_URL",),
    "azure-pipelines": ("BUILD_REPOSITORY_URI",),
}


@dataclass(frozen=True)
class BuildReport:
    """What one ``record-build`` call says (None where a flag is absent)."""

    image: str | None
    digest: str | None
    source_repo: str | None = None
    commit: str | None = None
    provider: str | None = None
    pipeline: str | None = None
    run_id: str | None = None
    url: str | None = None
    actor: str | None = None
    provenance_text: str | None = None  # the --provenance file's text
    provenance_name: str = "--provenance"
    source_dir: str | None = "."  # the build's checkout: the commit's time, author, subject


@dataclass(frozen=True)
class PreparedBuilds:
    builds: tuple[BuildFacts, ...]
    detected: DetectedRun | None
    provenance: Provenance | None


def source_repo_from_env(detected: DetectedRun, env: Mapping[str, str]) -> str | None:
    if detected.provider == "github-actions":
        repo = env.get("GITHUB_REPOSITORY")
        server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
        return f"{server}/{repo}" if repo else None
    for name in _SOURCE_REPO_ENV.get(detected.provider, ()):
        if env.get(name):
            return env[name]
    return None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None  # a statement's time is a detail: the report's time stands in
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _provenance(report: BuildReport) -> Provenance | None:
    if report.provenance_text is None:
        return None
    try:
        statements = read_provenance(report.provenance_text)
    except ProvenanceError as exc:
        raise UserError(f"{report.provenance_name}: {exc}") from None
    if len(statements) > 1:
        # gh attestation download: one bundle per line, each about the same image.
        subjects = {s for p in statements for s in p.subjects}
        first = statements[0]
        return Provenance(**{**first.__dict__, "subjects": tuple(sorted(subjects))})
    return statements[0]


def prepare_builds(
    report: BuildReport, *, env: Mapping[str, str], use_env: bool, now: datetime
) -> PreparedBuilds:
    """Validate ``report`` and complete it; raises UserError for what is wrong."""
    provenance = _provenance(report)
    images = _images(report, provenance)
    detected = detect_run(env) if use_env else None
    if detected is not None and report.provider not in (None, detected.provider):
        detected = None  # `--provider tekton` inside a GitHub job: not that run
    from_statement = provenance or Provenance(predicate_type="", subjects=())
    env_repo = source_repo_from_env(detected, env) if detected is not None else None

    def pick(*values: str | None) -> str | None:
        return next((v for v in values if v), None)

    commit = pick(report.commit, from_statement.commit, detected.commit if detected else None)
    if commit is not None and not _SHA.fullmatch(commit):
        raise UserError(f"--commit {commit!r}: expected a git commit SHA (7 to 64 hex digits)")
    source_repo = pick(report.source_repo, from_statement.source_repo, env_repo)
    built_at = _time(from_statement.finished_at) or _time(from_statement.started_at)
    info = commit_info(commit, report.source_dir) if commit and report.source_dir else None
    builds = tuple(
        BuildFacts(
            repository=repository,
            digest=digest,
            reported_at=now,
            source="provenance" if provenance is not None else "record-build",
            tags=(tag,) if tag else (),
            source_repo=source_repo,
            commit=info.sha if info else commit.lower() if commit else None,
            commit_at=info.committed_at if info else None,
            commit_author=info.author if info else None,
            commit_subject=info.subject if info else None,
            provider=pick(report.provider, detected.provider if detected else None),
            pipeline=pick(report.pipeline, detected.pipeline if detected else None),
            run_id=pick(
                report.run_id, from_statement.run_id, detected.run_id if detected else None
            ),
            url=pick(
                report.url, run_url(from_statement.invocation), detected.url if detected else None
            ),
            actor=pick(report.actor, detected.actor if detected else None),
            built_at=built_at or now,
            provenance=provenance.summary() if provenance is not None else None,
        )
        for repository, tag, digest in images
    )
    return PreparedBuilds(builds, detected, provenance)


def _images(
    report: BuildReport, provenance: Provenance | None
) -> list[tuple[str, str | None, str]]:
    """(repository, tag, digest) of each image the report is about."""
    digest = report.digest.strip() if report.digest else None
    if digest is not None and not DIGEST.match(digest):
        raise UserError(f"--digest {digest!r}: expected sha256:<64 hex digits>")
    if report.image is None:
        if provenance is None:
            raise UserError("missing --image (or a --provenance statement naming the image)")
        found: list[tuple[str, str | None, str]] = [
            (normalize_repository(name), None, d)
            for name, d in provenance.subjects
            if name and (digest is None or d == digest)
        ]
        if not found:
            raise UserError(
                f"{report.provenance_name}: no subject with a name and digest to record"
            )
        return found
    ref = parse_image(report.image)
    if ref is None:
        raise UserError(f"--image {report.image!r}: not an image reference")
    if digest and ref.digest and digest != ref.digest:
        raise UserError(f"--image names {ref.digest} but --digest says {digest}")
    digest = digest or ref.digest
    if provenance is not None:
        mine = [
            d
            for name, d in provenance.subjects
            if name and normalize_repository(name) == ref.repository
        ]
        if digest is None and len(mine) == 1:
            digest = mine[0]
        elif digest is not None and digest not in {d for _, d in provenance.subjects}:
            raise UserError(f"{report.provenance_name}: no subject has the digest {digest}")
    if digest is None:
        raise UserError("missing --digest (the pushed image's sha256 manifest digest)")
    return [(ref.repository, ref.tag, digest)]


def record_builds(db: Database, prepared: PreparedBuilds) -> list[bool]:
    """Write each build; returns, for each, whether it merged into an earlier report."""
    return [upsert_build(db, build)[1] for build in prepared.builds]


def read_provenance_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--provenance {path}: {getattr(exc, 'strerror', None) or exc}") from None

"""``record-build``: report an image a build job pushed, so a running digest finds its source."""

from __future__ import annotations

import os

import click

from timetravel.commands.options import db_option, resolve_db, user_errors
from timetravel.domain.printable import printable
from timetravel.domain.times import utc_now
from timetravel.recorder.builds import (
    BuildReport,
    prepare_builds,
    read_provenance_file,
    record_builds,
)
from timetravel.store.db import open_database


@click.command("record-build")
@db_option
@click.option("--image", metavar="REF", help="The image pushed: registry/repo:tag (or @digest).")
@click.option("--digest", metavar="sha256:...", help="The pushed manifest's digest.")
@click.option("--source-repo", "source_repo", metavar="URL", help="The source repository built.")
@click.option("--commit", help="The source commit built.")
@click.option("--provider", help="CI system: github-actions, gitlab-ci, jenkins, ...")
@click.option("--pipeline", help="Pipeline (workflow, job, project) name.")
@click.option("--run-id", "run_id", help="The build run's id.")
@click.option("--url", help="Link to the build run.")
@click.option("--actor", help="Who started the build.")
@click.option(
    "--provenance",
    "provenance_path",
    metavar="FILE",
    help="An in-toto statement with SLSA provenance (v0.2 or v1), bare, in a DSSE "
    "envelope or a Sigstore bundle (one per line); signatures are not verified.",
)
@click.option(
    "--source-dir",
    "source_dir",
    metavar="DIR",
    default=".",
    show_default=True,
    help="The source checkout: the commit's time, author and subject are read there.",
)
@click.option(
    "--no-env", "no_env", is_flag=True, help="Do not fill missing fields from the CI environment."
)
@user_errors
def record_build(
    db_path: str | None,
    image: str | None,
    digest: str | None,
    source_repo: str | None,
    commit: str | None,
    provider: str | None,
    pipeline: str | None,
    run_id: str | None,
    url: str | None,
    actor: str | None,
    provenance_path: str | None,
    source_dir: str,
    no_env: bool,
) -> None:
    """Record a build: which image digest it pushed, from which source commit, in which run.

    Run it from the build job after the push. Missing values come from the provenance
    statement, then from the CI system's environment (as record-run reads it: GitHub
    Actions, GitLab CI, Jenkins, Azure Pipelines, Buildkite, CircleCI, ...). Reports of
    one image (same repository and digest) merge, a later one filling in what an earlier
    one did not say.

    A provenance statement's signatures are counted, not verified: verify them with
    `cosign verify-attestation` or `gh attestation verify` before trusting who built it.

    Example:

    \b
        timetravel record-build --image ghcr.io/acme/api:2.4.0 --digest sha256:4f1c...
        timetravel record-build --image ghcr.io/acme/api --provenance attestation.jsonl
    """
    report = BuildReport(
        image=image,
        digest=digest,
        source_repo=source_repo,
        commit=commit,
        provider=provider,
        pipeline=pipeline,
        run_id=run_id,
        url=url,
        actor=actor,
        provenance_text=read_provenance_file(provenance_path) if provenance_path else None,
        provenance_name=f"--provenance {provenance_path}",
        source_dir=source_dir,
    )
    prepared = prepare_builds(report, env=os.environ, use_env=not no_env, now=utc_now())
    db = open_database(resolve_db(db_path))
    merged = record_builds(db, prepared)
    for build, was_merged in zip(prepared.builds, merged, strict=True):
        details = [f"commit {build.commit[:12]}" if build.commit else "commit unknown"]
        if build.commit_at is not None:
            details[0] += f" of {build.commit_at.isoformat()}"
        if build.source_repo:
            details.append(f"from {build.source_repo}")
        if build.run_id:
            details.append(f"run {build.provider or '?'} {build.pipeline or ''} #{build.run_id}")
        if build.provenance is not None:
            signed = build.provenance["signatures"]
            details.append(
                f"provenance {build.provenance['predicate_type'].rsplit('/', 1)[-1]}"
                + (f", {signed} signature(s) not verified" if signed else ", unsigned")
            )
        click.echo(
            printable(
                f"{'updated' if was_merged else 'recorded'} build {build.repository}@"
                f"{build.digest[:19]} ({'; '.join(details)})"
            )
        )
